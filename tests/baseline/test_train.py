"""The training loop: outputs, exact resume, early stopping, the official metric, errors."""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import baseline.train as train_module
from baseline.checkpoint import load_checkpoint, save_checkpoint
from baseline.config import config_from_dict, with_overrides
from baseline.train import class_weights, train, weighted_ce_sums
from scoring.classes import CLASS_NAMES, NUM_CLASSES
from scoring.errors import (
    ConfigError,
    DataError,
    MissingFileError,
    OutputExistsError,
    describe_os_error,
)
from starting_kit import __version__
from starting_kit.pathlists import format_path_list

from .conftest import TEST_CONFIG


def config(root: Path, out: Path, **overrides: object):
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    return with_overrides(cfg, **{"data.train": root, "out": out, **overrides})


@pytest.fixture
def run(tiny_model, flair_root: Path, tmp_path: Path):
    """A finished 2-epoch tiny run."""
    return train(config(flair_root, tmp_path / "run"))


def test_run_folder_contents(run) -> None:
    folder = run.run_dir
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.pt",
        "config.yaml",
        "last.pt",
        "metrics.csv",
        "split.json",
        "training_curves.png",
    ]
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {
        "train_loss",
        "val_loss",
        "val_miou",
        "lr",
        "train_images_per_s",
        "iou_building",
    } <= set(rows[0])
    split = json.loads((folder / "split.json").read_text())
    assert split["val_domains"] == ["D004_2021", "D014_2020"]
    assert not set(split["train_domains"]) & set(split["val_domains"])
    assert run.epochs_run == 2 and len(run.history) == 2


def test_checkpoint_is_self_describing(run) -> None:
    best = load_checkpoint(run.best_checkpoint)
    assert best["classes"] == list(CLASS_NAMES)
    assert best["flair_kit_version"] == __version__
    assert best["config"]["data"]["bands"] == [1, 2, 3, 4, 5]
    assert best["epoch"] == run.best_epoch
    assert "optimizer" not in best  # weights + config only
    last = load_checkpoint(run.last_checkpoint)
    assert {"optimizer", "scheduler", "rng", "early_stopping"} <= set(last)
    assert last["epoch"] == 2


def test_no_partial_files_are_left(run) -> None:
    assert not [p for p in run.run_dir.iterdir() if p.name.endswith(".partial")]


def test_resume_continues_exactly(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    straight = train(config(flair_root, tmp_path / "straight"))
    train(config(flair_root, tmp_path / "split", epochs=1))
    resumed = train(config(flair_root, tmp_path / "split"), resume=True)
    a = load_checkpoint(straight.last_checkpoint)
    b = load_checkpoint(resumed.last_checkpoint)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in ("train_loss", "val_loss", "val_miou", "lr", "val_iou"):
        # NaN (a class absent from truth and prediction) equals NaN here.
        np.testing.assert_array_equal(
            [r[key] for r in a["history"]], [r[key] for r in b["history"]]
        )
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][index]["exp_avg"])
    csv_rows = list(csv.DictReader((resumed.run_dir / "metrics.csv").open()))
    assert [r["epoch"] for r in csv_rows] == ["1", "2"]


def test_resume_refuses_a_changed_configuration(
    tiny_model, flair_root: Path, tmp_path: Path
) -> None:
    train(config(flair_root, tmp_path / "run", epochs=1))
    with pytest.raises(
        ConfigError,
        match=r"--resume needs the configuration of the run, but optim.lr: run 0.01, now 0.02",
    ):
        train(config(flair_root, tmp_path / "run", **{"optim.lr": 0.02}), resume=True)


def test_resume_of_a_finished_run(run) -> None:
    cfg = config(Path(run.run_dir).parent, run.run_dir)
    cfg = with_overrides(
        cfg, **{"data.train": load_checkpoint(run.last_checkpoint)["config"]["data"]["train"]}
    )
    with pytest.raises(
        ConfigError, match=r"already completed 2 of 2 epochs; pass --epochs N with N > 2"
    ):
        train(cfg, resume=True)


def test_resume_without_a_run(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=r"nothing to resume \(no last.pt\); start the run without --resume"
    ):
        train(config(flair_root, tmp_path / "empty"), resume=True)


