"""Error analysis from per-patch counts: worst patches, most confused class pairs, per-domain matrices.

A patch's score is the official mIoU of its own counts (classes absent from both its truth and
its prediction are left out, as the official metric leaves them out of the whole test set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring import metrics
from scoring.classes import CLASS_NAMES
from scoring.counts import PatchCounts
from scoring.report import finite_or_none
from scoring.tiles import format_id
from starting_kit.ranking.defaults import DEFAULT_ERRORS


@dataclass(frozen=True)
class PatchScore:
    """One patch's own official mIoU."""

    tile: int
    domain: str
    zone: str
    miou: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": format_id(self.tile),
            "domain": self.domain,
            "zone": self.zone,
            "miou": finite_or_none(self.miou),
        }


@dataclass(frozen=True)
class ConfusedPair:
    """Pixels of one truth class predicted as another class."""

    truth: str
    predicted: str
    pixels: int
    #: Share of the truth class's pixels predicted as ``predicted``.
    share_of_truth: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "truth": self.truth,
            "predicted": self.predicted,
            "pixels": self.pixels,
            "share_of_truth": finite_or_none(self.share_of_truth),
        }


@dataclass(frozen=True)
class ErrorAnalysis:
    """Where one submission goes wrong."""

    name: str
    worst: tuple[PatchScore, ...]
    confused: tuple[ConfusedPair, ...]
    confusion: NDArray[np.int64]
    per_domain: tuple[tuple[str, NDArray[np.int64]], ...]

    def worst_frame(self) -> pd.DataFrame:
        """The worst patches as a table."""
        frame: pd.DataFrame = pd.DataFrame(
            [p.to_dict() for p in self.worst], columns=["id", "domain", "zone", "miou"]
        )
        return frame

    def confused_frame(self) -> pd.DataFrame:
        """The most confused class pairs as a table."""
        frame: pd.DataFrame = pd.DataFrame(
            [c.to_dict() for c in self.confused],
            columns=["truth", "predicted", "pixels", "share_of_truth"],
        )
        return frame


def patch_scores(counts: PatchCounts) -> NDArray[np.float64]:
    """Each patch's official mIoU of its own counts (NaN where no scored class occurs)."""
    return metrics.mean_iou_scores(metrics.fold_histograms(counts.histograms.astype(np.int64)))


def worst_patches(counts: PatchCounts, limit: int) -> tuple[PatchScore, ...]:
    """The ``limit`` patches of lowest own mIoU (ties by id), patches without a score left out."""
    scores = patch_scores(counts)
    scored = np.flatnonzero(~np.isnan(scores))
    order = scored[np.lexsort((counts.ids[scored], scores[scored]))][:limit]
    return tuple(
        PatchScore(int(counts.ids[i]), counts.domains[i], counts.zones[i], float(scores[i]))
        for i in order
    )


def most_confused(confusion: NDArray[np.int64], limit: int) -> tuple[ConfusedPair, ...]:
    """The off-diagonal cells with the most pixels: truth class predicted as another class.

    >>> most_confused(np.array([[5, 3], [1, 4]]), 1)[0].pixels
    3
    """
    off = confusion.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    rows = confusion.sum(axis=1)
    flat = np.argsort(-off, axis=None, kind="stable")[:limit]
    pairs = []
    for cell in flat:
        truth, predicted = np.unravel_index(cell, off.shape)
        if off[truth, predicted] == 0:
            break
        pairs.append(
            ConfusedPair(
                CLASS_NAMES[truth],
                CLASS_NAMES[predicted],
                int(off[truth, predicted]),
                float(off[truth, predicted] / rows[truth]),
            )
        )
    return tuple(pairs)


def analyse_errors(name: str, counts: PatchCounts, limit: int = DEFAULT_ERRORS) -> ErrorAnalysis:
    """Worst patches, most confused pairs and per-domain confusion matrices of one submission."""
    confusion = counts.confusion()
    domains = np.asarray(counts.domains)
    per_domain = tuple(
        (domain, counts.confusion_of(domains == domain))
        for domain in sorted(set(counts.domains))
        if domain
    )
    return ErrorAnalysis(
        name, worst_patches(counts, limit), most_confused(confusion, limit), confusion, per_domain
    )
