"""Zone context for patch predictions: rebuild the test zones from the georeferenced patches.

``flair-kit baseline predict ... --context zone`` runs :func:`predict_zones`: the test patches are
grouped by ``(domain, zone)``, placed by their georeferencing on the pixel grid of a virtual mosaic
(:func:`build_mosaics`), and the blended sliding-window engine of :mod:`baseline.blending` runs
over each mosaic, so every patch is predicted with the pixels of its neighbours around it. The
blended result is cut back into one ``PRED_<id>.tif`` per patch in the official format.

Mosaics are virtual: nothing is assembled in memory. A window read takes the pixels of the patches
it intersects (each patch read once and kept in a small cache) and leaves gaps at 0; tiles that
fall entirely into gaps are skipped. Patches of one zone that do not touch (the toy datasets'
64-pixel patches lie 102.4 m apart) form separate mosaics, so a sparse zone costs no more than its
patches; patches that touch or overlap share one. A patch whose pixel grid is not aligned with its
zone's (another CRS or resolution, a rotated transform, or an offset that is not a whole number of
pixels) is predicted in a mosaic of its own.

Models that fuse aerial metadata get, for each tile, the metadata of the patch under the tile's
centre (or the nearest patch when the centre lies in a gap).
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from baseline.blending import blend, make_grid
from baseline.data import InputCheck, read_image
from baseline.inference import model_scorer
from baseline.metadata import MetadataVariant, encode_metadata
from baseline.progress import Observer
from scoring.errors import DataError, MissingFileError
from starting_kit.predictions import prediction_name, write_georeferenced, write_prediction

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from baseline.fusion import Segmenter
    from starting_kit.discovery import Sample

#: How far (in pixels) a patch origin may be from the zone's pixel grid and still be placed on it.
GRID_TOLERANCE_PX = 1e-3
#: Patches kept in memory while a mosaic is read (each 512 x 512 x 5 bytes for FLAIR).
PATCH_CACHE = 64


@dataclass(frozen=True)
class Placed:
    """A patch on a mosaic's pixel grid.

    Attributes:
        sample: the patch.
        row, col: its top-left pixel in the mosaic.
        height, width: its size in pixels.
    """

    sample: Sample
    row: int
    col: int
    height: int
    width: int

    def intersects(self, y: int, x: int, h: int, w: int) -> bool:
        """Whether the window ``(y, x, h, w)`` overlaps the patch."""
        return (
            self.row < y + h
            and y < self.row + self.height
            and self.col < x + w
            and x < self.col + self.width
        )


@dataclass(frozen=True)
class Mosaic:
    """Touching patches of one zone, placed on a common pixel grid."""

    domain: str
    zone: str
    height: int
    width: int
    patches: tuple[Placed, ...]


@dataclass(frozen=True)
class _Geometry:
    crs: str
    transform: Any
    width: int
    height: int


def _geometry(sample: Sample, check: InputCheck | None = None) -> _Geometry:
    """The patch's grid, from its header; ``check`` refuses a patch the model cannot take."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(sample.image)
        with src:
            if check is not None:
                check(src, sample.image)
            return _Geometry(str(src.crs), src.transform, src.width, src.height)
    except RasterioIOError as exc:
        if not sample.image.exists():
            raise MissingFileError(f"{sample.image}: image not found") from None
        raise DataError(f"{sample.image}: not a readable GeoTIFF ({exc})") from None


def _grid_key(geo: _Geometry) -> tuple[str, float, float] | None:
    """Patches with equal keys share a pixel grid; None for rotated or ungeoreferenced ones."""
    t = geo.transform
    if geo.crs in ("", "None") or t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        return None
    return geo.crs, round(t.a, 9), round(t.e, 9)


