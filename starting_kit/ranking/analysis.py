"""One paired zone bootstrap over any number of submissions scored against one truth.

:func:`analyse` computes every submission's exact official scores and their bootstrap
distributions, overall (zones resampled over the whole test set) and per domain (zones resampled
within the domain). :mod:`starting_kit.ranking.compare` and :mod:`starting_kit.ranking.leaderboard`
read their statistics from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from scoring import metrics
from scoring.counts import PatchCounts
from scoring.errors import ConfigError, DataError, summarize
from starting_kit.ranking import bootstrap
from starting_kit.ranking.defaults import MIN_REPLICATES
from starting_kit.ranking.zones import cluster_labels, locate_recording

#: Below this many zones an interval is approximate (the report says so); below 2 there is none.
FEW_ZONES = 10


@dataclass(frozen=True)
class Submission:
    """A named submission's per-patch counts, and where it came from (for the gallery)."""

    name: str
    counts: PatchCounts
    #: The zip or folder of predictions; None for saved counts.
    predictions: Path | None = None


@dataclass(frozen=True)
class DomainBootstrap:
    """Exact and resampled mIoU of every submission on one domain."""

    domain: str
    n_zones: int
    n_patches: int
    miou: NDArray[np.float64]  # (K,)
    replicates: NDArray[np.float64]  # (R, K)
    confusions: NDArray[np.int64]  # (K, 13, 13)

    @property
    def approximate(self) -> bool:
        """True when too few zones make the interval approximate."""
        return self.n_zones < FEW_ZONES


@dataclass(frozen=True)
class Analysis:
    """Exact scores and paired bootstrap replicates of K submissions."""

    names: tuple[str, ...]
    miou: NDArray[np.float64]  # (K,) exact, bit-identical to `flair-kit score`
    iou: NDArray[np.float64]  # (K, 13) exact
    confusions: NDArray[np.int64]  # (K, 13, 13)
    replicate_miou: NDArray[np.float64]  # (R, K)
    replicate_iou: NDArray[np.float64]  # (R, K, 13)
    domains: tuple[DomainBootstrap, ...]
    n_patches: int
    n_clusters: int
    zone_source: str
    replicates: int
    seed: int
    submissions: tuple[Submission, ...]
    warnings: tuple[str, ...] = field(default=())


def resampled_patches(zone_source: str) -> bool:
    """Whether no zones were known, so the bootstrap resampled patches (see ``zones``)."""
    return zone_source.startswith("none")


def method_line(analysis: Analysis) -> str:
    """How the intervals were made, in one line (printed under the text tables)."""
    head = f"{analysis.replicates} paired bootstrap replicates over "
    if resampled_patches(analysis.zone_source):
        what = f"{analysis.n_patches} patches resampled one by one (no zones known)"
    else:
        what = (
            f"{analysis.n_clusters} zones of {analysis.n_patches} patches; zones from "
            f"{analysis.zone_source}"
        )
    return f"({head}{what}, seed {analysis.seed})"


def check_same_truth(submissions: Sequence[Submission]) -> None:
    """Refuse counts made against different truths (their fingerprints differ).

    Raises:
        DataError: names the submissions of each fingerprint.
    """
    by_fingerprint: dict[str, list[str]] = {}
    for submission in submissions:
        by_fingerprint.setdefault(submission.counts.truth_fingerprint, []).append(submission.name)
    if len(by_fingerprint) > 1:
        groups = "; ".join(
            f"truth {fingerprint[:12]}: {summarize(names, 5)}"
            for fingerprint, names in by_fingerprint.items()
        )
        raise DataError(
            f"the submissions were scored against different truths ({groups}); score them all "
            "against the same reference masks (same ids, same files)"
        )


def check_names(names: Sequence[str]) -> None:
    """Refuse empty or repeated names (every table and chart keys on them).

    Raises:
        ConfigError: names the empty positions or the repeated names.
    """
    empty = [str(k + 1) for k, name in enumerate(names) if not name.strip()]
    if empty:
        raise ConfigError(
            f"--names: name {', '.join(empty)} of {len(names)} is empty; give every submission a "
            "name (comma-separated, in the order of the submissions)"
        )
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise ConfigError(f"repeated submission names {', '.join(repeated)}; give distinct --names")


