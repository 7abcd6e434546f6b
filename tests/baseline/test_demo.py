"""The end-to-end demo: every output, and score.json in the `flair-kit score --json` format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import baseline.demo as demo_module
from baseline.demo import run_demo
from scoring.errors import ConfigError, OutputExistsError
from starting_kit.cli import app


@pytest.fixture
def quick_demo(tiny_model, test_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """32-pixel toy patches and the tiny network: the demo's plumbing in seconds."""
    monkeypatch.setattr(demo_module, "DEMO_PATCH_SIZE", 32)
    monkeypatch.setattr(demo_module, "DEMO_CONFIG", str(test_config))


def test_demo_writes_everything_and_scores(quick_demo, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = run_demo(workdir, device="cpu")
    assert sorted(p.name for p in workdir.iterdir()) == [
        "data",
        "predictions",
        "run",
        "score.json",
        "submission.zip",
    ]
    assert result.checkpoint == workdir / "run" / "best.pt" and result.checkpoint.is_file()
    assert result.report.n_patches == 50  # IGN's 50 toy test patches
    saved = json.loads((workdir / "score.json").read_text())
    assert saved == json.loads(json.dumps(result.report.to_dict()))
    # Byte for byte what `flair-kit score --json` writes for the same submission.
    reference = tmp_path / "reference.json"
    scored = CliRunner().invoke(
        app,
        [
            "score",
            str(workdir / "submission.zip"),
            str(workdir / "data" / "flair_1_labels_test"),
            "--json",
            str(reference),
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert (workdir / "score.json").read_text() == reference.read_text()


def test_demo_overwrite(quick_demo, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    run_demo(workdir, device="cpu")
    (workdir / "notes.txt").write_text("mine")
    with pytest.raises(
        OutputExistsError,
        match=r"holds a previous demo \(data, run, predictions, submission.zip, score.json\)",
    ):
        run_demo(workdir, device="cpu")
    run_demo(workdir, device="cpu", overwrite=True)
    assert (workdir / "notes.txt").read_text() == "mine"  # only the demo's own outputs are replaced


def test_demo_datasets() -> None:
    with pytest.raises(ConfigError, match=r"dataset is 'flair3'; expected flair1 or flair2"):
        run_demo(Path("unused"), "flair3")


def test_demo_cli_prints_the_table_and_the_paths(quick_demo, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--output", str(tmp_path / "demo"), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "mIoU (official, classes 0..11)" in result.stdout
    assert f"score report    {tmp_path / 'demo' / 'score.json'}" in result.stdout


@pytest.mark.slow
def test_real_demo_reaches_the_target(tmp_path: Path) -> None:
    """The shipped demo (U-Net/ResNet34, 64-pixel toy patches): toy-test mIoU of at least 0.5."""
    result = CliRunner().invoke(
        app, ["demo", "--output", str(tmp_path / "demo"), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    score = json.loads((tmp_path / "demo" / "score.json").read_text())
    assert score["miou"] >= 0.5
