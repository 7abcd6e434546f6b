"""`flair-kit score`, `--version`, `--show-versions` and the root help, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from scoring.evaluate import score_folders
from starting_kit import __version__
from starting_kit.cli import StderrProgress, app

EXAMPLE = Path(__file__).resolve().parents[2] / "submissions" / "example"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_score_prints_the_table_and_writes_the_json(runner: CliRunner, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "score",
            str(EXAMPLE / "submission.zip"),
            str(EXAMPLE / "reference"),
            "--json",
            str(report_path),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mIoU (official, classes 0..11): 0.44888" in result.stdout
    assert "D012_2019" in result.stdout and "other (not in mIoU)" in result.stdout
    data = json.loads(report_path.read_text())
    assert data == score_folders(EXAMPLE / "submission.zip", EXAMPLE / "reference").to_dict()
    assert data["per_class"][0]["name"] == "building"
    assert len(data["confusion_matrix"]) == 13 and len(data["confusion_matrix"][0]) == 13
    assert [d["domain"] for d in data["per_domain"]][:2] == ["D012_2019", "D022_2021"]
    assert not list(tmp_path.glob(".*partial"))


def test_score_refuses_an_invalid_submission_with_one_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    preds = tmp_path / "preds"
    preds.mkdir()
    for path in sorted((EXAMPLE / "predictions").iterdir())[:-1]:
        (preds / path.name).write_bytes(path.read_bytes())
    result = runner.invoke(
        app, ["score", str(preds), str(EXAMPLE / "reference"), "--json", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: missing predictions for 1 of 8 ids: 076041;")
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.json").exists()


def test_score_subset_warns_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    preds.mkdir()
    first = min((EXAMPLE / "predictions").iterdir())
    (preds / first.name).write_bytes(first.read_bytes())
    result = runner.invoke(app, ["score", str(preds), str(EXAMPLE / "reference"), "--subset"])
    assert result.exit_code == 0
    assert "warning: --subset: 7 reference ids have no prediction" in result.stderr
    assert "patches: 1" in result.stdout


def test_score_warns_about_dropped_pixels(runner: CliRunner, tmp_path: Path) -> None:
    Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "MSK_000001.tif")
    preds = tmp_path / "p"
    preds.mkdir()
    Image.fromarray(np.full((4, 4), 13, np.uint8)).save(preds / "PRED_000001.tif")
    result = runner.invoke(app, ["score", str(preds), str(tmp_path)])
    assert result.exit_code == 0
    assert (
        "warning: 16 prediction pixels hold values outside 0..12 and were dropped" in result.stderr
    )


def test_score_missing_path(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(tmp_path / "nope.zip"), str(tmp_path)])
    assert result.exit_code == 1
    assert "nope.zip: not found; expected a folder of PRED files or a .zip" in result.stderr


def test_score_usage_error_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["score", "only-one"])
    assert result.exit_code == 2


def test_version_and_show_versions(runner: CliRunner) -> None:
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"flair-kit {__version__}"
    shown = runner.invoke(app, ["--show-versions"]).stdout
    assert f"flair-kit {__version__}" in shown and "numpy" in shown and "PIL" in shown


def test_root_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("score", "validate", "pack", "toy-data", "baseline", "demo", "bundle"):
        assert command in result.stdout


def test_progress_bar_draws_on_stderr_only_for_long_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    short = StderrProgress("scoring", threshold=10, force=True)
    short(1, 5)
    short.close()
    assert capsys.readouterr().err == ""
    long = StderrProgress("scoring", threshold=10, force=True)
    for done in (10, 20):
        long(done, 20)
    long.close()
    captured = capsys.readouterr()
    assert "scoring" in captured.err and captured.out == ""
