"""Train/validation splits at the domain level (never patch-level), recorded in the run folder.

Patches of one domain (a département and a year) share acquisition conditions, so a patch-level
split leaks: the validation score then overstates the test score. Both strategies here keep whole
domains together:

- ``official``: the eight validation domains of IGN's ``flair-1-paths-val.csv``;
- ``random``: a seeded shuffle of the *sorted* domain names (IGN's code shuffles ``os.listdir``
  order, so its split depends on the file system), the first ``round(val_fraction * n)`` going
  to validation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.atomic import atomic_write_json
from scoring.errors import ConfigError, summarize
from starting_kit.discovery import OFFICIAL_VAL_DOMAINS

if TYPE_CHECKING:
    from starting_kit.discovery import Sample


@dataclass(frozen=True)
class Split:
    """Training and validation samples and how they were chosen."""

    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    strategy: str
    seed: int
    val_domains: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The record written to ``split.json``: strategy, domains and sorted ids."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "train_domains": sorted({s.domain for s in self.train}),
            "val_domains": list(self.val_domains),
            "train": sorted(s.name for s in self.train),
            "val": sorted(s.name for s in self.val),
        }


def _domains(samples: Sequence[Sample]) -> list[str]:
    return sorted({s.domain for s in samples})


def split_by_domains(
    samples: Sequence[Sample], val_domains: Sequence[str], *, strategy: str, seed: int
) -> Split:
    """Put the samples of ``val_domains`` in validation and the rest in training.

    Raises:
        ConfigError: either side would be empty.
    """
    chosen = set(val_domains)
    val = tuple(s for s in samples if s.domain in chosen)
    train = tuple(s for s in samples if s.domain not in chosen)
    present = _domains(samples)
    if not val:
        raise ConfigError(
            f"{strategy} split: none of the validation domains {summarize(sorted(chosen), 8)} is "
            f"in the training data (domains found: {summarize(present, 8)}); use data.split: random, "
            "or give an explicit validation list with data.val"
        )
    if not train:
        raise ConfigError(
            f"{strategy} split: every domain of the data ({summarize(present, 8)}) is a validation "
            "domain, leaving nothing to train on; add training domains or use data.split: random"
        )
    return Split(train, val, strategy, seed, tuple(sorted(chosen & set(present))))


def official_split(samples: Sequence[Sample], *, seed: int = 0) -> Split:
    """Validate on IGN's eight official FLAIR #1 validation domains."""
    return split_by_domains(samples, OFFICIAL_VAL_DOMAINS, strategy="official", seed=seed)


def random_domain_split(samples: Sequence[Sample], *, val_fraction: float, seed: int) -> Split:
    """Validate on a seeded random ``val_fraction`` of the domains (at least one, never all).

    Raises:
        ConfigError: fewer than two domains.
    """
    domains = _domains(samples)
    if len(domains) < 2:
        raise ConfigError(
            f"random split: the data holds {len(domains)} domain(s) ({summarize(domains)}); a "
            "domain-level split needs at least 2; give a validation list with data.val"
        )
    shuffled = list(domains)
    random.Random(seed).shuffle(shuffled)
    n_val = min(max(1, round(val_fraction * len(domains))), len(domains) - 1)
    return split_by_domains(samples, shuffled[:n_val], strategy="random", seed=seed)


def split_samples(
    samples: Sequence[Sample], strategy: str, *, val_fraction: float, seed: int
) -> Split:
    """Dispatch on the configured strategy (``official`` or ``random``)."""
    if strategy == "official":
        return official_split(samples, seed=seed)
    if strategy == "random":
        return random_domain_split(samples, val_fraction=val_fraction, seed=seed)
    raise ConfigError(f"data.split is {strategy!r}; expected 'official' or 'random'")


def explicit_split(train: Sequence[Sample], val: Sequence[Sample]) -> Split:
    """A split given as two lists (IGN's train and val csvs); they must not share a domain.

    Raises:
        ConfigError: a list is empty, or a domain appears in both (a leaking split).
    """
    if not train or not val:
        raise ConfigError(
            f"explicit split: {len(train)} training and {len(val)} validation patches; both "
            "lists must be non-empty"
        )
    shared = sorted(set(_domains(train)) & set(_domains(val)))
    if shared:
        raise ConfigError(
            f"explicit split: domain(s) {summarize(shared)} are in both the training and the "
            "validation list; a patch-level split leaks, keep each domain on one side"
        )
    return Split(tuple(train), tuple(val), "explicit", 0, tuple(_domains(val)))


def write_split(path: Path, split: Split) -> None:
    """Write ``split.json`` atomically."""
    atomic_write_json(path, split.to_dict())
