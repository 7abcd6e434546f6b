"""The training-curves PNG written beside ``metrics.csv``: losses, validation mIoU, learning rate.

Rank 0 rewrites it after every epoch from the whole history (a resumed run included). Plotting
is a convenience: any failure to draw or write it becomes a :class:`CurvesWarning` and training
goes on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from scoring.atomic import atomic_write_bytes
from scoring.errors import FlairKitWarning

CURVES_NAME = "training_curves.png"


class CurvesWarning(FlairKitWarning):
    """The training-curves PNG could not be drawn or written; training continues."""


class EpochPoint(Protocol):
    """What a curve needs of an epoch (:class:`baseline.train.EpochRecord` has it)."""

    @property
    def epoch(self) -> int: ...
    @property
    def train_loss(self) -> float: ...
    @property
    def val_loss(self) -> float: ...
    @property
    def val_miou(self) -> float: ...
    @property
    def lr(self) -> float: ...


def training_curves_png(history: Sequence[EpochPoint]) -> bytes:
    """Three panels against the epoch: train/val loss, val mIoU, learning rate (PNG bytes).

    NaN values (no validation pixel of a class yet) leave gaps; markers keep a single epoch
    visible.
    """
    from starting_kit.figures import figure_png, new_figure

    epochs = [r.epoch for r in history]
    figure = new_figure(12, 3.6)
    loss, miou, rate = figure.subplots(1, 3)
    loss.plot(epochs, [r.train_loss for r in history], "o-", ms=3, label="train")
    loss.plot(epochs, [r.val_loss for r in history], "o-", ms=3, label="validation")
    loss.set_title("loss (weighted cross-entropy)")
    loss.legend()
    miou.plot(epochs, [r.val_miou for r in history], "o-", ms=3, color="#1553ae")
    miou.set_title("validation mIoU (official)")
    rates = [r.lr for r in history]
    rate.plot(epochs, rates, "o-", ms=3, color="#8a4b00")
    if all(value > 0 and math.isfinite(value) for value in rates):
        rate.set_yscale("log")
    rate.set_title("learning rate")
    for axes in (loss, miou, rate):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure_png(figure)


def write_training_curves(path: Path, history: Sequence[EpochPoint]) -> bool:
    """Write :func:`training_curves_png` to ``path`` atomically; warn instead of raising.

    Returns:
        Whether the file was written.
    """
    try:
        atomic_write_bytes(path, training_curves_png(history))
    except Exception as exc:  # noqa: BLE001 - a picture must never stop a training run
        warnings.warn(
            f"{path}: training curves not written ({type(exc).__name__}: {exc}); training goes "
            "on, metrics.csv holds the same numbers",
            CurvesWarning,
            stacklevel=2,
        )
        return False
    return True
