"""Domain-level splits: official, seeded random, explicit; never a patch-level leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baseline.splits import (
    explicit_split,
    official_split,
    random_domain_split,
    split_samples,
    write_split,
)
from scoring.errors import ConfigError
from starting_kit.discovery import find_split


@pytest.fixture(scope="module")
def samples(flair_root: Path) -> list:
    return find_split(flair_root, "train")


def domains(items) -> set:
    return {s.domain for s in items}


def test_official_split_uses_the_official_val_domains(samples: list) -> None:
    split = official_split(samples)
    assert domains(split.val) == {"D004_2021", "D014_2020"}
    assert domains(split.train) == {"D006_2020", "D007_2020"}
    assert split.val_domains == ("D004_2021", "D014_2020")


def test_random_split_is_seeded_and_domain_level(samples: list) -> None:
    first = random_domain_split(samples, val_fraction=0.25, seed=5)
    again = random_domain_split(samples, val_fraction=0.25, seed=5)
    assert first == again
    assert len(domains(first.val)) == 1
    assert not domains(first.val) & domains(first.train)
    assert len(first.val) + len(first.train) == len(samples)
    seen = {random_domain_split(samples, val_fraction=0.25, seed=s).val_domains for s in range(12)}
    assert len(seen) > 1  # the seed matters


def test_random_split_does_not_depend_on_input_order(samples: list) -> None:
    forward = random_domain_split(samples, val_fraction=0.5, seed=1)
    backward = random_domain_split(list(reversed(samples)), val_fraction=0.5, seed=1)
    assert forward.val_domains == backward.val_domains


def test_split_record_is_written(samples: list, tmp_path: Path) -> None:
    split = split_samples(samples, "official", val_fraction=0.2, seed=0)
    write_split(tmp_path / "split.json", split)
    record = json.loads((tmp_path / "split.json").read_text())
    assert record["strategy"] == "official"
    assert record["val_domains"] == ["D004_2021", "D014_2020"]
    assert len(record["train"]) + len(record["val"]) == len(samples)
    assert record["train"] == sorted(record["train"])


def test_official_split_without_official_domains(samples: list) -> None:
    others = [s for s in samples if s.domain in {"D006_2020", "D007_2020"}]
    with pytest.raises(
        ConfigError,
        match=r"official split: none of the validation domains .* use data.split: random",
    ):
        official_split(others)


def test_official_split_with_only_val_domains(samples: list) -> None:
    only_val = [s for s in samples if s.domain in {"D004_2021", "D014_2020"}]
    with pytest.raises(ConfigError, match=r"leaving nothing to train on"):
        official_split(only_val)


def test_random_split_needs_two_domains(samples: list) -> None:
    one = [s for s in samples if s.domain == "D006_2020"]
    with pytest.raises(
        ConfigError,
        match=r"random split: the data holds 1 domain\(s\) \(D006_2020\); .* at least 2",
    ):
        random_domain_split(one, val_fraction=0.2, seed=0)


def test_explicit_split_refuses_shared_domains(samples: list) -> None:
    with pytest.raises(ConfigError, match=r"domain\(s\) D007_2020 are in both"):
        explicit_split(samples[:-1], samples[-1:])
    with pytest.raises(ConfigError, match=r"both lists must be non-empty"):
        explicit_split(samples, [])


def test_unknown_strategy(samples: list) -> None:
    with pytest.raises(ConfigError, match=r"data.split is 'patch'"):
        split_samples(samples, "patch", val_fraction=0.2, seed=0)
