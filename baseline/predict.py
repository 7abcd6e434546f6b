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

Optional test-time augmentation (``tta``): the 8 symmetries of the square (D4); the softmax
probabilities of the 8 views are mapped back and averaged before the argmax.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from baseline.checkpoint import (
    check_bands,
    check_classes,
    checkpoint_config,
    load_checkpoint,
    load_model_state,
)
from baseline.config import TrainConfig
from baseline.data import FlairDataset
from baseline.fusion import build_network, uses_sentinel
from baseline.model import FlairSegmenter, build_model
from baseline.progress import Observer
from baseline.runtime import (
    amp_name,
    autocast,
    default_workers,
    resolve_amp,
    resolve_device,
    worker_error,
)
from baseline.sentinel import collate_with_series
from scoring.atomic import atomic_path
from scoring.errors import (
    ConfigError,
    DataError,
    FlairKitError,
    MissingFileError,
    OutputExistsError,
)
from scoring.tiles import index_tiles
from starting_kit.discovery import (
    SPLIT_FOLDERS,
    Sample,
    discover_csv,
    discover_tree,
    find_metadata,
    find_split,
)
from starting_kit.predictions import encode_prediction, prediction_name, write_prediction

#: The 8 elements of D4 as (quarter turns, left-right flip).
D4: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))
#: How patches are predicted: alone, or inside their rebuilt zone (``--context``).
CONTEXTS = ("patch", "zone")


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