def _components(boxes: Sequence[tuple[int, int, int, int]]) -> list[list[int]]:
    """Groups of boxes ``(row, col, height, width)`` that touch or overlap (corners count)."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Sort by column so only boxes whose columns can touch are compared (sweep line).
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1])
    active: list[int] = []
    for i in order:
        r, c, h, _ = boxes[i]
        active = [j for j in active if boxes[j][1] + boxes[j][3] >= c]
        for j in active:
            rj, _, hj, _ = boxes[j]
            if rj <= r + h and r <= rj + hj:
                parent[find(i)] = find(j)
        active.append(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: min(g))


def place_patches(samples: Sequence[Sample], geometries: Sequence[_Geometry]) -> list[Mosaic]:
    """Place one zone's patches into mosaics of touching patches (see the module docstring)."""
    mosaics: list[Mosaic] = []
    grids: dict[tuple[str, float, float], list[int]] = {}
    alone: list[int] = []
    for index, geo in enumerate(geometries):
        key = _grid_key(geo)
        if key is None:
            alone.append(index)
        else:
            grids.setdefault(key, []).append(index)
    for key, members in grids.items():
        _, a, e = key
        x0 = min(geometries[i].transform.c for i in members)
        y0 = max(geometries[i].transform.f for i in members)
        boxes: list[tuple[int, int, int, int]] = []
        placed: list[int] = []
        for i in members:
            t = geometries[i].transform
            col_f, row_f = (t.c - x0) / a, (y0 - t.f) / -e
            col, row = round(col_f), round(row_f)
            if abs(col - col_f) > GRID_TOLERANCE_PX or abs(row - row_f) > GRID_TOLERANCE_PX:
                alone.append(i)
                continue
            boxes.append((row, col, geometries[i].height, geometries[i].width))
            placed.append(i)
        for group in _components(boxes):
            top = min(boxes[g][0] for g in group)
            left = min(boxes[g][1] for g in group)
            patches = tuple(
                Placed(samples[placed[g]], boxes[g][0] - top, boxes[g][1] - left, *boxes[g][2:])
                for g in group
            )
            mosaics.append(_mosaic(patches))
    for i in sorted(alone):
        geo = geometries[i]
        mosaics.append(_mosaic((Placed(samples[i], 0, 0, geo.height, geo.width),)))
    return mosaics


def _mosaic(patches: tuple[Placed, ...]) -> Mosaic:
    first = patches[0].sample
    return Mosaic(
        first.domain,
        first.zone,
        max(p.row + p.height for p in patches),
        max(p.col + p.width for p in patches),
        tuple(sorted(patches, key=lambda p: (p.row, p.col, p.sample.tile))),
    )


def build_mosaics(samples: Sequence[Sample], check: InputCheck | None = None) -> list[Mosaic]:
    """Group patches by ``(domain, zone)`` and place each group into mosaics of touching patches.

    ``check``: refuse, before any prediction, a patch the model cannot take (every header is
    read here anyway).

    Raises:
        MissingFileError, DataError: an image is missing or unreadable.
        ConfigError, DataError: a patch fails ``check``.
    """
    zones: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        zones.setdefault((sample.domain, sample.zone), []).append(sample)
    mosaics: list[Mosaic] = []
    for key in sorted(zones):
        members = zones[key]
        mosaics.extend(place_patches(members, [_geometry(s, check) for s in members]))
    return mosaics


class MosaicReader:
    """Reads windows of a virtual mosaic from its patch files (gaps are 0)."""

    def __init__(self, mosaic: Mosaic, bands: Sequence[int]) -> None:
        self.mosaic = mosaic
        self.bands = tuple(bands)
        self._cache: OrderedDict[int, NDArray[np.uint8]] = OrderedDict()

    def _pixels(self, index: int) -> NDArray[np.uint8]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        patch = self.mosaic.patches[index]
        image = read_image(patch.sample.image, self.bands)
        if image.shape[1:] != (patch.height, patch.width):
            raise DataError(
                f"{patch.sample.image}: read {image.shape[1]}x{image.shape[2]} pixels but the "
                f"file declares {patch.height}x{patch.width}"
            )
        self._cache[index] = image
        if len(self._cache) > PATCH_CACHE:
            self._cache.popitem(last=False)
        return image

    def covers(self, y: int, x: int, h: int, w: int) -> bool:
        """Whether any patch lies under the window."""
        return any(p.intersects(y, x, h, w) for p in self.mosaic.patches)

    def __call__(self, y: int, x: int, h: int, w: int) -> NDArray[np.uint8]:
        window = np.zeros((len(self.bands), h, w), np.uint8)
        for index, p in enumerate(self.mosaic.patches):
            if not p.intersects(y, x, h, w):
                continue
            top, left = max(y, p.row), max(x, p.col)
            bottom, right = min(y + h, p.row + p.height), min(x + w, p.col + p.width)
            pixels = self._pixels(index)
            window[:, top - y : bottom - y, left - x : right - x] = pixels[
                :, top - p.row : bottom - p.row, left - p.col : right - p.col
            ]
        return window


