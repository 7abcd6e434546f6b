"""The frozen result of a scoring run, and its JSON form.

The report keeps the integer facts (confusion matrices, counts); every float is derived from them
with the functions of :mod:`scoring.metrics`, so there is one definition of each number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scoring import metrics
from scoring.classes import CLASS_NAMES, NUM_SCORED_CLASSES

if TYPE_CHECKING:
    from numpy.typing import NDArray


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: absent values become null.

    >>> finite_or_none(float("nan")) is None, finite_or_none(0.5)
    (True, 0.5)
    """
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class ClassScore:
    """Scores of one of the 13 challenge classes."""

    index: int
    name: str
    iou: float
    precision: float
    recall: float
    f1: float
    truth_pixels: int
    predicted_pixels: int
    scored: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN becomes null."""
        return {
            "index": self.index,
            "name": self.name,
            "iou": finite_or_none(self.iou),
            "precision": finite_or_none(self.precision),
            "recall": finite_or_none(self.recall),
            "f1": finite_or_none(self.f1),
            "truth_pixels": self.truth_pixels,
            "predicted_pixels": self.predicted_pixels,
            "scored": self.scored,
        }


def class_scores(confusion: NDArray[np.int64]) -> tuple[ClassScore, ...]:
    """Per-class IoU, precision, recall and F1 of a 13x13 confusion matrix."""
    iou = metrics.iou_per_class(confusion)
    precision = metrics.precision_per_class(confusion)
    recall = metrics.recall_per_class(confusion)
    f1 = metrics.f1_per_class(confusion)
    rows, cols = confusion.sum(1), confusion.sum(0)
    return tuple(
        ClassScore(
            index=k,
            name=name,
            iou=float(iou[k]),
            precision=float(precision[k]),
            recall=float(recall[k]),
            f1=float(f1[k]),
            truth_pixels=int(rows[k]),
            predicted_pixels=int(cols[k]),
            scored=k < NUM_SCORED_CLASSES,
        )
        for k, name in enumerate(CLASS_NAMES)
    )


def _frozen(array: NDArray[np.int64]) -> NDArray[np.int64]:
    copy = np.array(array, dtype=np.int64)
    copy.setflags(write=False)
    return copy


@dataclass(frozen=True)
class DomainScore:
    """mIoU and patch count of one domain (FLAIR is a domain-adaptation benchmark)."""

    domain: str
    n_patches: int
    confusion: NDArray[np.int64]

    @property
    def miou(self) -> float:
        """The official mIoU restricted to this domain's patches."""
        return metrics.mean_iou_score(self.confusion)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        iou = metrics.iou_per_class(self.confusion)
        return {
            "domain": self.domain,
            "n_patches": self.n_patches,
            "miou": finite_or_none(self.miou),
            "iou": [finite_or_none(float(v)) for v in iou],
        }


@dataclass(frozen=True)
class ScoreReport:
    """Everything one scoring run found. Build it with :meth:`from_counts`."""

    confusion: NDArray[np.int64]
    n_patches: int
    dropped_pixels: int
    raw_zero_truth_pixels: int
    per_domain: tuple[DomainScore, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def from_counts(
        cls,
        confusion: NDArray[np.int64],
        n_patches: int,
        dropped_pixels: int,
        raw_zero_truth_pixels: int,
        per_domain: dict[str, tuple[int, NDArray[np.int64]]] | None = None,
        warnings: tuple[str, ...] = (),
    ) -> ScoreReport:
        """Freeze counts into a report; ``per_domain`` maps domain -> (patches, confusion)."""
        domains = tuple(
            DomainScore(name, count, _frozen(matrix))
            for name, (count, matrix) in sorted((per_domain or {}).items())
        )
        return cls(
            _frozen(confusion), n_patches, dropped_pixels, raw_zero_truth_pixels, domains, warnings
        )

    @property
    def miou(self) -> float:
        """The official challenge score: NaN-aware mean IoU of classes 0..11."""
        return metrics.mean_iou_score(self.confusion)

    @property
    def iou(self) -> NDArray[np.float64]:
        """IoU of the 13 classes ('other' last); NaN for classes absent from truth and prediction."""
        return metrics.iou_per_class(self.confusion)

    @property
    def overall_accuracy(self) -> float:
        """Correct pixels over counted pixels, 'other' included."""
        return metrics.overall_accuracy(self.confusion)

    @property
    def per_class(self) -> tuple[ClassScore, ...]:
        """Per-class scores, index order."""
        return class_scores(self.confusion)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of ``flair-kit score --json`` (NaN written as null)."""
        return {
            "miou": finite_or_none(self.miou),
            "overall_accuracy": finite_or_none(self.overall_accuracy),
            "per_class": [c.to_dict() for c in self.per_class],
            "confusion_matrix": self.confusion.tolist(),
            "n_patches": self.n_patches,
            "dropped_pixels": self.dropped_pixels,
            "raw_zero_truth_pixels": self.raw_zero_truth_pixels,
            "per_domain": [d.to_dict() for d in self.per_domain],
            "warnings": list(self.warnings),
            "classes": list(CLASS_NAMES),
            "miou_definition": (
                "mean of the non-NaN IoUs of classes 0..11; 'other' (12) stays in the "
                "confusion matrix; prediction values outside 0..12 are dropped"
            ),
        }


__all__: list[str] = ["ClassScore", "DomainScore", "ScoreReport", "class_scores"]
