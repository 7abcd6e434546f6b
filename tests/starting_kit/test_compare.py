"""`flair-kit compare` (issue 14, items 2 and 8): exact scores, the zone bootstrap, its statistics."""

from __future__ import annotations

import errno
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scoring.counts import PatchCounts, load_counts, save_counts
from scoring.evaluate import score_folders
from starting_kit.cli import app
from starting_kit.ranking.analysis import Submission, analyse
from starting_kit.ranking.compare import compare_analysis
from starting_kit.ranking.zones import ZoneWarning
from tests.starting_kit.ranking_data import (
    simulate_pair,
    write_prediction,
    write_truth,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A truth in the zone layout, A as a folder (20% wrong), B as a zip (35% wrong), A's counts."""
    root = tmp_path_factory.mktemp("compare")
    truth = write_truth(root / "truth")
    a = write_prediction(root / "a", truth, 0.2, seed=10)
    b = write_prediction(root / "b", truth, 0.35, seed=11, as_zip=True)
    result = CliRunner().invoke(
        app, ["score", str(a), str(root / "truth"), "--save-counts", str(root / "a.npz")]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["score", str(b), str(root / "truth"), "--save-counts", str(root / "b.npz")]
    )
    assert result.exit_code == 0, result.output
    return {"root": root, "truth": root / "truth", "a": a, "b": b}


def _compare(args: list[str], json_path: Path) -> dict[str, object]:
    result = CliRunner().invoke(app, ["compare", *args, "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(json_path.read_text())
    return data


def test_compare_zip_and_folder_gives_exact_scores_and_an_interval(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    data = _compare(
        [str(tree["a"]), str(tree["b"]), "--truth", str(tree["truth"]), "--replicates", "500"],
        tmp_path / "c.json",
    )
    miou_a = score_folders(tree["a"], tree["truth"]).miou
    miou_b = score_folders(tree["b"], tree["truth"]).miou
    assert data["miou_a"] == miou_a and data["miou_b"] == miou_b  # bit-identical to score
    assert data["delta_miou"] == miou_a - miou_b  # the difference of the two exact scores
    low, high = data["ci95"]  # type: ignore[misc]
    assert low <= data["delta_miou"] <= high and low > 0  # A is clearly better
    assert data["p_a_better"] == 1.0
    per_class = data["per_class"]
    assert isinstance(per_class, list) and len(per_class) == 13
    assert per_class[0]["name"] == "building" and set(per_class[0]) >= {"iou_a", "iou_b", "ci95"}
    domains = data["per_domain"]
    assert [d["domain"] for d in domains] == ["D012_2019", "D022_2021", "D071_2020"]  # type: ignore[index, union-attr]
    assert all(d["approximate"] for d in domains)  # type: ignore[index, union-attr]
    assert data["n_zones"] == 8  # zone names repeat across domains: (domain, zone) pairs


def test_saved_counts_need_no_truth_and_give_the_same_result(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    args = ["--replicates", "300", "--seed", "7"]
    from_files = _compare(
        [str(tree["a"]), str(tree["b"]), "--truth", str(tree["truth"]), *args],
        tmp_path / "files.json",
    )
    root = tree["root"]
    from_counts = _compare(
        [str(root / "a.npz"), str(root / "b.npz"), *args], tmp_path / "counts.json"
    )
    mixed = _compare(
        [str(root / "a.npz"), str(tree["b"]), "--truth", str(tree["truth"]), *args],
        tmp_path / "mixed.json",
    )
    for key in ("miou_a", "miou_b", "delta_miou", "ci95", "p_a_better", "per_class"):
        assert from_files[key] == from_counts[key] == mixed[key], key


def test_identical_submissions_give_exactly_zero(tree: dict[str, Path], tmp_path: Path) -> None:
    root = tree["root"]
    data = _compare(
        [str(root / "a.npz"), str(tree["a"]), "--truth", str(tree["truth"])], tmp_path / "i.json"
    )
    assert data["delta_miou"] == 0.0
    assert data["ci95"] == [0.0, 0.0]
    assert data["p_a_better"] == 0.5
    assert all(d["ci95"] == [0.0, 0.0] for d in data["per_domain"])  # type: ignore[index, union-attr]


def test_the_same_seed_gives_the_same_interval(tree: dict[str, Path]) -> None:
    counts = [load_counts(tree["root"] / f"{n}.npz") for n in "ab"]
    subs = [Submission("a", counts[0]), Submission("b", counts[1])]
    first = compare_analysis(analyse(subs, replicates=200, seed=3))
    again = compare_analysis(analyse(subs, replicates=200, seed=3))
    other = compare_analysis(analyse(subs, replicates=200, seed=4))
    assert first.ci95 == again.ci95 and first.p_a_better == again.p_a_better
    assert first.ci95 != other.ci95


def test_compare_refuses_what_it_cannot_compare(tree: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(tree["a"]), str(tree["b"])])
    assert result.exit_code == 1
    assert "needs --truth" in result.stderr and "Traceback" not in result.output
    # counts made against another truth
    other_truth = write_truth(tmp_path / "other", seed=99)
    other = write_prediction(tmp_path / "pred", other_truth, 0.2, seed=1)
    saved = tmp_path / "other.npz"
    assert (
        runner.invoke(
            app, ["score", str(other), str(tmp_path / "other"), "--save-counts", str(saved)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["compare", str(saved), str(tree["root"] / "a.npz")])
    assert result.exit_code == 1 and "different truths" in result.stderr
    result = runner.invoke(
        app, ["compare", str(saved), str(tree["a"]), "--truth", str(tree["truth"])]
    )
    assert result.exit_code == 1 and "another truth" in result.stderr
    result = runner.invoke(
        app,
        [
            "compare",
            str(tree["root"] / "a.npz"),
            str(tree["root"] / "b.npz"),
            "--json",
            str(tmp_path / "no" / "c.json"),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_delta_is_the_difference_of_the_exact_scores_on_simulated_counts() -> None:
    a, b, _ = simulate_pair(np.random.default_rng(0), 0.03, n_zones=30)
    result = compare_analysis(analyse([Submission("a", a), Submission("b", b)], replicates=300))
    assert result.delta_miou == result.miou_a - result.miou_b
    per_class_delta = [c.delta for c in result.per_class]
    assert per_class_delta[0] == result.per_class[0].iou_a - result.per_class[0].iou_b
    assert all(np.isfinite(per_class_delta[:12]))


def _width(a: object, b: object) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZoneWarning)
        result = compare_analysis(
            analyse([Submission("a", a), Submission("b", b)], replicates=1000, seed=1)  # type: ignore[arg-type]
        )
    return result.ci95[1] - result.ci95[0]


def test_zones_give_wider_intervals_than_patches_when_zones_are_correlated() -> None:
    a, b, _ = simulate_pair(np.random.default_rng(5), 0.02, n_zones=40, patches_per_zone=6)
    by_zone = _width(a, b)
    flat = [c.with_zones([""] * c.n_patches, [""] * c.n_patches) for c in (a, b)]
    fallback = analyse([Submission("a", flat[0]), Submission("b", flat[1])], replicates=100)
    assert fallback.n_clusters == a.n_patches
    assert any("too narrow" in note for note in fallback.warnings)
    by_patch = _width(*flat)
    assert by_zone > 1.5 * by_patch


@pytest.mark.slow
def test_the_interval_covers_a_known_difference_in_90_to_99_percent_of_seeds() -> None:
    covered = 0
    seeds = 200
    for seed in range(seeds):
        a, b, truth = simulate_pair(np.random.default_rng(1000 + seed), 0.02, n_zones=80)
        result = compare_analysis(
            analyse([Submission("a", a), Submission("b", b)], replicates=1000, seed=seed)
        )
        covered += result.ci95[0] <= truth <= result.ci95[1]
    assert 0.90 * seeds <= covered <= 0.99 * seeds, covered


def test_a_submission_with_missing_ids_is_refused_without_the_score_only_hint(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in sorted(tree["a"].glob("PRED_*.tif"))[1:]:
        (partial / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(
        app, ["compare", str(partial), str(tree["b"]), "--truth", str(tree["truth"])]
    )
    assert result.exit_code == 1
    assert "write one PRED_<id>.tif per reference mask" in result.output
    assert "--subset" not in result.output  # compare has no --subset: never suggest it


def test_counts_of_the_same_truth_but_other_ids_are_refused(
    tree: dict[str, Path], tmp_path: Path
) -> None:
    whole = load_counts(tree["root"] / "a.npz")
    cut = tmp_path / "cut.npz"
    save_counts(
        cut,
        PatchCounts(
            whole.ids[:5], whole.domains[:5], whole.zones[:5], whole.histograms[:5],
            whole.truth_fingerprint,
        ),
    )  # fmt: skip
    b = tree["root"] / "b.npz"
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(cut), str(b), "--replicates", "100"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{b} holds 24 patches and {cut} holds 5, not the same ids" in result.stderr
    assert f"061718 in {b} against nothing in {cut}" in result.stderr
    # with --truth the cut counts are checked against the truth's ids too
    result = runner.invoke(
        app, ["compare", str(cut), str(b), "--truth", str(tree["truth"]), "--replicates", "100"]
    )
    assert result.exit_code == 1
    assert f"{cut} holds 5 patches and the truth {tree['truth']} holds 24" in result.stderr
    empty = tmp_path / "empty.npz"
    save_counts(
        empty,
        PatchCounts(whole.ids[:0], (), (), whole.histograms[:0], whole.truth_fingerprint),
    )
    result = runner.invoke(app, ["compare", str(empty), str(b), "--replicates", "100"])
    assert result.exit_code == 1 and f"{empty}: counts of 0 patches" in result.stderr


def fail_on_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the publication of any ``.html`` output fail like a full disk (after the others are
    written, whatever their order)."""
    import scoring.atomic

    real_commit = scoring.atomic._commit

    def commit(scratch: Path, target: Path, *, overwrite: bool = True) -> None:
        if target.suffix == ".html":
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        real_commit(scratch, target, overwrite=overwrite)

    monkeypatch.setattr(scoring.atomic, "_commit", commit)


def test_a_failed_run_leaves_all_its_outputs_or_none(
    tree: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review7-B L3: the JSON (and saved counts) written before the HTML failed were left."""
    fail_on_html(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(
        app,
        ["compare", str(tree["root"] / "a.npz"), str(tree["root"] / "b.npz"), "--replicates",
         "100", "--json", str(out / "c.json"), "--html", str(out / "c.html")],
    )  # fmt: skip
    assert result.exit_code == 1 and "c.html: the disk is full" in result.output, result.output
    result = CliRunner().invoke(
        app,
        ["score", str(tree["a"]), str(tree["truth"]), "--json", str(out / "s.json"),
         "--save-counts", str(out / "s.npz"), "--html", str(out / "s.html")],
    )  # fmt: skip
    assert result.exit_code == 1 and "s.html: the disk is full" in result.output, result.output
    assert sorted(p.name for p in out.iterdir()) == []  # no output, no temporary
    monkeypatch.undo()
    result = CliRunner().invoke(
        app,
        ["score", str(tree["a"]), str(tree["truth"]), "--json", str(out / "s.json"),
         "--save-counts", str(out / "s.npz"), "--html", str(out / "s.html")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["s.html", "s.json", "s.npz"]