def _zoned(
    submissions: Sequence[Submission], zones_csv: Path | None
) -> tuple[PatchCounts, str, tuple[str, ...]]:
    """The counts whose zones the bootstrap uses (``zones_csv`` when given: an explicit
    ``--zones`` wins; else the first with zones; else located), where the zones came from, and
    the warning when none are known."""
    if zones_csv is not None:
        return locate_recording(submissions[0].counts, zones_csv)
    for submission in submissions:
        counts = submission.counts
        if all(counts.zones) and all(counts.domains):
            return locate_recording(counts)
    return locate_recording(submissions[0].counts, zones_csv)


def analyse(
    submissions: Sequence[Submission],
    *,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    seed: int = bootstrap.DEFAULT_SEED,
    zones_csv: Path | None = None,
) -> Analysis:
    """Score K submissions exactly and bootstrap them together (paired, zones resampled).

    Args:
        submissions: at least one, all scored against the same truth.
        replicates: bootstrap replicates (at least 1).
        seed: the same seed gives the same replicates.
        zones_csv: ``id,domain,zone`` csv for a flat truth (see
            :func:`starting_kit.ranking.zones.locate_patches`).

    Raises:
        DataError: different truths, or a zones csv that lacks ids.
        ConfigError: no submission, repeated names, or fewer than :data:`~starting_kit.ranking.defaults.MIN_REPLICATES`
            replicates.
    """
    if not submissions:
        raise ConfigError("no submission to analyse")
    if replicates < MIN_REPLICATES:
        raise ConfigError(
            f"--replicates {replicates}; expected at least {MIN_REPLICATES} (the 2.5 and 97.5 "
            f"percentiles need that many to mean anything; the default is "
            f"{bootstrap.DEFAULT_REPLICATES})"
        )
    check_names([s.name for s in submissions])
    check_same_truth(submissions)
    located, zone_source, notes = _zoned(submissions, zones_csv)
    labels = cluster_labels(located)
    names, index = bootstrap.cluster_index(labels)
    # (zones, submissions, 39): every submission bootstrapped by one matrix product.
    totals = np.stack(
        [bootstrap.cluster_totals(s.counts.histograms, index, len(names)) for s in submissions],
        axis=1,
    )
    weights = bootstrap.draw_weights(len(names), replicates, bootstrap.seeded_rng(seed, 0))
    scored = bootstrap.replicate_scores(weights, totals)
    confusions = np.stack([s.counts.confusion() for s in submissions])
    exact = np.array([metrics.mean_iou_score(c) for c in confusions])
    domains = _domain_bootstraps(located, submissions, names, totals, replicates, seed)
    if len(names) < FEW_ZONES:
        unit = "patches" if resampled_patches(zone_source) else "zones"
        notes = (
            *notes,
            f"only {len(names)} {unit} to resample: the 95% intervals are approximate"
            + (" (with one, there is no interval)" if len(names) < 2 else ""),
        )
    return Analysis(
        names=tuple(s.name for s in submissions),
        miou=exact,
        iou=np.stack([metrics.iou_per_class(c) for c in confusions]),
        confusions=confusions,
        replicate_miou=scored.miou,
        replicate_iou=scored.iou,
        domains=domains,
        n_patches=located.n_patches,
        n_clusters=len(names),
        zone_source=zone_source,
        replicates=replicates,
        seed=seed,
        submissions=tuple(submissions),
        warnings=notes,
    )


def _domain_bootstraps(
    located: PatchCounts,
    submissions: Sequence[Submission],
    cluster_names: Sequence[str],
    totals: NDArray[np.float64],
    replicates: int,
    seed: int,
) -> tuple[DomainBootstrap, ...]:
    """Per domain: its zones resampled within it, each domain with its own seeded stream."""
    if not (all(located.domains) and all(located.zones)):
        return ()  # patches resampled on their own: no zones to resample within a domain
    domain_of_cluster = np.array([name.split("/")[0] for name in cluster_names])
    patch_domains = np.asarray(located.domains)
    results = []
    for number, domain in enumerate(sorted(set(located.domains)), start=1):
        in_domain = np.flatnonzero(domain_of_cluster == domain)
        weights = bootstrap.draw_weights(
            len(in_domain), replicates, bootstrap.seeded_rng(seed, number)
        )
        patches = patch_domains == domain
        confusions = np.stack([s.counts.confusion_of(patches) for s in submissions])
        results.append(
            DomainBootstrap(
                domain=domain,
                n_zones=len(in_domain),
                n_patches=int(patches.sum()),
                miou=np.array([metrics.mean_iou_score(c) for c in confusions]),
                replicates=bootstrap.replicate_scores(weights, totals[in_domain]).miou,
                confusions=confusions,
            )
        )
    return tuple(results)
