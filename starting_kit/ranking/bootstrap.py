"""The zone bootstrap of the official metric: pure numpy, vectorised over replicates.

A replicate draws zones with replacement (multinomial counts of the zones), weights each zone's
summed confusion matrix by how often it was drawn, sums, and recomputes the official mIoU from
that matrix. It never averages per-patch IoUs, which is not the official metric. All submissions
of a comparison share the same draws (a paired bootstrap), so their differences are compared on the
same resampled test sets.

Weighted sums are float64 matrix products of integer counts and integer weights: every partial
sum is an integer below 2**53, so the result is exact whatever the summation order, and two
identical submissions give exactly equal replicates (a difference of exactly 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from scoring import metrics
from starting_kit.ranking.defaults import DEFAULT_REPLICATES, DEFAULT_SEED

#: Two-sided level of the intervals.
CONFIDENCE = 0.95


def cluster_index(labels: Sequence[str]) -> tuple[list[str], NDArray[np.intp]]:
    """The distinct cluster labels (sorted) and each item's index into them.

    >>> cluster_index(["b", "a", "b"])
    (['a', 'b'], array([1, 0, 1]))
    """
    names, index = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return [str(name) for name in names], index.reshape(-1)


def cluster_totals(
    histograms: NDArray[Any], index: NDArray[np.intp], n: int
) -> NDArray[np.float64]:
    """What the metric needs of each cluster: ``(n clusters, 39)`` float64 (exact integers), the
    diagonal, row sums and column sums of its confusion matrix (13 each).

    These are sums of counts, so a replicate's are the weighted sums of its clusters'. The
    patches' code histograms are summed per cluster with one sorted ``reduceat``, then folded.

    >>> cluster_totals(np.ones((3, 196), dtype=np.int64), np.array([0, 1, 1]), 2)[:, 0].tolist()
    [1.0, 2.0]
    """
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
    summed = np.zeros((n, histograms.shape[1]), dtype=np.int64)
    summed[sorted_index[starts]] = np.add.reduceat(
        histograms[order], starts, axis=0, dtype=np.int64
    )
    confusions = metrics.fold_histograms(summed)
    diag = np.diagonal(confusions, axis1=-2, axis2=-1)
    return np.hstack([diag, confusions.sum(-1), confusions.sum(-2)]).astype(np.float64)


def draw_weights(n_clusters: int, replicates: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Bootstrap weights: how often each cluster is drawn in each replicate, ``(R, n)``.

    >>> w = draw_weights(5, 3, np.random.default_rng(0)); w.shape, w.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """
    draws = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=replicates)
    return draws.astype(np.float64)


class Replicates(NamedTuple):
    """The bootstrap distribution of K submissions' scores."""

    miou: NDArray[np.float64]  # (R, K)
    iou: NDArray[np.float64]  # (R, K, 13)


def replicate_scores(weights: NDArray[np.float64], totals: NDArray[np.float64]) -> Replicates:
    """mIoU and per-class IoU of every replicate: one matrix product, then the official metric.

    One product for all submissions at once: BLAS starts its threads once, which matters on a
    busy machine more than the arithmetic.

    Args:
        weights: ``(R, n clusters)`` draws (:func:`draw_weights`).
        totals: ``(n clusters, ..., 39)`` (:func:`cluster_totals`, one per submission stacked
            on axis 1).

    Returns:
        mIoU ``(R, ...)`` and IoU ``(R, ..., 13)``.
    """
    sums = (weights @ totals.reshape(len(totals), -1)).reshape(len(weights), *totals.shape[1:])
    diag, rows, columns = np.split(sums, 3, axis=-1)
    ious = metrics.ious_from_sums(diag, rows, columns)
    return Replicates(metrics.mean_of_ious(ious), ious)


def percentile_interval(values: NDArray[np.float64], clusters: int = 2) -> tuple[float, float]:
    """The central 95% interval of bootstrap values (NaN replicates left out), or none (NaN,
    NaN) when fewer than 2 ``clusters`` were resampled: every replicate is then the same draw,
    and a zero-width interval would claim a certainty the data cannot give.

    Percentiles of identical values are that value exactly, so a difference of exactly 0 in every
    replicate gives the interval [0, 0].

    >>> percentile_interval(np.zeros(10))
    (0.0, 0.0)
    >>> percentile_interval(np.zeros(10), clusters=1)
    (nan, nan)
    """
    finite = values[~np.isnan(values)]
    if finite.size == 0 or clusters < 2:
        return float("nan"), float("nan")
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def share_better(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Share of replicates in which ``a`` beats ``b``, ties counting one half (not a p-value).

    >>> share_better(np.array([1.0, 0.0, 2.0, 1.0]), np.array([0.0, 1.0, 2.0, 1.0]))
    0.5
    """
    return float(np.mean(a > b) + 0.5 * np.mean(a == b))


def competition_ranks(scores: NDArray[np.float64]) -> NDArray[np.int64]:
    """Ranks by descending score along the last axis; ties share the better rank (1, 2, 2, 4).

    NaN ranks last.

    >>> competition_ranks(np.array([0.5, 0.7, 0.5, 0.1])).tolist()
    [2, 1, 2, 4]
    """
    filled = np.where(np.isnan(scores), -np.inf, scores)
    above: NDArray[np.int64] = (filled[..., None, :] > filled[..., :, None]).sum(axis=-1)
    return 1 + above


def seeded_rng(seed: int, *stream: int) -> np.random.Generator:
    """A generator for one stream of a seeded analysis (overall draws, then one per domain)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


__all__ = [
    "CONFIDENCE",
    "DEFAULT_REPLICATES",
    "DEFAULT_SEED",
    "Replicates",
    "cluster_index",
    "cluster_totals",
    "competition_ranks",
    "draw_weights",
    "percentile_interval",
    "replicate_scores",
    "seeded_rng",
    "share_better",
]
