"""Training configuration: frozen dataclasses loaded once, at the edge, from YAML (no torch here).

A configuration file has four sections and a few top-level keys; every key is optional and
defaults to the value of the dataclass below. Two configurations ship with the package
(``baseline/configs/``), addressable by name:

- ``flair1-baseline``: the published FLAIR #1 baseline (U-Net/ResNet34, 5 bands, SGD lr 0.02,
  ReduceLROnPlateau on the validation loss, weight 0 for 'other', flips and 90-degree rotations);
- ``flair1-toy-cpu``: a quick CPU run on the toy data (what ``flair-kit demo`` trains);
- ``flair2-baseline``: the published FLAIR #2 U-T&T baseline (U-Net + U-TAE on Sentinel-2);
- ``flair2-toy-cpu``: a quick CPU U-T&T run on the toy FLAIR #2 data (``flair-kit demo --dataset flair2``).

Unknown keys and wrong types raise :class:`~scoring.errors.ConfigError` naming the file, the key,
the value and what is expected, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from baseline.choices import Amp, Device
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError, MissingFileError
from scoring.masks import absent_or_kind
from starting_kit.choices import Dataset

SplitStrategy = Literal["official", "random"]
MonitorChoice = Literal["val_loss", "val_miou"]
#: ``flair-kit``: our layers; ``ign``: IGN's layers, numerically (baseline.model, baseline.fusion).
ModelVariant = Literal["flair-kit", "ign"]
#: Sentinel-2 scaling: ``reflectance`` (value / 10000) or ``ign`` (IGN's, see baseline.sentinel).
SentinelScaling = Literal["reflectance", "ign"]


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is split and read.

    Attributes:
        train: a dataset root in the official layout (``flair_aerial_train/`` ...), a folder of
            ``<D>/<Z>/img/IMG_<id>.tif`` images with a sibling labels tree, or an official path
            csv (``flair-1-paths-train.csv``).
        val: an explicit validation set (path csv or folder); when given, ``split`` is unused.
        csv_root: folder that the relative paths of the csvs start from (default: the csv's folder).
        metadata: the aerial metadata JSON (needed when ``model.use_metadata``).
        split: ``official`` (the eight official validation domains) or ``random`` (a seeded
            split of whole domains; never patch-level).
        val_fraction: share of domains in validation for the ``random`` split.
        bands: 1-based band indices read from each image (1 R, 2 G, 3 B, 4 NIR, 5 elevation).
        augment: the baseline's random vertical flip, horizontal flip and 90-degree rotation.
        num_workers: DataLoader worker processes per training process.
    """

    train: str | None = None
    val: str | None = None
    csv_root: str | None = None
    metadata: str | None = None
    split: SplitStrategy = "official"
    val_fraction: float = 0.2
    bands: tuple[int, ...] = (1, 2, 3, 4, 5)
    augment: bool = True
    num_workers: int = 2


@dataclass(frozen=True)
class ModelConfig:
    """Which network to build.

    Attributes:
        arch: a segmentation-models-pytorch architecture (``unet``, ``unetplusplus``, ``fpn``...).
        encoder: an smp encoder name (``resnet34``, ``efficientnet-b0``, ``tu-<timm name>``...).
        encoder_weights: ``none``, ``imagenet`` (downloaded once by smp; fails fast offline)
            or the path of a local encoder state dict.
        decoder_channels: U-Net decoder widths (smp default when null).
        use_metadata: fuse the 45-value aerial metadata code into the deepest encoder features.
        metadata_encoding: ``corrected`` or ``official`` month term (see baseline.metadata).
        variant: ``flair-kit`` (our corrected layers) or ``ign`` (numerically IGN's FLAIR #1 / #2
            networks, which load IGN's checkpoints; see the README, "Differences from IGN's
            code"). Both keep our fixes of IGN's batch and padding bugs.
    """

    arch: str = "unet"
    encoder: str = "resnet34"
    encoder_weights: str = "none"
    decoder_channels: tuple[int, ...] | None = None
    use_metadata: bool = False
    metadata_encoding: Literal["corrected", "official"] = "corrected"
    variant: ModelVariant = "flair-kit"


