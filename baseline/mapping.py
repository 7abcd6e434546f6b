"""Map whole areas: blended sliding-window inference over rasters of any size.

``flair-kit baseline map`` runs :func:`map_raster`; ``baseline predict --context zone`` runs the
same engine over virtual mosaics of test patches (:mod:`baseline.zone_context`).

How a raster is predicted:

- Tiles of the model's size (``tile`` pixels, smaller only when the raster is) start every
  ``tile - overlap`` pixels; the last row and column of tiles is shifted back inside the raster,
  so no tile reads past an edge and no padding artefact appears there (:func:`tile_starts`).
- Each tile's **softmax probabilities** (averaged over the 8 D4 views with TTA) are multiplied by a
  smooth separable weight window and added into float32 accumulators; the map is the accumulated
  sum divided by the summed weights. Probabilities, not logits: every tile then contributes a
  distribution on the same scale (a confident tile's logits can be ten times larger than an
  unsure one's and would otherwise dominate the blend regardless of the weights), the per-class
  probability output is the blended quantity itself, and it is what TTA already averages
  (:func:`baseline.predict.predict_scores`).
- The weight window (:func:`axis_weights`) is a Hann (raised cosine) bell with a floor, so pixels
  covered by a single tile still count fully after normalisation, and it is exactly 0 on the
  ``margin`` outermost pixels of a tile side that lies inside the raster: there a CNN sees its own
  zero padding instead of the neighbouring pixels, and those pixels are always covered by the
  interior of a neighbouring tile (``overlap >= 2 * margin`` is required). Sides on the raster's
  edge keep their weight: no other tile covers those pixels.
- Memory stays bounded in both dimensions: the raster is cut into vertical strips of about
  ``strip_width`` pixels (:func:`plan_strips`) and each strip is swept top to bottom; only the
  accumulators of the rows a later tile can still touch, over the strip's tiles
  (``classes x tile x (strip_width + up to 2 tiles)`` float32 values), are kept, and finished
  rows of the strip go to a sink (the GeoTIFF writer) and are dropped. A strip owns the pixels
  from the start of one tile's weighted part to the start of another's and predicts every tile
  with a positive weight on them, so each owned pixel gets exactly the single-sweep sum, added in
  the same order; with ``overlap == 2 * margin`` (the defaults) the owned parts abut exactly and
  no tile is predicted twice, otherwise one column of tiles per strip border is.
  :func:`blend` is the single full-width sweep (the zone context's mosaics use it).
  Input is read window by window with rasterio; the raster never sits in memory.

Output of :func:`map_raster`: a tiled, DEFLATE-compressed GeoTIFF (Cloud-Optimized with ``cog``)
with the input's CRS and transform, either the class map (uint8, the nomenclature's colour table,
class names in the metadata) or one uint8 band per class holding ``round(255 * probability)``.
"""

from __future__ import annotations

import errno
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from baseline.progress import Observer
from scoring.atomic import probe_writable, publish, remove_stale_temporaries, temporary_path
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_CLASSES, colour_rgb
from scoring.errors import ConfigError, DataError, MissingFileError, OutputExistsError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from baseline.config import TrainConfig
    from baseline.model import FlairSegmenter

#: Default weight floor of the blending window (relative to its peak of 1).
DEFAULT_FLOOR = 0.05
#: Output kinds of :func:`map_raster`.
OUTPUTS = ("classes", "probabilities")
#: Rows and columns of the output GeoTIFF's internal tiles.
BLOCK = 256
#: Default width of the vertical strips of :func:`blend_strips`, pixels: with 512-pixel tiles
#: the accumulators take about 130 MB whatever the raster's size.
DEFAULT_STRIP_WIDTH = 4096
#: GDAL's block cache while mapping, MB, unless GDAL_CACHEMAX is set in the environment. GDAL's
#: default (5 % of the RAM) let the cache of read and written blocks grow to gigabytes on large
#: rasters; a few hundred MB hold every block a band of tile rows touches.
GDAL_CACHE_MB = 256

#: ``read(y, x, height, width)`` -> (C, height, width) uint8 pixels of the source.
Reader = Callable[[int, int, int, int], "NDArray[np.uint8]"]
#: ``scores(images (B, C, h, w) float32 in [0, 1], metadata or None)`` -> (B, K, h, w) probs.
Scorer = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
#: ``sink(y0, probabilities (K, n, W) float32, covered (n, W) bool)`` receives finished rows.
Sink = Callable[[int, "NDArray[np.float32]", "NDArray[np.bool_]"], None]
#: ``sink(y0, x0, probabilities (K, n, w) float32, covered (n, w) bool)`` receives finished
#: blocks of a strip starting at column ``x0``.
BlockSink = Callable[[int, int, "NDArray[np.float32]", "NDArray[np.bool_]"], None]


