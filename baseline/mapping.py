"""Map whole areas: ``flair-kit baseline map`` over a georeferenced raster of any size.

A thin driver: the checkpoint is loaded by :mod:`baseline.inference`, the raster is predicted by
the blending engine of :mod:`baseline.blending` (blended sliding windows in bounded memory, read
window by window with rasterio; the raster never sits in memory) and written by
:mod:`baseline.geotiff`: a tiled, DEFLATE-compressed GeoTIFF (Cloud-Optimized with ``cog``) with
the input's CRS and transform, either the class map (uint8, the nomenclature's colour table,
class names in the metadata) or one uint8 band per class holding ``round(255 * probability)``.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from baseline.blending import DEFAULT_STRIP_WIDTH, blend_strips, make_grid
from baseline.choices import MAP_PRODUCTS, Amp, Device, MapProduct
from baseline.fusion import uses_sentinel
from baseline.geotiff import (
    StripWriter,
    check_raster,
    check_written,
    describe_output,
    make_cog,
    output_profile,
    read_window,
)
from baseline.inference import load_predictor, model_scorer
from baseline.progress import Observer
from baseline.runtime import amp_name, resolve_amp, resolve_device
from scoring.atomic import probe_writable, publish, remove_stale_temporaries, temporary_path
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError, DataError, MissingFileError, OutputExistsError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from baseline.config import TrainConfig

#: GDAL's block cache while mapping, MB, unless GDAL_CACHEMAX is set in the environment. GDAL's
#: default (5 % of the RAM) let the cache of read and written blocks grow to gigabytes on large
#: rasters; a few hundred MB hold every block a band of tile rows touches.
GDAL_CACHE_MB = 256


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


def map_raster(
    checkpoint: Path,
    raster: Path,
    out: Path,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    output: MapProduct = "classes",
    cog: bool = False,
    tta: bool = False,
    batch_size: int = 8,
    device: Device = "auto",
    amp: Amp = "auto",
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
    if output not in MAP_PRODUCTS:
        raise ConfigError(f"output is {output!r}; expected one of {', '.join(MAP_PRODUCTS)}")
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
            check_raster(src, raster, bands, checkpoint)
            grid = make_grid(src.height, src.width, tile, overlap, margin)
            count = 1 if output == "classes" else NUM_CLASSES
            profile = output_profile(src.profile, count=count)
            out.parent.mkdir(parents=True, exist_ok=True)
            first = cog_scratch if cog else scratch
            with rasterio.open(first, "w", **profile) as dst:
                describe_output(dst, output)
                writer = StripWriter(dst, output)

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
                make_cog(cog_scratch, scratch, "deflate")
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
