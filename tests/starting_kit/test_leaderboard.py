"""`flair-kit leaderboard` (issue 14, items 3 and 6): ranks, intervals, stability, pairwise odds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.evaluate import score_folders
from starting_kit.cli import app
from starting_kit.ranking.analysis import Submission, analyse
from starting_kit.ranking.bootstrap import competition_ranks
from starting_kit.ranking.compare import compare_analysis
from starting_kit.ranking.diagnostics import analyse_errors
from starting_kit.ranking.leaderboard import rank_analysis
from starting_kit.ranking.naming import display_names
from tests.starting_kit.ranking_data import counts_of, simulate_pair, write_prediction, write_truth


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Truth with zones; three runs of different quality in three forms; one as saved counts."""
    root = tmp_path_factory.mktemp("board")
    truth = write_truth(root / "truth")
    good = write_prediction(root / "x" / "good", truth, 0.1, seed=1, as_zip=True)
    fair = write_prediction(root / "fair", truth, 0.3, seed=2)
    poor_folder = write_prediction(root / "y" / "good", truth, 0.5, seed=3)
    poor = root / "poor.npz"
    result = CliRunner().invoke(
        app, ["score", str(poor_folder), str(root / "truth"), "--save-counts", str(poor)]
    )
    assert result.exit_code == 0, result.output
    return {"root": root, "truth": root / "truth", "good": good, "fair": fair, "poor": poor,
            "poor_folder": poor_folder}  # fmt: skip


def test_leaderboard_ranks_mixed_inputs_and_writes_json_csv(
    entries: dict[str, Path], tmp_path: Path
) -> None:
    out = {k: tmp_path / f"board.{k}" for k in ("json", "csv")}
    args = [str(entries["fair"]), str(entries["poor"]), str(entries["good"])]
    result = CliRunner().invoke(
        app,
        ["leaderboard", *args, "--truth", str(entries["truth"]), "--replicates", "400",
         "--json", str(out["json"]), "--csv", str(out["csv"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out["json"].read_text())
    names = [e["name"] for e in data["entries"]]
    assert names == ["good", "fair", "poor"]
    assert [e["rank"] for e in data["entries"]] == [1, 2, 3]
    assert data["entries"][0]["miou"] == score_folders(entries["good"], entries["truth"]).miou
    for entry in data["entries"]:
        low, high = entry["ci95"]
        assert low <= entry["miou"] <= high
        assert 0 <= entry["rank_stability"] <= 1
    matrix = np.array(data["pairwise"]["p_row_beats_column"], dtype=float)
    assert np.isnan(np.diag(matrix)).all()
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose((matrix + matrix.T)[off], 1.0)
    assert matrix[0, 2] == 1.0
    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text())))
    assert [r["name"] for r in rows] == names and rows[0]["rank"] == "1"
    assert "good" in result.stdout.splitlines()[1]  # the printed table, best first