# ---------------------------------------------------------------------------------------------
# The math: tile grid and weights (pure functions)


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` pixels.

    Tiles start every ``tile - overlap`` pixels; the last one is shifted back so that it ends
    exactly on the edge. A length shorter than a tile gets one tile (of the whole length).

    >>> tile_starts(10, 4, 1)
    (0, 3, 6)
    >>> tile_starts(11, 4, 1)
    (0, 3, 6, 7)
    >>> tile_starts(3, 4, 1)
    (0,)

    Raises:
        ConfigError: ``tile < 1`` or an overlap outside ``0 .. tile - 1``.
    """
    if tile < 1:
        raise ConfigError(f"tile size is {tile}; expected at least 1 pixel")
    if not 0 <= overlap < tile:
        raise ConfigError(
            f"overlap is {overlap} pixels for tiles of {tile}; expected 0 .. {tile - 1}"
        )
    if length <= tile:
        return (0,)
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return tuple(starts)


def axis_weights(
    size: int,
    *,
    floor: float = DEFAULT_FLOOR,
    margin: int = 0,
    open_start: bool = True,
    open_end: bool = True,
) -> NDArray[np.float32]:
    """The 1-D blending weights along one side of a tile of ``size`` pixels.

    A Hann bell ``floor + (1 - floor) * sin^2(pi * (i + 0.5) / size)``, symmetric, peak near 1 in
    the middle. A side that lies inside the raster (``open_*``) gets weight 0 on its ``margin``
    outermost pixels; a side on the raster's edge is flattened to 1 from the middle outwards
    (no other tile covers those pixels, and a flat weight keeps them equal to the tile's own
    prediction rather than a floor-weighted mix with a farther tile).

    >>> [round(float(w), 3) for w in axis_weights(4)]
    [0.189, 0.861, 0.861, 0.189]
    >>> [round(float(w), 3) for w in axis_weights(4, margin=1, open_start=False)]
    [1.0, 1.0, 0.861, 0.0]
    """
    if not 0.0 < floor <= 1.0:
        raise ConfigError(f"weight floor is {floor}; expected a value in (0, 1]")
    i = np.arange(size, dtype=np.float64)
    weights = floor + (1.0 - floor) * np.sin(np.pi * (i + 0.5) / size) ** 2
    half = size // 2
    if not open_start:
        weights[:half] = 1.0
    elif margin:
        weights[:margin] = 0.0
    if not open_end:
        weights[size - half :] = 1.0
    elif margin:
        weights[size - margin :] = 0.0
    return weights.astype(np.float32)


def tile_weights(
    y: int,
    x: int,
    tile_h: int,
    tile_w: int,
    height: int,
    width: int,
    *,
    floor: float = DEFAULT_FLOOR,
    margin: int = 0,
) -> NDArray[np.float32]:
    """The (tile_h, tile_w) weight window of the tile at ``(y, x)`` in a height x width raster."""
    rows = axis_weights(
        tile_h, floor=floor, margin=margin, open_start=y > 0, open_end=y + tile_h < height
    )
    cols = axis_weights(
        tile_w, floor=floor, margin=margin, open_start=x > 0, open_end=x + tile_w < width
    )
    return np.outer(rows, cols)


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one raster lie.

    Attributes:
        height, width: the raster's size in pixels.
        tile_h, tile_w: every tile's size (the model's tile, or the raster's side if smaller).
        rows, cols: tile start offsets along each axis (:func:`tile_starts`).
    """

    height: int
    width: int
    tile_h: int
    tile_w: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def n_tiles(self) -> int:
        """Tiles in the grid."""
        return len(self.rows) * len(self.cols)


def make_grid(height: int, width: int, tile: int, overlap: int, margin: int = 0) -> TileGrid:
    """The tile grid of a ``height x width`` raster.

    Raises:
        ConfigError: invalid tile/overlap, or ``overlap < 2 * margin`` (some pixels would get no
            weight from any tile).
    """
    if height < 1 or width < 1:
        raise DataError(f"raster is {height}x{width} pixels; expected at least 1x1")
    if margin < 0 or overlap < 2 * margin:
        raise ConfigError(
            f"margin is {margin} pixels with an overlap of {overlap}; the overlap must be at "
            f"least twice the margin (use --overlap {2 * margin} or more, or a smaller margin)"
        )
    return TileGrid(
        height,
        width,
        min(tile, height),
        min(tile, width),
        tile_starts(height, tile, overlap),
        tile_starts(width, tile, overlap),
    )


def weighted_span(start: int, size: int, length: int, margin: int) -> tuple[int, int]:
    """The pixels ``[lo, hi)`` to which a tile starting at ``start`` gives a positive weight.

    Inner sides lose their ``margin`` (weight exactly 0 there, :func:`axis_weights`); sides on the
    raster's edge keep every pixel.

    >>> weighted_span(0, 32, 100, 4), weighted_span(24, 32, 100, 4), weighted_span(68, 32, 100, 4)
    ((0, 28), (28, 52), (72, 100))
    """
    lo = start + margin if start > 0 else start
    hi = start + size - margin if start + size < length else start + size
    return lo, hi


@dataclass(frozen=True)
class Strip:
    """One vertical strip of :func:`blend_strips`.

    Attributes:
        x0, x1: the output columns ``[x0, x1)`` the strip owns (writes).
        cols: start columns of every tile with a positive weight on them, ascending.
    """

    x0: int
    x1: int
    cols: tuple[int, ...]

    @property
    def left(self) -> int:
        """First raster column its accumulators span."""
        return self.cols[0]


def plan_strips(grid: TileGrid, strip_width: int, margin: int = 0) -> tuple[Strip, ...]:
    """Cut ``grid`` into vertical strips owning about ``strip_width`` columns each.

    Strip borders lie where a tile's weighted part starts (:func:`weighted_span`), as far right
    as ``strip_width`` allows (at least one tile further), preferring borders inside no other
    tile's weighted part. A strip predicts every tile with a
    positive weight on the columns it owns, so its pixels get the single-sweep sum exactly. Tiles
    whose weighted parts reach across a border are predicted by both strips: none when
    ``overlap == 2 * margin`` (the weighted parts abut), else one per border and tile row.

    >>> grid = make_grid(8, 100, 32, 8, margin=4)
    >>> [(s.x0, s.x1, s.cols) for s in plan_strips(grid, 60, margin=4)]
    [(0, 52, (0, 24)), (52, 100, (48, 68))]

    The last tile column is shifted back onto the edge, closer than the stride: its neighbour's
    weighted part reaches past its start. A border is put there only when no other fits, and
    that neighbour is then predicted by both strips:

    >>> [(s.x0, s.x1, s.cols) for s in plan_strips(grid, 40, margin=4)]
    [(0, 28, (0,)), (28, 52, (24,)), (52, 72, (48,)), (72, 100, (48, 68))]
    >>> len(plan_strips(grid, 1000, margin=4))
    1

    Raises:
        ConfigError: ``strip_width < 1``.
    """
    if strip_width < 1:
        raise ConfigError(f"strip width is {strip_width} pixels; expected at least 1")
    spans = [weighted_span(x, grid.tile_w, grid.width, margin) for x in grid.cols]
    borders = [lo for lo, _ in spans[1:]]
    # a clean border lies inside no tile's weighted part: no tile is needed on both sides
    clean = {b for b in borders if not any(lo < b < hi for lo, hi in spans)}
    strips: list[Strip] = []
    x0 = 0
    while x0 < grid.width:
        later = [b for b in borders if b > x0]
        fitting = [b for b in later if b <= x0 + strip_width]
        fitting_clean = [b for b in fitting if b in clean]
        if x0 + strip_width >= grid.width or not later:
            x1 = grid.width
        elif fitting_clean:
            x1 = fitting_clean[-1]
        else:
            x1 = fitting[-1] if fitting else later[0]
        cols = tuple(x for x, (lo, hi) in zip(grid.cols, spans) if lo < x1 and hi > x0)
        strips.append(Strip(x0, x1, cols))
        x0 = x1
    return tuple(strips)


# ---------------------------------------------------------------------------------------------
# The engine


def blend(
    grid: TileGrid,
    read: Reader,
    scores: Scorer,
    sink: Sink,
    *,
    num_classes: int = NUM_CLASSES,
    batch_size: int = 8,
    device: torch.device | None = None,
    floor: float = DEFAULT_FLOOR,
    margin: int = 0,
    covers: Callable[[int, int, int, int], bool] | None = None,
    metadata: Callable[[int, int, int, int], NDArray[np.float32] | None] | None = None,
    observer: Observer | None = None,
) -> int:
    """Run blended sliding-window inference over ``grid`` and hand finished rows to ``sink``.

    Args:
        grid: where the tiles lie.
        read: returns the uint8 pixels of a window.
        scores: the model: float images in [0, 1] -> class probabilities.
        sink: receives rows as soon as no later tile can touch them, top to bottom, with the
            blended probabilities and which pixels some tile covered with a positive weight.
        num_classes: K, the probability channels ``scores`` returns.
        batch_size: tiles per call of ``scores``.
        device: where the images are sent (default: CPU).
        floor, margin: the weight window (:func:`axis_weights`).
        covers: ``covers(y, x, h, w)`` is False for a tile with nothing to predict (gaps of a
            mosaic); such tiles are skipped. Default: every tile is predicted.
        metadata: per-tile metadata vector for models that fuse it (else None).
        observer: receives ``step("map", tiles done, tiles total, tiles/s)``.

    Returns:
        The number of tiles predicted.
    """
    return _sweep(
        grid,
        grid.cols,
        0,
        grid.width,
        read,
        scores,
        sink,
        num_classes=num_classes,
        batch_size=batch_size,
        device=device,
        floor=floor,
        margin=margin,
        covers=covers,
        metadata=metadata,
        progress=_Progress(observer or Observer(), grid.n_tiles),
    )


def blend_strips(
    grid: TileGrid,
    read: Reader,
    scores: Scorer,
    sink: BlockSink,
    *,
    strip_width: int = DEFAULT_STRIP_WIDTH,
    num_classes: int = NUM_CLASSES,
    batch_size: int = 8,
    device: torch.device | None = None,
    floor: float = DEFAULT_FLOOR,
    margin: int = 0,
    observer: Observer | None = None,
) -> int:
    """:func:`blend` strip by strip (:func:`plan_strips`): memory independent of the raster's size.

    Each strip is swept top to bottom with accumulators as wide as its tiles; ``sink`` receives
    the strip's finished rows, cropped to the columns it owns, with their first column ``x0``:
    strip after strip (left to right), top to bottom within a strip. Every pixel gets the same
    weighted sum as in a single sweep, added in the same order.

    Args:
        strip_width: about how many columns a strip owns (see :func:`plan_strips`).
        Others: as for :func:`blend`.

    Returns:
        The number of tiles predicted (``grid.n_tiles`` when no tile is predicted twice).
    """
    strips = plan_strips(grid, strip_width, margin)
    progress = _Progress(observer or Observer(), sum(len(s.cols) for s in strips) * len(grid.rows))
    done = 0
    for strip in strips:
        right = strip.cols[-1] + grid.tile_w

        def crop(
            y0: int,
            probs: NDArray[np.float32],
            covered: NDArray[np.bool_],
            strip: Strip = strip,
        ) -> None:
            lo, hi = strip.x0 - strip.left, strip.x1 - strip.left
            sink(y0, strip.x0, probs[:, :, lo:hi], covered[:, lo:hi])

        done += _sweep(
            grid,
            strip.cols,
            strip.left,
            right,
            read,
            scores,
            crop,
            num_classes=num_classes,
            batch_size=batch_size,
            device=device,
            floor=floor,
            margin=margin,
            progress=progress,
        )
    return done


class _Progress:
    """Tiles done over all sweeps, reported as ``step("map", done, total, tiles/s)``."""

    def __init__(self, observer: Observer, total: int) -> None:
        self.observer = observer
        self.total = total
        self.done = 0
        self.start = time.perf_counter()

    def add(self, tiles: int) -> None:
        self.done += tiles
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        self.observer.step("map", self.done, self.total, rate)


def _sweep(
    grid: TileGrid,
    cols: Sequence[int],
    left: int,
    right: int,
    read: Reader,
    scores: Scorer,
    sink: Sink,
    *,
    num_classes: int,
    batch_size: int,
    device: torch.device | None,
    floor: float,
    margin: int,
    progress: _Progress,
    covers: Callable[[int, int, int, int], bool] | None = None,
    metadata: Callable[[int, int, int, int], NDArray[np.float32] | None] | None = None,
) -> int:
    """Sweep the tiles starting at ``cols`` top to bottom; accumulators span ``[left, right)``.

    ``sink`` receives rows of ``right - left`` columns. Weights are those of each tile's place
    in the whole raster.
    """
    device = device or torch.device("cpu")
    th, tw, width = grid.tile_h, grid.tile_w, grid.width
    acc = np.zeros((num_classes, th, right - left), np.float32)
    wsum = np.zeros((th, right - left), np.float32)
    top = 0  # raster row of acc[:, 0]
    done = 0
    windows: dict[tuple[bool, bool, bool, bool], NDArray[np.float32]] = {}  # at most 9 kinds
    for i, y in enumerate(grid.rows):
        acc, wsum, top = _advance(acc, wsum, top, y, sink)
        tiles = [x for x in cols if covers is None or covers(y, x, th, tw)]
        for chunk in _chunks(tiles, batch_size):
            images = np.stack([read(y, x, th, tw) for x in chunk]).astype(np.float32) / 255.0
            meta = None
            if metadata is not None:
                vectors = [metadata(y, x, th, tw) for x in chunk]
                if vectors[0] is not None:
                    meta = torch.from_numpy(np.stack(vectors)).to(device)  # type: ignore[arg-type]
            with torch.inference_mode():
                probs = scores(torch.from_numpy(images).to(device), meta).float().cpu().numpy()
            for x, p in zip(chunk, probs):
                key = (y > 0, y + th < grid.height, x > 0, x + tw < width)
                if key not in windows:
                    windows[key] = tile_weights(
                        y, x, th, tw, grid.height, width, floor=floor, margin=margin
                    )
                w = windows[key]
                acc[:, y - top : y - top + th, x - left : x - left + tw] += p * w
                wsum[y - top : y - top + th, x - left : x - left + tw] += w
            done += len(chunk)
            progress.add(len(chunk))
        if i == len(grid.rows) - 1:
            _flush(acc, wsum, top, grid.height - top, sink)
    return done


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for index in range(0, len(items), size):
        yield list(items[index : index + size])


def _flush(
    acc: NDArray[np.float32], wsum: NDArray[np.float32], top: int, rows: int, sink: Sink
) -> None:
    """Normalise the first ``rows`` accumulated rows and hand them to the sink."""
    if rows <= 0:
        return
    weight = wsum[:rows]
    covered = weight > 0
    probs = acc[:, :rows] / np.where(covered, weight, 1.0)
    sink(top, probs, covered)


def _advance(
    acc: NDArray[np.float32], wsum: NDArray[np.float32], top: int, y: int, sink: Sink
) -> tuple[NDArray[np.float32], NDArray[np.float32], int]:
    """Flush the rows above ``y`` (no tile starting at ``y`` or later touches them) and shift."""
    finished = y - top
    if finished <= 0:
        return acc, wsum, top
    _flush(acc, wsum, top, finished, sink)
    keep = acc.shape[1] - finished
    acc[:, :keep] = acc[:, finished:].copy()
    acc[:, keep:] = 0.0
    wsum[:keep] = wsum[finished:].copy()
    wsum[keep:] = 0.0
    return acc, wsum, y


def model_scorer(
    model: FlairSegmenter, *, tta: bool = False, amp_dtype: torch.dtype | None = None
) -> Scorer:
    """The probabilities of a baseline model (D4-averaged with ``tta``), via the predict code."""
    from baseline.predict import predict_scores

    def scores(images: torch.Tensor, metadata: torch.Tensor | None) -> torch.Tensor:
        return predict_scores(
            model,
            images,
            metadata,
            tta=tta,
            amp_dtype=amp_dtype,
            probabilities=True,
        )

    return scores


# ---------------------------------------------------------------------------------------------
# Raster I/O


def probabilities_to_uint8(probs: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Scale probabilities in [0, 1] to 0..255 (rounded).

    >>> probabilities_to_uint8(np.array([0.0, 0.5, 1.0], np.float32)).tolist()
    [0, 128, 255]
    """
    return np.clip(np.rint(probs * 255.0), 0, 255).astype(np.uint8)


def colour_table() -> dict[int, tuple[int, int, int, int]]:
    """The nomenclature's colours as a GDAL colour table (index -> RGBA)."""
    return {index: (*colour_rgb(colour), 255) for index, colour in enumerate(CLASS_COLOURS)}


class _BlockWriter:
    """Buffers finished rows until a whole band of output blocks can be written.

    GDAL compresses a tiled GeoTIFF block by block; writing rows that cut blocks would make it
    re-read and re-compress half-written blocks. Rows are therefore grouped into bands of
    :data:`BLOCK` rows (the last band may be shorter).
    """

    def __init__(self, dst: Any, output: str, x0: int = 0) -> None:
        self.dst = dst
        self.output = output
        self.x0 = x0
        self.pending: list[NDArray[np.uint8]] = []
        self.pending_rows = 0
        self.next_row = 0

    def __call__(self, y0: int, probs: NDArray[np.float32], covered: NDArray[np.bool_]) -> None:
        if self.output == "classes":
            values = probs.argmax(axis=0).astype(np.uint8)[None]
        else:
            values = probabilities_to_uint8(probs)
        self.pending.append(values)
        self.pending_rows += values.shape[1]
        if self.pending_rows >= BLOCK:
            self._write(whole_blocks=True)

    def _write(self, *, whole_blocks: bool) -> None:
        if not self.pending:
            return
        rows = np.concatenate(self.pending, axis=1)
        n = (rows.shape[1] // BLOCK) * BLOCK if whole_blocks else rows.shape[1]
        if n:
            window = Window(self.x0, self.next_row, rows.shape[2], n)
            self.dst.write(rows[:, :n], window=window)
            self.next_row += n
        rest = rows[:, n:]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_rows = rest.shape[1]

    def close(self) -> None:
        """Write the rows still buffered."""
        self._write(whole_blocks=False)


class _StripWriter:
    """The :data:`BlockSink` of :func:`blend_strips`: one :class:`_BlockWriter` per strip.

    Blocks of the output that straddle a strip border are written in two parts, one per strip;
    GDAL reads such a block back and rewrites it, which costs little beside the inference.
    """

    def __init__(self, dst: Any, output: str) -> None:
        self.dst = dst
        self.output = output
        self.current: _BlockWriter | None = None

    def __call__(
        self, y0: int, x0: int, probs: NDArray[np.float32], covered: NDArray[np.bool_]
    ) -> None:
        if self.current is None or self.current.x0 != x0:
            self.close()
            self.current = _BlockWriter(self.dst, self.output, x0)
        self.current(y0, probs, covered)

    def close(self) -> None:
        """Write the rows of the current strip still buffered."""
        if self.current is not None:
            self.current.close()


@dataclass(frozen=True)
class MapResult:
    """What :func:`map_raster` wrote and how fast.

    Attributes:
        out: the written GeoTIFF.
        width, height: its size (the input's).
        n_tiles: tiles predicted.
        seconds: wall time of the inference and writing.
        tiles_per_s: ``n_tiles / seconds``.
        device, amp, tta: how the model ran.
        output: ``classes`` or ``probabilities``.
        cog: whether the file is a Cloud-Optimized GeoTIFF.
    """

    out: Path
    width: int
    height: int
    n_tiles: int
    seconds: float
    tiles_per_s: float
    device: str
    amp: str
    tta: bool
    output: str
    cog: bool


def _check_raster(src: Any, path: Path, bands: Sequence[int], checkpoint: Path) -> None:
    missing = [
        what
        for what, absent in (
            ("no CRS", src.crs is None),
            ("no geotransform", src.transform.is_identity),
        )
        if absent
    ]
    if missing:
        raise DataError(
            f"{path}: the raster is not georeferenced ({' and '.join(missing)}); map writes a "
            "GeoTIFF on the input's grid and needs a CRS and a geotransform: add them (e.g. "
            "gdal_translate -a_srs EPSG:2154 -a_ullr ULX ULY LRX LRY in.tif out.tif, or gdalwarp "
            "for ground control points) and map the result"
        )
    if src.count < max(bands):
        raise ConfigError(
            f"{path}: the raster has {src.count} band(s) but the checkpoint {checkpoint} was "
            f"trained on {len(bands)} bands {tuple(bands)}; map a raster with bands "
            f"{tuple(bands)} in the training order"
        )
    if src.dtypes[0] != "uint8":
        raise DataError(
            f"{path}: raster dtype is {src.dtypes[0]}; expected uint8 bands like FLAIR's "
            "(rescale it to 0..255 first)"
        )


def read_window(
    src: Any, path: Path, bands: Sequence[int], window: Window
) -> NDArray[np.uint8]:
    """Read ``bands`` of one window; a damaged block is a :class:`DataError` naming the window.

    Raises:
        DataError: GDAL cannot decode the window (corrupt or truncated strips or tiles).
    """
    try:
        return src.read(indexes=list(bands), window=window)
    except RasterioError as exc:
        row, col = int(window.row_off), int(window.col_off)
        raise DataError(
            f"{path}: cannot read the window of rows {row}..{row + int(window.height) - 1}, "
            f"columns {col}..{col + int(window.width) - 1} ({exc.__cause__ or exc}); the raster "
            "is damaged or truncated: check it with gdalinfo -checksum and copy or export it again"
        ) from None


def output_profile(
    src_profile: dict[str, Any], *, count: int, compress: str = "deflate"
) -> dict[str, Any]:
    """A tiled, compressed uint8 GeoTIFF profile with the source's size, CRS and transform."""
    return {
        "driver": "GTiff",
        "width": src_profile["width"],
        "height": src_profile["height"],
        "count": count,
        "dtype": "uint8",
        "crs": src_profile.get("crs"),
        "transform": src_profile["transform"],
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": compress,
        "nodata": None,
        "BIGTIFF": "IF_SAFER",
    }


def _describe(dst: Any, output: str) -> None:
    """Colour table, class names and band descriptions of the output."""
    dst.update_tags(
        CLASS_NAMES=json.dumps(list(CLASS_NAMES)),
        CLASS_COLOURS=json.dumps(list(CLASS_COLOURS)),
        FLAIR_OUTPUT=output,
    )
    if output == "classes":
        dst.write_colormap(1, colour_table())
        dst.set_band_description(1, "class index 0..12 (" + ", ".join(CLASS_NAMES) + ")")
        dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(CLASS_NAMES)})
    else:
        dst.update_tags(SCALE="probability = value / 255")
        for index, name in enumerate(CLASS_NAMES, start=1):
            dst.set_band_description(index, f"P({name}) x 255")


def _make_cog(scratch: Path, target: Path, compress: str) -> None:
    """Add overviews to ``scratch`` and copy it to ``target`` with GDAL's COG driver."""
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as raster_copy

    with rasterio.Env() as env:
        if "COG" not in env.drivers():
            raise ConfigError(
                f"the installed GDAL ({rasterio.__gdal_version__}) has no COG driver; upgrade "
                "rasterio (GDAL >= 3.1) or omit --cog"
            )
    with rasterio.open(scratch, "r+") as dst:
        factors = []
        size = max(dst.width, dst.height)
        factor = 2
        while size / factor >= BLOCK:
            factors.append(factor)
            factor *= 2
        if factors:
            resampling = Resampling.nearest if dst.count == 1 else Resampling.average
            dst.build_overviews(factors, resampling)
    raster_copy(
        scratch, target, driver="COG", compress=compress, blocksize=BLOCK, BIGTIFF="IF_SAFER"
    )


def check_written(scratch: Path, out: Path) -> None:
    """Read a just-written raster back, block by block, before it is published as ``out``.

    GDAL caches blocks and flushes them when the dataset closes; a flush that fails there (a full
    disk) is printed by libtiff but raises nothing, so the file could look written while truncated.

    Raises:
        OSError: the file is incomplete (``ENOSPC`` when its disk is full, else ``EIO``), naming
            ``out``.
    """
    try:
        with rasterio.open(scratch) as check:
            for _, window in check.block_windows(1):
                check.read(window=window)
    except (RasterioIOError, rasterio.errors.RasterioError) as exc:
        try:
            stats = os.statvfs(scratch.parent)
            full = stats.f_bavail * stats.f_frsize < 1 << 20
        except OSError:
            full = False
        code = errno.ENOSPC if full else errno.EIO
        strerror = f"{os.strerror(code)}; the raster was not written completely"
        raise OSError(code, strerror, str(out)) from exc


def map_raster(
    checkpoint: Path,
    raster: Path,
    out: Path,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    output: str = "classes",
    cog: bool = False,
    tta: bool = False,
    batch_size: int = 8,
    device: str = "auto",
    amp: str = "auto",
    overwrite: bool = False,
    strip_width: int = DEFAULT_STRIP_WIDTH,
    observer: Observer | None = None,
) -> MapResult:
    """Predict a georeferenced raster of any size into a class map or probability GeoTIFF.

    Args:
        checkpoint: ``best.pt`` or ``last.pt`` from ``flair-kit baseline train``.
        raster: any GDAL-readable, georeferenced (CRS and geotransform) uint8 raster holding
            the checkpoint's bands; any size from 1x1 pixel (small rasters are padded).
        out: the GeoTIFF to write (written under a temporary name, then renamed).
        tile: tile side in pixels (default 512, FLAIR's patch size; a multiple of 32 for a U-Net).
        overlap: pixels shared by neighbouring tiles (default a quarter of the tile).
        margin: pixels of each inner tile side that get no weight (default an eighth of the tile,
            at most half the overlap).
        output: ``classes`` (uint8 class map with colour table) or ``probabilities`` (one uint8
            band per class, 255 = 1).
        cog: write a Cloud-Optimized GeoTIFF (with overviews).
        tta: average the 8 D4 views of every tile.
        batch_size: tiles per forward pass.
        device, amp: as for ``baseline predict``.
        overwrite: replace an existing ``out``.
        strip_width: the raster is predicted in vertical strips of about this many pixels
            (:func:`blend_strips`); memory grows with it, not with the raster. The result does
            not depend on it.
        observer: receives progress (tiles/s).

    Raises:
        MissingFileError: no raster or checkpoint.
        ConfigError: band-count mismatch (both values named), a metadata or U-T&T model,
            invalid options.
        DataError: unreadable raster, a damaged window (named), not uint8, or no CRS or
            geotransform.
        OutputExistsError: ``out`` exists and ``overwrite`` is False.
    """
    from baseline.fusion import uses_sentinel
    from baseline.predict import load_predictor
    from baseline.runtime import amp_name, resolve_amp, resolve_device

    if output not in OUTPUTS:
        raise ConfigError(f"output is {output!r}; expected one of {', '.join(OUTPUTS)}")
    if batch_size < 1:
        raise ConfigError(f"batch size is {batch_size}; expected at least 1")
    if strip_width < 1:
        raise ConfigError(f"strip width is {strip_width} pixels; expected at least 1")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: exists; pass --overwrite or choose another --output")
    if not raster.exists():
        raise MissingFileError(f"{raster}: raster not found")
    tile = 512 if tile is None else tile
    overlap = tile // 4 if overlap is None else overlap
    margin = min(tile // 8, overlap // 2) if margin is None else margin
    observer = observer or Observer()
    def aerial_only(cfg: TrainConfig) -> None:
        if uses_sentinel(cfg):
            raise ConfigError(
                f"{checkpoint}: a FLAIR #2 U-T&T model also needs the Sentinel-2 time series of "
                "every patch, which a raster does not carry; map needs an aerial-only model: a "
                "FLAIR #1 checkpoint, or a FLAIR #2 one trained with sentinel.enabled: false"
            )

    model, cfg = load_predictor(checkpoint, check=aerial_only)
    if model.uses_metadata:
        raise ConfigError(
            f"{checkpoint}: the model fuses per-patch aerial metadata, which a raster does not "
            "carry; map with a checkpoint trained without metadata (model.use_metadata: false)"
        )
    bands = tuple(cfg.data.bands)
    torch_device = resolve_device(device)
    amp_dtype = resolve_amp(amp, torch_device)
    model.to(torch_device).to(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings():
            # a raster without georeferencing is refused below, with a message that says so
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(raster)
    except RasterioIOError as exc:
        raise DataError(f"{raster}: not a readable raster ({exc})") from None
    probe_writable(out)  # a read-only folder fails now, not after the whole inference
    remove_stale_temporaries(out)
    scratch = temporary_path(out)
    cog_scratch = temporary_path(out)  # the tiled copy the COG is built from
    start = time.perf_counter()
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_MB}
    try:
        with rasterio.Env(**cache), src:
            _check_raster(src, raster, bands, checkpoint)
            grid = make_grid(src.height, src.width, tile, overlap, margin)
            count = 1 if output == "classes" else NUM_CLASSES
            profile = output_profile(src.profile, count=count)
            out.parent.mkdir(parents=True, exist_ok=True)
            first = cog_scratch if cog else scratch
            with rasterio.open(first, "w", **profile) as dst:
                _describe(dst, output)
                writer = _StripWriter(dst, output)

                def read(y: int, x: int, h: int, w: int) -> NDArray[np.uint8]:
                    return read_window(src, raster, bands, Window(x, y, w, h))

                n_tiles = blend_strips(
                    grid,
                    read,
                    model_scorer(model, tta=tta, amp_dtype=amp_dtype),
                    writer,
                    strip_width=strip_width,
                    batch_size=batch_size,
                    device=torch_device,
                    margin=margin,
                    observer=observer,
                )
                writer.close()
            if cog:
                _make_cog(cog_scratch, scratch, "deflate")
        check_written(scratch, out)
        publish(scratch, out)
    finally:
        for leftover in (scratch, cog_scratch):
            if leftover.exists():
                leftover.unlink()
    seconds = max(time.perf_counter() - start, 1e-9)
    return MapResult(
        out=out,
        width=grid.width,
        height=grid.height,
        n_tiles=n_tiles,
        seconds=seconds,
        tiles_per_s=n_tiles / seconds,
        device=str(torch_device),
        amp=amp_name(amp_dtype),
        tta=tta,
        output=output,
        cog=cog,
    )


def render_map_result(result: MapResult) -> str:
    """The summary the command line prints after mapping."""
    tta = ", D4 TTA" if result.tta else ""
    kind = "COG" if result.cog else "GeoTIFF"
    return (
        f"mapped {result.width}x{result.height} px in {result.n_tiles} tiles, "
        f"{result.seconds:.1f} s: {result.tiles_per_s:.2f} tiles/s "
        f"({result.device}, amp {result.amp}{tta})\n"
        f"{result.output}: {result.out} ({kind})\n"
    )


def estimate_accumulator_bytes(
    width: int,
    tile: int,
    num_classes: int = NUM_CLASSES,
    *,
    strip_width: int | None = None,
) -> int:
    """Bytes of the blending accumulators for a raster ``width`` pixels wide.

    A single sweep (:func:`blend`, ``strip_width`` None) spans the whole width; a strip of
    :func:`blend_strips` spans at most its ``strip_width`` plus a tile on each side.

    >>> estimate_accumulator_bytes(1000, 512)
    28672000
    >>> estimate_accumulator_bytes(100_000, 512, strip_width=4096) // 2**20
    140
    """
    span = width if strip_width is None else min(width, max(strip_width, tile) + 2 * tile)
    return (num_classes + 1) * min(tile, width) * span * 4


__all__ = [
    "DEFAULT_FLOOR",
    "MapResult",
    "TileGrid",
    "DEFAULT_STRIP_WIDTH",
    "Strip",
    "axis_weights",
    "blend",
    "blend_strips",
    "colour_table",
    "estimate_accumulator_bytes",
    "make_grid",
    "map_raster",
    "model_scorer",
    "plan_strips",
    "probabilities_to_uint8",
    "render_map_result",
    "tile_starts",
    "tile_weights",
    "weighted_span",
]