@dataclass(frozen=True)
class OptimConfig:
    """Loss, optimiser and learning-rate schedule.

    Attributes:
        optimizer: ``sgd`` (the baseline: no momentum, no weight decay), ``adam`` or ``adamw``.
        lr: initial learning rate.
        momentum: SGD momentum.
        weight_decay: weight decay of the optimiser.
        scheduler: ``plateau`` (ReduceLROnPlateau on the monitored value), ``cosine`` or ``none``.
        plateau_factor, plateau_patience, plateau_cooldown: ReduceLROnPlateau settings.
        min_lr: learning-rate floor of the schedulers.
        other_weight: loss weight of class 12 'other' (0 in the baseline: 'other' is not scored).
    """

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.02
    momentum: float = 0.0
    weight_decay: float = 0.0
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_cooldown: int = 4
    min_lr: float = 1e-7
    other_weight: float = 0.0


@dataclass(frozen=True)
class SentinelConfig:
    """FLAIR #2: the Sentinel-2 pipeline, the U-TAE branch and the U-T&T fusion (see
    :mod:`baseline.sentinel`, :mod:`baseline.utae`, :mod:`baseline.fusion`). Unused for FLAIR #1.

    Attributes:
        enabled: fuse the U-TAE branch (U-T&T); false trains the aerial U-Net alone on FLAIR #2.
        patch_size: side of the Sentinel-2 crop around each centroid (a multiple of 8, at least 16).
        filter_clouds: drop dates whose cloud + snow cover reaches ``area_threshold``.
        area_threshold: share of the crop (0..1) from which a date is dropped.
        probability_threshold: mask probability (0..100) from which a pixel counts as covered.
        average_month: replace the dates of each month by their mean.
        encoder_widths, decoder_widths: U-TAE widths (baseline 64, 64, 128, 128).
        n_head, d_model, d_k: L-TAE heads, model width and key size (baseline 16, 256, 4).
        drop_utae_modality: probability, during training only, of leaving a sample's U-TAE
            features out of the U-Net (modality dropout; never at inference).
        utae_loss_weight, unet_loss_weight: weights of the auxiliary U-TAE loss and of the U-Net
            loss (IGN's ``w_unet_utae``, whose index 0 weights the U-TAE term).
        utae_class_weights: per-class weights of the U-TAE loss, 13 values (null: the baseline's,
            1 except 0 for 'plowed land' and 'other').
        scaling: ``reflectance`` (value / 10000 whatever the options) or ``ign`` (IGN's
            ``img_as_float``: raw values after monthly means, value / dtype maximum without them).
    """

    enabled: bool = True
    patch_size: int = 40
    filter_clouds: bool = True
    area_threshold: float = 0.5
    probability_threshold: int = 60
    average_month: bool = True
    encoder_widths: tuple[int, ...] = (64, 64, 128, 128)
    decoder_widths: tuple[int, ...] = (64, 64, 128, 128)
    n_head: int = 16
    d_model: int = 256
    d_k: int = 4
    drop_utae_modality: float = 0.0
    utae_loss_weight: float = 1.0
    unet_loss_weight: float = 1.0
    utae_class_weights: tuple[float, ...] | None = None
    scaling: SentinelScaling = "reflectance"


@dataclass(frozen=True)
class TrainConfig:
    """A complete training run.

    Attributes:
        name: a label for the run (written to the checkpoint and the metrics).
        dataset: ``flair1`` or ``flair2`` (official folders, and the Sentinel-2 branch).
        data, model, optim, sentinel: the sections above.
        epochs: maximum number of epochs.
        batch_size: images per step and per process (the global batch is this times the
            number of processes under torchrun).
        accumulate_steps: gradient accumulation: batches summed into each optimiser step, so a
            small GPU trains with an effective batch of ``batch_size * accumulate_steps`` per
            process (the same gradient as that batch, BatchNorm statistics aside).
        seed: seeds the split, the sampler, the augmentations and the weights.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: ``auto`` (bf16 where the hardware runs it natively, fp16 on older GPUs, fp32 on
            CPUs without native bf16), ``off``, ``bf16`` or ``fp16`` (GPU only).
        channels_last: use the NHWC memory format (faster convolutions on CPU and GPU).
        monitor: ``val_loss`` (the baseline) or ``val_miou``: drives best checkpoint, plateau
            schedule and early stopping.
        early_stopping_patience: epochs without improvement before stopping (null: never).
        out: the run folder (checkpoints, metrics.csv, split.json).
    """

    name: str = "flair1"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dataset: Dataset = "flair1"
    sentinel: SentinelConfig = field(default_factory=SentinelConfig)
    epochs: int = 1
    batch_size: int = 8
    accumulate_steps: int = 1
    seed: int = 2022
    device: Device = "auto"
    amp: Amp = "auto"
    channels_last: bool = True
    monitor: MonitorChoice = "val_loss"
    early_stopping_patience: int | None = None
    out: str | None = None


