"""Compare two submissions: the exact difference and how sure we are of it (``flair-kit compare``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.classes import CLASS_NAMES, NUM_SCORED_CLASSES
from scoring.report import finite_or_none
from starting_kit.ranking import bootstrap
from starting_kit.ranking.analysis import FEW_ZONES, Analysis, method_line


def _interval(values: tuple[float, float]) -> list[float | None]:
    return [finite_or_none(values[0]), finite_or_none(values[1])]


@dataclass(frozen=True)
class ClassDelta:
    """IoU of one class in A and B, and the interval of their difference."""

    index: int
    name: str
    iou_a: float
    iou_b: float
    ci95: tuple[float, float]
    scored: bool

    @property
    def delta(self) -> float:
        """iou_a - iou_b."""
        return self.iou_a - self.iou_b

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as null)."""
        return {
            "index": self.index,
            "name": self.name,
            "iou_a": finite_or_none(self.iou_a),
            "iou_b": finite_or_none(self.iou_b),
            "delta_iou": finite_or_none(self.delta),
            "ci95": _interval(self.ci95),
            "scored": self.scored,
        }


@dataclass(frozen=True)
class DomainDelta:
    """mIoU of A and B on one domain, with the interval of the difference (zones within it)."""

    domain: str
    n_zones: int
    n_patches: int
    miou_a: float
    miou_b: float
    ci95: tuple[float, float]
    p_a_better: float

    @property
    def delta(self) -> float:
        """miou_a - miou_b."""
        return self.miou_a - self.miou_b

    @property
    def approximate(self) -> bool:
        """Few zones: the interval is approximate."""
        return self.n_zones < FEW_ZONES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as null)."""
        return {
            "domain": self.domain,
            "n_zones": self.n_zones,
            "n_patches": self.n_patches,
            "miou_a": finite_or_none(self.miou_a),
            "miou_b": finite_or_none(self.miou_b),
            "delta_miou": finite_or_none(self.delta),
            "ci95": _interval(self.ci95),
            "p_a_better": self.p_a_better,
            "approximate": self.approximate,
        }


@dataclass(frozen=True)
class Comparison:
    """The result of ``flair-kit compare A B``."""

    name_a: str
    name_b: str
    miou_a: float
    miou_b: float
    ci95: tuple[float, float]
    p_a_better: float
    per_class: tuple[ClassDelta, ...]
    per_domain: tuple[DomainDelta, ...]
    analysis: Analysis

    @property
    def delta_miou(self) -> float:
        """miou_a - miou_b, the difference of the two exact official scores."""
        return self.miou_a - self.miou_b

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``compare --json``."""
        analysis = self.analysis
        return {
            "a": self.name_a,
            "b": self.name_b,
            "miou_a": finite_or_none(self.miou_a),
            "miou_b": finite_or_none(self.miou_b),
            "delta_miou": finite_or_none(self.delta_miou),
            "ci95": _interval(self.ci95),
            "p_a_better": self.p_a_better,
            "per_class": [c.to_dict() for c in self.per_class],
            "per_domain": [d.to_dict() for d in self.per_domain],
            "n_patches": analysis.n_patches,
            "n_zones": analysis.n_clusters,
            "zones_from": analysis.zone_source,
            "replicates": analysis.replicates,
            "seed": analysis.seed,
            "method": (
                "paired bootstrap over zones: each replicate draws the test set's zones with "
                "replacement, sums their confusion matrices and recomputes the official mIoU; "
                "ci95 is the 2.5-97.5 percentile interval of miou_a - miou_b; p_a_better is the "
                "share of replicates where A scores higher (ties count one half), not a p-value"
            ),
            "warnings": list(analysis.warnings),
        }

    def per_class_frame(self) -> pd.DataFrame:
        """Per-class IoUs of A and B and the interval of their difference, one row per class."""
        frame: pd.DataFrame = pd.DataFrame(
            [
                {
                    "class": c.name,
                    "iou_a": c.iou_a,
                    "iou_b": c.iou_b,
                    "delta_iou": c.delta,
                    "ci95_low": c.ci95[0],
                    "ci95_high": c.ci95[1],
                    "scored": c.scored,
                }
                for c in self.per_class
            ]
        ).set_index("class")
        return frame

    def per_domain_frame(self) -> pd.DataFrame:
        """Per-domain mIoUs of A and B and the interval of their difference."""
        frame: pd.DataFrame = pd.DataFrame(
            [
                {
                    "domain": d.domain,
                    "n_zones": d.n_zones,
                    "n_patches": d.n_patches,
                    "miou_a": d.miou_a,
                    "miou_b": d.miou_b,
                    "delta_miou": d.delta,
                    "ci95_low": d.ci95[0],
                    "ci95_high": d.ci95[1],
                    "p_a_better": d.p_a_better,
                    "approximate": d.approximate,
                }
                for d in self.per_domain
            ],
            columns=[
                "domain",
                "n_zones",
                "n_patches",
                "miou_a",
                "miou_b",
                "delta_miou",
                "ci95_low",
                "ci95_high",
                "p_a_better",
                "approximate",
            ],
        ).set_index("domain")
        return frame


