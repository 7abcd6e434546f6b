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

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from baseline.choices import CONTEXTS, Amp, Device, PredictContext
from baseline.config import TrainConfig
from baseline.data import FlairDataset
from baseline.fusion import Segmenter, uses_sentinel
from baseline.inference import load_predictor, predict_batch
from baseline.inputs import discover_inputs, flair2_test_inputs, prediction_source
from baseline.progress import Observer
from baseline.runtime import (
    amp_name,
    default_workers,
    resolve_amp,
    resolve_device,
    worker_error,
)
from baseline.sentinel import collate_with_series
from baseline.zone_context import predict_zones
from scoring.atomic import make_parent_folder, publish, scratch_directory
from scoring.errors import ConfigError, FlairKitError, OutputExistsError
from scoring.tiles import index_tiles
from starting_kit.discovery import Sample, find_metadata
from starting_kit.predictions import prediction_name, write_georeferenced, write_prediction
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
    """

    out_dir: Path
    n_tiles: int
    seconds: float
    tiles_per_s: float
    device: str
    amp: str
    tta: bool
    archive: Any | None = None


def render_predict_result(result: PredictResult) -> str:
    """The summary the command line prints after prediction."""
    tta = ", D4 TTA" if result.tta else ""
    speed = f"{result.tiles_per_s:.1f} tiles/s ({result.device}, amp {result.amp}{tta})"
    lines = [
        f"predicted {result.n_tiles} tiles in {result.seconds:.1f} s: {speed}",
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
    if pack is not None and pack.exists() and not overwrite:
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
) -> int:
    """Predict every sample into ``folder``; return the number of patches written."""
    pending: list[Future[None]] = []
    start = time.perf_counter()
    done = 0
    if context == "zone":
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
        )
    with ThreadPoolExecutor(max_workers=2) as writers:
        for step, batch in enumerate(loader if context == "patch" else (), start=1):
            images = batch["image"].to(device, non_blocking=True)
            meta = batch["metadata"].to(device) if model.uses_metadata else None
            series = None
            if "sentinel" in batch:
                series = tuple(batch[k].to(device) for k in ("sentinel", "dates", "date_mask"))
            with torch.inference_mode():
                classes = (
                    predict_batch(
                        model, images, meta, tta=tta, amp_dtype=amp_dtype, sentinel=series
                    )
                    .cpu()
                    .numpy()
                )
            for index, class_map in zip(batch["index"].tolist(), classes, strict=True):
                sample = samples[index]
                target = folder / prediction_name(sample.tile)
                if georeferenced:
                    pending.append(
                        writers.submit(write_georeferenced, target, class_map, sample.image)
                    )
                else:
                    pending.append(writers.submit(write_prediction, target, class_map))
            # Bound the queue of arrays waiting to be written, and surface write errors early.
            while len(pending) > 4 * batch_size:
                pending.pop(0).result()
            done += len(classes)
            observer.step(
                "predict", step, len(loader), done / max(time.perf_counter() - start, 1e-9)
            )
        for future in pending:
            future.result()
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
) -> PredictResult:
    """Predict every patch under ``data`` into ``out`` (and pack a zip with ``pack``).

    Args:
        checkpoint: ``best.pt`` or ``last.pt`` from ``flair-kit baseline train``.
        data: a dataset root, a folder of test images, or a path csv.
        out: the folder for ``PRED_<id>.tif`` files (created).
        batch_size: patches per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        amp: ``auto``, ``off``, ``bf16`` or ``fp16``.
        tta: average the 8 D4 views.
        georeferenced: keep the input's CRS and transform (the zip is still valid).
        num_workers: DataLoader reader processes (default: 0 on CPU, up to 8 on a GPU; see
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

    Returns:
        What was written and the throughput.

    Raises:
        ConfigError: a checkpoint/option mismatch (both values named), invalid options.
        OutputExistsError: outputs exist and ``overwrite`` is False.
        MissingFileError, DataError: missing or malformed inputs.
        SubmissionError: the packed predictions fail validation.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size is {batch_size}; expected at least 1")
    if context not in CONTEXTS:
        raise ConfigError(f"context is {context!r}; expected one of {', '.join(CONTEXTS)}")
    observer = observer or Observer()
    _check_outputs(out, pack, overwrite)
    model, cfg = load_predictor(checkpoint, bands=bands)
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
    torch_device = resolve_device(device)
    amp_dtype = resolve_amp(amp, torch_device)
    model.to(torch_device).to(memory_format=torch.channels_last)
    dataset = FlairDataset(
        samples,
        cfg.data.bands,
        with_masks=False,
        metadata_variant=cfg.model.metadata_encoding if cfg.model.use_metadata else None,
        sentinel=cfg.sentinel if uses_sentinel(cfg) else None,
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=default_workers(torch_device) if num_workers is None else num_workers,
        pin_memory=torch_device.type == "cuda",
        collate_fn=collate_with_series,
    )
    # All or nothing: the PRED files go to a scratch folder beside ``out`` (the kit's one
    # scratch-folder helper: a killed run's folder is removed by the next run) and are moved into
    # place only once every patch is predicted; any failure removes the scratch folder.
    make_parent_folder(out)
    try:
        with scratch_directory(out) as scratch:
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
            )
            seconds = max(time.perf_counter() - start, 1e-9)
            _publish(scratch, out)
    except FlairKitError as exc:
        raise worker_error(exc) from None
    archive = None
    if pack is not None:
        size = int(dataset[0]["image"].shape[-1]) if len(dataset) else 512
        # The expected ids are those of the patches predicted: the dataset's test split (or the
        # folder or csv given), so a zip that misses or adds a patch is refused.
        archive = pack_submission(
            out,
            pack,
            expect=prediction_source(data, cfg.dataset),
            expected_size=size,
            overwrite=overwrite,
        )
    return PredictResult(
        out_dir=out,
        n_tiles=done,
        seconds=seconds,
        tiles_per_s=done / seconds,
        device=str(torch_device),
        amp=amp_name(amp_dtype),
        tta=tta,
        archive=archive,
    )
