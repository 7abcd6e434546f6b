"""The report charts, drawn with matplotlib and returned as PNG bytes (embedded in the pages).

Every chart is a pure function of numbers and names; nothing is read from or written to disk.
Class names and colours come from :mod:`scoring.classes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_SCORED_CLASSES
from starting_kit.figures import figure_png, new_figure

#: Resolution of the embedded PNGs: sharp on a laptop screen, small enough to embed.
DPI = 100
#: Most series one chart draws (the leaderboard's first entries); more would be unreadable.
MAX_SERIES = 8


def _canvas(width_in: float, height_in: float) -> tuple[Figure, Axes]:
    """One chart's figure and axes, on the Agg canvas (never pyplot: importing the reports must
    not switch the backend of a user's notebook)."""
    figure = new_figure(width_in, height_in, dpi=DPI)
    return figure, figure.subplots()


def to_png(figure: Figure) -> bytes:
    """The chart as PNG bytes, cropped to what is drawn."""
    return figure_png(figure, tight=True)


def _errors(values: NDArray[np.float64], intervals: NDArray[np.float64]) -> NDArray[np.float64]:
    """matplotlib's (2, n) error lengths from values and (n, 2) intervals; NaN drawn as none."""
    low = np.nan_to_num(values - intervals[:, 0], nan=0.0).clip(min=0)
    high = np.nan_to_num(intervals[:, 1] - values, nan=0.0).clip(min=0)
    return np.vstack([low, high])


def class_delta_chart(
    deltas: NDArray[np.float64], intervals: NDArray[np.float64], label: str
) -> bytes:
    """Per-class IoU difference with its 95% interval, one row per scored class."""
    n = NUM_SCORED_CLASSES
    figure, axes = _canvas(7, 4.5)
    rows = np.arange(n)[::-1]
    colours = [CLASS_COLOURS[k] for k in range(n)]
    axes.barh(rows, deltas[:n], color=colours, edgecolor="#333333", alpha=0.85)
    axes.errorbar(
        deltas[:n], rows, xerr=_errors(deltas[:n], intervals[:n]), fmt="none", ecolor="#111111",
        capsize=3,
    )  # fmt: skip
    axes.axvline(0, color="#555555", linewidth=1)
    axes.set_yticks(rows, CLASS_NAMES[:n])
    axes.set_xlabel(f"IoU difference ({label}) with 95% interval")
    axes.set_title("Per-class IoU difference")
    axes.grid(axis="x", alpha=0.3)
    return to_png(figure)


def class_iou_chart(
    names: Sequence[str], iou: NDArray[np.float64], intervals: NDArray[np.float64] | None = None
) -> bytes:
    """Per-class IoU of each submission (first :data:`MAX_SERIES`), with 95% intervals if given.

    Args:
        names: the submissions.
        iou: ``(K, 13)`` exact IoUs.
        intervals: ``(K, 13, 2)`` interval bounds, drawn as whiskers when given.
    """
    n = NUM_SCORED_CLASSES
    shown = min(len(names), MAX_SERIES)
    figure, axes = _canvas(9, 4.8)
    width = 0.8 / shown
    for k in range(shown):
        x = np.arange(n) - 0.4 + width * (k + 0.5)
        whiskers = None if intervals is None else _errors(iou[k, :n], intervals[k, :n])
        axes.errorbar(
            x, iou[k, :n], yerr=whiskers, fmt="o", markersize=4, capsize=2, label=names[k]
        )
    axes.set_xticks(np.arange(n), CLASS_NAMES[:n], rotation=35, ha="right")
    axes.set_ylabel("IoU" + (" (95% interval)" if intervals is not None else ""))
    axes.set_ylim(0, 1)
    axes.set_title("Per-class IoU")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    return to_png(figure)


def domain_chart(
    domains: Sequence[str],
    names: Sequence[str],
    miou: NDArray[np.float64],
    intervals: NDArray[np.float64] | None = None,
) -> bytes:
    """mIoU of each submission (first :data:`MAX_SERIES`) on each domain, grouped bars.

    Args:
        domains: the domains (rows of ``miou``).
        names: the submissions (columns of ``miou``).
        miou: ``(D, K)`` mIoU.
        intervals: ``(D, K, 2)`` 95% interval bounds, drawn as whiskers when given.
    """
    shown = min(len(names), MAX_SERIES)
    figure, axes = _canvas(max(6.0, 0.9 * len(domains) + 2), 4.2)
    width = 0.8 / shown
    for k in range(shown):
        x = np.arange(len(domains)) - 0.4 + width * (k + 0.5)
        errors = None if intervals is None else _errors(miou[:, k], intervals[:, k])
        axes.bar(x, miou[:, k], width, yerr=errors, capsize=2, label=names[k])
    axes.set_xticks(np.arange(len(domains)), domains, rotation=30, ha="right")
    axes.set_ylabel("mIoU")
    axes.set_ylim(0, 1)
    axes.set_title("Per-domain mIoU" + (" (95% interval)" if intervals is not None else ""))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    return to_png(figure)


def rank_stability_chart(names: Sequence[str], stability: Sequence[float]) -> bytes:
    """Share of bootstrap replicates in which each submission holds its rank."""
    figure, axes = _canvas(7, 0.35 * len(names) + 1.5)
    rows = np.arange(len(names))[::-1]
    axes.barh(rows, stability, color="#4c72b0")
    for row, value in zip(rows, stability, strict=False):
        axes.text(min(value + 0.01, 0.88), row, f"{value:.1%}", va="center", fontsize=8)
    axes.set_yticks(rows, names)
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of bootstrap replicates holding the rank")
    axes.set_title("Rank stability")
    return to_png(figure)


def delta_distribution_chart(deltas: NDArray[np.float64], interval: tuple[float, float]) -> bytes:
    """Histogram of the bootstrap differences A - B, with the 95% interval and zero marked."""
    figure, axes = _canvas(7, 3.2)
    finite = deltas[~np.isnan(deltas)]
    axes.hist(finite, bins=50, color="#4c72b0", alpha=0.85)
    axes.axvline(0, color="#555555", linewidth=1)
    for bound in interval:
        axes.axvline(bound, color="#c44e52", linestyle="--", linewidth=1)
    axes.set_xlabel("mIoU(A) - mIoU(B) in each bootstrap replicate (dashed: 95% interval)")
    axes.set_title("Bootstrap distribution of the difference")
    return to_png(figure)


def confusion_heatmap(confusion: NDArray[np.int64], title: str) -> bytes:
    """Row-normalised confusion matrix (share of each truth class), class names on both axes."""
    rows = confusion.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(rows > 0, confusion / rows, 0.0)
    figure, axes = _canvas(8, 7)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(CLASS_NAMES))
    axes.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    axes.set_yticks(ticks, CLASS_NAMES)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    for i in range(len(CLASS_NAMES)):
        for j in range(len(CLASS_NAMES)):
            if shares[i, j] >= 0.01:
                colour = "white" if shares[i, j] > 0.6 else "black"
                axes.text(j, i, f"{shares[i, j]:.2f}", ha="center", va="center", fontsize=6,
                          color=colour)  # fmt: skip
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_title(title)
    return to_png(figure)