def compare_analysis(analysis: Analysis, a: int = 0, b: int = 1) -> Comparison:
    """The comparison of submissions ``a`` and ``b`` of a paired bootstrap."""
    rep_a, rep_b = analysis.replicate_miou[:, a], analysis.replicate_miou[:, b]
    per_class = tuple(
        ClassDelta(
            index=k,
            name=name,
            iou_a=float(analysis.iou[a, k]),
            iou_b=float(analysis.iou[b, k]),
            ci95=bootstrap.percentile_interval(
                analysis.replicate_iou[:, a, k] - analysis.replicate_iou[:, b, k],
                analysis.n_clusters,
            ),
            scored=k < NUM_SCORED_CLASSES,
        )
        for k, name in enumerate(CLASS_NAMES)
    )
    per_domain = tuple(
        DomainDelta(
            domain=d.domain,
            n_zones=d.n_zones,
            n_patches=d.n_patches,
            miou_a=float(d.miou[a]),
            miou_b=float(d.miou[b]),
            ci95=bootstrap.percentile_interval(d.replicates[:, a] - d.replicates[:, b], d.n_zones),
            p_a_better=bootstrap.share_better(d.replicates[:, a], d.replicates[:, b]),
        )
        for d in analysis.domains
    )
    return Comparison(
        name_a=analysis.names[a],
        name_b=analysis.names[b],
        miou_a=float(analysis.miou[a]),
        miou_b=float(analysis.miou[b]),
        ci95=bootstrap.percentile_interval(rep_a - rep_b, analysis.n_clusters),
        p_a_better=bootstrap.share_better(rep_a, rep_b),
        per_class=per_class,
        per_domain=per_domain,
        analysis=analysis,
    )


def _fmt(value: float, digits: int = 4, sign: bool = False) -> str:
    if np.isnan(value):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def render_comparison(comparison: Comparison) -> str:
    """The text ``flair-kit compare`` prints."""
    c = comparison
    analysis = c.analysis
    low, high = c.ci95
    lines = [
        f"A: {c.name_a}  mIoU {_fmt(c.miou_a, 5)}",
        f"B: {c.name_b}  mIoU {_fmt(c.miou_b, 5)}",
        (
            f"A - B: {_fmt(c.delta_miou, 5, True)}  95% CI [{_fmt(low, 5, True)}, "
            f"{_fmt(high, 5, True)}]  P(A better) {c.p_a_better:.3f}"
        ),
        method_line(analysis),
        "",
        f"{'class':<24}{'IoU A':>8}{'IoU B':>8}{'A - B':>9}  95% CI",
    ]
    for row in c.per_class:
        suffix = "" if row.scored else "  (not in mIoU)"
        lines.append(
            f"{row.name:<24}{_fmt(row.iou_a):>8}{_fmt(row.iou_b):>8}"
            f"{_fmt(row.delta, 4, True):>9}  [{_fmt(row.ci95[0], 4, True)}, "
            f"{_fmt(row.ci95[1], 4, True)}]{suffix}"
        )
    if c.per_domain:
        lines += ["", f"{'domain':<12}{'zones':>6}{'mIoU A':>8}{'mIoU B':>8}{'A - B':>9}  95% CI"]
        for d in c.per_domain:
            note = "  (few zones: approximate)" if d.approximate else ""
            lines.append(
                f"{d.domain:<12}{d.n_zones:>6}{_fmt(d.miou_a):>8}{_fmt(d.miou_b):>8}"
                f"{_fmt(d.delta, 4, True):>9}  [{_fmt(d.ci95[0], 4, True)}, "
                f"{_fmt(d.ci95[1], 4, True)}]{note}"
            )
    return "\n".join(lines) + "\n"