def test_existing_run_is_not_overwritten(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    train(config(flair_root, tmp_path / "run", epochs=1))
    with pytest.raises(
        OutputExistsError, match=r"holds a previous run \(last.pt\); pass --resume .* --overwrite"
    ):
        train(config(flair_root, tmp_path / "run", epochs=1))
    assert train(config(flair_root, tmp_path / "run", epochs=1), overwrite=True).epochs_run == 1


def test_early_stopping(
    tiny_model, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confusion = np.eye(NUM_CLASSES, dtype=np.int64)
    monkeypatch.setattr(train_module, "evaluate", lambda *args, **kwargs: (confusion, 1.0))
    result = train(config(flair_root, tmp_path / "run", epochs=10, early_stopping_patience=2))
    assert result.stopped_early
    assert result.epochs_run == 3 and result.best_epoch == 1
    assert load_checkpoint(result.best_checkpoint)["epoch"] == 1


def test_validation_miou_is_the_official_score(
    tiny_model, flair_root: Path, tmp_path: Path
) -> None:
    """Predicting the validation patches and scoring them officially gives the logged val mIoU."""
    from baseline.predict import predict
    from scoring.evaluate import score_folders

    result = train(config(flair_root, tmp_path / "run", epochs=1))
    val_list = tmp_path / "val.csv"
    split = json.loads((result.run_dir / "split.json").read_text())
    rows = [
        (f"x/{d}/{z}/img/{n}.tif", f"x/{d}/{z}/msk/{n.replace('IMG', 'MSK')}.tif")
        for d, z, n in _located(flair_root, split["val"])
    ]
    val_list.write_text(format_path_list(rows), encoding="utf-8")
    predict(
        result.last_checkpoint,
        val_list,
        tmp_path / "pred",
        amp="off",
        num_workers=0,
        csv_root=flair_root,
    )
    report = score_folders(tmp_path / "pred", flair_root / "flair_labels_train", subset=True)
    assert report.miou == pytest.approx(result.history[-1].val_miou, abs=1e-12)


def _located(root: Path, names: list) -> list:
    found = []
    for name in names:
        (path,) = (root / "flair_aerial_train").glob(f"*/*/img/{name}.tif")
        found.append((path.parts[-4], path.parts[-3], name))
    return found


def test_training_from_official_csv_lists(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    images = sorted((flair_root / "flair_aerial_train").glob("*/*/img/IMG_*.tif"))

    def row(path: Path) -> tuple:
        d, z, name = path.parts[-4], path.parts[-3], path.name
        return (
            f"../flair_aerial_train/{d}/{z}/img/{name}",
            f"../flair_labels_train/{d}/{z}/msk/{name.replace('IMG', 'MSK')}",
        )

    val_domains = {"D004_2021", "D014_2020"}
    (tmp_path / "train.csv").write_text(
        format_path_list([row(p) for p in images if p.parts[-4] not in val_domains])
    )
    (tmp_path / "val.csv").write_text(
        format_path_list([row(p) for p in images if p.parts[-4] in val_domains])
    )
    cfg = config(
        tmp_path / "train.csv",
        tmp_path / "run",
        epochs=1,
        **{"data.val": tmp_path / "val.csv", "data.csv_root": flair_root},
    )
    result = train(cfg)
    split = json.loads((result.run_dir / "split.json").read_text())
    assert split["strategy"] == "explicit" and split["val_domains"] == sorted(val_domains)


def test_weighted_loss_ignores_other_and_never_nans() -> None:
    weight = class_weights(0.0, torch.device("cpu"))
    logits = torch.randn(2, NUM_CLASSES, 4, 4)
    target = torch.randint(0, 12, (2, 4, 4))
    target[0, 0, 0] = 12
    loss_sum, weight_sum = weighted_ce_sums(logits, target, weight)
    keep = target != 12
    expected = torch.nn.functional.cross_entropy(
        logits.permute(0, 2, 3, 1)[keep], target[keep], reduction="sum"
    )
    assert torch.allclose(loss_sum, expected) and float(weight_sum) == keep.sum()
    assert torch.allclose(
        loss_sum / weight_sum, torch.nn.functional.cross_entropy(logits, target, weight=weight)
    )
    only_other = torch.full((1, 4, 4), 12)
    total, count = weighted_ce_sums(logits[:1], only_other, weight)
    assert float(total / count.clamp_min(1.0)) == 0.0


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"batch_size": 64},
            ConfigError,
            r"batch_size is 64 but each of the 1 process\(es\) gets only 9 training patches",
        ),
        ({"data.split": "random", "data.val_fraction": 0.99}, None, None),
        ({"device": "cuda"}, ConfigError, r"device is 'cuda' but torch sees no CUDA device"),
        (
            {"amp": "fp16"},
            ConfigError,
            r"amp is 'fp16', which is for GPUs; on CPU use bf16, auto or off",
        ),
    ],
)
def test_option_errors(
    tiny_model, flair_root: Path, tmp_path: Path, overrides: dict, error, message
) -> None:
    if overrides.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    cfg = config(flair_root, tmp_path / "run", epochs=1, **overrides)
    if error is None:
        assert train(cfg).epochs_run == 1
        return
    with pytest.raises(error, match=message):
        train(cfg)


