"""Train the FLAIR baseline: a plain PyTorch loop, resumable, single- or multi-process.

The run folder (``cfg.out``) receives, from rank 0 only:

- ``config.yaml``: the resolved configuration;
- ``split.json``: the train/val domains and ids;
- ``last.pt`` (every epoch, with optimizer, scheduler, scaler and RNG states for ``--resume``) and
  ``best.pt`` (the best epoch for ``cfg.monitor``), both written atomically;
- ``metrics.csv``: one row per epoch (losses, mIoU, per-class IoU, learning rate, images/s);
- ``training_curves.png``: the same losses, mIoU and learning rate drawn against the epoch
  (a plotting failure is a warning, never the end of the run).

Loss: cross-entropy with class-index targets and class weights (1 for the 12 scored classes, 0 for
'other' by default), averaged over the summed weights of the pixels, like PyTorch's weighted mean.
IGN's legacy code used one-hot probability targets, whose mean divides by all pixels instead; the
gradients differ only by a per-batch factor. A batch made only of 'other' pixels gives a loss of 0
rather than PyTorch's 0/0 = NaN.

FLAIR #2 U-T&T (``dataset: flair2`` with ``sentinel.enabled``): the loss optimised is
``unet_loss_weight * aerial loss + utae_loss_weight * U-TAE loss``, the U-TAE term with its own
class weights (:func:`baseline.fusion.utae_class_weights`); the losses reported in ``metrics.csv``
are the aerial term, comparable with FLAIR #1 runs.

Validation mIoU is the official metric: the confusion matrix of :func:`scoring.metrics.confusion_matrix`
(summed over processes) reduced by :func:`scoring.metrics.mean_iou_score`, with the truth mapped by
the metric's own lookup table.

Multi-process: start with ``torchrun --nproc_per_node N -m starting_kit baseline train ...``
(nccl on GPUs, gloo on CPU). Each process reads a disjoint shard of the data; ``batch_size`` is per
process.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from baseline.checkpoint import (
    checkpoint_config,
    load_checkpoint,
    load_model_state,
    model_payload,
    save_checkpoint,
)
from baseline.config import (
    RESUMABLE_FIELDS,
    TrainConfig,
    config_differences,
    config_to_dict,
)
from baseline.curves import CURVES_NAME, write_training_curves
from baseline.data import FlairDataset
from baseline.fusion import build_network, uses_sentinel, utae_class_weights
from baseline.inputs import discover_training_data, metadata_path, resolve_path
from baseline.model import build_model
from baseline.progress import Observer
from baseline.runtime import (
    DistInfo,
    all_reduce_sum,
    amp_name,
    autocast,
    backend_name,
    barrier,
    broadcast_buffers,
    gather_objects,
    init_distributed,
    resolve_amp,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
    shutdown_distributed,
    worker_error,
)
from baseline.sentinel import collate_with_series
from baseline.splits import Split, explicit_split, split_samples, write_split
from scoring.atomic import atomic_write_text, make_parent_folder
from scoring.classes import CLASS_NAMES, NUM_CLASSES, NUM_SCORED_CLASSES, OTHER_INDEX
from scoring.errors import (
    ConfigError,
    DataError,
    FlairKitError,
    MissingFileError,
    OutputExistsError,
)
from scoring.metrics import confusion_matrix, iou_per_class, mean_iou_score
from starting_kit.discovery import discover_csv

LAST_NAME = "last.pt"
BEST_NAME = "best.pt"
METRICS_NAME = "metrics.csv"
SPLIT_NAME = "split.json"
CONFIG_NAME = "config.yaml"

T = TypeVar("T")


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured (the row of ``metrics.csv``)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_miou: float
    lr: float
    train_images_per_s: float
    seconds: float
    val_iou: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint history."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "val_miou": self.val_miou,
            "lr": self.lr,
            "train_images_per_s": self.train_images_per_s,
            "seconds": self.seconds,
            "val_iou": list(self.val_iou),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EpochRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**values, "val_iou": tuple(values["val_iou"])})

    def summary(self, epochs: int) -> str:
        """The progress line of this epoch (:func:`format_epoch`)."""
        return format_epoch(self, epochs)


def format_epoch(record: EpochRecord, epochs: int) -> str:
    """One summary line per epoch.

    >>> format_epoch(EpochRecord(3, 0.5, 0.61, 0.4321, 0.02, 12.5, 30.0, ()), 10)
    'epoch 3/10  train loss 0.5000  val loss 0.6100  val mIoU 0.4321  lr 0.02  12.5 img/s  30s'
    """
    return (
        f"epoch {record.epoch}/{epochs}  train loss {record.train_loss:.4f}  "
        f"val loss {record.val_loss:.4f}  val mIoU {record.val_miou:.4f}  lr {record.lr:.3g}  "
        f"{record.train_images_per_s:.1f} img/s  {record.seconds:.0f}s"
    )


@dataclass(frozen=True)
class TrainResult:
    """Where the run is and how it went."""

    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    best_val_miou: float
    epochs_run: int
    stopped_early: bool
    history: tuple[EpochRecord, ...]
    rank: int = 0


def render_train_result(result: TrainResult) -> str:
    """The summary the command line prints after training."""
    stop = ", stopped early" if result.stopped_early else ""
    return (
        f"trained {result.epochs_run} epoch(s){stop}; best epoch {result.best_epoch}: "
        f"val mIoU {result.best_val_miou:.4f}\n"
        f"best checkpoint: {result.best_checkpoint}\n"
        f"last checkpoint: {result.last_checkpoint}\n"
        f"per-epoch metrics: {result.run_dir / 'metrics.csv'}\n"
    )


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...``: disjoint shards, no padding (exact validation)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_split(cfg: TrainConfig) -> Split:
    """Discover the data and split it as configured (explicit list, official or random domains)."""
    pool = discover_training_data(
        cfg.data, with_metadata=cfg.model.use_metadata, dataset=cfg.dataset
    )
    if cfg.data.val is not None and cfg.dataset == "flair2":
        raise ConfigError(
            "data.val (--val) takes a FLAIR #1 path csv; FLAIR #2 runs split the dataset root by "
            "domains (data.split: official or random)"
        )
    if cfg.data.val is None:
        return split_samples(
            pool, cfg.data.split, val_fraction=cfg.data.val_fraction, seed=cfg.seed
        )
    val_source = resolve_path(cfg.data.val, "validation list")
    if not val_source.is_file():
        raise ConfigError(f"{val_source}: data.val must be an official path csv (image,mask rows)")
    root = Path(cfg.data.csv_root) if cfg.data.csv_root else None
    metadata = metadata_path(cfg.data, None) if cfg.model.use_metadata else None
    val = discover_csv(val_source, root=root, metadata=metadata)
    val_ids = {s.tile for s in val}
    return explicit_split([s for s in pool if s.tile not in val_ids], val)


def class_weights(other_weight: float, device: torch.device) -> torch.Tensor:
    """Loss weights: 1 for the 12 scored classes, ``other_weight`` for 'other'."""
    weight = torch.ones(NUM_CLASSES, dtype=torch.float32, device=device)
    weight[OTHER_INDEX] = other_weight
    return weight


def weighted_ce_sums(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over pixels of ``weight[y] * CE`` and sum of ``weight[y]`` (the loss is their ratio).

    >>> logits = torch.zeros(1, 13, 1, 2)
    >>> s, w = weighted_ce_sums(logits, torch.tensor([[[0, 12]]]), class_weights(0.0, torch.device("cpu")))
    >>> round(float(s / w), 4) == round(math.log(13), 4), float(w)
    (True, 1.0)
    """
    total = F.cross_entropy(logits.float(), target, weight=weight, reduction="sum")
    return total, weight[target].sum()


