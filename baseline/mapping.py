"""Map whole areas: ``flair-kit baseline map`` over a georeferenced raster of any size.

A thin driver: the checkpoint is loaded by :mod:`baseline.inference`, the raster is predicted by
the blending engine of :mod:`baseline.blending` (blended sliding windows in bounded memory, read
window by window with rasterio; the raster never sits in memory) and written by
:mod:`baseline.geotiff`: a tiled, DEFLATE-compressed GeoTIFF (Cloud-Optimized with ``cog``) with
the input's CRS and transform, either the class map (uint8, the nomenclature's colour table,
class names in the metadata) or one uint8 band per class holding ``round(255 * probability)``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import torch
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from baseline.areas import (
    MANIFEST,
    Footprint,
    Job,
    Mosaic,
    MosaicReader,
    check_manifest,
    file_sha256,
    list_rasters,
    place_rasters,
    plan_shards,
    quiet_gdal,
    read_footprint,
    unreadable_raster,
)
from baseline.blending import DEFAULT_STRIP_WIDTH, Scorer, blend_strips, blend_window, make_grid
from baseline.choices import MAP_PRODUCTS, Amp, Device, MapProduct
from baseline.contract import ModelContract
from baseline.fusion import row_tiled, uses_sentinel
from baseline.geotiff import (
    StripWriter,
    check_raster,
    check_written,
    describe_output,
    make_cog,
    output_profile,
    read_window,
)
from baseline.inference import inference_amp, load_declared, model_scorer
from baseline.metadata import MetadataVariant, encode_metadata
from baseline.model import ROW_TILING_SIDE, row_tiling_fits, row_tiling_refusal
from baseline.progress import Observer
from baseline.quicklook import check_quicklook_side, quicklook_path, write_quicklook
from baseline.runtime import (
    DistInfo,
    amp_name,
    broadcast_object,
    gather_objects,
    init_distributed,
    resolve_device,
    shutdown_distributed,
    worker_error,
)
from scoring.atomic import (
    check_outputs_apart,
    probe_writable,
    publish,
    remove_stale_temporaries,
    temporary_path,
)
from scoring.classes import CLASS_COLOURS, CLASS_NAMES
from scoring.errors import (
    ConfigError,
    DataError,
    FlairKitError,
    OutputExistsError,
)
from scoring.masks import absent_or_kind, require_regular

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
        quicklook: the PNG drawn beside it, if one was asked for.
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
    quicklook: Path | None = None


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
    quicklook: int | None = None,
    challenge_classes: bool = False,
    metadata: Path | None = None,
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
        quicklook: also write ``NAME.quicklook.png`` beside the map, its longest side at most
            this many pixels, with a legend (:mod:`baseline.quicklook`); None: no quicklook.
        challenge_classes: write the 13 challenge classes through the checkpoint's crosswalk
            instead of the model's own classes (the same for a model of the challenge classes).
        metadata: for a model that fuses aerial metadata, the raster's metadata entry
            (:func:`map_metadata`); refused for other models.

    Raises:
        MissingFileError: no raster or checkpoint.
        ConfigError: band-count mismatch (both values named), a U-T&T model, a metadata model
            without ``metadata``, invalid options.
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
    if quicklook is not None:
        check_quicklook_side(quicklook)
    # never a map over what the run reads, not even with --overwrite
    check_outputs_apart({"--output": out}, [raster, checkpoint, metadata])
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: exists; pass --overwrite or choose another --output")
    require_regular(raster, "raster")
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ConfigError(
            f"{raster}: one raster is mapped by one process; under torchrun give --raster a "
            "folder or a .txt list of rasters and --output a folder (each process maps a share)"
        )
    tile = 512 if tile is None else tile
    overlap = tile // 4 if overlap is None else overlap
    margin = min(tile // 8, overlap // 2) if margin is None else margin
    observer = observer or Observer()
    try:
        with warnings.catch_warnings():
            # a raster without georeferencing is refused below, with a message that says so
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(raster)
    except RasterioIOError as exc:
        raise unreadable_raster(raster, exc) from None
    try:
        # The raster's size is checked against the model before the network is built.
        model, cfg, contract, scorer_metadata = load_map_model(
            checkpoint,
            challenge_classes=challenge_classes,
            metadata=metadata,
            check=partial(check_tiles, raster, (src.height, src.width), tile),
        )
    except BaseException:
        src.close()
        raise
    bands = tuple(cfg.data.bands)
    classes, colours = map_classes(contract, challenge_classes)
    torch_device = resolve_device(device)
    amp_dtype = inference_amp(amp, torch_device, contract)
    model.to(torch_device).to(memory_format=torch.channels_last)
    probe_writable(out)  # a read-only folder fails now, not after the whole inference
    start = time.perf_counter()
    cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_MB}
    with rasterio.Env(**cache), src:
        check_raster(src, raster, contract)
        grid = make_grid(src.height, src.width, tile, overlap, margin)

        def read(y: int, x: int, h: int, w: int) -> NDArray[np.uint8]:
            return read_window(src, raster, bands, Window(x, y, w, h))

        def fill(writer: StripWriter) -> int:
            return blend_strips(
                grid,
                read,
                with_metadata(model_scorer(model, tta=tta, amp_dtype=amp_dtype), scorer_metadata),
                writer,
                num_classes=len(classes),
                strip_width=strip_width,
                batch_size=batch_size,
                device=torch_device,
                margin=margin,
                observer=observer,
            )

        n_tiles = write_map(
            out, src.profile, output, cog=cog, fill=fill, classes=classes, colours=colours
        )
    seconds = max(time.perf_counter() - start, 1e-9)
    drawn = write_quicklook(out, quicklook) if quicklook is not None else None
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
        quicklook=drawn,
    )


def check_tiles(
    where: Path | str, size: tuple[int, int] | None, tile: int, cfg: TrainConfig
) -> None:
    """Refuse tiles that IGN's row-tiled metadata model cannot take, before it is built.

    ``size``: the (height, width) of the raster or mosaic tiled; None checks ``tile`` alone.

    Raises:
        ConfigError: the actual tile size named, and the fix that applies to ``map``.
    """
    if not row_tiled(cfg):
        return
    height, width = size if size is not None else (tile, tile)
    tile_h, tile_w = min(tile, height), min(tile, width)
    if row_tiling_fits(tile_h, tile_w):
        return
    side = ROW_TILING_SIDE
    what = f"{where}: --tile {tile}"
    if size is not None:
        what = f"{where}: the raster is {width}x{height} px, so with --tile {tile} its tiles are "
        what += f"{tile_w}x{tile_h} px"
    raise row_tiling_refusal(what, f"map a raster of at least {side}x{side} px with --tile {side}")


def load_map_model(
    checkpoint: Path,
    *,
    challenge_classes: bool = False,
    metadata: Path | None = None,
    check: Callable[[TrainConfig], None] | None = None,
) -> tuple[Any, TrainConfig, ModelContract, NDArray[np.float32] | None]:
    """The checkpoint's network, refused when it needs what a raster does not carry.

    ``check`` sees the configuration before the network is built and may refuse it (the
    tiles' size, :func:`check_tiles`).

    Returns:
        The model (its own classes, or the challenge's with ``challenge_classes``), its
        configuration and contract, and the encoded metadata vector of a metadata model.

    Raises:
        ConfigError: a U-T&T (Sentinel-2) model, a metadata model without ``metadata``, or
            ``metadata`` for a model that does not fuse it.
    """

    def aerial_only(cfg: TrainConfig) -> None:
        if uses_sentinel(cfg):
            raise ConfigError(
                f"{checkpoint}: a FLAIR #2 U-T&T model also needs the Sentinel-2 time series of "
                "every patch, which a raster does not carry; map needs an aerial-only model: a "
                "FLAIR #1 checkpoint, or a FLAIR #2 one trained with sentinel.enabled: false"
            )
        if check is not None:
            check(cfg)

    model, cfg, contract = load_declared(checkpoint, challenge=challenge_classes, check=aerial_only)
    if not model.uses_metadata:
        if metadata is not None:
            raise ConfigError(
                f"{metadata}: --metadata is for models that fuse aerial metadata; {checkpoint} "
                "does not: omit --metadata"
            )
        return model, cfg, contract, None
    if metadata is None:
        raise ConfigError(
            f"{checkpoint}: the model fuses per-patch aerial metadata, which a raster does not "
            "carry; pass --metadata ENTRY.json: one entry of a FLAIR aerial metadata JSON "
            "(patch_centroid_x, patch_centroid_y, patch_centroid_z, date, time, camera) for the "
            "raster's acquisition, or map with a checkpoint trained without metadata"
        )
    return model, cfg, contract, map_metadata(metadata, cfg.model.metadata_encoding)


def map_metadata(path: Path, variant: MetadataVariant) -> NDArray[np.float32]:
    """The 45-value metadata code of a raster, from a JSON holding one entry.

    The JSON is the entry itself (``{"patch_centroid_x": ..., "date": ...}``) or a FLAIR
    aerial metadata JSON with exactly one entry (``{"IMG_000717": {...}}``).

    Raises:
        MissingFileError: no such file.
        DataError: not JSON, several entries, or an entry the encoding refuses (field named).
    """
    require_regular(path, "metadata JSON")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a JSON object (one metadata entry)")
    if "date" not in content:
        entries = [v for v in content.values() if isinstance(v, dict)]
        if len(entries) != 1:
            raise DataError(
                f"{path}: holds {len(entries)} metadata entries; a raster takes one: give the "
                "entry of its acquisition alone (its fields patch_centroid_x, patch_centroid_y, "
                "patch_centroid_z, date, time, camera)"
            )
        content = entries[0]
    return encode_metadata(content, variant, name=path.name)


def with_metadata(scorer: Scorer, vector: NDArray[np.float32] | None) -> Scorer:
    """``scorer`` given the raster's one metadata vector for every tile (unchanged without)."""
    if vector is None:
        return scorer
    code = torch.from_numpy(vector)

    def scores(images: torch.Tensor, metadata: torch.Tensor | None) -> torch.Tensor:
        return scorer(images, code.to(images.device).expand(images.shape[0], -1))

    return scores


def map_classes(
    contract: ModelContract, challenge_classes: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and colours of the classes a map writes: the model's own, or the challenge's."""
    if challenge_classes:
        return CLASS_NAMES, CLASS_COLOURS
    return contract.classes, contract.colours


def write_map(
    out: Path,
    src_profile: dict[str, Any],
    output: MapProduct,
    *,
    cog: bool,
    fill: Callable[[StripWriter], int],
    classes: tuple[str, ...] = CLASS_NAMES,
    colours: tuple[str, ...] = CLASS_COLOURS,
) -> int:
    """Write one map atomically: ``fill`` hands the blended blocks to the writer it is given.

    The GeoTIFF is written under a temporary name beside ``out`` (stale ones of killed runs are
    removed first), read back, then renamed onto ``out``; nothing else is ever left there.

    Returns:
        What ``fill`` returns (the tiles predicted).
    """
    remove_stale_temporaries(out)
    scratch = temporary_path(out)
    cog_scratch = temporary_path(out)  # the tiled copy the COG is built from
    count = 1 if output == "classes" else len(classes)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with (
            quiet_gdal(),
            rasterio.open(
                cog_scratch if cog else scratch, "w", **output_profile(src_profile, count=count)
            ) as dst,
        ):
            describe_output(dst, output, classes, colours)
            writer = StripWriter(dst, output)
            n_tiles = fill(writer)
            writer.close()
        if cog:
            # a flush lost on a full disk leaves a file GDAL cannot reopen for the COG copy
            check_written(cog_scratch, out)
            with quiet_gdal():
                make_cog(cog_scratch, scratch, "deflate")
        check_written(scratch, out)
        publish(scratch, out)
    finally:
        for leftover in (scratch, cog_scratch):
            if leftover.exists():
                leftover.unlink()
    return n_tiles


def render_map_result(result: MapResult) -> str:
    """The summary the command line prints after mapping."""
    tta = ", D4 TTA" if result.tta else ""
    kind = "COG" if result.cog else "GeoTIFF"
    return (
        f"mapped {result.width}x{result.height} px in {result.n_tiles} tiles, "
        f"{result.seconds:.1f} s: {result.tiles_per_s:.2f} tiles/s "
        f"({result.device}, amp {result.amp}{tta})\n"
        f"{result.output}: {result.out} ({kind})\n"
        + (f"quicklook: {result.quicklook}\n" if result.quicklook is not None else "")
    )


@dataclass(frozen=True)
class AreaResult:
    """What :func:`map_rasters` did, summed over every process.

    Attributes:
        folder: the output folder.
        inputs: rasters given; skipped: those whose output was already there (a resumed run).
        rasters, pixels, n_tiles: mapped by this run.
        km2: their area (None when a raster's CRS has no linear unit).
        seconds: wall time from the plan to the last process's end.
        processes: how many processes shared the work.
        mosaics: groups of adjacent tiles mapped with their neighbours' context (2 or more).
        device, amp, tta, output, cog: how the model ran and what was written.
        is_main: rank 0, the process that reports.
    """

    folder: Path
    inputs: int
    skipped: int
    rasters: int
    pixels: int
    n_tiles: int
    km2: float | None
    seconds: float
    processes: int
    mosaics: int
    device: str
    amp: str
    tta: bool
    output: str
    cog: bool
    is_main: bool


@dataclass(frozen=True)
class _Plan:
    """Rank 0's plan, broadcast to every rank."""

    mosaics: list[Mosaic]
    shards: list[list[Job]]
    inputs: int
    skipped: int


def map_rasters(
    checkpoint: Path,
    source: Path,
    folder: Path,
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
    quicklook: int | None = None,
    challenge_classes: bool = False,
    metadata: Path | None = None,
) -> AreaResult:
    """Map every raster of a folder or a list into ``folder``, one ``<stem>.tif`` each.

    Under ``torchrun`` every process maps a disjoint shard of the outputs still missing,
    balanced by pixels (:func:`baseline.areas.plan_shards`). Adjacent tiles of one grid are each
    predicted as a window of their mosaic's map, with their neighbours' pixels as context: the
    outputs equal the map of the mosaic cut at the tiles' edges. A rerun skips the outputs
    already written (each is published atomically, so one that exists is complete); the folder's
    manifest (:func:`baseline.areas.check_manifest`) refuses another checkpoint or options.

    Args:
        checkpoint, tile, overlap, margin, output, cog, tta, batch_size, device, amp,
            strip_width, observer, quicklook, challenge_classes, metadata: as for
            :func:`map_raster` (one metadata entry serves every raster; a rerun also draws the
            quicklooks missing beside the maps it skips).
        source: a folder of rasters or a text list of them (:func:`baseline.areas.list_rasters`).
        folder: the output folder.
        overwrite: map every raster again and record this checkpoint and these options.

    Raises:
        MissingFileError, DataError, ConfigError: as for :func:`map_raster`, for any input (all
            inputs are checked before the first is mapped); ConfigError also when the folder
            was mapped with another checkpoint or options.
    """
    if output not in MAP_PRODUCTS:
        raise ConfigError(f"output is {output!r}; expected one of {', '.join(MAP_PRODUCTS)}")
    if batch_size < 1:
        raise ConfigError(f"batch size is {batch_size}; expected at least 1")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{folder}: is a file; mapping several rasters writes one GeoTIFF each into an "
            "--output folder"
        )
    if folder.suffix.lower() in (".tif", ".tiff") and not folder.is_dir():
        raise ConfigError(
            f"{folder}: --output names the folder of the maps when --raster is a folder or a "
            f"list; give a folder (e.g. --output {folder.with_suffix('')})"
        )
    # the maps' folder is neither an input folder nor inside one (each map's own path is
    # checked against its raster once they are listed, in _plan)
    check_outputs_apart({"--output": folder}, [source, checkpoint, metadata])
    tile = 512 if tile is None else tile
    overlap = tile // 4 if overlap is None else overlap
    margin = min(tile // 8, overlap // 2) if margin is None else margin
    make_grid(tile, tile, tile, overlap, margin)  # invalid tile/overlap/margin: refused now
    if quicklook is not None:
        check_quicklook_side(quicklook)
    torch_device = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0") or 0))
    joined = not torch.distributed.is_initialized()
    info = init_distributed(torch_device)
    try:
        model, cfg, contract, scorer_metadata = load_map_model(
            checkpoint,
            challenge_classes=challenge_classes,
            metadata=metadata,
            check=partial(check_tiles, source, None, tile),
        )
        bands = tuple(cfg.data.bands)
        classes, colours = map_classes(contract, challenge_classes)
        amp_dtype = inference_amp(amp, torch_device, contract)
        model.to(torch_device).to(memory_format=torch.channels_last)
        start = time.perf_counter()
        plan: _Plan | FlairKitError | None = None
        if info.is_main:
            try:
                record = {
                    "checkpoint_sha256": file_sha256(checkpoint),
                    "product": output,
                    "tile": tile,
                    "overlap": overlap,
                    "margin": margin,
                    "tta": tta,
                    "cog": cog,
                    "amp": amp_name(amp_dtype),
                    # recorded only when used, so folders mapped before these options resume
                    **({"classes": "challenge"} if challenge_classes else {}),
                    **({"metadata_sha256": file_sha256(metadata)} if metadata else {}),
                }
                fits = partial(check_tiles, tile=tile, cfg=cfg)
                inputs = [checkpoint, metadata]
                plan = _plan(source, folder, contract, record, overwrite, info, fits, inputs)
            except FlairKitError as exc:
                plan = exc
        plan = broadcast_object(plan, info)
        if isinstance(plan, FlairKitError):
            raise plan
        if not isinstance(plan, _Plan):
            raise ConfigError("rank 0 sent no mapping plan; start every process with torchrun")
        scorer = with_metadata(model_scorer(model, tta=tta, amp_dtype=amp_dtype), scorer_metadata)
        done = _Done()
        observer = (observer or Observer()) if info.is_main else Observer()
        cache = {} if "GDAL_CACHEMAX" in os.environ else {"GDAL_CACHEMAX": GDAL_CACHE_MB}
        with rasterio.Env(**cache):
            for job in plan.shards[info.rank]:
                mosaic = plan.mosaics[job.mosaic]
                member = mosaic.members[job.member]
                reader = MosaicReader(mosaic, bands)
                fp = member.footprint
                fill = partial(
                    blend_window,
                    make_grid(mosaic.height, mosaic.width, tile, overlap, margin),
                    (member.row, member.col, fp.height, fp.width),
                    reader,
                    scorer,
                    num_classes=len(classes),
                    strip_width=strip_width,
                    batch_size=batch_size,
                    device=torch_device,
                    margin=margin,
                    observer=observer,
                )
                try:
                    with rasterio.open(fp.path) as src:
                        profile = src.profile
                    n_tiles = write_map(
                        folder / job.name,
                        profile,
                        output,
                        cog=cog,
                        fill=fill,
                        classes=classes,
                        colours=colours,
                    )
                finally:
                    reader.close()
                if quicklook is not None:
                    write_quicklook(folder / job.name, quicklook)
                done.add(fp, n_tiles)
        totals = gather_objects(done, info)  # every process has finished its maps
        if quicklook is not None and info.is_main:
            _missing_quicklooks(plan, folder, quicklook)
        seconds = max(time.perf_counter() - start, 1e-9)
        areas = [t.km2 for t in totals]
        return AreaResult(
            folder=folder,
            inputs=plan.inputs,
            skipped=plan.skipped,
            rasters=sum(t.rasters for t in totals),
            pixels=sum(t.pixels for t in totals),
            n_tiles=sum(t.n_tiles for t in totals),
            km2=None if any(a is None for a in areas) else sum(a or 0.0 for a in areas),
            seconds=seconds,
            processes=info.world_size,
            mosaics=sum(1 for m in plan.mosaics if len(m.members) > 1),
            device=str(torch_device),
            amp=amp_name(amp_dtype),
            tta=tta,
            output=output,
            cog=cog,
            is_main=info.is_main,
        )
    except FlairKitError as exc:
        raise worker_error(exc) from None
    finally:
        if joined:
            shutdown_distributed()


def _missing_quicklooks(plan: _Plan, folder: Path, max_side: int) -> None:
    # Maps skipped by a rerun (or written before a kill between map and PNG) get theirs too.
    for mosaic in plan.mosaics:
        for member in mosaic.members:
            path = folder / f"{member.footprint.path.stem}.tif"
            if finished_map(path) and not quicklook_path(path).exists():
                write_quicklook(path, max_side)


class _Done:
    """What one process mapped (gathered on rank 0)."""

    def __init__(self) -> None:
        self.rasters = 0
        self.pixels = 0
        self.n_tiles = 0
        self.km2: float | None = 0.0

    def add(self, footprint: Footprint, n_tiles: int) -> None:
        self.rasters += 1
        self.pixels += footprint.pixels
        self.n_tiles += n_tiles
        area = footprint_km2(footprint)
        self.km2 = None if area is None or self.km2 is None else self.km2 + area


def footprint_km2(footprint: Footprint) -> float | None:
    """The ground area of a raster in km2; None when its CRS has no linear unit (degrees)."""
    try:
        _, factor = CRS.from_user_input(footprint.crs).linear_units_factor
    except (CRSError, ValueError):
        return None
    a, b, _, d, e, _ = footprint.transform
    return abs(a * e - b * d) * factor**2 * footprint.pixels / 1e6


def _plan(
    source: Path,
    folder: Path,
    contract: ModelContract,
    record: dict[str, Any],
    overwrite: bool,
    info: DistInfo,
    fits: Callable[..., None] | None = None,
    inputs: Sequence[Path | None] = (),
) -> _Plan:
    """Rank 0: list and check the inputs, check the manifest, shard the outputs still missing.

    ``fits(where, (height, width))`` refuses a mosaic the model cannot tile
    (:func:`check_tiles`). No map may overwrite its raster or one of ``inputs`` (the
    checkpoint, the metadata), even with ``overwrite``. Only a regular file at a map's path
    counts as a finished map; anything else there (a folder, a FIFO) is an error naming it.
    """
    rasters = list_rasters(source)
    footprints = []
    for path in rasters:
        check_outputs_apart({"--output": folder / f"{path.stem}.tif"}, [path, *inputs])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as src:
                    check_raster(src, path, contract)
        except RasterioIOError as exc:
            raise unreadable_raster(path, exc) from None
        footprints.append(read_footprint(path))
    mosaics = place_rasters(footprints)
    if fits is not None:
        for mosaic in mosaics:
            first = mosaic.members[0].footprint.path
            where = first if len(mosaic.members) == 1 else f"{first} (and its neighbours)"
            fits(where, (mosaic.height, mosaic.width))
    probe_writable(folder / MANIFEST)
    check_manifest(folder, record, overwrite=overwrite)
    jobs = []
    skipped = 0
    for m, mosaic in enumerate(mosaics):
        for k, member in enumerate(mosaic.members):
            name = f"{member.footprint.path.stem}.tif"
            if finished_map(folder / name) and not overwrite:
                skipped += 1
                continue
            jobs.append(Job(m, k, member.footprint.pixels, name))
    return _Plan(mosaics, plan_shards(jobs, info.world_size), len(rasters), skipped)


def finished_map(path: Path) -> bool:
    """Whether a map was already written at ``path`` (a resumed run skips it).

    Maps are published atomically, so a regular file there is complete.

    Raises:
        ConfigError: something else stands there (a folder, a FIFO...), named.
    """
    state = absent_or_kind(path)
    if state in ("not found", "is a file"):
        return state == "is a file"
    raise ConfigError(
        f"{path}: {state} where this map goes, not a finished map; remove it, or map into "
        "another --output folder"
    )


def render_area_result(result: AreaResult) -> str:
    """The summary the command line prints after mapping several rasters."""
    tta = ", D4 TTA" if result.tta else ""
    area = "an unknown area" if result.km2 is None else f"{result.km2:.4g} km2"
    rate_px = result.pixels / result.seconds
    rate_km2 = "" if result.km2 is None else f", {result.km2 / result.seconds * 3600:.4g} km2/h"
    return (
        f"mapped {result.rasters} of {result.inputs} raster(s) "
        f"({result.skipped} already done), {result.pixels} px, {area}, in {result.n_tiles} "
        f"tiles, {result.seconds:.1f} s: {rate_px / 1e6:.3f} Mpx/s{rate_km2}, "
        f"{result.n_tiles / result.seconds:.2f} tiles/s\n"
        f"{result.processes} process(es) ({result.device}, amp {result.amp}{tta}); "
        f"{result.mosaics} mosaic(s) of adjacent tiles mapped with their neighbours' context\n"
        f"{result.output}: {result.folder}\n"
    )
