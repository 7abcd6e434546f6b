"""Per-patch counts kept once (issue 14, item 1): what the scorer keeps, its file, its fingerprint.

numpy, Pillow and pytest only: these run in the CodaLab images' Python 3.9 too.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from scoring import metrics
from scoring.counts import (
    COUNTS_FORMAT,
    PatchCounts,
    load_counts,
    save_counts,
    truth_fingerprint,
)
from scoring.errors import DataError, MissingFileError
from scoring.evaluate import score_folders, score_folders_with_counts
from tests.scoring.conftest import save_tif


def _preds(truth: dict[int, np.ndarray], rng: np.random.Generator) -> dict[int, np.ndarray]:
    return {t: rng.integers(0, 13, size=m.shape).astype(np.uint8) for t, m in truth.items()}


def test_counts_sum_to_the_report_and_carry_ids_domains_zones(
    tmp_path: Path,
    truth_tree: dict[int, np.ndarray],
    write_preds: Callable[..., Path],
    rng: np.random.Generator,
) -> None:
    preds = write_preds(_preds(truth_tree, rng))
    report, counts = score_folders_with_counts(preds, tmp_path / "truth", workers=2)
    assert counts.ids.tolist() == sorted(truth_tree)
    assert counts.domains[0] == "D012_2019" and counts.zones[0] == "Z1_UU"
    assert counts.zones[3] == "Z10_AA" and counts.domains[3] == "D071_2020"
    np.testing.assert_array_equal(counts.confusion(), report.confusion)
    assert metrics.mean_iou_score(counts.confusion()) == report.miou  # bit-identical
    assert score_folders(preds, tmp_path / "truth").miou == report.miou
    # each patch's counts are that patch alone: 16x16 pixels
    assert counts.histograms.sum(axis=1).tolist() == [256] * 6


def test_counts_file_round_trips_without_pickle(
    tmp_path: Path,
    truth_tree: dict[int, np.ndarray],
    write_preds: Callable[..., Path],
    rng: np.random.Generator,
) -> None:
    _, counts = score_folders_with_counts(write_preds(_preds(truth_tree, rng)), tmp_path / "truth")
    path = tmp_path / "out" / "a.npz"
    path.parent.mkdir()
    save_counts(path, counts)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.npz"]  # no temporary left
    with np.load(path, allow_pickle=False) as data:
        assert str(data["format"]) == COUNTS_FORMAT
        assert data["histograms"].dtype == np.uint32
    loaded = load_counts(path)
    np.testing.assert_array_equal(loaded.histograms, counts.histograms)
    assert loaded.ids.tolist() == counts.ids.tolist()
    assert loaded.domains == counts.domains and loaded.zones == counts.zones
    assert loaded.truth_fingerprint == counts.truth_fingerprint


def test_the_fingerprint_follows_the_mask_files_and_ids(
    tmp_path: Path,
    truth_tree: dict[int, np.ndarray],
    write_preds: Callable[..., Path],
    rng: np.random.Generator,
) -> None:
    preds = write_preds(_preds(truth_tree, rng))
    first = score_folders_with_counts(preds, tmp_path / "truth")[1].truth_fingerprint
    again = score_folders_with_counts(preds, tmp_path / "truth", workers=1)[1].truth_fingerprint
    assert first == again
    changed = next(iter(sorted((tmp_path / "truth").rglob("MSK_*.tif"))))
    mask = np.full((16, 16), 3, dtype=np.uint8)
    save_tif(changed, mask)
    assert score_folders_with_counts(preds, tmp_path / "truth")[1].truth_fingerprint != first
    assert truth_fingerprint([(1, "a")]) != truth_fingerprint([(2, "a")])


def test_a_bad_counts_file_is_refused_with_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="score --save-counts"):
        load_counts(tmp_path / "none.npz")
    other = tmp_path / "other.npz"
    np.savez(other, ids=np.arange(3))
    with pytest.raises(DataError, match=r"not a flair-kit counts file .*format"):
        load_counts(other)
    wrong = tmp_path / "wrong.npz"
    np.savez(
        wrong,
        format=np.array("something-else"),
        ids=np.arange(1),
        domains=np.array([""]),
        zones=np.array([""]),
        histograms=np.zeros((1, 196)),
        truth_fingerprint=np.array("x"),
    )
    with pytest.raises(DataError, match="counts format 'something-else'"):
        load_counts(wrong)
    floats = tmp_path / "floats.npz"
    np.savez(
        floats,
        format=np.array(COUNTS_FORMAT),
        ids=np.arange(1),
        domains=np.array([""]),
        zones=np.array([""]),
        histograms=np.zeros((1, 196)),
        truth_fingerprint=np.array("x"),
    )
    with pytest.raises(DataError, match=r"dtype float64 .*expected uint32 or int64"):
        load_counts(floats)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="unreadable counts file"):
        load_counts(garbage)
    pickled = tmp_path / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as archive:
        archive.writestr("format.npy", b"\x93NUMPY junk")
    with pytest.raises(DataError):
        load_counts(pickled)


def test_inconsistent_counts_are_refused() -> None:
    with pytest.raises(DataError, match="expected \\(2, 196\\)"):
        PatchCounts(np.arange(2), ("", ""), ("", ""), np.zeros((2, 5), dtype=np.int64), "x")
    with pytest.raises(DataError, match="unique and increasing"):
        PatchCounts(np.array([2, 1]), ("", ""), ("", ""), np.zeros((2, 196), dtype=np.int64), "x")


def test_vectorised_metric_equals_the_official_one(rng: np.random.Generator) -> None:
    histograms = rng.integers(0, 50, size=(7, 196)).astype(np.int64)
    histograms[3, :] = 0  # an empty patch: NaN
    folded = metrics.fold_histograms(histograms)
    scores = metrics.mean_iou_scores(folded)
    for histogram, confusion, score in zip(histograms, folded, scores):
        expected = metrics.fold_pair_histogram(histogram).confusion
        np.testing.assert_array_equal(confusion, expected)
        official = metrics.mean_iou_score(expected)
        assert (np.isnan(score) and np.isnan(official)) or score == official
    # integral floats (weighted sums) give the same scores
    assert metrics.mean_iou_scores(folded.astype(float)).tolist()[:3] == scores.tolist()[:3]


def _write_raw_counts(path: Path, ids: list[int], histograms: np.ndarray, n_zones: int) -> Path:
    np.savez(
        path,
        format=np.array(COUNTS_FORMAT),
        ids=np.array(ids, dtype=np.int64),
        domains=np.array([""] * n_zones),
        zones=np.array([""] * n_zones),
        histograms=histograms,
        truth_fingerprint=np.array("x"),
    )
    return path


def test_load_counts_refuses_zero_patches_naming_the_file(tmp_path: Path) -> None:
    empty = _write_raw_counts(tmp_path / "empty.npz", [], np.zeros((0, 196), np.uint32), 0)
    with pytest.raises(DataError, match=r"empty\.npz: counts of 0 patches"):
        load_counts(empty)


@pytest.mark.parametrize(
    ("ids", "shape", "n_zones", "message"),
    [
        ([1, 1], (2, 196), 2, "ids are not unique and increasing"),
        ([1, 2], (2, 195), 2, r"histograms of shape \(2, 195\)"),
        ([1, 2], (2, 196), 3, "hold 3 domains and 3 zones"),
    ],
)
def test_inconsistent_counts_errors_name_the_file(
    tmp_path: Path, ids: list[int], shape: tuple[int, int], n_zones: int, message: str
) -> None:
    path = _write_raw_counts(tmp_path / "bad.npz", ids, np.zeros(shape, np.uint32), n_zones)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: .*{message}"):
        load_counts(path)