def _to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    tensor = tensor.to(device, non_blocking=True)
    if channels_last and tensor.ndim == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def _metadata(
    batch: dict[str, Any], model: torch.nn.Module, device: torch.device
) -> torch.Tensor | None:
    inner = model.module if hasattr(model, "module") else model
    if getattr(inner, "uses_metadata", False):
        return batch["metadata"].to(device, non_blocking=True)
    return None


def forward_batch(
    model: torch.nn.Module,
    batch: dict[str, Any],
    images: torch.Tensor,
    device: torch.device,
    *,
    with_aux: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the model on a batch: the aerial model, or U-T&T with the padded Sentinel-2 series."""
    inner = model.module if hasattr(model, "module") else model
    metadata = _metadata(batch, model, device)
    if not getattr(inner, "uses_sentinel", False):
        return model(images, metadata)
    return model(
        images,
        metadata,
        batch["sentinel"].to(device, non_blocking=True),
        batch["dates"].to(device, non_blocking=True),
        batch["date_mask"].to(device, non_blocking=True),
        with_aux=with_aux,
    )


@dataclass(frozen=True)
class AuxiliaryLoss:
    """U-T&T's loss weights: the U-TAE term's class weights and the two term weights."""

    class_weight: torch.Tensor
    utae_weight: float
    unet_weight: float


@dataclass(frozen=True)
class LoopSettings:
    """How batches are run: device, precision, memory format, process group, reporting."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    info: DistInfo
    observer: Observer
    auxiliary: AuxiliaryLoss | None = None


def accumulation_groups(batches: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive groups of ``size`` batches; the last group of an epoch may be shorter.

    >>> [len(g) for g in accumulation_groups(range(7), 3)]
    [3, 3, 1]
    """
    group: list[T] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _synchronised_last(
    model: torch.nn.Module, last: bool
) -> contextlib.AbstractContextManager[Any]:
    # Under DDP every backward all-reduces the gradients; within a group only the last one must.
    no_sync = getattr(model, "no_sync", None)
    return contextlib.nullcontext() if last or no_sync is None else no_sync()


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    weight: torch.Tensor,
    settings: LoopSettings,
    scaler: torch.amp.GradScaler | None = None,
    accumulate_steps: int = 1,
) -> tuple[float, float]:
    """Run one epoch of training, one optimiser step per ``accumulate_steps`` batches.

    Gradient accumulation gives the gradient of the group's batches taken as one batch: each
    batch's summed loss is divided by the pixel weights of the whole group (known before the
    first backward from the group's masks), so ``k`` batches of ``b`` images step exactly like one
    batch of ``k * b`` (BatchNorm statistics aside, which see each batch of ``b``). The last group
    of an epoch holds the remaining batches when ``len(loader)`` is not a multiple of ``k``: it
    still makes one step, normalised by its own weights (a smaller batch). The progress reports
    optimiser steps.

    Returns:
        (mean training loss over all processes, images per second over all processes).
    """
    model.train()
    sums = torch.zeros(2, dtype=torch.float64, device=settings.device)
    images_seen = 0
    start = time.perf_counter()
    total = math.ceil(len(loader) / accumulate_steps)
    aux = settings.auxiliary
    for step, group in enumerate(accumulation_groups(loader, accumulate_steps), start=1):
        targets = [b["mask"].to(settings.device, non_blocking=True) for b in group]
        group_weight = sum_weights(targets, weight)
        aux_weight = sum_weights(targets, aux.class_weight) if aux is not None else group_weight
        optimizer.zero_grad(set_to_none=True)
        for index, (batch, target) in enumerate(zip(group, targets, strict=True)):
            with _synchronised_last(model, index == len(group) - 1):
                images = _to_device(batch["image"], settings.device, settings.channels_last)
                with autocast(settings.device, settings.amp_dtype):
                    outputs = forward_batch(
                        model, batch, images, settings.device, with_aux=aux is not None
                    )
                logits = outputs[0] if isinstance(outputs, tuple) else outputs
                loss_sum, weight_sum = weighted_ce_sums(logits, target, weight)
                loss = loss_sum / group_weight
                if aux is not None and isinstance(outputs, tuple):
                    aux_sum, _ = weighted_ce_sums(outputs[1], target, aux.class_weight)
                    loss = aux.unet_weight * loss + aux.utae_weight * aux_sum / aux_weight
                (scaler.scale(loss) if scaler is not None else loss).backward()
            sums += torch.stack([loss_sum.detach().double(), weight_sum.detach().double()])
            images_seen += images.shape[0]
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        elapsed = max(time.perf_counter() - start, 1e-9)
        settings.observer.step(
            "train", step, total, images_seen * settings.info.world_size / elapsed
        )
    all_reduce_sum(sums, settings.info)
    seconds = max(time.perf_counter() - start, 1e-9)
    throughput = images_seen * settings.info.world_size / seconds
    return float(sums[0] / sums[1].clamp_min(1.0)), throughput


def sum_weights(targets: Sequence[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """The summed class weights of every pixel of a group of masks (at least 1, as for a batch).

    >>> w = class_weights(0.0, torch.device("cpu"))
    >>> float(sum_weights([torch.tensor([[0, 12]]), torch.tensor([[3]])], w))
    2.0
    """
    total = torch.stack([weight[target].sum() for target in targets]).sum()
    return total.clamp_min(1.0)


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module, loader: DataLoader, weight: torch.Tensor, settings: LoopSettings
) -> tuple[np.ndarray, float]:
    """Validation: the official 13x13 confusion matrix and the weighted loss, over all processes."""
    model.eval()
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    sums = torch.zeros(2, dtype=torch.float64, device=settings.device)
    start = time.perf_counter()
    seen = 0
    total = len(loader)
    for step, batch in enumerate(loader, start=1):
        images = _to_device(batch["image"], settings.device, settings.channels_last)
        target = batch["mask"].to(settings.device, non_blocking=True)
        with autocast(settings.device, settings.amp_dtype):
            # without with_aux a model returns its logits alone
            logits = cast(torch.Tensor, forward_batch(model, batch, images, settings.device))
        loss_sum, weight_sum = weighted_ce_sums(logits, target, weight)
        sums += torch.stack([loss_sum.double(), weight_sum.double()])
        predicted = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        confusion += confusion_matrix(target.cpu().numpy(), predicted, num_classes=NUM_CLASSES)
        seen += images.shape[0]
        settings.observer.step("val", step, total, seen / max(time.perf_counter() - start, 1e-9))
    totals = all_reduce_sum(torch.from_numpy(confusion).to(settings.device), settings.info)
    all_reduce_sum(sums, settings.info)
    return totals.cpu().numpy(), float(sums[0] / sums[1].clamp_min(1.0))


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer (``optim.optimizer``, lr, momentum, weight decay) of ``model``."""
    optim = cfg.optim
    if optim.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=optim.lr,
            momentum=optim.momentum,
            weight_decay=optim.weight_decay,
        )
    if optim.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)