#: Fields that may differ between a run and its ``--resume``: they do not change the maths.
RESUMABLE_FIELDS = frozenset(
    {
        "epochs",
        "out",
        "device",
        "data.num_workers",
        "early_stopping_patience",
        "data.train",
        "data.val",
        "data.csv_root",
        "data.metadata",
    }
)

_SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "sentinel": SentinelConfig,
}


def packaged_configs() -> dict[str, Path]:
    """Names and paths of the configurations shipped in ``baseline/configs/``."""
    folder = resources.files("baseline") / "configs"
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in folder.iterdir()
        if str(entry).endswith(".yaml")
    }


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return " | ".join(repr(v) for v in typing.get_args(kind))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(kind))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(kind)[0])}"
    if kind is type(None):
        return "null"
    return getattr(kind, "__name__", str(kind))


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Check one YAML value against a field type; return it in the dataclass's form."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(kind):
            return None
        for option in typing.get_args(kind):
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not {_describe(kind)}")
    if origin is Literal:
        if value is False and "off" in typing.get_args(kind):
            return "off"  # YAML 1.1 reads an unquoted `off` as false
        if value not in typing.get_args(kind):
            raise ConfigError(f"{where}: {value!r} is not one of {_describe(kind)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{where}: {value!r} is not {_describe(kind)}")
        item = typing.get_args(kind)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {value!r} is not an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {value!r} is not a number")
        return float(value)
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not a string")
        return str(value)
    raise ConfigError(f"{where}: unsupported type {kind!r}")  # pragma: no cover - a bug here


def _build(cls: type, values: Any, prefix: str) -> Any:
    """Build one dataclass from a mapping; ``prefix`` is the dotted path of the section."""
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"section {prefix.rstrip('.') or 'top level'}: expected a mapping, got {values!r}"
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(repr(prefix + k) for k in unknown)}; valid keys"
            f"{' in ' + prefix.rstrip('.') if prefix else ''} are {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if cls is TrainConfig and name in _SECTIONS:
            kwargs[name] = _build(_SECTIONS[name], value or {}, f"{name}.")
        else:
            kwargs[name] = _coerce(value, hints[name], prefix + name)
    return cls(**kwargs)


def validate_config(cfg: TrainConfig, where: str = "config") -> TrainConfig:
    """Check the values that a type alone cannot (ranges, combinations).

    Raises:
        ConfigError: naming the key, the value and the accepted range.
    """
    checks = [
        (cfg.epochs >= 1, "epochs", cfg.epochs, "at least 1"),
        (cfg.batch_size >= 1, "batch_size", cfg.batch_size, "at least 1"),
        (cfg.accumulate_steps >= 1, "accumulate_steps", cfg.accumulate_steps, "at least 1"),
        (0 <= cfg.seed < 2**32, "seed", cfg.seed, f"an integer from 0 to {2**32 - 1}"),
        (cfg.optim.lr > 0, "optim.lr", cfg.optim.lr, "positive"),
        (
            0.0 < cfg.data.val_fraction < 1.0,
            "data.val_fraction",
            cfg.data.val_fraction,
            "strictly between 0 and 1",
        ),
        (cfg.data.num_workers >= 0, "data.num_workers", cfg.data.num_workers, "0 or more"),
        (
            all(b >= 1 for b in cfg.data.bands),
            "data.bands",
            cfg.data.bands,
            "1-based band indices (1 R, 2 G, 3 B, 4 NIR, 5 elevation)",
        ),
        (
            len(set(cfg.data.bands)) == len(cfg.data.bands),
            "data.bands",
            cfg.data.bands,
            "without repeats",
        ),
        (cfg.optim.other_weight >= 0, "optim.other_weight", cfg.optim.other_weight, "0 or more"),
        (
            cfg.early_stopping_patience is None or cfg.early_stopping_patience >= 1,
            "early_stopping_patience",
            cfg.early_stopping_patience,
            "at least 1, or null",
        ),
    ]
    checks += _sentinel_checks(cfg.sentinel)
    for ok, key, value, expected in checks:
        if not ok:
            raise ConfigError(f"{where}: {key} is {value!r}; expected {expected}")
    return cfg