def tile_metadata_lookup(mosaic: Mosaic, vectors: Sequence[NDArray[np.float32]]) -> Any:
    """``lookup(y, x, h, w)``: the metadata of the patch under (or nearest) the tile centre."""
    centres = np.array(
        [(p.row + p.height / 2, p.col + p.width / 2) for p in mosaic.patches], np.float64
    )

    def lookup(y: int, x: int, h: int, w: int) -> NDArray[np.float32]:
        cy, cx = y + h / 2, x + w / 2
        for index, p in enumerate(mosaic.patches):
            if p.row <= cy < p.row + p.height and p.col <= cx < p.col + p.width:
                return vectors[index]
        nearest = int(np.argmin(((centres - (cy, cx)) ** 2).sum(axis=1)))
        return vectors[nearest]

    return lookup


class PatchCutter:
    """Sink of the blending engine: cuts finished rows back into per-patch class maps."""

    def __init__(self, mosaic: Mosaic, write: Any) -> None:
        self.mosaic = mosaic
        self.write = write
        self.buffers: dict[int, NDArray[np.uint8]] = {}
        self.written = 0

    def __call__(self, y0: int, probs: NDArray[np.float32], covered: NDArray[np.bool_]) -> None:
        rows = probs.shape[1]
        classes = probs.argmax(axis=0).astype(np.uint8)
        for index, p in enumerate(self.mosaic.patches):
            top, bottom = max(y0, p.row), min(y0 + rows, p.row + p.height)
            if top >= bottom:
                continue
            cols = slice(p.col, p.col + p.width)
            if not covered[top - y0 : bottom - y0, cols].all():
                raise DataError(
                    f"{p.sample.image}: some pixels got no prediction in the zone mosaic "
                    f"{p.sample.domain}/{p.sample.zone}; this is a bug, please report it"
                )
            buffer = self.buffers.setdefault(index, np.zeros((p.height, p.width), np.uint8))
            buffer[top - p.row : bottom - p.row] = classes[top - y0 : bottom - y0, cols]
            if bottom == p.row + p.height:
                self.write(p.sample, self.buffers.pop(index))
                self.written += 1