def _make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer) -> Any | None:
    optim = cfg.optim
    if optim.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",  # stepped with the monitored value oriented lower-is-better
            factor=optim.plateau_factor,
            patience=optim.plateau_patience,
            cooldown=optim.plateau_cooldown,
            min_lr=optim.min_lr,
        )
    if optim.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=optim.min_lr
        )
    return None


def monitored_value(record: EpochRecord, monitor: str) -> float:
    """The monitored value, oriented so that lower is better (NaN counts as worst)."""
    value = record.val_loss if monitor == "val_loss" else -record.val_miou
    return math.inf if math.isnan(value) else value


def write_metrics_csv(path: Path, history: Sequence[EpochRecord]) -> None:
    """Rewrite ``metrics.csv`` from the whole history, atomically."""
    names = [f"iou_{name.replace(' ', '_')}" for name in CLASS_NAMES[:NUM_SCORED_CLASSES]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "epoch",
            "train_loss",
            "val_loss",
            "val_miou",
            "lr",
            "train_images_per_s",
            "seconds",
            *names,
        ]
    )
    for record in history:
        writer.writerow(
            [
                record.epoch,
                f"{record.train_loss:.6f}",
                f"{record.val_loss:.6f}",
                f"{record.val_miou:.6f}",
                f"{record.lr:.6g}",
                f"{record.train_images_per_s:.2f}",
                f"{record.seconds:.2f}",
                *(f"{v:.6f}" for v in record.val_iou),
            ]
        )
    atomic_write_text(path, buffer.getvalue())