def _sentinel_checks(sen: SentinelConfig) -> list[tuple[bool, str, Any, str]]:
    downsampling = 2 ** (len(sen.encoder_widths) - 1)
    return [
        (
            sen.patch_size >= 2 * downsampling and sen.patch_size % downsampling == 0,
            "sentinel.patch_size",
            sen.patch_size,
            (
                f"a multiple of {downsampling}, at least {2 * downsampling} (U-TAE halves it "
                f"{len(sen.encoder_widths) - 1} times and its reflect padding needs a 2x2 map)"
            ),
        ),
        (
            0.0 < sen.area_threshold <= 1.0,
            "sentinel.area_threshold",
            sen.area_threshold,
            "in (0, 1]",
        ),
        (
            0 <= sen.probability_threshold <= 100,
            "sentinel.probability_threshold",
            sen.probability_threshold,
            "0 to 100",
        ),
        (
            len(sen.encoder_widths) == len(sen.decoder_widths) >= 2,
            "sentinel.decoder_widths",
            sen.decoder_widths,
            f"as many values as encoder_widths {sen.encoder_widths}, at least 2",
        ),
        (
            all(w % sen.n_head == 0 for w in (*sen.encoder_widths, *sen.decoder_widths[-1:]))
            and sen.d_model % sen.n_head == 0,
            "sentinel.n_head",
            sen.n_head,
            f"a divisor of the widths {sen.encoder_widths}, decoder_widths[-1] and d_model",
        ),
        (
            0.0 <= sen.drop_utae_modality < 1.0,
            "sentinel.drop_utae_modality",
            sen.drop_utae_modality,
            "in [0, 1)",
        ),
        (
            sen.utae_loss_weight >= 0 and sen.unet_loss_weight > 0,
            "sentinel.utae_loss_weight/unet_loss_weight",
            (sen.utae_loss_weight, sen.unet_loss_weight),
            "0 or more for the U-TAE term and positive for the U-Net term",
        ),
        (
            sen.utae_class_weights is None
            or (len(sen.utae_class_weights) == NUM_CLASSES and min(sen.utae_class_weights) >= 0),
            "sentinel.utae_class_weights",
            sen.utae_class_weights,
            f"null or {NUM_CLASSES} non-negative values (one per class, 'other' last)",
        ),
    ]


def config_from_dict(values: Any, where: str = "config") -> TrainConfig:
    """Build a validated :class:`TrainConfig` from nested plain values (YAML or a checkpoint).

    Raises:
        ConfigError: the message starts with ``where`` (the file name) and names the key.
    """
    try:
        cfg = _build(TrainConfig, values, "")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return validate_config(cfg, where)


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain nested values (tuples as lists), suitable for YAML, JSON and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def load_config(source: str | Path) -> TrainConfig:
    """Load a configuration by packaged name (``flair1-baseline``) or from a YAML file.

    Raises:
        MissingFileError: neither a packaged name nor an existing file.
        ConfigError: the YAML is malformed, or a key or value is invalid.
    """
    packaged = packaged_configs()
    path = packaged.get(str(source)) or Path(source)
    if not path.is_file():
        raise MissingFileError(
            f"{source}: configuration {absent_or_kind(path)}; give a YAML file or one of the "
            f"packaged configurations: {', '.join(sorted(packaged))}"
        )
    data = path.read_bytes()
    try:
        values = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); "
            "a configuration is a UTF-8 YAML file: re-save it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return config_from_dict(values or {}, where=str(path))


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """Return ``cfg`` with dotted keys replaced (``epochs=3``, ``**{"data.train": "x"}``).

    ``None`` values are skipped, so command-line options that were not given change nothing.

    Raises:
        ConfigError: an unknown key or an invalid value.
    """
    values = config_to_dict(cfg)
    for dotted, value in overrides.items():
        if value is None:
            continue
        parts = dotted.split(".")
        target = values
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"override {dotted!r}: no such section {part!r}")
            target = target[part]
        if parts[-1] not in target:
            raise ConfigError(f"override {dotted!r}: no such key")
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        target[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return config_from_dict(values, where="command-line overrides")


def config_differences(a: TrainConfig, b: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two configurations, with both values."""

    def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, dict):
                flat.update(flatten(value, f"{prefix}{key}."))
            else:
                flat[f"{prefix}{key}"] = value
        return flat

    left, right = flatten(config_to_dict(a)), flatten(config_to_dict(b))
    return {k: (left[k], right[k]) for k in left if left[k] != right.get(k)}
