"""U-T&T on a tiny toy FLAIR #2 dataset: shapes, batch independence, modality dropout, the loss
weights, train/resume/predict/pack through the CLI, a 2-process gloo run, the demo, and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from typer.testing import CliRunner

import baseline.demo as demo_module
from baseline.checkpoint import load_checkpoint
from baseline.config import config_from_dict, load_config, with_overrides
from baseline.data import FlairDataset
from baseline.fusion import UTTSegmenter, build_network, footprint_pixels, utae_class_weights
from baseline.predict import predict
from baseline.sentinel import collate_with_series
from baseline.train import train
from scoring.classes import CLASS_NAMES
from scoring.errors import ConfigError, DataError
from scoring.evaluate import score_folders
from starting_kit.cli import app
from starting_kit.discovery import find_split
from starting_kit.toydata import generate_toy_dataset

UTT_CONFIG = """\
name: utt-test
dataset: flair2
data:
  split: official
  num_workers: 0
model:
  arch: unet
  encoder: resnet18
  decoder_channels: [16, 16, 8, 8, 8]
sentinel:
  patch_size: 16
  average_month: false
  encoder_widths: [8, 8, 16, 16]
  decoder_widths: [8, 8, 16, 16]
  n_head: 4
  d_model: 16
  d_k: 2
  drop_utae_modality: 0.2
optim:
  optimizer: adam
  lr: 0.01
  scheduler: none
epochs: 2
batch_size: 4
seed: 3
device: cpu
amp: off
monitor: val_miou
"""


@pytest.fixture(scope="session")
def flair2_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy FLAIR #2 dataset: 16 train patches (3 in official val domains), 4 test, 32 px."""
    root = tmp_path_factory.mktemp("flair2") / "data"
    generate_toy_dataset(root, dataset="flair2", seed=0, size=32, n_train=16, n_test=4)
    return root


@pytest.fixture
def utt_config(tmp_path: Path) -> Path:
    path = tmp_path / "utt.yaml"
    path.write_text(UTT_CONFIG, encoding="utf-8")
    return path


def invoke(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def tiny_model(config: Path, drop: float | None = None) -> UTTSegmenter:
    cfg = load_config(config)
    if drop is not None:
        cfg = with_overrides(cfg, **{"sentinel.drop_utae_modality": drop})
    torch.manual_seed(0)
    model = build_network(cfg, 5, "none")
    assert isinstance(model, UTTSegmenter)
    return model


def test_shapes_and_auxiliary_head(utt_config: Path) -> None:
    model = tiny_model(utt_config).eval()
    image, series = torch.rand(2, 5, 64, 64), torch.rand(2, 3, 10, 16, 16)
    days, mask = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool)
    with torch.no_grad():
        logits, aux = model(image, None, series, days, mask, with_aux=True)
        alone = model(image, None, series, days, mask)
    assert logits.shape == aux.shape == (2, 13, 64, 64)
    assert torch.equal(alone, logits)
    # 512 px at 0.2 m cover 10.24 Sentinel-2 pixels: IGN's 10x10 centre crop.
    assert footprint_pixels(512, 40) == 10 and footprint_pixels(32, 16) == 1


def test_prediction_alone_equals_prediction_in_a_batch(flair2_root: Path, utt_config: Path) -> None:
    cfg = load_config(utt_config)
    samples = find_split(flair2_root, "train", dataset="flair2")
    dataset = FlairDataset(samples, (1, 2, 3, 4, 5), with_masks=False, sentinel=cfg.sentinel)
    items = [dataset[i] for i in range(4)]
    lengths = {int(item["sentinel"].shape[0]) for item in items}
    assert len(lengths) > 1  # the batch mixes series lengths
    model = tiny_model(utt_config).eval()

    def run(batch_items: list[dict]) -> torch.Tensor:
        batch = collate_with_series(batch_items)
        with torch.no_grad():
            return model(
                batch["image"], None, batch["sentinel"], batch["dates"], batch["date_mask"]
            )

    together = run(items)
    for k, item in enumerate(items):
        assert torch.allclose(run([item])[0], together[k], atol=1e-5), k
    # Other samples' series (and their summaries) do not leak into sample 0.
    swapped = [items[0], *reversed(items[1:])]
    assert torch.allclose(run(swapped)[0], together[0], atol=1e-5)


