"""Checkpoints: atomic writes, a self-describing payload, loud failures on any mismatch.

A checkpoint is a ``torch.save`` dict that loads with ``weights_only=True`` (no pickled code):

- ``model``: the network's state dict (never the DDP wrapper's);
- ``config``: the full training configuration as plain values;
- ``classes``: the class names the head predicts, in index order (the 13 challenge classes for
  every model flair-kit trains);
- ``flair_kit_version``, ``format`` (1: trained by flair-kit; 2: also a ``contract``);
- ``contract`` (format 2, written by ``baseline import-weights``): the model's declared bands,
  normalisation, classes, crosswalk and provenance (:mod:`baseline.contract`). A checkpoint
  without one gets the contract its configuration implies (:func:`implied_contract`), so it
  predicts exactly as before;
- ``epoch`` (the last completed epoch), ``best_score``, ``history`` (one dict per epoch);
- in ``last.pt`` only, for ``--resume``: ``optimizer``, ``scheduler``, ``scaler``,
  ``early_stopping`` and ``rng`` (the RNG states of every process).

Files are written under a temporary name and renamed, so a crash never leaves half a checkpoint
where a valid one used to be.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, cast

import torch

from baseline.config import TrainConfig, config_from_dict, config_to_dict
from baseline.contract import (
    ModelContract,
    band_names,
    challenge_contract,
    contract_from_dict,
    contract_to_dict,
)
from baseline.fusion import uses_sentinel
from baseline.weights.layout import mismatch_details, shapes_of
from scoring.atomic import atomic_file
from scoring.classes import CLASS_NAMES
from scoring.errors import ConfigError, DataError, MissingFileError
from scoring.masks import absent_or_kind
from starting_kit import __version__

#: Version of the payload layout that training writes.
CHECKPOINT_FORMAT = 1
#: Version of the payload layout with a ``contract`` (imported weights).
CONTRACT_FORMAT = 2
#: Payload layouts this flair-kit reads.
READABLE_FORMATS = (CHECKPOINT_FORMAT, CONTRACT_FORMAT)
#: Where checkpoints come from, for the message about a path that is not one.
CHECKPOINT_HINT = "give best.pt or last.pt of a `flair-kit baseline train` run folder"
_REQUIRED = ("model", "config", "classes", "flair_kit_version", "format", "epoch")


class _KeptWriteErrors:
    """A binary sink that keeps the ``OSError`` of a failed write.

    ``torch.save`` swallows its writer's exceptions and raises ``RuntimeError: [enforce fail at
    inline_container.cc] unexpected pos`` instead, so a full disk would lose its errno.
    """

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.sink.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.sink.flush()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then rename).

    Raises:
        OSError: the write failed (a full or read-only disk, a file-size limit), naming ``path``
            with its real errno; no partial file is left.
    """
    with atomic_file(path, "wb") as sink:
        kept = _KeptWriteErrors(sink)
        try:
            torch.save(payload, cast("IO[bytes]", kept))  # torch calls write() and flush() only
        except RuntimeError:
            if kept.error is None:
                raise
            raise kept.error from None


