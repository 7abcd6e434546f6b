"""Configuration: packaged files, strict keys and types, overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from baseline.config import (
    TrainConfig,
    config_differences,
    config_from_dict,
    config_to_dict,
    load_config,
    packaged_configs,
    with_overrides,
)
from scoring.errors import ConfigError, MissingFileError
from starting_kit.discovery import OFFICIAL_VAL_DOMAINS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_configs_are_listed_and_load() -> None:
    assert {"flair1-baseline", "flair1-toy-cpu"} <= set(packaged_configs())
    for name in packaged_configs():
        assert isinstance(load_config(name), TrainConfig)


def test_baseline_config_reproduces_the_published_settings() -> None:
    cfg = load_config("flair1-baseline")
    assert (cfg.model.arch, cfg.model.encoder, cfg.data.bands) == (
        "unet",
        "resnet34",
        (1, 2, 3, 4, 5),
    )
    assert (cfg.optim.optimizer, cfg.optim.lr, cfg.optim.momentum) == ("sgd", 0.02, 0.0)
    assert (cfg.optim.scheduler, cfg.optim.plateau_factor, cfg.optim.plateau_patience) == (
        "plateau",
        0.5,
        10,
    )
    assert (cfg.optim.plateau_cooldown, cfg.optim.min_lr, cfg.monitor) == (4, 1e-7, "val_loss")
    assert cfg.optim.other_weight == 0.0
    assert cfg.data.augment and cfg.data.split == "official"
    assert (cfg.batch_size, cfg.seed, cfg.early_stopping_patience) == (10, 2022, 30)


def test_quick_config_is_an_smp_unet_for_cpu() -> None:
    cfg = load_config("flair1-toy-cpu")
    assert (cfg.model.arch, cfg.model.encoder) == ("unet", "resnet34")
    assert cfg.model.encoder_weights == "none"


def test_yaml_off_means_off(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "amp: off\n")).amp == "off"


def test_missing_config_names_the_packaged_ones(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"configuration not found; .*flair1-baseline"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data:\n  bandz: [1]\n", r"unknown key\(s\) 'data.bandz'; valid keys in data are .*bands"),
        ("epochz: 3\n", r"unknown key\(s\) 'epochz'"),
        ("epochs: ten\n", r"epochs: 'ten' is not an integer"),
        ("data:\n  split: patch\n", r"data.split: 'patch' is not one of 'official' \| 'random'"),
        ("data:\n  bands: 5\n", r"data.bands: 5 is not a list of int"),
        ("model: [unet]\n", r"section model: expected a mapping"),
        ("optim:\n  lr: fast\n", r"optim.lr: 'fast' is not a number"),
        ("channels_last: 1\n", r"channels_last: 1 is not true or false"),
        (
            "data:\n  val_fraction: 1.5\n",
            r"data.val_fraction is 1.5; expected strictly between 0 and 1",
        ),
        ("epochs: 0\n", r"epochs is 0; expected at least 1"),
        ("data:\n  bands: [0, 1]\n", r"data.bands is \(0, 1\); expected 1-based band indices"),
        ("data:\n  bands: [1, 1]\n", r"data.bands is \(1, 1\); expected without repeats"),
        ("seed: -5\n", r"seed is -5; expected an integer from 0 to 4294967295"),
        ("seed: 4294967296\n", r"seed is 4294967296; expected an integer from 0 to 4294967295"),
    ],
)
def test_invalid_values_are_named_with_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_config(path)


def test_a_config_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"epochs: 2\nname: caf\xe9\n\x00\xff")
    with pytest.raises(
        ConfigError,
        match=rf"^{path}: not UTF-8 text \(byte 0xe9 at byte offset 19\); .* re-save it as UTF-8$",
    ):
        load_config(path)


def test_a_config_that_is_no_file_says_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    os.mkfifo(tmp_path / "pipe.yaml")  # opened, it would block forever without a writer
    os.symlink("loop.yaml", tmp_path / "loop.yaml")
    for name, what in [
        ("folder.yaml", "is a folder"),
        ("pipe.yaml", r"is a FIFO \(named pipe\)"),
        ("loop.yaml", r"cannot be read \(Too many levels of symbolic links\)"),
    ]:
        with pytest.raises(MissingFileError, match=rf"{name}: configuration {what}; give a YAML"):
            load_config(tmp_path / name)


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config(write(tmp_path, "data: [unclosed\n"))


def test_overrides_convert_paths_and_skip_none(tmp_path: Path) -> None:
    cfg = with_overrides(TrainConfig(), **{"data.train": tmp_path, "epochs": 4, "seed": None})
    assert cfg.data.train == str(tmp_path)
    assert cfg.epochs == 4 and cfg.seed == TrainConfig().seed


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data.nothing", 1, r"override 'data.nothing': no such key"),
        ("nothing.x", 1, r"override 'nothing.x': no such section 'nothing'"),
        ("batch_size", 0, r"command-line overrides: batch_size is 0; expected at least 1"),
    ],
)
def test_bad_overrides(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_overrides(TrainConfig(), **{key: value})


def test_round_trip_and_differences() -> None:
    cfg = load_config("flair1-baseline")
    assert config_from_dict(config_to_dict(cfg)) == cfg
    other = with_overrides(cfg, **{"optim.lr": 0.1})
    assert config_differences(cfg, other) == {"optim.lr": (0.02, 0.1)}


def test_official_val_domains() -> None:
    assert len(OFFICIAL_VAL_DOMAINS) == 8 and "D004_2021" in OFFICIAL_VAL_DOMAINS