def test_modality_dropout_only_in_training(utt_config: Path) -> None:
    image, series = torch.rand(4, 5, 32, 32), torch.rand(4, 2, 10, 16, 16)
    days, mask = torch.zeros(4, 2), torch.ones(4, 2, dtype=torch.bool)
    never, always = tiny_model(utt_config, drop=0.0), tiny_model(utt_config, drop=0.999999)
    always.load_state_dict(never.state_dict())
    with torch.no_grad():
        # Inference never drops the Sentinel-2 branch.
        assert torch.equal(
            never.eval()(image, None, series, days, mask),
            always.eval()(image, None, series, days, mask),
        )
        # Training with (almost) certain dropout is the aerial U-Net alone.
        always.train()
        net = always.aerial.net
        unet_alone = net.segmentation_head(net.decoder(net.encoder(image)))
        assert torch.allclose(always(image, None, series, days, mask), unet_alone, atol=1e-6)


def test_utae_loss_class_weights() -> None:
    weights = utae_class_weights(None)
    assert weights[CLASS_NAMES.index("plowed land")] == 0 and weights[-1] == 0
    assert weights.sum() == len(CLASS_NAMES) - 2
    assert utae_class_weights((0.5,) * 13).tolist() == [0.5] * 13


def test_configuration_errors(utt_config: Path) -> None:
    cfg = load_config(utt_config)
    with pytest.raises(
        ConfigError, match=r"sentinel.patch_size is 12; expected a multiple of 8, at least 16"
    ):
        with_overrides(cfg, **{"sentinel.patch_size": 12})
    with pytest.raises(ConfigError, match=r"sentinel.n_head is 3; expected a divisor"):
        with_overrides(cfg, **{"sentinel.n_head": 3})
    with pytest.raises(ConfigError, match=r"sentinel.utae_class_weights .* expected null or 13"):
        with_overrides(cfg, **{"sentinel.utae_class_weights": [1.0, 2.0]})
    with pytest.raises(
        ConfigError, match=r"sentinel.drop_utae_modality is 1.0; expected in \[0, 1\)"
    ):
        with_overrides(cfg, **{"sentinel.drop_utae_modality": 1.0})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'sentinel.patch'"):
        config_from_dict({"sentinel": {"patch": 8}})
    for name in ("flair2-baseline", "flair2-toy-cpu"):
        assert load_config(name).dataset == "flair2"


def test_flair2_data_errors(flair2_root: Path, utt_config: Path, tmp_path: Path) -> None:
    cfg = with_overrides(
        load_config(utt_config),
        **{"data.train": flair2_root / "flair-2-paths-train.csv", "out": tmp_path / "run"},
    )
    with pytest.raises(
        ConfigError, match=r"FLAIR #2 training takes the dataset root .* not a path csv"
    ):
        train(cfg)
    cfg = with_overrides(
        cfg, **{"data.train": flair2_root, "data.val": flair2_root / "flair-2-paths-val.csv"}
    )
    with pytest.raises(ConfigError, match=r"data.val \(--val\) takes a FLAIR #1 path csv"):
        train(cfg)
    bare = [replace(s, sentinel=None) for s in find_split(flair2_root, "train", dataset="flair2")]
    with pytest.raises(DataError, match=r"16 patch\(es\) have no Sentinel-2 files or centroid"):
        FlairDataset(bare, (1,), sentinel=cfg.sentinel)