def test_names_and_repeated_stems(entries: dict[str, Path], tmp_path: Path) -> None:
    assert display_names([entries["good"], entries["poor_folder"]]) == ["x/good", "y/good"]
    out = tmp_path / "b.json"
    result = CliRunner().invoke(
        app,
        ["leaderboard", str(entries["good"]), str(entries["poor_folder"]), "--truth",
         str(entries["truth"]), "--replicates", "100", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in json.loads(out.read_text())["entries"]] == ["x/good", "y/good"]
    result = CliRunner().invoke(
        app,
        ["leaderboard", str(entries["good"]), str(entries["poor"]), "--truth",
         str(entries["truth"]), "--names", "mine,theirs", "--replicates", "100", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in json.loads(out.read_text())["entries"]] == ["mine", "theirs"]
    result = CliRunner().invoke(
        app,
        ["leaderboard", str(entries["poor"]), "--names", "a,b", "--truth", str(entries["truth"])],
    )
    assert result.exit_code == 1 and "one name per submission" in result.stderr


def test_ties_share_the_better_rank() -> None:
    assert competition_ranks(np.array([0.5, 0.6, 0.6, 0.4])).tolist() == [3, 1, 1, 4]
    a, b, _ = simulate_pair(np.random.default_rng(2), 0.02, n_zones=20)
    board = rank_analysis(
        analyse([Submission("b", b), Submission("a", a), Submission("a-again", a)], replicates=200)
    )
    assert [(e.name, e.rank) for e in board.entries] == [("a", 1), ("a-again", 1), ("b", 3)]
    # identical entries always tie: each holds rank 1 exactly when the pair is on top
    assert board.entries[0].rank_stability == board.entries[1].rank_stability
    assert board.pairwise[0, 1] == 0.5


def test_leaderboard_tables_are_dataframes_and_agree_with_compare() -> None:
    a, b, _ = simulate_pair(np.random.default_rng(4), 0.01, n_zones=25)
    analysis = analyse([Submission("a", a), Submission("b", b)], replicates=300, seed=2)
    board = rank_analysis(analysis)
    frame = board.frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["rank"]) == [1, 2]
    assert isinstance(board.pairwise_frame(), pd.DataFrame)
    comparison = compare_analysis(analysis)
    assert board.pairwise_frame().loc["a", "b"] == comparison.p_a_better
    assert isinstance(comparison.per_class_frame(), pd.DataFrame)
    assert list(comparison.per_class_frame().index)[:2] == ["building", "pervious surface"]
    assert isinstance(comparison.per_domain_frame(), pd.DataFrame)
    assert list(board.per_domain_frame().columns) == ["a", "b"]


def test_error_analysis_finds_the_worst_patch_and_the_confused_pair() -> None:
    good = np.diag(np.full(13, 100))
    bad = good.copy()
    bad[3, 3], bad[3, 5] = 10, 90  # bare soil mostly predicted as coniferous
    counts = counts_of(np.array([good, bad, good]), ["Z1_AA", "Z1_AA", "Z2_AA"])
    errors = analyse_errors("run", counts, limit=2)
    assert [p.tile for p in errors.worst] == [2, 1]
    assert errors.worst[0].miou < errors.worst[1].miou == 1.0
    (pair,) = errors.confused
    assert (pair.truth, pair.predicted, pair.pixels) == ("bare soil", "coniferous", 90)
    assert pair.share_of_truth == 90 / 300  # of all bare-soil pixels of the three patches
    assert list(errors.worst_frame()["id"]) == ["000002", "000001"]
    assert errors.confused_frame()["pixels"].tolist() == [90]
    assert [d for d, _ in errors.per_domain] == ["D001_2020"]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("compare", ["--truth", "--json", "--html", "--replicates", "--seed", "--zones", "--errors",
                     "--images", "--names"]),
        ("leaderboard", ["--truth", "--json", "--csv", "--html", "--names", "--replicates"]),
        ("score", ["--save-counts", "--html", "--zones", "--errors", "--images"]),
    ],
)  # fmt: skip
def test_help_lists_the_options(command: str, options: list[str]) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout, option
    assert command in CliRunner().invoke(app, ["--help"]).stdout


def test_a_file_beside_its_namesake_in_a_folder_is_not_named_like_an_absolute_path(
    entries: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review7-B L5: a.npz beside d2/a.npz was shown as "/a"."""
    assert display_names([Path("a.npz"), Path("d2/a.npz")]) == ["a", "d2/a"]
    (tmp_path / "d2").mkdir()
    for name in ("a.npz", "d2/a.npz"):
        (tmp_path / name).write_bytes(entries["poor"].read_bytes())
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["leaderboard", "a.npz", "d2/a.npz", "--replicates", "100", "--csv", "dd.csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "dd.csv").read_text())))
    assert sorted(row["name"] for row in rows) == ["a", "d2/a"]
