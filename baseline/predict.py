"""Predict with a trained checkpoint and write a submission-ready folder (and zip).

Fast by construction: batches (not IGN's batch size 1), ``torch.inference_mode``, channels_last,
autocast (bf16 where the hardware runs it natively, see :mod:`baseline.runtime`), DataLoader
workers reading ahead, and a small thread pool compressing the output files while the next batch
runs. Every input patch gets exactly one prediction: nothing is dropped (IGN's predict loader used
``drop_last=True``).

Output: ``PRED_<id>.tif`` in exactly the official challenge format (Pillow, LZW, uint8 class
indices 0..12, no geotags, :func:`starting_kit.predictions.write_prediction`), or with
``georeferenced`` the same name and values written by rasterio with the input image's CRS and
transform (count 1, uint8, LZW). ``pack`` then produces the validated zip directly.

Optional test-time augmentation (``tta``): the 8 symmetries of the square (D4), see
:mod:`baseline.inference`. Inputs are found by :mod:`baseline.inputs`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from baseline.choices import CONTEXTS, Amp, Device, PredictContext
from baseline.config import TrainConfig
from baseline.data import FlairDataset, InputCheck, patch_size
from baseline.fusion import Segmenter, row_tiled, uses_sentinel
from baseline.inference import inference_amp, load_declared, predict_batch
from baseline.inputs import discover_inputs, flair2_test_inputs, prediction_source
from baseline.progress import Observer
from baseline.runtime import (
    amp_name,
    default_workers,
    resolve_device,
    worker_error,
)
from baseline.sentinel import collate_with_series
from baseline.writers import PredictionWriters, default_writers
from baseline.zone_context import predict_zones
from scoring.atomic import (
    atomic_write_json,
    check_outputs_apart,
    make_parent_folder,
    probe_writable,
    publish,
    scratch_directory,
)
from scoring.errors import (
    ConfigError,
    DataError,
    FlairKitError,
    FlairKitWarning,
    OutputExistsError,
)
from scoring.masks import absent_or_kind
from scoring.tiles import index_tiles, is_ignored_name, tile_id
from starting_kit.discovery import Sample, find_metadata
from starting_kit.predictions import prediction_name
from starting_kit.submission import pack_submission


@dataclass(frozen=True)
class PredictResult:
    """What a prediction run wrote and how fast it went.

    Attributes:
        out_dir: the folder of ``PRED_<id>.tif`` files.
        n_tiles: patches predicted.
        seconds: wall time of the prediction loop (reading, model, writing).
        tiles_per_s: ``n_tiles / seconds``.
        device: where the model ran, e.g. ``cpu`` or ``cuda:0``.
        amp: autocast dtype name, or ``off``.
        tta: whether D4 test-time augmentation was used.
        archive: the packed submission, when ``pack`` was given.
        wall_s: wall time of the whole call: checkpoint loading, input discovery, prediction,
            writing and packing (what the FLAIR #2 rule asks to declare, less the interpreter's
            start-up).
        model_s: time in the model's forward passes, GPU-synchronised (None: not measured, in
            the ``zone`` context).
        read_wait_s: time the loop waited for input batches.
        write_wait_s: time the loop waited for the PRED writers.
        batch_size: patches per forward pass.
        workers: DataLoader reader processes.
        writers: PRED writers, e.g. ``2 threads`` or ``6 processes``.
        compiled: whether the model ran through ``torch.compile``.
        checkpoint: the checkpoint file.
    """

    out_dir: Path
    n_tiles: int
    seconds: float
    tiles_per_s: float
    device: str
    amp: str
    tta: bool
    archive: Any | None = None
    wall_s: float = 0.0
    model_s: float | None = None
    read_wait_s: float = 0.0
    write_wait_s: float = 0.0
    batch_size: int = 0
    workers: int = 0
    writers: str = ""
    compiled: bool = False
    checkpoint: Path | None = field(default=None)


class CompileFallbackWarning(FlairKitWarning):
    """``--compile`` failed; the run goes on with the model in eager mode."""


def render_predict_result(result: PredictResult) -> str:
    """The summary the command line prints after prediction."""
    tta = ", D4 TTA" if result.tta else ""
    model = "not measured" if result.model_s is None else f"{result.model_s:.1f} s"
    speed = f"{result.tiles_per_s:.1f} tiles/s ({result.device}, amp {result.amp}{tta})"
    lines = [
        f"predicted {result.n_tiles} tiles in {result.seconds:.1f} s: {speed}",
        f"wall time {result.wall_s:.1f} s (whole run), model time {model} (forward passes)",
        f"predictions: {result.out_dir}",
    ]
    if result.archive is not None:
        lines.append(
            f"submission: {result.archive.output} ({result.archive.n_files} PRED files, "
            f"{result.archive.size_bytes / 1e6:.1f} MB, validated)"
        )
    return "\n".join(lines) + "\n"


def _check_outputs(out: Path, pack: Path | None, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"{out}: exists and is not a folder; --output takes the folder for PRED files"
        )
    if out.is_dir() and not overwrite:
        existing = index_tiles(out, "pred").by_id
        if existing:
            raise OutputExistsError(
                f"{out}: already holds {len(existing)} PRED files; pass --overwrite or choose "
                "another --output"
            )
    if pack is not None and os.path.lexists(pack) and not overwrite:
        raise OutputExistsError(f"{pack}: exists; pass --overwrite or choose another --pack path")


def _publish(scratch: Path, out: Path) -> None:
    """Move a finished run's PRED files from ``scratch`` into ``out``.

    A new ``out`` is one rename. An existing one (empty, or replaced with ``overwrite``) gets the
    files one by one, then loses the PRED files of an earlier run that this run did not write,
    so it holds exactly this run's predictions.
    """
    if not out.exists():
        publish(scratch, out)
        return
    names = {path.name for path in scratch.iterdir()}
    for name in sorted(names):
        os.replace(scratch / name, out / name)
    index = index_tiles(out, "pred")
    earlier = set(index.by_id.values()).union(*index.duplicates.values())
    for path in sorted(earlier):
        if path.parent != out or path.name not in names:
            path.unlink()


@dataclass
class LoopTimes:
    """Where the prediction loop's time went (seconds; filled in by :func:`_predict_into`).

    Attributes:
        model_s: forward passes (with TTA, every view), GPU-synchronised: on CUDA the sum of CUDA
            events recorded around each batch's model call, on CPU plain wall time around it.
            None where not measured (``zone`` context).
        read_wait_s: the loop waiting for the DataLoader's next batch.
        write_wait_s: the loop waiting for the PRED writers (a full queue, then the last files).
    """

    model_s: float | None = 0.0
    read_wait_s: float = 0.0
    write_wait_s: float = 0.0


class _ModelClock:
    """Times the model calls: CUDA events on a GPU (read once at the end), wall time on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.events: list[tuple[Any, Any]] = []
        self.seconds = 0.0
        self._begin: Any = None

    def start(self) -> None:
        if self.cuda:
            self._begin = torch.cuda.Event(enable_timing=True)
            self._begin.record()
        else:
            self._begin = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.events.append((self._begin, end))
        else:
            self.seconds += time.perf_counter() - self._begin

    def total(self) -> float:
        if self.cuda and self.events:
            self.events[-1][1].synchronize()
            self.seconds += sum(begin.elapsed_time(end) for begin, end in self.events) / 1000
            self.events.clear()
        return self.seconds


