"""Reading FLAIR patches for the baseline: images, masks, metadata, augmentations, the Dataset.

Image format: GeoTIFF, 5 uint8 bands in the order R, G, B, NIR, elevation (nDSM), 512 x 512 at
0.2 m in the real data. The baseline scales them to float32 in [0, 1] (``/ 255``, IGN's
``img_as_float``; no mean/std normalisation). Masks carry the raw 1..19 nomenclature and become
the 13 challenge classes through :data:`scoring.classes.TRUTH_LUT`, the very table the official
metric uses: raw 1..12 -> 0..11, raw 13..19 -> 12 'other', and a raw 0 (which must not occur) ->
12 'other' as in the metric, never ``mask - 1``. Targets are class indices (int64), not one-hots.

The Dataset stores paths, not open files (handles do not survive the move into DataLoader
workers), and draws its augmentations from ``(seed, epoch, index)``: the same sample gets the same
flips in a resumed run and under any number of workers or processes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from baseline.contract import ModelContract, check_raster_input
from baseline.metadata import METADATA_SIZE, MetadataVariant, encode_metadata
from baseline.model import ROW_TILING_SIDE, row_tiling_fits, row_tiling_refusal
from baseline.sentinel import read_series
from scoring.classes import TRUTH_LUT
from scoring.errors import DataError, MissingFileError
from scoring.masks import PATCH_SIZE, ImageSizeMismatch, check_declared_size, require_regular

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

    from baseline.config import SentinelConfig
    from starting_kit.discovery import Sample


@dataclass(frozen=True)
class InputCheck:
    """What every patch a model predicts is checked against, on the header of the dataset its
    reader opens anyway (no second open): the contract (:func:`check_raster_input`: band count,
    dtype, pixel size, CRS) and, for IGN's row-tiled metadata models, the patch size.

    Picklable, so DataLoader workers run it on the patches they read.
    """

    contract: ModelContract
    row_tiled: bool = False
    #: (width, height) every patch of the run must have, and the file that set it (the first
    #: patch, :func:`patch_size`): a batch stacks equal sizes only, and a header declaring
    #: 200000x200000 pixels must be refused before anything is allocated.
    size: tuple[int, int] | None = None
    size_source: Path | None = None

    def __call__(self, src: Any, path: Path) -> None:
        """Refuse the patch ``src`` opened from ``path`` (ConfigError, DataError: see above)."""
        if self.size is not None and (src.width, src.height) != self.size:
            width, height = self.size
            raise ImageSizeMismatch(
                f"{path}: header declares {src.width}x{src.height} px but this run's patches are "
                f"{width}x{height} (the size of {self.size_source}); every patch predicted "
                f"together has one size: crop or resample it to {width}x{height}, or predict it "
                "on its own (rasters of any size: flair-kit baseline map)",
                (src.width, src.height),
                self.size,
            )
        check_raster_input(self.contract, src, path)
        if self.row_tiled and not row_tiling_fits(src.height, src.width):
            raise row_tiling_refusal(
                f"{path}: the patch is {src.width}x{src.height} px",
                f"predict {ROW_TILING_SIDE}x{ROW_TILING_SIDE}-px patches (FLAIR's)",
            )


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during a GDAL call, and deliver them right after it.

    GDAL calls back into Python (rasterio's error logger) from C code, where an exception
    cannot propagate: a SIGTERM raised there ended the process at once (Cython prints a
    ``SystemExit`` and exits), leaving the run's scratch folder and no message, and a Ctrl-C
    there became a wrong "damaged file" diagnosis. Held, the signal raises in plain Python
    code once GDAL has returned, where cleanups run. Only the main thread handles signals.
    """
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in caught}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        yield
        return
    held: list[int] = []
    for signum in caught:
        signal.signal(signum, lambda arrived, frame: held.append(arrived))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for arrived in held:
            handler = previous[signal.Signals(arrived)]
            if callable(handler):
                handler(arrived, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(arrived)


def patch_size(path: Path) -> tuple[int, int]:
    """The (width, height) of the patch at ``path``, from its header (nothing decoded).

    Raises:
        OversizeImageError: the header declares more than a patch may take once decoded (a
            larger raster goes through ``flair-kit baseline map``).
        MissingFileError, DataError: see :func:`read_image`.
    """
    with _opened_image(path) as src:
        layout = f"{src.count} bands of {src.dtypes[0]}"
        size = (src.width, src.height)
        need = src.width * src.height * src.count * np.dtype(src.dtypes[0]).itemsize
        check_declared_size(
            path, size, need, layout, (PATCH_SIZE, PATCH_SIZE), kind="a FLAIR patch"
        )
        return size


def _unreadable(path: Path, exc: RasterioIOError) -> DataError:
    # GDAL's own reason (a failed block, a bad offset) is the exception's cause.
    return DataError(
        f"{path}: not a readable GeoTIFF ({exc.__cause__ or exc}); the file is damaged or "
        "truncated: copy or download it again"
    )


@contextlib.contextmanager
def _opened_image(path: Path) -> Iterator[Any]:
    """The aerial patch at ``path`` opened with rasterio (header only), signals held.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a regular file (refused unread), or not a readable GeoTIFF.
    """
    require_regular(path, "GeoTIFF image")  # GDAL would block on a FIFO
    with _signals_held():
        try:
            # Patches need no georeferencing here; GDAL's warning would only precede the error.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                src = rasterio.open(path)
        except RasterioIOError as exc:
            if not path.exists():
                raise MissingFileError(f"{path}: image not found") from None
            raise _unreadable(path, exc) from None
        with src:
            yield src


def read_image(
    path: Path, bands: Sequence[int], check: InputCheck | None = None
) -> NDArray[np.uint8]:
    """Read the requested 1-based bands of an aerial patch as a (C, H, W) uint8 array.

    ``check``: refuse a patch that does not fit the model (prediction), before reading it.

    Raises:
        MissingFileError: the file does not exist.
        DataError: unreadable, not a regular file (a FIFO, socket or device: refused unread),
            not uint8, or fewer bands than requested (both values named).
        ConfigError: see :class:`InputCheck`.
    """
    with _opened_image(path) as src:
        if check is not None:
            check(src, path)
        if max(bands) > src.count:
            raise DataError(
                f"{path}: the configuration reads bands {tuple(bands)} but the image has "
                f"{src.count} band(s); set data.bands to bands 1..{src.count}"
            )
        if src.dtypes[0] != "uint8":
            raise DataError(f"{path}: image dtype is {src.dtypes[0]}; expected uint8 FLAIR patches")
        try:
            return src.read(indexes=list(bands))
        except RasterioIOError as exc:
            raise _unreadable(path, exc) from None


def read_mask(path: Path) -> NDArray[np.uint8]:
    """Read band 1 of a raw label file (values 1..19) as an (H, W) uint8 array.

    Raises:
        MissingFileError: the file does not exist.
        DataError: unreadable, not a regular file (refused unread) or not an integer raster.
    """
    require_regular(path, "GeoTIFF mask")
    try:
        with _signals_held(), rasterio.open(path) as src:
            if not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
                raise DataError(
                    f"{path}: mask dtype is {src.dtypes[0]}; expected uint8 raw labels 1..19"
                )
            raw = src.read(1)
    except RasterioIOError as exc:
        if not path.exists():
            raise MissingFileError(f"{path}: mask not found") from None
        raise DataError(f"{path}: not a readable GeoTIFF ({exc})") from None
    if raw.dtype != np.uint8:
        if raw.size and (raw.min() < 0 or raw.max() > 255):
            raise DataError(
                f"{path}: mask values {raw.min()}..{raw.max()}; expected raw labels 1..19"
            )
        raw = raw.astype(np.uint8)
    return raw


def image_to_float32(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Scale uint8 bands to float32 in [0, 1], as IGN's ``img_as_float`` does.

    >>> image_to_float32(np.array([0, 51, 255], dtype=np.uint8)).tolist()
    [0.0, 0.20000000298023224, 1.0]
    """
    return image.astype(np.float32) / np.float32(255.0)


def mask_to_index(raw: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Map raw labels to class indices 0..12 with the metric's lookup table (never ``raw - 1``).

    >>> mask_to_index(np.array([1, 12, 13, 19, 0], dtype=np.uint8)).tolist()
    [0, 11, 12, 12, 12]
    """
    return TRUTH_LUT[raw]


class Flips(NamedTuple):
    """One draw of the baseline's augmentation: flips first, then quarter turns."""

    vertical: bool
    horizontal: bool
    quarter_turns: int


def draw_flips(rng: np.random.Generator) -> Flips:
    """Draw IGN's augmentation: VerticalFlip, HorizontalFlip, RandomRotate90, p = 0.5 each.

    RandomRotate90, when applied, turns by 0..3 quarter turns chosen uniformly.
    """
    vertical, horizontal, rotate = (bool(v) for v in rng.random(3) < 0.5)
    return Flips(vertical, horizontal, int(rng.integers(0, 4)) if rotate else 0)


def apply_flips(array: NDArray[Any], flips: Flips) -> NDArray[Any]:
    """Apply a draw to the last two axes (rows, columns) of an image or a mask.

    >>> apply_flips(np.array([[1, 2], [3, 4]]), Flips(True, False, 1)).tolist()
    [[4, 2], [3, 1]]
    """
    if flips.vertical:
        array = array[..., ::-1, :]
    if flips.horizontal:
        array = array[..., :, ::-1]
    return np.rot90(array, k=flips.quarter_turns, axes=(-2, -1))


def augmentation_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one sample in one epoch: independent of workers and processes."""
    return np.random.default_rng([seed, epoch, index])


class FlairDataset(torch.utils.data.Dataset):
    """FLAIR aerial patches (and masks, and metadata) as tensors.

    Each item is a dict:

    - ``image``: float32 (C, H, W) in [0, 1], C = ``len(bands)``;
    - ``mask``: int64 (H, W) class indices 0..12 (only when ``with_masks``);
    - ``metadata``: float32 (45,) when ``metadata_variant`` is given, else shape (0,);
    - ``index``: the position of the sample in ``samples``;
    - FLAIR #2 with ``sentinel``: ``sentinel`` float32 (T, 10, s, s) reflectance and ``dates``
      float32 (T,) day offsets (:func:`baseline.sentinel.read_series`; T varies, so batch them
      with :func:`baseline.sentinel.collate_with_series`). The augmentation flips and turns the
      Sentinel-2 crop with the image (IGN leaves it, and the U-TAE labels, unaugmented).

    Args:
        samples: discovered patches.
        bands: 1-based band indices to read.
        with_masks: read and return the masks (training and validation).
        augment: apply the baseline's random flips and rotations.
        seed: seeds the augmentations together with the epoch and the index.
        metadata_variant: encode each sample's metadata with this variant; every sample must
            carry a metadata entry.
        sentinel: read each sample's Sentinel-2 series this way (FLAIR #2); every sample must
            carry its Sentinel-2 files and centroid.
        check: check every image against the model before reading it (:class:`InputCheck`).

    Raises:
        DataError: a sample has no mask while ``with_masks``, or no metadata entry while
            ``metadata_variant`` is set.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        bands: Sequence[int],
        *,
        with_masks: bool = True,
        augment: bool = False,
        seed: int = 0,
        metadata_variant: MetadataVariant | None = None,
        sentinel: SentinelConfig | None = None,
        check: InputCheck | None = None,
    ) -> None:
        self.check = check
        self.samples = list(samples)
        self.bands = tuple(bands)
        self.with_masks = with_masks
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        if with_masks:
            missing = [s.name for s in self.samples if s.mask is None]
            if missing:
                raise DataError(
                    f"{len(missing)} training patch(es) have no mask, first {missing[0]}; "
                    "expected a MSK_<id>.tif for every IMG_<id>.tif of the labels tree"
                )
        self.sentinel = sentinel
        if sentinel is not None:
            bare = [s.name for s in self.samples if s.sentinel is None or s.centroid is None]
            if bare:
                raise DataError(
                    f"{len(bare)} patch(es) have no Sentinel-2 files or centroid, first {bare[0]}; "
                    "the U-T&T model needs FLAIR #2 data (flair_sen_* folders and "
                    "flair-2_centroids_sp_to_patch.json)"
                )
        self.metadata: NDArray[np.float32] | None = None
        if metadata_variant is not None:
            self.metadata = (
                np.stack([self._encoded_metadata(s, metadata_variant) for s in self.samples])
                if self.samples
                else np.zeros((0, METADATA_SIZE), np.float32)
            )

    @staticmethod
    def _encoded_metadata(sample: Sample, variant: MetadataVariant) -> NDArray[np.float32]:
        if sample.metadata is None:
            raise DataError(
                f"{sample.name}: no aerial metadata entry; the model uses metadata, so give the "
                "metadata JSON (data.metadata / --metadata) covering every patch"
            )
        return encode_metadata(sample.metadata, variant, name=sample.name)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentations of this epoch (call before iterating a DataLoader)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        image = read_image(sample.image, self.bands, self.check)
        mask = None
        if self.with_masks:
            assert sample.mask is not None  # checked in __init__
            raw = read_mask(sample.mask)
            if raw.shape != image.shape[1:]:
                raise DataError(
                    f"{sample.mask}: mask is {raw.shape[0]}x{raw.shape[1]} but image "
                    f"{sample.image.name} is {image.shape[1]}x{image.shape[2]}; expected equal sizes"
                )
            mask = mask_to_index(raw)
        series = dates = None
        if self.sentinel is not None:
            assert sample.sentinel is not None and sample.centroid is not None  # checked above
            series, dates = read_series(sample.sentinel, sample.centroid, self.sentinel)
        if self.augment:
            flips = draw_flips(augmentation_rng(self.seed, self.epoch, index))
            image = apply_flips(image, flips)
            if mask is not None:
                mask = apply_flips(mask, flips)
            if series is not None:
                series = apply_flips(series, flips)
        item: dict[str, Any] = {
            "image": torch.from_numpy(image_to_float32(np.ascontiguousarray(image))),
            "index": index,
        }
        if mask is not None:
            item["mask"] = torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))
        if self.metadata is not None:
            item["metadata"] = torch.from_numpy(self.metadata[index])
        else:
            item["metadata"] = torch.zeros(0)
        if series is not None and dates is not None:
            item["sentinel"] = torch.from_numpy(np.ascontiguousarray(series))
            item["dates"] = torch.from_numpy(dates)
        return item
