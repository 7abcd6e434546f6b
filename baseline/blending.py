"""The blending engine: weighted sliding windows over an image of any size, in bounded memory.

Pure of any model and any file format: a :data:`Reader` gives pixels, a :data:`Scorer` gives
class probabilities of a batch of tiles, a :data:`Sink` receives finished rows. ``baseline map``
(:mod:`baseline.mapping`) drives it over a raster, ``baseline predict --context zone``
(:mod:`baseline.zone_context`) over virtual mosaics of test patches.

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
  (:func:`baseline.inference.predict_scores`).
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
  Input is read tile by tile through the :data:`Reader`; the image never sits in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from baseline.progress import Observer
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError, DataError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Default weight floor of the blending window (relative to its peak of 1).
DEFAULT_FLOOR = 0.05
#: Default width of the vertical strips of :func:`blend_strips`, pixels: with 512-pixel tiles
#: the accumulators take about 130 MB whatever the raster's size.
DEFAULT_STRIP_WIDTH = 4096

#: ``read(y, x, height, width)`` -> (C, height, width) uint8 pixels of the source.
Reader = Callable[[int, int, int, int], "NDArray[np.uint8]"]
#: ``scores(images (B, C, h, w) float32 in [0, 1], metadata or None)`` -> (B, K, h, w) probs.
Scorer = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
#: ``sink(y0, probabilities (K, n, W) float32, covered (n, W) bool)`` receives finished rows.
Sink = Callable[[int, "NDArray[np.float32]", "NDArray[np.bool_]"], None]
#: ``sink(y0, x0, probabilities (K, n, w) float32, covered (n, w) bool)`` receives finished
#: blocks of a strip starting at column ``x0``.
BlockSink = Callable[[int, int, "NDArray[np.float32]", "NDArray[np.bool_]"], None]


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
        cols = tuple(x for x, (lo, hi) in zip(grid.cols, spans, strict=True) if lo < x1 and hi > x0)
        strips.append(Strip(x0, x1, cols))
        x0 = x1
    return tuple(strips)


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
    # The whole grid is the widest window: every tile has a positive weight somewhere on it
    # (an overlap of at least twice the margin leaves each tile some pixels of its own).
    return blend_window(
        grid,
        (0, 0, grid.height, grid.width),
        read,
        scores,
        sink,
        strip_width=strip_width,
        num_classes=num_classes,
        batch_size=batch_size,
        device=device,
        floor=floor,
        margin=margin,
        observer=observer,
    )


def blend_window(
    grid: TileGrid,
    window: tuple[int, int, int, int],
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
    """:func:`blend_strips` restricted to ``window = (row, col, height, width)`` of ``grid``.

    Only the tiles with a positive weight on the window are predicted, each with its weights of
    the whole grid, and added in the order of the whole sweep: every pixel of the window gets
    exactly the value the map of the whole grid gives it (a tile without weight on a pixel adds
    an exact zero there). ``read`` may be asked for any tile of the grid, inside the window or
    not: this is how a tile of a mosaic is predicted with its neighbours' context.
    ``sink(y, x, probs, covered)`` receives the window's blocks with ``y, x`` relative to the
    window, strip after strip (left to right), top to bottom within a strip.

    Returns:
        The number of tiles predicted.

    Raises:
        ConfigError: the window is empty or leaves the grid.
    """
    row, col, height, width = window
    if height < 1 or width < 1 or row < 0 or col < 0:
        raise ConfigError(f"window {window} is empty or starts outside the grid")
    if row + height > grid.height or col + width > grid.width:
        raise ConfigError(
            f"window {window} leaves the {grid.height}x{grid.width} grid; expected a part of it"
        )
    row_spans = [weighted_span(y, grid.tile_h, grid.height, margin) for y in grid.rows]
    rows = [
        y
        for y, (lo, hi) in zip(grid.rows, row_spans, strict=True)
        if lo < row + height and hi > row
    ]
    strips = []
    for strip in plan_strips(grid, strip_width, margin):
        x0, x1 = max(strip.x0, col), min(strip.x1, col + width)
        if x0 >= x1:
            continue
        cols = tuple(
            x
            for x in strip.cols
            if (span := weighted_span(x, grid.tile_w, grid.width, margin))[0] < x1 and span[1] > x0
        )
        strips.append(Strip(x0, x1, cols))
    progress = _Progress(observer or Observer(), sum(len(s.cols) for s in strips) * len(rows))
    done = 0
    for strip in strips:
        right = strip.cols[-1] + grid.tile_w

        def crop(
            y0: int,
            probs: NDArray[np.float32],
            covered: NDArray[np.bool_],
            strip: Strip = strip,
        ) -> None:
            first, last = max(y0, row), min(y0 + probs.shape[1], row + height)
            if first >= last:
                return
            lo, hi = strip.x0 - strip.left, strip.x1 - strip.left
            sink(
                first - row,
                strip.x0 - col,
                probs[:, first - y0 : last - y0, lo:hi],
                covered[first - y0 : last - y0, lo:hi],
            )

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
            rows=rows,
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
    rows: Sequence[int] | None = None,
) -> int:
    """Sweep the tiles starting at ``cols`` top to bottom; accumulators span ``[left, right)``.

    ``sink`` receives rows of ``right - left`` columns, from the first of ``rows`` (default
    every tile row of the grid) to the last one's bottom. Weights are those of each tile's place
    in the whole raster.
    """
    device = device or torch.device("cpu")
    th, tw, width = grid.tile_h, grid.tile_w, grid.width
    rows = grid.rows if rows is None else rows
    acc = np.zeros((num_classes, th, right - left), np.float32)
    wsum = np.zeros((th, right - left), np.float32)
    top = rows[0]  # raster row of acc[:, 0]
    done = 0
    windows: dict[tuple[bool, bool, bool, bool], NDArray[np.float32]] = {}  # at most 9 kinds
    for i, y in enumerate(rows):
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
            for x, p in zip(chunk, probs, strict=True):
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
        if i == len(rows) - 1:
            _flush(acc, wsum, top, y + th - top, sink)
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
    probs = (acc[:, :rows] / np.where(covered, weight, 1.0)).astype(np.float32, copy=False)
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