def test_data_errors(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    cfg = config(flair_root, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"no training data: pass --data"):
        train(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=None)))
    with pytest.raises(ConfigError, match=r"no run folder: pass --output DIR"):
        train(dataclasses.replace(cfg, out=None))
    with pytest.raises(
        ConfigError, match=r"not a FLAIR dataset root \(no flair_aerial_train/ folder\)"
    ):
        train(config(flair_root / "flair_aerial_train", tmp_path / "run"))
    with pytest.raises(MissingFileError, match=r"training data not found"):
        train(config(tmp_path / "absent", tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"data.val must be an official path csv"):
        train(config(flair_root, tmp_path / "run", **{"data.val": flair_root}))


def test_metadata_model_needs_the_json(flair_root: Path, make_tree, tmp_path: Path) -> None:
    bare = make_tree("bare", metadata=False)
    cfg = config(bare, tmp_path / "run", epochs=1, **{"model.use_metadata": True})
    with pytest.raises(
        ConfigError, match=r"model.use_metadata is true but no aerial metadata JSON was found"
    ):
        train(cfg)


def test_real_unet_with_metadata_trains(flair_root: Path, tmp_path: Path) -> None:
    """The smp U-Net (small decoder) with metadata fusion, one epoch on 32-pixel patches."""
    cfg = config(
        flair_root,
        tmp_path / "run",
        epochs=1,
        **{"model.use_metadata": True, "model.metadata_encoding": "official"},
    )
    result = train(cfg)
    assert math.isfinite(result.history[0].train_loss)
    state = load_checkpoint(result.best_checkpoint)["model"]
    assert any(key.startswith("metadata_mlp.") for key in state)


def test_patch_size_must_fit_the_encoder(make_tree, tmp_path: Path) -> None:
    root = make_tree("odd", size=40)
    with pytest.raises(
        DataError, match=r"patches are 40x40 but the model needs sizes divisible by 32"
    ):
        train(config(root, tmp_path / "run", epochs=1))


def test_a_full_disk_at_the_checkpoint_is_an_os_error_naming_it(
    tiny_model, checkpoint_disk_full, flair_root: Path, tmp_path: Path
) -> None:
    """torch.save reports its writer's ENOSPC as a RuntimeError; the errno and file come back,
    no partial file is left, and the new run folder is removed (nothing to resume)."""
    run_dir = tmp_path / "new" / "run"
    with pytest.raises(OSError) as caught:
        train(config(flair_root, run_dir, epochs=1))
    assert not isinstance(caught.value, RuntimeError)
    assert caught.value.errno == errno.ENOSPC
    assert describe_os_error(caught.value).startswith(
        f"{run_dir / 'best.pt'}: the disk is full (No space left on device); free space"
    )
    assert list(tmp_path.iterdir()) == []


def test_save_checkpoint_keeps_the_errno_and_leaves_no_partial_file(
    checkpoint_disk_full, tmp_path: Path
) -> None:
    with pytest.raises(OSError) as caught:
        save_checkpoint(tmp_path / "x.pt", {"weights": torch.zeros(4096)})
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "x.pt"))
    assert list(tmp_path.iterdir()) == []


def test_a_refused_encoder_leaves_a_new_run_folder_unmade(flair_root: Path, tmp_path: Path) -> None:
    """The network is built (and its encoder refused) before config.yaml and split.json."""
    with pytest.raises(ConfigError, match=r"model.encoder is 'nosuch', .* such as resnet18"):
        train(config(flair_root, tmp_path / "new" / "run", **{"model.encoder": "nosuch"}))
    assert list(tmp_path.iterdir()) == []


def test_a_refused_run_in_an_existing_folder_writes_nothing_there(
    make_tree, tmp_path: Path
) -> None:
    root = make_tree("odd", size=40)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(DataError, match=r"patches are 40x40"):
        train(config(root, tmp_path / "run", epochs=1))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes.txt"]


def test_a_negative_seed_is_refused_before_the_run_folder_is_made(
    flair_root: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from starting_kit.cli import app

    argv = ["baseline", "train", "--config", "flair1-toy-cpu", "--data", str(flair_root)]
    result = CliRunner().invoke(app, [*argv, "--output", str(tmp_path / "run"), "--seed", "-1"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "error: command-line overrides: seed is -1; expected an integer from 0 to 4294967295"
    ]
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_encoder_names_the_config_file_and_key(flair_root: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from starting_kit.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text(TEST_CONFIG.replace("encoder: resnet18", "encoder: nosuch"), encoding="utf-8")
    argv = ["baseline", "train", "--config", str(path), "--data", str(flair_root)]
    result = CliRunner().invoke(app, [*argv, "--output", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: model.encoder is 'nosuch', which "), line
    assert "such as resnet18, resnet34, resnet50, efficientnet-b0" in line
    assert "densenet" not in line  # a few names, not smp's whole list
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_checkpoint_that_is_no_file_says_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "dir.pt").mkdir()
    os.mkfifo(tmp_path / "pipe.pt")  # opened, it would block forever without a writer
    os.symlink("loop.pt", tmp_path / "loop.pt")
    for name, what in [
        ("dir.pt", "is a folder"),
        ("pipe.pt", r"is a FIFO \(named pipe\)"),
        ("loop.pt", r"cannot be read \(Too many levels of symbolic links\)"),
        ("absent.pt", "not found"),
    ]:
        with pytest.raises(MissingFileError, match=rf"{name}: checkpoint {what}; give best.pt"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(MissingFileError, match=r"/dev/zero: checkpoint is a character device"):
        load_checkpoint(Path("/dev/zero"))
