"""Review findings of issue 14: outputs never overwrite inputs, honest intervals, no silent drops."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from scoring.counts import PatchCounts, load_counts
from scoring.errors import ConfigError
from starting_kit.cli import app
from starting_kit.ranking.analysis import Submission, analyse, method_line
from starting_kit.ranking.compare import compare_analysis
from tests.starting_kit.ranking_data import write_prediction, write_truth


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
    images = tmp_path / "images"
    images.mkdir()
    result = run(
        "compare", tree["root"] / "a.npz", tree["b"], "--truth", tree["truth"],
        "--images", images, "--replicates", "100",
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
