"""Review findings of issue 14: outputs never overwrite inputs, honest intervals, no silent drops."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from scoring import evaluate
from scoring.atomic import owner_pid
from scoring.counts import PatchCounts, load_counts
from scoring.errors import ConfigError
from scoring.zipsafe import extract_zip_safely
from starting_kit.cli import app
from starting_kit.ranking.analysis import Submission, analyse, method_line
from starting_kit.ranking.compare import compare_analysis
from tests.starting_kit.ranking_data import write_images, write_prediction, write_truth


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safety")
    truth = write_truth(root / "truth")
    a = write_prediction(root / "a", truth, 0.2, seed=1, as_zip=True)
    b = write_prediction(root / "b", truth, 0.3, seed=2)
    for name, source in (("a", a), ("b", b)):
        result = run("score", source, root / "truth", "--save-counts", root / f"{name}.npz")
        assert result.exit_code == 0, result.output
    return {"root": root, "truth": root / "truth", "a": a, "b": b}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_output_never_overwrites_an_input(tree: dict[str, Path], tmp_path: Path) -> None:
    zipped, counts = tree["a"], tree["root"] / "a.npz"
    before = {p: digest(p) for p in (zipped, counts)}
    cases = [
        (("score", zipped, tree["truth"], "--save-counts", zipped), "writes a .npz file"),
        (("score", zipped, tree["truth"], "--json", zipped), "--json would overwrite this input"),
        (("compare", counts, tree["root"] / "b.npz", "--json", counts), "would overwrite this input"),
        (
            ("leaderboard", counts, tree["root"] / "b.npz", "--json", tmp_path / "x",
             "--html", tmp_path / "x"),
            "both --json and --html would write this file",
        ),
    ]  # fmt: skip
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, args
        assert message in result.output, result.output
    assert {p: digest(p) for p in (zipped, counts)} == before
    assert not (tmp_path / "x").exists()


def one_zone(counts: PatchCounts) -> PatchCounts:
    """The patches of the first (domain, zone) only."""
    keep = [
        i for i, pair in enumerate(zip(counts.domains, counts.zones, strict=True))
        if pair == (counts.domains[0], counts.zones[0])
    ]  # fmt: skip
    return PatchCounts(
        counts.ids[keep],
        tuple(counts.domains[i] for i in keep),
        tuple(counts.zones[i] for i in keep),
        counts.histograms[keep],
        counts.truth_fingerprint,
    )


def test_one_zone_gives_no_interval_and_few_zones_say_approximate(tree: dict[str, Path]) -> None:
    a, b = load_counts(tree["root"] / "a.npz"), load_counts(tree["root"] / "b.npz")
    analysis = analyse([Submission("a", a), Submission("b", b)], replicates=200)
    assert 2 <= analysis.n_clusters < 10
    assert any(
        "8 zones to resample: the 95% intervals are approximate" in w for w in analysis.warnings
    )
    single = analyse([Submission("a", one_zone(a)), Submission("b", one_zone(b))], replicates=200)
    assert any("(with one, there is no interval)" in w for w in single.warnings)
    data = compare_analysis(single).to_dict()
    assert data["ci95"] == [None, None]  # no interval rather than a zero-width one
    assert data["delta_miou"] is not None  # the exact difference still stands


def test_fewer_than_100_replicates_are_refused(tree: dict[str, Path]) -> None:
    a = load_counts(tree["root"] / "a.npz")
    with pytest.raises(ConfigError, match=r"--replicates 10; expected at least 100"):
        analyse([Submission("a", a)], replicates=10)
    result = run("compare", tree["root"] / "a.npz", tree["root"] / "b.npz", "--replicates", "1")
    assert result.exit_code == 2  # a usage error, as typer says


def test_images_with_saved_counts_warn_instead_of_vanishing(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    images = write_images(tmp_path / "images")  # --images draws b's gallery in the HTML
    result = run(
        "compare", tree["root"] / "a.npz", tree["b"], "--truth", tree["truth"],
        "--images", images, "--replicates", "100", "--html", tmp_path / "c.html",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--images: no gallery for a: saved counts hold no predictions" in result.output


def test_an_empty_name_is_refused(tree: dict[str, Path]) -> None:
    result = run("compare", tree["root"] / "a.npz", tree["root"] / "b.npz", "--names", "a,")
    assert result.exit_code == 1
    assert "--names: name 2 of 2 is empty" in result.output


def test_the_patch_fallback_says_so(tree: dict[str, Path], tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for mask in tree["truth"].rglob("MSK_*.tif"):
        shutil.copy(mask, flat / mask.name)
    flat_ids = {int(p.stem[4:]) for p in flat.iterdir()}
    preds = tmp_path / "preds"
    shutil.copytree(tree["b"], preds)
    # ids outside the built-in FLAIR #1 table: no zones are known at all
    for path in list(preds.iterdir()) + list(flat.iterdir()):
        tile = int(path.stem.split("_")[-1])
        path.rename(path.with_name(path.name.replace(f"{tile:06d}", f"{tile + 900000:06d}")))
    assert flat_ids
    analysis_json = tmp_path / "c.json"
    result = run(
        "compare", preds, preds, "--truth", flat, "--replicates", "100", "--json", analysis_json
    )
    assert result.exit_code == 0, result.output
    assert "patches resampled one by one (no zones known)" in result.output
    data = json.loads(analysis_json.read_text())
    assert data["n_zones"] == data["n_patches"]


def test_method_line_names_zones_and_their_source(tree: dict[str, Path]) -> None:
    a = load_counts(tree["root"] / "a.npz")
    line = method_line(analyse([Submission("a", a)], replicates=100))
    assert line.startswith("(100 paired bootstrap replicates over ") and "zones from" in line


def snapshot(folder: Path) -> dict[Path, str]:
    return {p: digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_output_never_goes_inside_an_input_folder(tree: dict[str, Path], tmp_path: Path) -> None:
    """review7-B H1: an output aimed inside the truth, predictions or --images folder (or through
    a link to one) is refused before anything is written; every file stays as it was."""
    root, truth, b = tree["root"], tree["truth"], tree["b"]
    mask = min(truth.rglob("MSK_*.tif"))
    prediction = min(b.glob("PRED_*.tif"))
    images = tmp_path / "images"
    images.mkdir()
    (tmp_path / "truth-link").symlink_to(truth)
    counts = (root / "a.npz", root / "b.npz")
    cases = [
        (("score", b, truth, "--html", mask), mask, "--html would overwrite a file of the input folder"),
        (("score", b, truth, "--json", prediction), prediction, "--json would overwrite a file"),
        (("score", b, truth, "--save-counts", b / "new.npz"), b / "new.npz", "would write into"),
        (("score", b, truth, "--html", images / "p.html", "--images", images), images / "p.html",
         "--html would write into the input folder"),
        (("compare", *counts, "--json", tmp_path / "truth-link" / "c.json", "--truth", truth),
         tmp_path / "truth-link" / "c.json", "--json would write into the input folder"),
        (("leaderboard", *counts, "--truth", truth, "--replicates", "100", "--csv", mask), mask,
         "--csv would overwrite a file of the input folder"),
    ]  # fmt: skip
    before = {folder: snapshot(folder) for folder in (truth, b, images)}
    for args, output, message in cases:
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.output.startswith(f"error: {output}: ") and message in result.output, (
            result.output
        )
        assert "write the output outside the inputs" in result.output
        assert result.output.count("\n") == 1
    assert {folder: snapshot(folder) for folder in (truth, b, images)} == before


def test_options_without_the_output_that_uses_them_are_refused(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    """review7-B L2: --zones, --images and --errors are refused, not ignored, when no requested
    output uses them (even a missing path was accepted), in score, compare and leaderboard alike."""
    counts = (tree["root"] / "a.npz", tree["root"] / "b.npz")
    missing = tmp_path / "nonexist"
    cases = [
        (("score", tree["b"], tree["truth"], "--zones", missing), "--zones is used only by --html or --save-counts"),
        (("score", tree["b"], tree["truth"], "--json", tmp_path / "s.json", "--images", missing),
         "--images is used only by --html"),
        (("score", tree["b"], tree["truth"], "--save-counts", tmp_path / "s.npz", "--errors", "3"),
         "--errors is used only by --html"),
        (("compare", *counts, "--errors", "3", "--replicates", "100"), "--errors is used only by --html"),
        (("leaderboard", *counts, "--images", missing, "--replicates", "100"),
         "--images is used only by --html"),
    ]  # fmt: skip
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, args
        assert message in result.output and result.output.count("\n") == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # With the output that uses them they are taken (--zones in score: by --save-counts).
    zones = tmp_path / "zones.csv"
    rows = [f"{int(p.stem[4:])},D001_2020,Z9_UU" for p in sorted(tree["truth"].rglob("MSK_*.tif"))]
    zones.write_text("id,domain,zone\n" + "\n".join(rows) + "\n")
    result = run(
        "score", tree["b"], tree["truth"], "--zones", zones, "--save-counts", tmp_path / "z.npz"
    )
    assert result.exit_code == 0, result.output
    assert set(load_counts(tmp_path / "z.npz").zones) == {"Z9_UU"}


@pytest.mark.parametrize("command", ["compare", "leaderboard"])
def test_a_zip_is_extracted_beside_the_output_not_in_the_system_temporary_folder(
    command: str, tree: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kill -9 cannot remove what it leaves: beside the output it is the user's own folder (and
    # the next run's to clean), never an ever-growing system temporary folder.
    seen: list[Path] = []

    def recording(path: Path, destination: Path) -> None:
        seen.append(destination)
        extract_zip_safely(path, destination)

    monkeypatch.setattr(evaluate, "extract_zip_safely", recording)
    out = tmp_path / "out"
    out.mkdir()
    result = run(command, tree["a"], tree["root"] / "b.npz", "--truth", tree["truth"],
                 "--replicates", 100, "--json", out / "r.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and seen[0].parent == out, seen
    assert owner_pid(seen[0], out / "r.json") == os.getpid()
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]