@pytest.fixture(scope="session")
def trained_run(flair2_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of the tiny U-T&T through the CLI."""
    folder = tmp_path_factory.mktemp("utt-run")
    config = folder / "utt.yaml"
    config.write_text(UTT_CONFIG, encoding="utf-8")
    run = folder / "run"
    result = invoke("baseline", "train", "--config", config, "--data", flair2_root, "--output", run)
    assert result.exit_code == 0, result.output
    return run


def test_train_predict_pack_through_the_cli(
    trained_run: Path, flair2_root: Path, tmp_path: Path
) -> None:
    last = load_checkpoint(trained_run / "last.pt")
    assert last["epoch"] == 2 and last["config"]["dataset"] == "flair2"
    assert any(key.startswith("utae.ltae.positional") for key in last["model"])
    zip_path, out = tmp_path / "submission.zip", tmp_path / "pred"
    result = invoke(
        "baseline", "predict", "--checkpoint", trained_run / "best.pt", "--data", flair2_root,
        "--output", out, "--pack", zip_path, "--batch-size", "3", "--device", "cpu", "--tta",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"PRED_{s.tile:06d}.tif" for s in find_split(flair2_root, "test", dataset="flair2")
    )
    assert zip_path.is_file()
    report = score_folders(zip_path, flair2_root / "flair_2_labels_test")
    assert report.n_patches == 4


def test_predict_refuses_flair2_inputs_it_cannot_use(
    trained_run: Path, flair2_root: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"a FLAIR #2 model predicts a dataset root"):
        predict(trained_run / "best.pt", flair2_root / "flair-2-paths-test.csv", tmp_path / "a")
    with pytest.raises(ConfigError, match=r"context 'zone' is not available for FLAIR #2 models"):
        predict(trained_run / "best.pt", flair2_root, tmp_path / "b", context="zone")


def test_resume_continues_exactly(
    trained_run: Path, flair2_root: Path, tmp_path: Path, utt_config: Path
) -> None:
    run = tmp_path / "run"
    common = ("baseline", "train", "--config", utt_config, "--data", flair2_root, "--output", run)
    assert invoke(*common, "--epochs", "1").exit_code == 0
    resumed = invoke(*common, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    straight = load_checkpoint(trained_run / "last.pt")["model"]
    again = load_checkpoint(run / "last.pt")["model"]
    assert straight.keys() == again.keys()
    for key in straight:
        assert torch.equal(straight[key], again[key]), key


def test_unet_only_mode_on_flair2_data(flair2_root: Path, utt_config: Path, tmp_path: Path) -> None:
    cfg = with_overrides(
        load_config(utt_config),
        **{
            "data.train": flair2_root,
            "out": tmp_path / "run",
            "epochs": 1,
            "sentinel.enabled": False,
        },
    )
    result = train(cfg)
    state = load_checkpoint(result.last_checkpoint)["model"]
    assert not any(key.startswith("utae.") for key in state)
    done = predict(result.best_checkpoint, flair2_root, tmp_path / "pred", device="cpu")
    assert done.n_tiles == 4


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")
def test_two_processes_with_gloo(flair2_root: Path, utt_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "starting_kit", "baseline", "train", "--config", str(utt_config), "--data", str(flair2_root),
        "--output", str(run), "--epochs", "1", "--batch-size", "2", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best checkpoint: ") == 1
    last = load_checkpoint(run / "last.pt")
    assert last["epoch"] == 1 and len(last["rng"]) == 2


def test_demo_flair2_through_the_cli(
    utt_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = utt_config.read_text(encoding="utf-8").replace("epochs: 2", "epochs: 1")
    utt_config.write_text(text, encoding="utf-8")
    monkeypatch.setattr(demo_module, "FLAIR2_DEMO_CONFIG", str(utt_config))
    monkeypatch.setattr(demo_module, "FLAIR2_DEMO_PATCH_SIZE", 32)
    result = invoke("demo", "--output", tmp_path / "demo", "--dataset", "flair2", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "mIoU" in result.output
    assert (tmp_path / "demo" / "submission.zip").is_file()
    assert (tmp_path / "demo" / "data" / "flair_sen_train").is_dir()
