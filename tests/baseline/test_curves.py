"""The training-curves PNG beside metrics.csv: drawn each epoch, headless, never fatal."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import baseline.curves
from baseline.config import config_from_dict, with_overrides
from baseline.curves import CURVES_NAME, CurvesWarning, training_curves_png
from baseline.train import EpochRecord, train

from .conftest import TEST_CONFIG


def config(root: Path, out: Path, **overrides: object):
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    return with_overrides(cfg, **{"data.train": root, "out": out, **overrides})


def record(epoch: int, miou: float = 0.3) -> EpochRecord:
    return EpochRecord(epoch, 1.0 / epoch, 1.2 / epoch, miou, 0.01 / epoch, 10.0, 1.0, ())


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_png_of_a_history() -> None:
    png = training_curves_png([record(1), record(2, math.nan), record(3)])
    image = pixels(png)
    assert image.shape == (360, 1200, 3)
    assert (image != 255).any(axis=2).mean() > 0.02  # axes, titles and lines were drawn
    single = pixels(training_curves_png([record(1)]))  # one epoch: markers, not an empty plot
    assert single.shape == image.shape


def test_each_epoch_rewrites_the_png_beside_metrics_csv(
    tiny_model, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[int] = []
    original = baseline.curves.training_curves_png

    def counting(history):  # type: ignore[no-untyped-def]
        drawn.append(len(history))
        return original(history)

    monkeypatch.setattr(baseline.curves, "training_curves_png", counting)
    result = train(config(flair_root, tmp_path / "run", epochs=1))
    train(config(flair_root, tmp_path / "run", epochs=2), resume=True)
    assert drawn == [1, 2]  # after each epoch, from the whole history (resume included)
    path = result.run_dir / CURVES_NAME
    assert (result.run_dir / "metrics.csv").is_file()
    assert Image.open(path).format == "PNG"
    assert not [p for p in result.run_dir.iterdir() if p.name.startswith(f".{CURVES_NAME}")]


def test_a_plotting_failure_is_a_warning(
    tiny_model, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(history):  # type: ignore[no-untyped-def]
        raise RuntimeError("no fonts")

    monkeypatch.setattr(baseline.curves, "training_curves_png", broken)
    with pytest.warns(
        CurvesWarning,
        match=r"training_curves.png: training curves not written "
        r"\(RuntimeError: no fonts\); training goes on",
    ):
        result = train(config(flair_root, tmp_path / "run", epochs=1))
    assert result.epochs_run == 1
    assert not (result.run_dir / CURVES_NAME).exists()
    assert (result.run_dir / "last.pt").is_file() and (result.run_dir / "metrics.csv").is_file()


def test_drawn_without_a_display_whatever_the_backend(tmp_path: Path) -> None:
    """A GUI backend in the environment and no DISPLAY: the Agg canvas still draws, and pyplot
    (global state, GUI event loops) is never imported."""
    code = (
        "import sys\n"
        "from baseline.curves import training_curves_png\n"
        "from baseline.train import EpochRecord\n"
        "png = training_curves_png([EpochRecord(1, 1.0, 1.0, 0.5, 0.1, 1.0, 1.0, ())])\n"
        "assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "TkAgg"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
