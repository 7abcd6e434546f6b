"""Prediction speed and its declaration: model and wall time, --budget, --timings, --compile, writers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import baseline.predict
from baseline.budget import budget_warning, parse_duration
from baseline.predict import CompileFallbackWarning, predict
from baseline.writers import PredictionWriters, WriterError, default_writers
from scoring.errors import ConfigError, DataError
from starting_kit.cli import app

runner = CliRunner()


def invoke(*args: Any):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _tiny(tiny_model) -> None:
    """Prediction rebuilds the tiny network too."""


def predict_cli(checkpoint: Path, data: Path, out: Path, *extra: Any):
    return invoke(
        "baseline", "predict", "--checkpoint", checkpoint, "--data", data, "--output", out,
        "--device", "cpu", "--workers", "0", "--batch-size", "3", *extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("25m", 1500.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5h", 5400.0),
        (" 2M ", 120.0),
        (".5m", 30.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "25 minutes", "m", "-5m", "0", "1d", "1e3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration; expected a positive number"):
        parse_duration(text)


def test_budget_warning_only_over_budget() -> None:
    assert budget_warning(1500.0, 1500.0, "25m") is None
    assert budget_warning(2.5, 1.0, "1s") == (
        "warning: wall time 2.5 s exceeds the budget 1s (1 s) by 1.5 s"
    )


def test_result_reports_model_and_wall_time(
    checkpoint: Path, flair_root: Path, tmp_path: Path
) -> None:
    result = predict(
        checkpoint, flair_root, tmp_path / "pred", num_workers=0, batch_size=3,
        pack=tmp_path / "sub.zip",
    )  # fmt: skip
    assert result.model_s is not None and 0 < result.model_s <= result.seconds
    assert result.seconds < result.wall_s  # the wall includes loading and packing
    assert result.read_wait_s >= 0 and result.write_wait_s >= 0
    assert (result.batch_size, result.workers, result.writers) == (3, 0, "2 threads")
    text = baseline.predict.render_predict_result(result)
    assert f"wall time {result.wall_s:.1f} s (whole run)" in text
    assert f"model time {result.model_s:.1f} s (forward passes)" in text


def test_cli_budget_and_timings(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    timings = tmp_path / "logs" / "timings.json"
    done = predict_cli(
        checkpoint, flair_root, tmp_path / "pred", "--pack", tmp_path / "sub.zip",
        "--budget", "25m", "--timings", timings,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "wall time " in done.stdout and "model time " in done.stdout
    assert "budget" not in done.stderr
    record = json.loads(timings.read_text())
    n_tiles = len(list((tmp_path / "pred").iterdir()))
    assert record["n_tiles"] == n_tiles
    assert 0 < record["model_s"] <= record["loop_s"] < record["wall_s"]
    assert record["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert record["checkpoint"] == str(checkpoint)
    assert (record["device"], record["batch_size"], record["workers"]) == ("cpu", 3, 0)
    assert {
        "amp",
        "tta",
        "compiled",
        "writers",
        "tiles_per_s",
        "read_wait_s",
        "write_wait_s",
    } <= set(record)
    assert [p.name for p in timings.parent.iterdir()] == ["timings.json"]  # no temporaries


def test_cli_over_budget_warns_and_exits_0(
    checkpoint: Path, flair_root: Path, tmp_path: Path
) -> None:
    done = predict_cli(checkpoint, flair_root, tmp_path / "pred", "--budget", "0.001s")
    assert done.exit_code == 0, done.output
    (line,) = [line for line in done.stderr.splitlines() if "budget" in line]
    assert line.startswith("warning: wall time ") and "exceeds the budget 0.001s" in line


def test_cli_bad_budget_is_a_usage_error(
    checkpoint: Path, flair_root: Path, tmp_path: Path
) -> None:
    done = predict_cli(checkpoint, flair_root, tmp_path / "pred", "--budget", "25 minutes")
    assert done.exit_code == 2
    assert "'25 minutes' is not a duration" in done.stderr
    assert not (tmp_path / "pred").exists()


@pytest.mark.parametrize("where", ["inside", "output", "pack"])
def test_timings_never_go_into_the_submission(
    checkpoint: Path, flair_root: Path, tmp_path: Path, where: str
) -> None:
    out, pack = tmp_path / "pred", tmp_path / "sub.zip"
    timings = {"inside": out / "timings.json", "output": out, "pack": pack}[where]
    done = predict_cli(checkpoint, flair_root, out, "--pack", pack, "--timings", timings)
    assert done.exit_code == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "--timings is" in line
    assert not out.exists() and not pack.exists()


def test_compile_runs_the_compiled_model(
    checkpoint: Path, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[torch.nn.Module] = []

    def fake_compile(model: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
        calls.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    plain = predict(checkpoint, flair_root, tmp_path / "plain", num_workers=0)
    result = predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, compile_model=True)
    assert len(calls) == 1 and result.compiled
    for path in (tmp_path / "plain").iterdir():
        assert (tmp_path / "pred" / path.name).read_bytes() == path.read_bytes()
    assert not plain.compiled


def test_compile_failure_falls_back_with_a_warning(
    checkpoint: Path, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model
            self.output_stride = model.output_stride
            self.uses_metadata = model.uses_metadata

        def forward(self, *args: Any) -> torch.Tensor:
            raise RuntimeError("backend compiler failed\nlong traceback")

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: Broken(model))
    plain = predict(checkpoint, flair_root, tmp_path / "plain", num_workers=0)
    with pytest.warns(CompileFallbackWarning, match=r"--compile failed \(RuntimeError: backend "):
        result = predict(
            checkpoint, flair_root, tmp_path / "pred", num_workers=0, compile_model=True
        )
    assert result.n_tiles == plain.n_tiles
    for path in (tmp_path / "plain").iterdir():
        assert (tmp_path / "pred" / path.name).read_bytes() == path.read_bytes()


def test_a_failing_writer_publishes_nothing(
    checkpoint: Path, flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import baseline.writers

    def broken(path: Path, classes: np.ndarray) -> None:
        raise DataError(f"{path.name}: cannot encode")

    monkeypatch.setattr(baseline.writers, "write_prediction", broken)
    done = predict_cli(checkpoint, flair_root, tmp_path / "pred", "--timings", tmp_path / "t.json")
    assert done.exit_code == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: PRED_") and line.endswith(": cannot encode")
    assert not (tmp_path / "pred").exists() and not (tmp_path / "t.json").exists()
    assert list(tmp_path.iterdir()) == []  # nor any scratch folder


def maps(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 13, (n, 16, 16), dtype=np.uint8)


def test_writer_processes_write_official_files(tmp_path: Path) -> None:
    targets = [tmp_path / f"PRED_{i:06d}.tif" for i in range(5)]
    arrays = maps(5)
    with PredictionWriters("process", 2) as writers:
        writers.submit(targets, arrays, [Path("unused")] * 5)
    for target, array in zip(targets, arrays, strict=True):
        with Image.open(target) as image:
            assert np.array_equal(np.asarray(image), array)


def test_writer_process_errors_come_back_as_they_are(tmp_path: Path) -> None:
    arrays = maps(2)
    arrays[1, 0, 0] = 13  # out of range: the official writer's own check
    writers = PredictionWriters("process", 2)
    with (
        pytest.raises(DataError, match=r"values 0\.\.13; expected class indices 0\.\.12"),
        writers,
    ):
        writers.submit([tmp_path / "PRED_000001.tif", tmp_path / "PRED_000002.tif"], arrays, [])


def test_a_dead_writer_process_is_one_clear_error(tmp_path: Path) -> None:
    writers = PredictionWriters("process", 1)
    future = writers._pool.submit(__import__("os")._exit, 3)
    writers._pending.append(future)
    with pytest.raises(WriterError, match="a PRED writer process died"):
        writers.close()


def test_default_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    import baseline.writers

    assert default_writers("cpu", 0) == ("thread", 2)
    monkeypatch.setattr(baseline.writers, "usable_cores", lambda: 16)
    assert default_writers("cuda", 10) == ("process", 5)
    monkeypatch.setattr(baseline.writers, "usable_cores", lambda: 4)
    assert default_writers("cuda", 2) == ("process", 2)


def test_bad_writer_count(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="writers is 0; expected at least 1"):
        predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, num_writers=0)


def test_writer_processes_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, baseline.writers; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"  # each spawned writer imports this module


def test_writer_processes_that_cannot_start_fall_back_to_threads(tmp_path: Path) -> None:
    from baseline.writers import WriterFallbackWarning

    writers = PredictionWriters("process", 1)
    writers._probes.append(writers._pool.submit(__import__("os")._exit, 3))  # a child that dies
    with pytest.warns(WriterFallbackWarning, match="writing with 2 threads instead"), writers:
        writers.submit([tmp_path / "PRED_000001.tif"], maps(1), [])
    assert (writers.kind, writers.workers) == ("thread", 2)
    assert (tmp_path / "PRED_000001.tif").is_file()


def _copy_of(path: Path, target: Path) -> Path:
    target.write_bytes(path.read_bytes())
    return target


@pytest.mark.parametrize("what", ["checkpoint", "dataset file", "existing file"])
def test_timings_never_replace_an_input_or_an_existing_file(
    checkpoint: Path, make_tree, tmp_path: Path, what: str
) -> None:
    root = make_tree("data", per_zone=1)
    own = _copy_of(checkpoint, tmp_path / "ck.pt")
    timings = {
        "checkpoint": own,
        "dataset file": root / "flair-1_metadata_aerial.json",
        "existing file": tmp_path / "t.json",
    }[what]
    if what == "existing file":
        timings.write_text("an earlier run")
    before = timings.read_bytes()
    out = tmp_path / "pred"
    done = predict_cli(own, root, out, "--timings", timings)
    assert done.exit_code == 1, done.output
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {timings}" if what == "existing file" else "error: "), line
    assert ("pass --overwrite" if what == "existing file" else "--timings would") in line
    assert timings.read_bytes() == before and not out.exists()
    if what == "existing file":
        assert predict_cli(own, root, out, "--timings", timings, "--overwrite").exit_code == 0
        assert json.loads(timings.read_text())["n_tiles"] == 2


@pytest.mark.parametrize("option", ["--timings", "--pack"])
@pytest.mark.parametrize("bad", ["under a file", "a device", "a symlink loop"])
def test_bad_destinations_fail_before_predicting(
    checkpoint: Path, flair_root: Path, tmp_path: Path, option: str, bad: str
) -> None:
    if bad == "a symlink loop":
        (tmp_path / "l1").symlink_to(tmp_path / "l2")
        (tmp_path / "l2").symlink_to(tmp_path / "l1")
    target = {
        "under a file": checkpoint / "t.json",
        "a device": Path("/dev/null"),
        "a symlink loop": tmp_path / "l1",
    }[bad]
    out = tmp_path / "pred"
    done = predict_cli(checkpoint, flair_root, out, option, target)
    assert done.exit_code == 1, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.output and "predicted" not in done.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["l1", "l2"] if bad == "a symlink loop" else []
    )