def predict_zones(
    model: Segmenter,
    samples: Sequence[Sample],
    out: Path,
    *,
    bands: Sequence[int],
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    batch_size: int = 8,
    georeferenced: bool = False,
    metadata_variant: MetadataVariant | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    observer: Observer | None = None,
    check: InputCheck | None = None,
) -> int:
    """Predict every patch with its zone around it; write one ``PRED_<id>.tif`` per patch.

    Args:
        model: the network (already on ``device``).
        samples: the test patches (with metadata when ``metadata_variant`` is given).
        out: the existing folder for the PRED files.
        bands: 1-based bands to read.
        tta, amp_dtype, device, batch_size: as for :func:`baseline.predict.predict`.
        georeferenced: write the PRED files with the patch's CRS and transform.
        metadata_variant: encode each patch's metadata with this variant (metadata models).
        tile: tile side (default: the size of the first patch, the size the model was trained on).
        overlap, margin: as for :func:`baseline.mapping.map_raster` (default tile/4 and tile/8).
        observer: receives ``step("predict", patches written, patches, patches/s)``.
        check: refuse, before predicting any, a patch the model cannot take
            (:class:`baseline.data.InputCheck`).

    Returns:
        The number of PRED files written (one per sample).
    """
    observer = observer or Observer()
    mosaics = build_mosaics(samples, check)
    if not mosaics:
        return 0
    if tile is None:
        first = mosaics[0].patches[0]
        tile = max(first.height, first.width)
    overlap = tile // 4 if overlap is None else overlap
    margin = min(tile // 8, overlap // 2) if margin is None else margin
    scores = model_scorer(model, tta=tta, amp_dtype=amp_dtype)
    pending: list[Future[None]] = []
    written = 0
    total = len(samples)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as writers:

        def write(sample: Sample, classes: NDArray[np.uint8]) -> None:
            target = out / prediction_name(sample.tile)
            if georeferenced:
                pending.append(writers.submit(write_georeferenced, target, classes, sample.image))
            else:
                pending.append(writers.submit(write_prediction, target, classes))
            while len(pending) > 4 * batch_size:
                pending.pop(0).result()

        # A lone patch that fits in one tile is one tile with every side on the mosaic's edge:
        # its weights are 1 everywhere and the blend returns the model's probabilities as they
        # are, so such patches are batched together like plain patches (same result, faster).
        lone = [m for m in mosaics if len(m.patches) == 1 and max(m.height, m.width) <= tile]
        lone_ids = {id(m) for m in lone}
        for chunk in _lone_batches(lone, batch_size):
            samples_chunk = [m.patches[0].sample for m in chunk]
            images = np.stack([read_image(s.image, bands) for s in samples_chunk])
            meta = None
            if metadata_variant is not None:
                vectors = [
                    encode_metadata(_entry(s), metadata_variant, name=s.name) for s in samples_chunk
                ]
                meta = torch.from_numpy(np.stack(vectors)).to(device)
            batch = torch.from_numpy(images.astype(np.float32) / 255.0).to(device)
            with torch.inference_mode():
                classes = scores(batch, meta).argmax(dim=1).to(torch.uint8).cpu().numpy()
            for sample, class_map in zip(samples_chunk, classes, strict=True):
                write(sample, class_map)
            written += len(samples_chunk)
            observer.step(
                "predict", written, total, written / max(time.perf_counter() - start, 1e-9)
            )
        for mosaic in mosaics:
            if id(mosaic) in lone_ids:
                continue
            reader = MosaicReader(mosaic, bands)
            lookup = None
            if metadata_variant is not None:
                vectors = [
                    encode_metadata(_entry(p.sample), metadata_variant, name=p.sample.name)
                    for p in mosaic.patches
                ]
                lookup = tile_metadata_lookup(mosaic, vectors)
            cutter = PatchCutter(mosaic, write)
            blend(
                make_grid(mosaic.height, mosaic.width, tile, overlap, margin),
                reader,
                scores,
                cutter,
                batch_size=batch_size,
                device=device,
                margin=margin,
                covers=reader.covers,
                metadata=lookup,
            )
            written += cutter.written
            observer.step(
                "predict", written, total, written / max(time.perf_counter() - start, 1e-9)
            )
        for future in pending:
            future.result()
    return written


def _lone_batches(mosaics: Sequence[Mosaic], size: int) -> list[list[Mosaic]]:
    """Single-patch mosaics in batches of at most ``size`` with equal shapes."""
    shapes: dict[tuple[int, int], list[Mosaic]] = {}
    for mosaic in mosaics:
        shapes.setdefault((mosaic.height, mosaic.width), []).append(mosaic)
    return [group[i : i + size] for group in shapes.values() for i in range(0, len(group), size)]


def _entry(sample: Sample) -> Any:
    if sample.metadata is None:
        raise DataError(
            f"{sample.name}: no aerial metadata entry; the model uses metadata, so give the "
            "metadata JSON (--metadata) covering every patch"
        )
    return sample.metadata
