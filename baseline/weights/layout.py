"""What every source family shares: options, the conversion result, key and shape reports.

A refusal always shows enough of the file for a user to report it: the first keys with their
shapes, and for a layout that almost matches, the first keys that differ on either side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from baseline.choices import ImportNormalisation
from baseline.config import TrainConfig
from baseline.contract import ModelContract
from scoring.errors import ConfigError

#: Key -> shape of a state dict.
Shapes = dict[str, tuple[int, ...]]
#: How many keys a report shows.
REPORT_KEYS = 8
#: Where users report layouts flair-kit does not know.
REPORT_HINT = "report these keys and shapes with the model's name to the flair-kit issue tracker"


@dataclass(frozen=True)
class ImportOptions:
    """Facts a user gives when the file does not tell them (None: infer from the file).

    Attributes:
        bands: the model's input bands, in order (``--bands``).
        classes: how many classes a 19-logit FLAIR-order head has active: 12, 15 or 19
            (``--classes``).
        arch, encoder: the smp architecture and encoder (``--arch``, ``--encoder``).
        normalisation: ``flair-inc`` or ``unit`` (``--normalisation``).
        resolution_m: ground pixel size in metres (``--resolution``; default 0.2).
    """

    bands: tuple[str, ...] | None = None
    classes: int | None = None
    arch: str | None = None
    encoder: str | None = None
    normalisation: ImportNormalisation | None = None
    resolution_m: float | None = None


@dataclass(frozen=True)
class Imported:
    """A converted model: flair-kit state dict, the configuration that builds it, its contract."""

    state: dict[str, torch.Tensor]
    config: TrainConfig
    contract: ModelContract


def shapes_of(tensors: Mapping[str, torch.Tensor]) -> Shapes:
    """Key -> shape."""
    return {key: tuple(int(n) for n in value.shape) for key, value in tensors.items()}


def describe(shapes: Mapping[str, tuple[int, ...]], keys: Iterable[str] | None = None) -> str:
    """The first :data:`REPORT_KEYS` keys with their shapes, e.g. ``a.weight [64, 5, 7, 7]``.

    >>> describe({"a.weight": (2, 3), "b.bias": (2,)})
    'a.weight [2, 3], b.bias [2]'
    """
    chosen = list(shapes if keys is None else keys)
    shown = [f"{key} {list(shapes[key])}" for key in chosen[:REPORT_KEYS]]
    more = len(chosen) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def unmatched(expected: Shapes, actual: Shapes) -> tuple[list[str], list[str]]:
    """Keys of ``actual`` that ``expected`` lacks or shapes differently, and keys it misses."""
    extra = [k for k in actual if expected.get(k) != actual[k]]
    missing = [k for k in expected if k not in actual]
    return extra, missing


def mismatch_details(expected: Shapes, actual: Shapes, holder: str = "file") -> str:
    """What keeps ``actual`` from loading strictly into ``expected`` ("" when nothing does): the
    first unmatched keys and shapes on both sides, enough for a user to report.

    >>> mismatch_details({"a": (2,), "b": (3,)}, {"a": (4,), "c": (1,)})
    '2 key(s) of the file do not fit: a [4], c [1]; 1 key(s) of the model are missing: b [3]'
    """
    extra, missing = unmatched(expected, actual)
    parts = []
    if extra:
        parts.append(f"{len(extra)} key(s) of the {holder} do not fit: {describe(actual, extra)}")
    if missing:
        parts.append(
            f"{len(missing)} key(s) of the model are missing: {describe(expected, missing)}"
        )
    return "; ".join(parts)


def layout_mismatch(path: Path, what: str, expected: Shapes, actual: Shapes, hint: str) -> None:
    """Refuse ``actual`` unless it has exactly the keys and shapes of ``expected``.

    Raises:
        ConfigError: naming the first unmatched keys and shapes of the file and of the model.
    """
    details = mismatch_details(expected, actual)
    if details:
        raise ConfigError(f"{path}: the weights do not fit {what}: {details}; {hint}")


def strip_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop ``prefix`` from every key when all keys carry it (else the keys as they are)."""
    if tensors and all(key.startswith(prefix) for key in tensors):
        return {key[len(prefix) :]: value for key, value in tensors.items()}
    return dict(tensors)


def with_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Prepend ``prefix`` to every key."""
    return {prefix + key: value for key, value in tensors.items()}


def missing_fact(path: Path, fact: str, option: str, example: str) -> ConfigError:
    """The refusal when the file does not say something the checkpoint must declare."""
    return ConfigError(
        f"{path}: the weights do not tell {fact}; pass {option} (e.g. {option} {example})"
    )
