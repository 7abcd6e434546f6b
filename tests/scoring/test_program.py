"""The scoring program run as CodaLab runs it: a subprocess on an INPUT/OUTPUT tree."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.evaluate import score_folders
from scoring.render import LEADERBOARD_KEYS

REPO = Path(__file__).resolve().parents[2]


def run_program(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the tests assert the exit status
    )


@pytest.fixture
def run_tree(tmp_path: Path, example_submission: Path, example_truth: Path) -> Path:
    shutil.copytree(example_truth, tmp_path / "input" / "ref")
    shutil.copytree(example_submission, tmp_path / "input" / "res")
    (tmp_path / "output").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "entry", [["-m", "scoring"], [str(REPO / "scoring" / "score.py")]], ids=["module", "score.py"]
)
def test_program_writes_scores(
    run_tree: Path, entry: list[str], example_submission: Path, example_truth: Path
) -> None:
    # Run from an unrelated working directory, as the platforms do (run/ or program/).
    cwd = REPO if entry[0] == "-m" else run_tree
    result = run_program([*entry, str(run_tree / "input"), str(run_tree / "output")], cwd)
    assert result.returncode == 0, result.stderr
    output = run_tree / "output"
    assert sorted(p.name for p in output.iterdir()) == [
        "detailed_results.html",
        "scores.json",
        "scores.txt",
    ]
    expected = score_folders(example_submission, example_truth)
    parsed = {}
    for line in (output / "scores.txt").read_text().splitlines():
        key, value = line.split(":")  # CodaLab v1 splits on ':' and parses floats
        parsed[key] = float(value)
    assert parsed["miou"] == round(expected.miou, 6)
    assert list(parsed)[: len(LEADERBOARD_KEYS)] == LEADERBOARD_KEYS
    scores = json.loads((output / "scores.json").read_text())
    assert scores["miou"] == expected.miou
    assert "mIoU" in result.stdout


def test_codabench_metadata_file_in_res_is_ignored(run_tree: Path) -> None:
    (run_tree / "input" / "res" / "metadata").write_text("submitted-by: someone\n")
    result = run_program(["-m", "scoring", str(run_tree / "input"), str(run_tree / "output")], REPO)
    assert result.returncode == 0, result.stderr


def test_invalid_submission_one_line_exit_1_nothing_written(run_tree: Path) -> None:
    (run_tree / "input" / "res" / "PRED_061946.tif").unlink()
    result = run_program(["-m", "scoring", str(run_tree / "input"), str(run_tree / "output")], REPO)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Invalid submission: missing predictions for 1 of 50 ids: 061946;")
    assert list((run_tree / "output").iterdir()) == []


def test_missing_res_folder(tmp_path: Path) -> None:
    (tmp_path / "input" / "ref").mkdir(parents=True)
    result = run_program(["-m", "scoring", str(tmp_path / "input"), str(tmp_path / "output")], REPO)
    assert result.returncode == 1
    assert "input/res: missing submission folder" in result.stderr
    assert not (tmp_path / "output").exists()


def test_usage_error(tmp_path: Path) -> None:
    result = run_program(["-m", "scoring", "only-one-argument"], REPO)
    assert result.returncode == 2
    assert "usage: python -m scoring INPUT OUTPUT" in result.stderr