def d4_transform(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """Rotate the last two axes by quarter turns, then flip left-right."""
    x = torch.rot90(x, quarter_turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


def d4_inverse(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """Undo :func:`d4_transform`."""
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, -quarter_turns, dims=(-2, -1))


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad height and width up to a multiple of ``multiple``; return the original size.

    Reflection cannot add as many pixels as a side has or more (a 16-pixel side padded to 32),
    so it is applied in steps, each reflecting the already padded image; a 1-pixel side, which
    has nothing to reflect, is repeated. Any size from 1 pixel up is padded this way.

    >>> padded, height, width = pad_to_multiple(torch.arange(3.0).reshape(1, 1, 1, 3), 8)
    >>> tuple(padded.shape), height, width
    ((1, 1, 8, 8), 1, 3)
    >>> padded[0, 0, 0].tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0]
    """
    height, width = images.shape[-2:]
    for axis, missing in ((-2, (-height) % multiple), (-1, (-width) % multiple)):
        while missing:
            step = min(missing, images.shape[axis] - 1)
            mode = "reflect" if step else "replicate"
            step = step or missing
            pad = (0, step, 0, 0) if axis == -1 else (0, 0, 0, step)
            images = F.pad(images, pad, mode=mode)
            missing -= step
    return images, height, width


def predict_batch(
    model: FlairSegmenter,
    images: torch.Tensor,
    metadata: torch.Tensor | None = None,
    *,
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    sentinel: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Class indices (B, H, W) uint8 for a batch of images (B, C, H, W) on the model's device.

    Sizes that are not multiples of the encoder's stride are reflect-padded and cropped back.
    U-T&T models also take ``sentinel``: the padded series, day offsets and date mask of the batch.
    """
    total = predict_scores(
        model,
        images,
        metadata,
        tta=tta,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        sentinel=sentinel,
    )
    return total.argmax(dim=1).to(torch.uint8)


def predict_scores(
    model: FlairSegmenter,
    images: torch.Tensor,
    metadata: torch.Tensor | None = None,
    *,
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    probabilities: bool = False,
    sentinel: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Float32 class scores (B, 13, H, W): logits, or with ``tta`` the summed D4 softmaxes.

    With ``probabilities`` the result is always the mean softmax probability (of the 8 views with
    ``tta``), what :mod:`baseline.mapping` blends. With ``sentinel`` (U-T&T), each D4 view turns
    the Sentinel-2 crop with the image.
    """
    padded, height, width = pad_to_multiple(images, max(model.output_stride, 1))
    views = D4 if tta else ((0, False),)
    total: torch.Tensor | None = None
    for quarter_turns, flip in views:
        view = d4_transform(padded, quarter_turns, flip)
        if channels_last:
            view = view.contiguous(memory_format=torch.channels_last)
        with autocast(images.device, amp_dtype):
            if sentinel is None:
                logits = model(view, metadata)
            else:
                series, dates, date_mask = sentinel
                series = d4_transform(series, quarter_turns, flip)
                logits = model(view, metadata, series, dates, date_mask)
        logits = d4_inverse(logits.float(), quarter_turns, flip)
        scores = logits.softmax(dim=1) if tta or probabilities else logits
        total = scores if total is None else total + scores
    assert total is not None
    if probabilities and len(views) > 1:
        total = total / len(views)
    return total[..., :height, :width]


def load_predictor(
    checkpoint: Path,
    *,
    bands: Sequence[int] | None = None,
    check: Callable[[TrainConfig], None] | None = None,
) -> tuple[FlairSegmenter, TrainConfig]:
    """Rebuild the trained network from a checkpoint, refusing any mismatch.

    ``check`` sees the stored configuration before the network is built and may refuse it
    (raise), so a model the caller cannot use costs no construction.

    Raises:
        MissingFileError, DataError: no such checkpoint, or not a flair-kit checkpoint.
        ConfigError: other classes or bands than the checkpoint's, or weights that do not fit
            the stored configuration (both values named).
    """
    payload = load_checkpoint(checkpoint)
    check_classes(payload, checkpoint)
    cfg = checkpoint_config(payload, checkpoint)
    if check is not None:
        check(cfg)
    used_bands = check_bands(cfg, checkpoint, tuple(bands) if bands is not None else None)
    # "none": the checkpoint holds every weight; never download anything here.
    model = build_network(cfg, len(used_bands), "none", build_aerial=build_model)
    load_model_state(model, payload["model"], checkpoint, cfg)
    return model.eval(), cfg


def prediction_source(data: Path, dataset: str = "flair1") -> Path:
    """What a run predicts: the test image folder of a dataset root, else ``data`` itself.

    A dataset root holds ``flair_1_aerial_test/`` or ``flair_2_aerial_test/``; the folder of the
    checkpoint's own dataset is preferred, then the other one (a FLAIR #1 model predicts the FLAIR
    #2 test patches of a FLAIR #2 root, never its train patches). Any other folder is an image
    folder, and a csv is a path list.

    Raises:
        DataError: ``data`` is a dataset root with training images but no test images.
    """
    if not data.is_dir():
        return data
    order = (dataset, "flair2" if dataset == "flair1" else "flair1")
    for name in order:
        folder = data / SPLIT_FOLDERS[(name, "test")].images
        if folder.is_dir():
            return folder
    train = data / SPLIT_FOLDERS[("flair1", "train")].images
    if train.is_dir():
        tests = " or ".join(f"{SPLIT_FOLDERS[(n, 'test')].images}/" for n in ("flair1", "flair2"))
        raise DataError(
            f"{data}: a dataset root with training images but no test images (no {tests}); "
            f"predict a root that holds its test split, or pass an image folder itself "
            f"(for example --data {train}) to predict other patches"
        )
    return data


def discover_inputs(
    data: Path,
    *,
    metadata: Path | None = None,
    csv_root: Path | None = None,
    dataset: str = "flair1",
) -> list[Sample]:
    """Find the patches to predict: a path csv, the test split of a dataset root
    (:func:`prediction_source`) or an image folder (``<DOMAIN>/<ZONE>/img/IMG_<id>.tif``, searched
    recursively).

    Raises:
        MissingFileError: ``data`` does not exist.
        DataError: no image found, a dataset root without test images (and discovery's errors).
    """
    if not data.exists():
        raise MissingFileError(f"{data}: not found; expected a folder of test images or a path csv")
    if data.is_file():
        return discover_csv(data, root=csv_root, metadata=metadata)
    return discover_tree(prediction_source(data, dataset), metadata=metadata)


def flair2_test_inputs(data: Path, context: str = "patch") -> list[Sample]:
    """The FLAIR #2 test patches of a dataset root, with their Sentinel-2 files and centroids.

    Raises:
        ConfigError: ``data`` is not a folder, or a ``zone`` context was asked for.
        MissingFileError, DataError: see :func:`starting_kit.discovery.find_split`.
    """
    if context != "patch":
        raise ConfigError(
            f"context {context!r} is not available for FLAIR #2 models; predict with --context patch"
        )
    if not data.is_dir():
        raise ConfigError(
            f"{data}: a FLAIR #2 model predicts a dataset root (flair_2_aerial_test/, "
            "flair_2_sen_test/, flair-2_centroids_sp_to_patch.json); not a path csv or a file"
        )
    return find_split(data, "test", dataset="flair2")


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


def write_georeferenced(path: Path, classes: np.ndarray, source: Path) -> None:
    """Write a class map with the georeferencing of its input image (rasterio, LZW, uint8)."""
    image = encode_prediction(classes)  # the same checks as the official writer
    with rasterio.open(source) as src:
        profile = dict(src.profile)
    for key in ("photometric", "interleave", "blockxsize", "blockysize", "tiled"):
        profile.pop(key, None)
    profile.update(driver="GTiff", count=1, dtype="uint8", compress="lzw", nodata=None)
    with atomic_path(path) as scratch, rasterio.open(scratch, "w", **profile) as dst:
        dst.write(np.asarray(image, dtype=np.uint8), 1)


#: Name suffix of the scratch folders of :func:`predict`, beside the output folder.
SCRATCH_SUFFIX = ".predict.partial"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scratch_folder(out: Path) -> Path:
    """A new scratch folder beside ``out`` (same file system: publishing is a rename).

    Scratch folders of earlier runs into ``out`` whose process is gone (a killed run) are
    removed first. The folder gets the permissions a plain ``mkdir`` would give it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out.name}."
    for stale in out.parent.glob(f"{glob.escape(prefix)}*{SCRATCH_SUFFIX}"):
        pid = stale.name[len(prefix) :].split(".", 1)[0]
        if stale.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", suffix=SCRATCH_SUFFIX, dir=out.parent)
    )
    umask = os.umask(0)
    os.umask(umask)
    scratch.chmod(0o777 & ~umask)
    return scratch


def _publish(scratch: Path, out: Path) -> None:
    """Move a finished run's PRED files from ``scratch`` into ``out``.

    A new ``out`` is one rename. An existing one (empty, or replaced with ``overwrite``) gets the
    files one by one, then loses the PRED files of an earlier run that this run did not write,
    so it holds exactly this run's predictions.
    """
    if not out.exists():
        os.rename(scratch, out)
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
    model: FlairSegmenter,
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
        from baseline.zone_context import predict_zones

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
                    predict_batch(model, images, meta, tta=tta, amp_dtype=amp_dtype, sentinel=series)
                    .cpu()
                    .numpy()
                )
            for index, class_map in zip(batch["index"].tolist(), classes):
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
    device: str = "auto",
    amp: str = "auto",
    tta: bool = False,
    georeferenced: bool = False,
    num_workers: int | None = None,
    bands: Sequence[int] | None = None,
    metadata: Path | None = None,
    csv_root: Path | None = None,
    pack: Path | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    context: str = "patch",
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
    # All or nothing: the PRED files go to a scratch folder beside ``out`` and are moved into
    # place only once every patch is predicted; any failure removes the scratch folder.
    scratch = _scratch_folder(out)
    try:
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
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    archive = None
    if pack is not None:
        from starting_kit.submission import pack_submission

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