def _check_image_size(dataset: FlairDataset, stride: int) -> None:
    if not len(dataset):
        return
    height, width = dataset[0]["image"].shape[-2:]
    if height % stride or width % stride:
        raise DataError(
            f"{dataset.samples[0].image}: patches are {height}x{width} but the model needs sizes "
            f"divisible by {stride}; FLAIR patches are 512x512 (toy data: use a size multiple of {stride})"
        )


def _check_resume(cfg: TrainConfig, state: dict[str, Any], last: Path) -> None:
    stored = checkpoint_config(state, last)
    differences = {
        key: values
        for key, values in config_differences(stored, cfg).items()
        if key not in RESUMABLE_FIELDS
    }
    if differences:
        details = "; ".join(
            f"{k}: run {a!r}, now {b!r}" for k, (a, b) in sorted(differences.items())
        )
        raise ConfigError(
            f"{last}: --resume needs the configuration of the run, but {details}; resume with the "
            "same settings (only epochs, out, device, data paths, workers and early stopping may change)"
        )
    if state["epoch"] >= cfg.epochs:
        raise ConfigError(
            f"{last}: the run already completed {state['epoch']} of {cfg.epochs} epochs; pass "
            f"--epochs N with N > {state['epoch']} to train further"
        )


def _prepare_run_dir(
    cfg: TrainConfig, resume: bool, overwrite: bool
) -> tuple[Path, dict[str, Any] | None]:
    if cfg.out is None:
        raise ConfigError("no run folder: pass --output DIR or set out in the configuration")
    run_dir = Path(cfg.out)
    last = run_dir / LAST_NAME
    if resume:
        if not last.is_file():
            raise MissingFileError(
                f"{run_dir}: nothing to resume (no {LAST_NAME}); start the run without --resume"
            )
        state = load_checkpoint(last)
        _check_resume(cfg, state, last)
        return run_dir, state
    if (last.exists() or (run_dir / BEST_NAME).exists()) and not overwrite:
        raise OutputExistsError(
            f"{run_dir}: holds a previous run ({LAST_NAME}); pass --resume to continue it, "
            "--overwrite to start over, or choose another --output"
        )
    return run_dir, None