def load_failure(exc: Exception) -> str:
    """One short line saying why torch could not read a file.

    ``torch.load(weights_only=True)`` explains its safety policy in several paragraphs; only the
    unpickler's own reason (``Unsupported operand 73``, ``Unsupported global: GLOBAL x.Net``) or
    the first line of other errors says what is wrong with the file.
    """
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    reason = reason.split(" was not an allowed global", 1)[0]
    return reason if len(reason) <= 120 else reason[:117] + "..."


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a flair-kit checkpoint onto the CPU.

    Raises:
        MissingFileError: no such file.
        DataError: not a torch file, a corrupt one, or not a flair-kit checkpoint (keys named);
            always one line.
    """
    if not path.is_file():
        raise MissingFileError(f"{path}: checkpoint {absent_or_kind(path)}; {CHECKPOINT_HINT}")
    fix = (
        "use best.pt or last.pt written by `flair-kit baseline train` (copy it again if it was "
        "damaged)"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol chatter before the real error
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on a bad file
        raise DataError(
            f"{path}: not a readable checkpoint: not a flair-kit checkpoint, or a corrupt or "
            f"truncated one ({type(exc).__name__}: {load_failure(exc)}); {fix}"
        ) from None
    if not isinstance(payload, dict):
        raise DataError(
            f"{path}: not a flair-kit checkpoint (it holds a {type(payload).__name__}, not the "
            f"kit's dict); {fix}"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise DataError(
            f"{path}: not a flair-kit checkpoint (missing {', '.join(missing)}); checkpoints come "
            "from `flair-kit baseline train` (best.pt or last.pt in the run folder)"
        )
    if payload["format"] not in READABLE_FORMATS:
        raise DataError(
            f"{path}: checkpoint format {payload['format']} but this flair-kit reads format "
            f"{' or '.join(map(str, READABLE_FORMATS))}; use the flair-kit version that wrote it "
            f"({payload['flair_kit_version']})"
        )
    kinds = {"model": dict, "config": dict, "classes": list}
    wrong = [
        f"{key} is a {type(payload[key]).__name__}, expected a {kind.__name__}"
        for key, kind in kinds.items()
        if not isinstance(payload[key], kind)
    ]
    if wrong:
        raise DataError(f"{path}: a damaged flair-kit checkpoint ({'; '.join(wrong)}); {fix}")
    return payload


def checkpoint_config(payload: dict[str, Any], path: Path) -> TrainConfig:
    """The training configuration stored in a checkpoint."""
    return config_from_dict(payload["config"], where=f"{path} (stored configuration)")


def implied_contract(cfg: TrainConfig) -> ModelContract:
    """The contract of a checkpoint without one: what flair-kit's training always meant.

    The configured FLAIR bands, ``/ 255``, the 13 challenge classes, 0.2 m pixels.
    """
    return replace(
        challenge_contract(
            band_names(cfg.data.bands),
            variant=f"flair-kit {cfg.model.arch}/{cfg.model.encoder}",
            provenance={"source": "flair-kit training"},
        ),
        metadata_encoding=cfg.model.metadata_encoding if cfg.model.use_metadata else None,
    )


def payload_contract(payload: dict[str, Any], cfg: TrainConfig, path: Path) -> ModelContract:
    """The checkpoint's contract: stored, or implied by its configuration.

    Raises:
        DataError, ConfigError: a malformed or unknown contract (see
            :func:`baseline.contract.contract_from_dict`), or declared bands that differ from the
            configuration's.
    """
    if "contract" not in payload:
        return implied_contract(cfg)
    contract = contract_from_dict(payload["contract"], f"{path} (contract)")
    if contract.flair_indices != tuple(cfg.data.bands):
        raise DataError(
            f"{path}: the contract declares bands {'-'.join(contract.bands)} (FLAIR bands "
            f"{contract.flair_indices}) but the configuration reads {tuple(cfg.data.bands)}; "
            "the checkpoint is damaged: import the weights again"
        )
    if contract.sentinel is not None and contract.sentinel != sentinel_pipeline(cfg):
        raise DataError(
            f"{path}: the contract declares the Sentinel-2 pipeline {contract.sentinel} but the "
            f"configuration runs {sentinel_pipeline(cfg)}; the checkpoint is damaged: import the "
            "weights again"
        )
    return contract


#: The Sentinel-2 settings that decide a U-T&T model's inputs (the rest of ``sentinel`` is the
#: network's shape or training).
SENTINEL_PIPELINE = (
    "scaling",
    "patch_size",
    "filter_clouds",
    "area_threshold",
    "probability_threshold",
    "average_month",
)


def sentinel_pipeline(cfg: TrainConfig) -> dict[str, Any] | None:
    """The Sentinel-2 input pipeline of a U-T&T configuration (None for aerial-only models)."""
    if not uses_sentinel(cfg):
        return None
    return {key: getattr(cfg.sentinel, key) for key in SENTINEL_PIPELINE}


def imported_payload(
    model_state: dict[str, Any], cfg: TrainConfig, contract: ModelContract, **extra: Any
) -> dict[str, Any]:
    """The payload of imported weights: :func:`model_payload` with the contract (format 2)."""
    return {
        **model_payload(model_state, cfg, epoch=0, **extra),
        "format": CONTRACT_FORMAT,
        "classes": list(contract.classes),
        "contract": contract_to_dict(contract),
    }


def check_classes(
    payload: dict[str, Any], path: Path, contract: ModelContract | None = None
) -> None:
    """Refuse a checkpoint whose head predicts other classes than it declares.

    Without a contract the head must predict the 13 challenge classes (format 1).

    Raises:
        ConfigError: naming both class lists.
    """
    stored = list(payload["classes"])
    if contract is not None and stored == list(contract.classes):
        return
    if stored != list(CLASS_NAMES):
        raise ConfigError(
            f"{path}: the checkpoint predicts {len(stored)} classes {stored} but FLAIR scores "
            f"{len(CLASS_NAMES)} classes {list(CLASS_NAMES)}; retrain with this flair-kit"
        )


def check_bands(cfg: TrainConfig, path: Path, bands: tuple[int, ...] | None) -> tuple[int, ...]:
    """The bands to read: the checkpoint's, or ``bands`` if given and equal.

    Raises:
        ConfigError: ``bands`` differs from the checkpoint's (both named).
    """
    trained = tuple(cfg.data.bands)
    if bands is not None and tuple(bands) != trained:
        raise ConfigError(
            f"{path}: the model was trained on bands {trained} but bands {tuple(bands)} were "
            f"requested; predict with bands {trained} (or omit the option)"
        )
    return trained


def model_payload(model_state: dict[str, Any], cfg: TrainConfig, **extra: Any) -> dict[str, Any]:
    """The common part of every checkpoint."""
    return {
        "format": CHECKPOINT_FORMAT,
        "flair_kit_version": __version__,
        "model": model_state,
        "config": config_to_dict(cfg),
        "classes": list(CLASS_NAMES),
        **extra,
    }


def load_model_state(
    model: torch.nn.Module,
    state: dict[str, Any],
    path: Path,
    cfg: TrainConfig,
    num_classes: int = len(CLASS_NAMES),
) -> None:
    """Load weights strictly; a shape or key mismatch is an error that names what differs.

    Raises:
        ConfigError: the weights do not fit the network the stored configuration builds.
    """
    details = mismatch_details(shapes_of(model.state_dict()), shapes_of(state), "checkpoint")
    if details:
        raise ConfigError(
            f"{path}: the weights do not fit a {cfg.model.arch}/{cfg.model.encoder} with "
            f"{len(cfg.data.bands)} bands {tuple(cfg.data.bands)} and {num_classes} classes "
            f"({details}); the checkpoint and its configuration disagree"
        )
    model.load_state_dict(state)