def _to_host(classes: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """Start copying a batch's class maps to the host; return the copy and its CUDA event.

    On CUDA the copy goes to pinned memory without blocking, so the loop reads the next batch
    and launches its forward pass while this one travels; the event says when it has arrived.
    """
    if classes.device.type != "cuda":
        return classes, None
    host = classes.to("cpu", non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


@contextlib.contextmanager
def _readers_closed(batches: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Yield a DataLoader's iterator and stop its reader processes when the loop ends.

    After a SIGTERM to the whole process group, the readers die of it too; stopping them while
    the interpreter collected the iterator let torch's SIGCHLD check print an ignored
    "DataLoader worker is killed by signal" traceback after the "terminated" line. The main
    process's own exception (Terminated, a reader's error) is what the user gets.
    """
    try:
        yield batches
    finally:
        shutdown = getattr(batches, "_shutdown_workers", None)  # torch's, for reader processes
        if shutdown is not None:
            with contextlib.suppress(RuntimeError):
                shutdown()


def _compiled(model: Segmenter) -> Segmenter:
    """``torch.compile`` of the model for inference (lazy: it compiles at the first call)."""
    compiled: Segmenter = torch.compile(model, dynamic=False)  # type: ignore[assignment]
    return compiled


def _predict_into(
    folder: Path,
    model: Segmenter,
    samples: list[Sample],
    loader: DataLoader[Any],
    cfg: TrainConfig,
    *,
    context: str,
    tta: bool,
    amp_dtype: torch.dtype | None,
    device: torch.device,
    batch_size: int,
    georeferenced: bool,
    observer: Observer,
    writers: PredictionWriters,
    times: LoopTimes,
    compile_model: bool = False,
    check: InputCheck | None = None,
) -> int:
    """Predict every sample into ``folder``; return the number of patches written.

    ``check``: the zone context checks every patch against the model before predicting any (the
    patch context's dataset checks each patch it reads).

    Reading (DataLoader workers), the model (the device) and writing (``writers``) overlap: a
    batch's maps are copied to the host while the next batch is read and launched, then handed
    to the writers.
    """
    start = time.perf_counter()
    done = 0
    if context == "zone":
        times.model_s = None
        done = predict_zones(
            model,
            samples,
            folder,
            bands=cfg.data.bands,
            tta=tta,
            amp_dtype=amp_dtype,
            device=device,
            batch_size=batch_size,
            georeferenced=georeferenced,
            metadata_variant=cfg.model.metadata_encoding if cfg.model.use_metadata else None,
            observer=observer,
            check=check,
        )
        return done
    clock = _ModelClock(device)
    network = _compiled(model) if compile_model else model
    waiting: tuple[torch.Tensor, Any, list[int]] | None = None

    def hand_over(item: tuple[torch.Tensor, Any, list[int]]) -> None:
        host, event, indices = item
        if event is not None:
            event.synchronize()
        chosen = [samples[index] for index in indices]
        writers.submit(
            [folder / prediction_name(sample.tile) for sample in chosen],
            host.numpy(),
            [sample.image for sample in chosen],
        )

    with _readers_closed(iter(loader)) as batches:
        step = 0
        while True:
            before_read = time.perf_counter()
            batch = next(batches, None)
            times.read_wait_s += time.perf_counter() - before_read
            if batch is None:
                break
            step += 1
            images = batch["image"].to(device, non_blocking=True)
            meta = batch["metadata"].to(device, non_blocking=True) if model.uses_metadata else None
            series = None
            if "sentinel" in batch:
                series = tuple(
                    batch[k].to(device, non_blocking=True)
                    for k in ("sentinel", "dates", "date_mask")
                )
            with torch.inference_mode():
                clock.start()
                try:
                    classes = predict_batch(
                        network, images, meta, tta=tta, amp_dtype=amp_dtype, sentinel=series
                    )
                except Exception as exc:
                    if network is model or isinstance(exc, FlairKitError):
                        raise
                    # torch.compile compiles at the first call; a missing compiler or an
                    # unsupported operator shows here. Eager mode gives the same predictions.
                    warnings.warn(
                        f"--compile failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                        "predicting without compilation",
                        CompileFallbackWarning,
                        stacklevel=2,
                    )
                    network = model
                    clock.start()
                    classes = predict_batch(
                        network, images, meta, tta=tta, amp_dtype=amp_dtype, sentinel=series
                    )
                clock.stop()
                copied = _to_host(classes)
            if waiting is not None:
                hand_over(waiting)
            waiting = (*copied, batch["index"].tolist())
            done += len(classes)
            observer.step(
                "predict", step, len(loader), done / max(time.perf_counter() - start, 1e-9)
            )
    if waiting is not None:
        hand_over(waiting)
    times.model_s = clock.total()
    writers.close()
    times.write_wait_s = writers.wait_s
    return done


def predict(
    checkpoint: Path,
    data: Path,
    out: Path,
    *,
    batch_size: int = 8,
    device: Device = "auto",
    amp: Amp = "auto",
    tta: bool = False,
    georeferenced: bool = False,
    num_workers: int | None = None,
    bands: Sequence[int] | None = None,
    metadata: Path | None = None,
    csv_root: Path | None = None,
    pack: Path | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    context: PredictContext = "patch",
    compile_model: bool = False,
    timings: Path | None = None,
    num_writers: int | None = None,
) -> PredictResult:
    """Predict every patch under ``data`` into ``out`` (and pack a zip with ``pack``).

    Args:
        checkpoint: ``best.pt`` or ``last.pt`` from ``flair-kit baseline train``, or a checkpoint
            of ``baseline import-weights`` (its classes go through its crosswalk to the 13
            challenge classes).
        data: a dataset root, a folder of test images, or a path csv.
        out: the folder for ``PRED_<id>.tif`` files (created).
        batch_size: patches per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        amp: ``auto``, ``off``, ``bf16`` or ``fp16``.
        tta: average the 8 D4 views.
        georeferenced: keep the input's CRS and transform (the zip is still valid).
        num_workers: DataLoader reader processes (default: 0 on CPU, 5/8 of the cores on a GPU; see
            :func:`baseline.runtime.default_workers`).
        bands: bands to read; must equal the checkpoint's (default: the checkpoint's).
        metadata: aerial metadata JSON, for models trained with metadata (default: found at the
            dataset root).
        csv_root: where the files of a path csv are searched (default: the csv's folder).
        pack: write and validate the submission zip here.
        overwrite: replace existing PRED files and zip.
        observer: receives progress.
        context: ``patch`` (each patch alone) or ``zone`` (each patch inside the mosaic of its
            zone rebuilt from the georeferencing, blended sliding windows; see
            :mod:`baseline.zone_context`).
        compile_model: run the model through ``torch.compile`` (``patch`` context); if
            compilation fails, a :class:`CompileFallbackWarning` and eager mode.
        timings: also write the run's times as JSON here (:func:`timings_record`); never inside
            ``out`` nor at ``pack``, which would put it into the submission.
        num_writers: PRED writer threads (CPU) or processes (CUDA) (default:
            :func:`baseline.writers.default_writers`).

    Returns:
        What was written and the throughput.

    Raises:
        ConfigError: a checkpoint/option mismatch (both values named), invalid options, a
            ``timings`` path inside ``out`` or equal to ``pack``.
        OutputPathError: ``pack`` or ``timings`` is an input (the checkpoint, a dataset file)
            or lies in an input folder, or is a FIFO or device.
        NotADirectoryError, OSError: ``pack`` or ``timings`` cannot be written (checked before
            predicting).
        OutputExistsError: outputs exist and ``overwrite`` is False.
        MissingFileError, DataError: missing or malformed inputs.
        SubmissionError: the packed predictions fail validation.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size is {batch_size}; expected at least 1")
    if context not in CONTEXTS:
        raise ConfigError(f"context is {context!r}; expected one of {', '.join(CONTEXTS)}")
    wall_start = time.perf_counter()
    if num_writers is not None and num_writers < 1:
        raise ConfigError(f"writers is {num_writers}; expected at least 1")
    observer = observer or Observer()
    _check_outputs(out, pack, overwrite)
    _check_timings_path(timings, out, pack)
    # Where the zip and the timings go is checked now: a bad destination found after predicting
    # left a complete --output and exit 1, and the rerun was refused for that output.
    for destination in (pack, timings):
        if destination is not None:
            _check_destination(destination)
    check_outputs_apart(
        {"--pack": pack, "--timings": timings}, [checkpoint, data, metadata, csv_root]
    )
    if timings is not None and os.path.lexists(timings) and not overwrite:
        raise OutputExistsError(
            f"{timings}: exists; pass --overwrite or choose another --timings path"
        )
    model, cfg, contract = load_declared(checkpoint, bands=bands)
    if cfg.model.use_metadata and metadata is None and data.is_dir():
        metadata = find_metadata(data)
        if metadata is None:
            raise ConfigError(
                f"{checkpoint}: the model uses aerial metadata but no metadata JSON was given or "
                f"found in {data}; pass --metadata flair-1_metadata_aerial.json"
            )
    if cfg.dataset == "flair2":
        samples = flair2_test_inputs(data, context)
    else:
        samples = discover_inputs(
            data,
            metadata=metadata if cfg.model.use_metadata else None,
            csv_root=csv_root,
            dataset=cfg.dataset,
        )
    if data.is_dir():
        _refuse_folders_named_like_images(prediction_source(data, cfg.dataset))
    # Every patch is checked against the model (contract, and the size IGN's row tiling takes)
    # on the header its reader opens anyway: a later 0.5 m or 3-band patch is refused too.
    # Every patch must also have the size of the first one (read from its header, which must fit
    # a patch's budget): a batch stacks equal sizes, and a header declaring 200000x200000 pixels
    # is refused before anything is allocated.
    first = samples[0].image if samples else None
    size = patch_size(first) if first is not None else None
    check = InputCheck(contract, row_tiled(cfg), size=size, size_source=first)
    torch_device = resolve_device(device)
    amp_dtype = inference_amp(amp, torch_device, contract)
    model.to(torch_device).to(memory_format=torch.channels_last)
    readers = default_workers(torch_device) if num_workers is None else num_workers
    writer_kind, writer_count = default_writers(torch_device.type, readers)
    writer_count = writer_count if num_writers is None else num_writers
    dataset = FlairDataset(
        samples,
        cfg.data.bands,
        with_masks=False,
        metadata_variant=cfg.model.metadata_encoding if cfg.model.use_metadata else None,
        sentinel=cfg.sentinel if uses_sentinel(cfg) else None,
        check=check,
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=readers,
        pin_memory=torch_device.type == "cuda",
        collate_fn=collate_with_series,
    )
    # All or nothing: the PRED files go to a scratch folder beside ``out`` (the kit's one
    # scratch-folder helper: a killed run's folder is removed by the next run) and are moved into
    # place only once every patch is predicted; any failure removes the scratch folder.
    make_parent_folder(out)
    times = LoopTimes()
    try:
        with (
            scratch_directory(out) as scratch,
            PredictionWriters(writer_kind, writer_count, georeferenced=georeferenced) as writers,
        ):
            start = time.perf_counter()
            done = _predict_into(
                scratch,
                model,
                samples,
                loader,
                cfg,
                context=context,
                tta=tta,
                amp_dtype=amp_dtype,
                device=torch_device,
                batch_size=batch_size,
                georeferenced=georeferenced,
                observer=observer,
                writers=writers,
                times=times,
                compile_model=compile_model,
                check=check,
            )
            seconds = max(time.perf_counter() - start, 1e-9)
            plural = {"thread": "threads", "process": "processes"}[writers.kind]
            writers_used = f"{writers.workers} {plural if writers.workers > 1 else writers.kind}"
            _publish(scratch, out)
    except FlairKitError as exc:
        raise worker_error(exc) from None
    archive = None
    if pack is not None:
        width = size[0] if size is not None else 512
        # The expected ids are exactly those of the patches this run found and predicted (not a
        # second reading of the folder, which could differ), so a zip that misses or adds a
        # patch is refused.
        archive = pack_submission(
            out,
            pack,
            expect=frozenset(sample.tile for sample in samples),
            expected_size=width,
            overwrite=overwrite,
        )
    result = PredictResult(
        out_dir=out,
        n_tiles=done,
        seconds=seconds,
        tiles_per_s=done / seconds,
        device=str(torch_device),
        amp=amp_name(amp_dtype),
        tta=tta,
        archive=archive,
        wall_s=time.perf_counter() - wall_start,
        model_s=times.model_s,
        read_wait_s=times.read_wait_s,
        write_wait_s=times.write_wait_s,
        batch_size=batch_size,
        workers=readers,
        writers=writers_used,
        compiled=compile_model and context == "patch",
        checkpoint=checkpoint,
    )
    if timings is not None:
        make_parent_folder(timings)
        atomic_write_json(timings, timings_record(result))
    return result


def _refuse_folders_named_like_images(source: Path) -> None:
    """Refuse a folder (or a link to one) named like a test image under ``source``.

    Discovery lists files only, so such an entry was skipped in silence: one patch fewer
    predicted, and the zip still validated. FIFOs, sockets and devices named like an image are
    listed, and refused unread when read (:func:`baseline.data.read_image`).

    Raises:
        DataError: naming the first such entry.
    """
    for folder, subdirs, _files in os.walk(source):
        subdirs[:] = sorted(name for name in subdirs if not is_ignored_name(name))
        named = [name for name in subdirs if tile_id(name, "image") is not None]
        if named:
            path = Path(folder, named[0])
            raise DataError(
                f"{path}: {absent_or_kind(path)} named like a test image; expected the "
                "IMG_<id>.tif GeoTIFF itself: put the image file there or remove the folder"
            )


def _check_timings_path(timings: Path | None, out: Path, pack: Path | None) -> None:
    """Refuse a timings file that would land in the submission (the platform scores it all).

    Paths are compared with :func:`os.path.realpath`, which never raises (a symlink loop is a
    path like any other; ``Path.resolve`` raised ``RuntimeError`` on it).
    """
    if timings is None:
        return
    where = Path(os.path.realpath(timings))
    folder = Path(os.path.realpath(out))
    if where == folder or where.is_relative_to(folder):
        raise ConfigError(
            f"{timings}: --timings is inside --output {out}, which becomes the submission; "
            "write it elsewhere, e.g. beside the folder"
        )
    if pack is not None and where == Path(os.path.realpath(pack)):
        raise ConfigError(
            f"{timings}: --timings is the --pack zip; give the timings file another name"
        )
    if timings.is_dir():
        raise ConfigError(f"{timings}: is a folder; --timings takes a file name, e.g. timings.json")


def _check_destination(target: Path) -> None:
    """Fail before predicting if the file ``target`` could not be written after it.

    The nearest existing folder above ``target`` must be a folder (not a file) where a file can
    be created (:func:`probe_writable`, which also refuses a folder, FIFO or device at
    ``target``); missing folders below it are created at the end.

    Raises:
        NotADirectoryError: a file stands where a folder of the path should be.
        OutputPathError, OSError: see :func:`probe_writable`.
    """
    missing = target
    while not os.path.lexists(missing.parent) and missing.parent != missing:
        missing = missing.parent
    base = missing.parent
    if not base.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(base))
    probe_writable(missing)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def timings_record(result: PredictResult) -> dict[str, Any]:
    """The JSON a ``--timings`` file holds: the run's times and what they were measured on.

    Keys: ``wall_s`` (whole call), ``model_s`` (forward passes, GPU-synchronised; null when not
    measured), ``loop_s`` (the prediction loop), ``read_wait_s`` and ``write_wait_s`` (the loop
    waiting for input batches and for the PRED writers), ``n_tiles``, ``tiles_per_s`` (of the
    loop), ``device``, ``amp``, ``tta``, ``compiled``, ``batch_size``, ``workers``,
    ``writers``, ``checkpoint`` (path), ``checkpoint_sha256``.
    """
    checkpoint = result.checkpoint
    return {
        "wall_s": round(result.wall_s, 3),
        "model_s": None if result.model_s is None else round(result.model_s, 3),
        "loop_s": round(result.seconds, 3),
        "read_wait_s": round(result.read_wait_s, 3),
        "write_wait_s": round(result.write_wait_s, 3),
        "n_tiles": result.n_tiles,
        "tiles_per_s": round(result.tiles_per_s, 2),
        "device": result.device,
        "amp": result.amp,
        "tta": result.tta,
        "compiled": result.compiled,
        "batch_size": result.batch_size,
        "workers": result.workers,
        "writers": result.writers,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "checkpoint_sha256": file_sha256(checkpoint) if checkpoint is not None else None,
    }