def _loaders(
    split: Split, cfg: TrainConfig, info: DistInfo, device: torch.device
) -> tuple[FlairDataset, DataLoader[Any], DistributedSampler[int], DataLoader[Any]]:
    variant = cfg.model.metadata_encoding if cfg.model.use_metadata else None
    sentinel = cfg.sentinel if uses_sentinel(cfg) else None
    train_set = FlairDataset(
        split.train,
        cfg.data.bands,
        augment=cfg.data.augment,
        seed=cfg.seed,
        metadata_variant=variant,
        sentinel=sentinel,
    )
    val_set = FlairDataset(split.val, cfg.data.bands, metadata_variant=variant, sentinel=sentinel)
    per_process = math.ceil(len(train_set) / info.world_size)
    if per_process < cfg.batch_size:
        raise ConfigError(
            f"batch_size is {cfg.batch_size} but each of the {info.world_size} process(es) gets only "
            f"{per_process} training patches; lower --batch-size"
        )
    train_sampler: DistributedSampler[int] = DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
    )
    common: dict[str, Any] = {
        "num_workers": cfg.data.num_workers,
        "pin_memory": device.type == "cuda",
        "collate_fn": collate_with_series,  # pads FLAIR #2 series; the default collate otherwise
    }
    # drop_last: a final batch of one breaks BatchNorm; every sample still comes back next epoch.
    train_loader = DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=train_sampler, drop_last=True, **common
    )
    val_loader = DataLoader(
        val_set,
        batch_size=cfg.batch_size,
        sampler=ShardSampler(len(val_set), info.rank, info.world_size),
        **common,
    )
    return train_set, train_loader, train_sampler, val_loader


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    observer: Observer | None = None,
) -> TrainResult:
    """Train as configured; continue ``cfg.out/last.pt`` exactly with ``resume``.

    Args:
        cfg: the configuration (``data.train`` and ``out`` must be set).
        resume: continue the run in ``cfg.out`` (model, optimizer, scheduler, epoch, RNG).
        overwrite: start over in a run folder that holds a previous run.
        observer: receives progress (rank 0 only).

    Returns:
        The run folder, checkpoints, best epoch and the per-epoch history.

    Raises:
        ConfigError: invalid or inconsistent settings (each names the key and values).
        OutputExistsError: the run folder holds a run and neither resume nor overwrite was given.
        MissingFileError, DataError: data or checkpoint problems.
    """
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0") or 0))
    joined = not torch.distributed.is_initialized()
    info = init_distributed(device)
    try:
        return _train(
            cfg,
            info,
            device,
            resume,
            overwrite,
            (observer or Observer()) if info.is_main else Observer(),
        )
    except FlairKitError as exc:
        raise worker_error(exc) from None  # a reader's error in a DataLoader worker: one line
    finally:
        if joined:
            shutdown_distributed()


