"""Rank N submissions with intervals, rank stability and pairwise odds (``flair-kit leaderboard``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.report import finite_or_none
from starting_kit.ranking import bootstrap
from starting_kit.ranking.analysis import Analysis, method_line


@dataclass(frozen=True)
class LeaderboardEntry:
    """One submission's place on the leaderboard."""

    name: str
    miou: float
    rank: int
    ci95: tuple[float, float]
    #: Share of bootstrap replicates in which it holds its rank.
    rank_stability: float
    #: Index of the submission in the analysis (the order given on the command line).
    column: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as null)."""
        return {
            "name": self.name,
            "miou": finite_or_none(self.miou),
            "rank": self.rank,
            "ci95": [finite_or_none(self.ci95[0]), finite_or_none(self.ci95[1])],
            "rank_stability": self.rank_stability,
        }


@dataclass(frozen=True)
class Leaderboard:
    """Entries in rank order, and P(row beats column) in the same order."""

    entries: tuple[LeaderboardEntry, ...]
    #: ``pairwise[i, j]``: share of replicates in which entry i scores above entry j (ties one
    #: half); NaN on the diagonal.
    pairwise: NDArray[np.float64]
    analysis: Analysis

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``leaderboard --json``."""
        names = [e.name for e in self.entries]
        return {
            "entries": [e.to_dict() for e in self.entries],
            "pairwise": {
                "names": names,
                "p_row_beats_column": [[finite_or_none(v) for v in row] for row in self.pairwise],
            },
            "per_domain": [
                {
                    "domain": d.domain,
                    "n_zones": d.n_zones,
                    "miou": {e.name: finite_or_none(float(d.miou[e.column])) for e in self.entries},
                }
                for d in self.analysis.domains
            ],
            "n_patches": self.analysis.n_patches,
            "n_zones": self.analysis.n_clusters,
            "zones_from": self.analysis.zone_source,
            "replicates": self.analysis.replicates,
            "seed": self.analysis.seed,
            "warnings": list(self.analysis.warnings),
        }

    def frame(self) -> pd.DataFrame:
        """The leaderboard as a table, one row per submission in rank order."""
        frame: pd.DataFrame = pd.DataFrame(
            [
                {
                    "rank": e.rank,
                    "name": e.name,
                    "miou": e.miou,
                    "ci95_low": e.ci95[0],
                    "ci95_high": e.ci95[1],
                    "rank_stability": e.rank_stability,
                }
                for e in self.entries
            ]
        )
        return frame

    def pairwise_frame(self) -> pd.DataFrame:
        """P(row beats column), rows and columns in rank order."""
        names = [e.name for e in self.entries]
        frame: pd.DataFrame = pd.DataFrame(self.pairwise, index=names, columns=names)
        return frame

    def per_domain_frame(self) -> pd.DataFrame:
        """mIoU of every submission (columns, rank order) on every domain (rows)."""
        frame: pd.DataFrame = pd.DataFrame(
            {
                e.name: {d.domain: float(d.miou[e.column]) for d in self.analysis.domains}
                for e in self.entries
            }
        )
        return frame


def rank_analysis(analysis: Analysis) -> Leaderboard:
    """Rank the submissions of a paired bootstrap by their exact official mIoU."""
    ranks = bootstrap.competition_ranks(analysis.miou)
    replicate_ranks = bootstrap.competition_ranks(analysis.replicate_miou)
    stability = (replicate_ranks == ranks[None, :]).mean(axis=0)
    order = sorted(range(len(analysis.names)), key=lambda k: (ranks[k], k))
    entries = tuple(
        LeaderboardEntry(
            name=analysis.names[k],
            miou=float(analysis.miou[k]),
            rank=int(ranks[k]),
            ci95=bootstrap.percentile_interval(analysis.replicate_miou[:, k], analysis.n_clusters),
            rank_stability=float(stability[k]),
            column=k,
        )
        for k in order
    )
    pairwise = np.full((len(order), len(order)), np.nan)
    for i, row in enumerate(order):
        for j, column in enumerate(order):
            if i != j:
                pairwise[i, j] = bootstrap.share_better(
                    analysis.replicate_miou[:, row], analysis.replicate_miou[:, column]
                )
    return Leaderboard(entries, pairwise, analysis)


def render_leaderboard(board: Leaderboard) -> str:
    """The text ``flair-kit leaderboard`` prints."""
    width = max(8, *(len(e.name) for e in board.entries))
    lines = [f"{'rank':>4}  {'name':<{width}}  {'mIoU':>7}  {'95% CI':<17}  rank held"]
    for e in board.entries:
        low, high = e.ci95
        lines.append(
            f"{e.rank:>4}  {e.name:<{width}}  {e.miou:7.4f}  [{low:.4f}, {high:.4f}]  "
            f"{e.rank_stability:7.1%}"
        )
    analysis = board.analysis
    lines.append(method_line(analysis))
    if len(board.entries) > 1:
        lines += ["", "P(row beats column):"]
        short = [str(i + 1) for i in range(len(board.entries))]
        lines.append(" " * (width + 6) + "".join(f"{s:>7}" for s in short))
        for i, e in enumerate(board.entries):
            cells = "".join(f"{'-':>7}" if np.isnan(v) else f"{v:7.3f}" for v in board.pairwise[i])
            lines.append(f"{i + 1:>4}  {e.name:<{width}}{cells}")
    return "\n".join(lines) + "\n"
