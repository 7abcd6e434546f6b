"""Gallery tiles of the worst patches: image | truth | prediction | errors, as one PNG each.

Truth and prediction are drawn in the nomenclature's colours (:data:`scoring.classes.CLASS_COLOURS`);
the errors panel shows the image greyed, with wrongly predicted pixels in red and pixels the
official scorer drops (prediction values outside 0..12) in white.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from PIL import Image

from scoring.classes import CLASS_COLOURS, NUM_CLASSES, TRUTH_LUT, colour_rgb
from scoring.errors import DataError
from scoring.masks import Size, check_declared_size, load_image, require_regular
from scoring.tiles import format_id, index_tiles, tile_id

#: Side of each panel in the gallery, in pixels (a 512 patch is shown at half size).
PANEL = 256
#: Class index -> RGB, with one more entry (white) for dropped prediction values.
PALETTE = np.array([colour_rgb(c) for c in CLASS_COLOURS] + [(255, 255, 255)], dtype=np.uint8)
ERROR_RGB = np.array([230, 20, 20], dtype=np.uint8)


@dataclass(frozen=True)
class GalleryTile:
    """One patch's four panels, as PNG bytes."""

    tile: int
    caption: str
    png: bytes


class PredictionReader:
    """Read ``PRED_<id>.tif`` from a submission folder or zip without extracting it."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._members: dict[int, str] = {}
        self._files: dict[int, Path] = {}
        if source.is_dir():
            self._files = index_tiles(source, "pred").by_id
        else:
            with zipfile.ZipFile(source) as archive:
                for name in archive.namelist():
                    tile = tile_id(name.rsplit("/", 1)[-1], "pred")
                    if tile is not None:
                        self._members.setdefault(tile, name)

    def read(self, tile: int) -> NDArray[np.uint8] | None:
        """The prediction of ``tile`` as uint8, or None when the submission lacks it."""
        if tile in self._files:
            return np.asarray(Image.open(self._files[tile]), dtype=np.uint8)
        if tile in self._members:
            with zipfile.ZipFile(self.source) as archive:
                data = archive.read(self._members[tile])
            return np.asarray(Image.open(io.BytesIO(data)), dtype=np.uint8)
        return None


def _rgb_image(path: Path, mask: Path, mask_size: Size) -> NDArray[np.uint8]:
    """Bands 1-3 (red, green, blue) of an aerial ``IMG_<id>.tif``, HWC uint8.

    The file is checked before any pixel is decoded: a FIFO, socket or device is refused unread,
    and the header must declare the size of the patch's reference mask (``mask``, ``mask_size``)
    within the kit's decode budget.

    Raises:
        DataError: not a regular file, unreadable, or another size than its mask.
    """
    require_regular(path, "aerial image")  # GDAL would block on a FIFO
    try:
        with warnings.catch_warnings():
            # rasterio warns about images without georeferencing: irrelevant to a picture, and
            # stderr must stay one line.
            warnings.simplefilter("ignore")
            with rasterio.open(path) as src:
                size = (int(src.width), int(src.height))
                if size != mask_size:
                    raise DataError(
                        f"{path}: {size[0]}x{size[1]} pixels, its mask {mask.name} is "
                        f"{mask_size[0]}x{mask_size[1]}; --images must be the test images of "
                        "this truth"
                    )
                itemsize = np.dtype(src.dtypes[0]).itemsize
                check_declared_size(
                    path, size, 3 * itemsize * size[0] * size[1], f"{src.count} bands of "
                    f"{src.dtypes[0]}", mask_size, expected="bands of uint8", kind="its mask",
                )  # fmt: skip
                bands = src.read(indexes=[1, 2, 3] if src.count >= 3 else [1, 1, 1])
    except rasterio.errors.RasterioError as exc:
        raise DataError(
            f"{path}: unreadable aerial image ({exc}); expected a 5-band GeoTIFF"
        ) from None
    return np.ascontiguousarray(np.moveaxis(bands, 0, -1).astype(np.uint8))


def _panel(rgb: NDArray[np.uint8]) -> Image.Image:
    return Image.fromarray(rgb).resize((PANEL, PANEL), Image.Resampling.NEAREST)


def compose_tile(
    image: NDArray[np.uint8], raw_truth: NDArray[np.uint8], prediction: NDArray[np.uint8]
) -> bytes:
    """The four panels side by side, as PNG bytes."""
    truth = TRUTH_LUT[raw_truth]
    predicted = np.where(prediction < NUM_CLASSES, prediction, NUM_CLASSES)
    grey = image.mean(axis=-1, keepdims=True).astype(np.uint8) // 2 + 64
    errors = np.repeat(grey, 3, axis=-1)
    errors[predicted != truth] = ERROR_RGB
    errors[predicted == NUM_CLASSES] = PALETTE[NUM_CLASSES]
    panels = [image, PALETTE[truth], PALETTE[predicted], errors]
    sheet = Image.new("RGB", (PANEL * 4 + 12, PANEL), "white")
    for number, panel in enumerate(panels):
        sheet.paste(_panel(panel), (number * (PANEL + 4), 0))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def gallery(
    tiles: Sequence[tuple[int, str]], predictions: Path, truth: Path, images: Path
) -> tuple[GalleryTile, ...]:
    """Gallery tiles of the given ``(id, caption)`` patches.

    Args:
        tiles: the patches, in display order.
        predictions: the submission's zip or folder.
        truth: the folder of reference masks.
        images: the dataset folder holding ``IMG_<id>.tif`` (searched recursively).

    Raises:
        DataError: an image or reference mask of a listed patch cannot be found.
    """
    image_files = index_tiles(images, "image").by_id
    mask_files = index_tiles(truth, "mask").by_id
    reader = PredictionReader(predictions)
    result = []
    for tile, caption in tiles:
        if tile not in image_files:
            raise DataError(
                f"{images}: no IMG_{format_id(tile)}.tif (searched recursively); --images must be "
                "the dataset folder of the test images"
            )
        prediction = reader.read(tile)
        if prediction is None or tile not in mask_files:
            continue
        mask = load_image(mask_files[tile])
        image = _rgb_image(image_files[tile], mask_files[tile], mask.size)
        png = compose_tile(image, np.asarray(mask, dtype=np.uint8), prediction)
        result.append(GalleryTile(tile, caption, png))
    return tuple(result)