def _train(
    cfg: TrainConfig,
    info: DistInfo,
    device: torch.device,
    resume: bool,
    overwrite: bool,
    observer: Observer,
) -> TrainResult:
    run_dir, state = _prepare_run_dir(cfg, resume, overwrite)
    new_folder = first_missing_folder(run_dir) if info.is_main else None
    try:
        return _train_in(run_dir, state, cfg, info, device, observer)
    except BaseException:
        if new_folder is not None and not (run_dir / LAST_NAME).exists():
            shutil.rmtree(new_folder, ignore_errors=True)  # leave no half-made run behind
        raise


def first_missing_folder(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (None: it exists).

    >>> first_missing_folder(Path("/")) is None, first_missing_folder(Path("/no-such/run"))
    (True, PosixPath('/no-such'))
    """
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    return missing[-1] if missing else None


def _train_in(
    run_dir: Path,
    state: dict[str, Any] | None,
    cfg: TrainConfig,
    info: DistInfo,
    device: torch.device,
    observer: Observer,
) -> TrainResult:
    amp_dtype = resolve_amp(cfg.amp, device)
    seed_everything(cfg.seed)
    split = make_split(cfg)
    train_set, train_loader, train_sampler, val_loader = _loaders(split, cfg, info, device)
    model = build_network(
        cfg,
        len(cfg.data.bands),
        # A resumed run loads its own weights: never download anything for it.
        "none" if state is not None else cfg.model.encoder_weights,
        build_aerial=build_model,
    )
    _check_image_size(train_set, model.output_stride)
    if state is not None:
        load_model_state(model, state["model"], run_dir / LAST_NAME, cfg)
    if info.is_main:
        # Only once every setting and input has been checked: a refused run writes nothing.
        make_parent_folder(run_dir / CONFIG_NAME)
        write_split(run_dir / SPLIT_NAME, split)
        atomic_write_text(
            run_dir / CONFIG_NAME, yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
        )
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, model)
    scheduler = _make_scheduler(cfg, optimizer)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    history: list[EpochRecord] = []
    best_score, best_epoch, best_miou, stale = math.inf, 0, math.nan, 0
    start_epoch = 1
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        history = [EpochRecord.from_dict(r) for r in state["history"]]
        best_score, best_epoch = state["best_score"], state["best_epoch"]
        best_miou, stale = state["best_val_miou"], state["early_stopping"]
        start_epoch = state["epoch"] + 1
        states = state["rng"]
        if len(states) == info.world_size:
            set_rng_state(states[info.rank])
        else:
            observer.message(
                f"resuming with {info.world_size} process(es) instead of {len(states)}: the "
                "random state cannot be restored exactly"
            )
            seed_everything(cfg.seed + start_epoch * 1000 + info.rank)
        observer.message(f"resuming {run_dir} at epoch {start_epoch}")
    wrapped: torch.nn.Module = model
    if info.distributed:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    weight = class_weights(cfg.optim.other_weight, device)
    auxiliary = None
    if uses_sentinel(cfg):
        auxiliary = AuxiliaryLoss(
            utae_class_weights(cfg.sentinel.utae_class_weights).to(device),
            cfg.sentinel.utae_loss_weight,
            cfg.sentinel.unet_loss_weight,
        )
    settings = LoopSettings(device, amp_dtype, cfg.channels_last, info, observer, auxiliary)
    observer.message(
        f"training {len(split.train)} patches ({len({s.domain for s in split.train})} domains), "
        f"validating on {len(split.val)} ({', '.join(split.val_domains)}); device {device}, "
        f"amp {amp_name(amp_dtype)}, "
        f"{info.world_size} process(es), process group {backend_name(info)}; run folder {run_dir}"
    )
    stopped_early = False
    observer.begin(cfg.epochs)
    for epoch in range(start_epoch, cfg.epochs + 1):
        started = time.perf_counter()
        train_sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        train_loss, throughput = train_one_epoch(
            wrapped, train_loader, optimizer, weight, settings, scaler, cfg.accumulate_steps
        )
        # Validate the plain network (same weights everywhere) after syncing BatchNorm buffers.
        broadcast_buffers(model, info)
        confusion, val_loss = evaluate(model, val_loader, weight, settings)
        iou = iou_per_class(confusion)
        record = EpochRecord(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_miou=mean_iou_score(confusion),
            lr=float(optimizer.param_groups[0]["lr"]),
            train_images_per_s=throughput,
            seconds=time.perf_counter() - started,
            val_iou=tuple(float(v) for v in iou[:NUM_SCORED_CLASSES]),
        )
        history.append(record)
        score = monitored_value(record, cfg.monitor)
        improved = score < best_score or best_epoch == 0
        if improved:
            best_score, best_epoch, best_miou, stale = score, epoch, record.val_miou, 0
        else:
            stale += 1
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(score)
        elif scheduler is not None:
            scheduler.step()
        stopped_early = (
            cfg.early_stopping_patience is not None and stale >= cfg.early_stopping_patience
        )
        rng_states = gather_objects(rng_state(), info)
        if info.is_main:
            common = {
                "epoch": epoch,
                "best_epoch": best_epoch,
                "best_score": best_score,
                "best_val_miou": best_miou,
                "history": [r.to_dict() for r in history],
            }
            if improved:
                save_checkpoint(
                    run_dir / BEST_NAME, model_payload(model.state_dict(), cfg, **common)
                )
            save_checkpoint(
                run_dir / LAST_NAME,
                model_payload(
                    model.state_dict(),
                    cfg,
                    **common,
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict() if scheduler is not None else None,
                    scaler=scaler.state_dict() if scaler is not None else None,
                    early_stopping=stale,
                    stopped_early=stopped_early,
                    rng=rng_states,
                ),
            )
            write_metrics_csv(run_dir / METRICS_NAME, history)
            write_training_curves(run_dir / CURVES_NAME, history)
        observer.epoch(record)
        barrier(info)
        if stopped_early:
            observer.message(
                f"early stop: no improvement of {cfg.monitor} for {stale} epochs (best epoch {best_epoch})"
            )
            break
    return TrainResult(
        run_dir=run_dir,
        best_checkpoint=run_dir / BEST_NAME,
        last_checkpoint=run_dir / LAST_NAME,
        best_epoch=best_epoch,
        best_val_miou=best_miou,
        epochs_run=len(history),
        stopped_early=stopped_early,
        history=tuple(history),
        rank=info.rank,
    )
