"""Per-patch counts kept once (issue 14, item 1): what the scorer keeps, its file, its fingerprint.

numpy, Pillow and pytest only: these run in the CodaLab images' Python 3.9 too.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tracemalloc
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
        ([1, 2], (2, 196), 3, r"member domains\.npy holds .*shape \(3,\); expected \(2,\) strings"),
    ],
)
def test_inconsistent_counts_errors_name_the_file(
    tmp_path: Path, ids: list[int], shape: tuple[int, int], n_zones: int, message: str
) -> None:
    path = _write_raw_counts(tmp_path / "bad.npz", ids, np.zeros(shape, np.uint32), n_zones)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: .*{message}"):
        load_counts(path)


def _valid_arrays(n: int = 3) -> dict[str, np.ndarray]:
    """The members of a valid counts file of ``n`` patches, to spoil one at a time."""
    histograms = np.zeros((n, 196), np.uint32)
    histograms[:, 0] = 16
    return {
        "format": np.array(COUNTS_FORMAT),
        "ids": np.arange(1, n + 1, dtype=np.int64),
        "domains": np.array(["D1"] * n),
        "zones": np.array(["Z1"] * n),
        "histograms": histograms,
        "truth_fingerprint": np.array("f" * 64),
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "ids",
            np.array(["1x", "2x", "3x"]),
            r"member ids\.npy holds dtype <U2 .*integer patch ids",
        ),
        ("ids", np.array([1.0, 2.5, 3.0]), r"member ids\.npy holds dtype float64 .*integer"),
        ("ids", np.array([[1, 2, 3]]), r"member ids\.npy holds .*shape \(1, 3\); expected a 1-d"),
        ("ids", np.array([-1, 2, 3]), "ids down to -1; expected patch ids 0..999999"),
        ("domains", np.array("D1"), r"member domains\.npy holds .*shape \(\); expected \(3,\)"),
        ("zones", np.array(["Z1"] * 2), r"member zones\.npy holds .*shape \(2,\); expected \(3,\)"),
        ("zones", np.array([1, 2, 3]), r"member zones\.npy holds dtype int64 .*expected \(3,\)"),
        ("domains", np.array(["D" * 300] * 3), "names of 300 characters; at most 256"),
        ("format", np.array([COUNTS_FORMAT]), r"member format\.npy holds .*expected one string"),
        ("truth_fingerprint", np.array(7), r"member truth_fingerprint\.npy holds dtype int64"),
        ("histograms", np.zeros((3, 196), np.uint32), "3 patches count no pixel at all"),
        ("histograms", np.ones((3, 196), np.uint16), "dtype uint16 .*expected uint32 or int64"),
    ],
)
def test_each_spoilt_member_is_one_data_error_naming_file_member_and_fix(
    tmp_path: Path, key: str, value: np.ndarray, message: str
) -> None:
    arrays = _valid_arrays()
    arrays[key] = value
    path = tmp_path / "spoilt.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DataError) as caught:
        load_counts(path)
    text = str(caught.value)
    assert re.search(rf"^{re.escape(str(path))}: .*{message}", text), text
    # said once: no re-wrapping that repeats the path or the advice
    assert text.count(str(path)) == 1 and text.count("--save-counts") == 1, text


def test_a_missing_member_is_named_once(tmp_path: Path) -> None:
    arrays = _valid_arrays()
    del arrays["zones"]
    path = tmp_path / "nozones.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"not a flair-kit counts file \(no zones\)") as caught:
        load_counts(path)
    assert str(caught.value).count(str(path)) == 1
    assert str(caught.value).count("--save-counts") == 1


def _raw_npz(path: Path, members: dict[str, bytes]) -> Path:
    """A zip of ``.npy`` members given as raw bytes (headers that lie, data that is missing)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_header_only(shape: tuple[int, ...], dtype: str) -> bytes:
    """A ``.npy`` header declaring ``shape`` with none of the data (a bomb's declaration)."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("key", "shape", "dtype", "message"),
    [
        ("histograms", (1_000_000, 196), "<u4", r"shape \(1000000, 196\); expected \(3, 196\)"),
        ("ids", (1_000_001,), "<i8", "1000001 ids; at most 1000000 patches"),
        ("zones", (10**9,), "<U8", r"member zones\.npy holds .*expected \(3,\) strings"),
    ],
)
def test_a_counts_bomb_is_refused_from_its_header_without_allocating_it(
    tmp_path: Path, key: str, shape: tuple[int, ...], dtype: str, message: str
) -> None:
    members = {name: _npy_bytes(array) for name, array in _valid_arrays().items()}
    members[key] = _npy_header_only(shape, dtype)
    path = _raw_npz(tmp_path / "bomb.npz", members)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: .*{message}"):
            load_counts(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse a bomb"


def test_a_member_larger_than_its_header_declares_is_refused(tmp_path: Path) -> None:
    members = {name: _npy_bytes(array) for name, array in _valid_arrays().items()}
    members["histograms"] += bytes(1 << 20)  # a megabyte of data no header accounts for
    path = _raw_npz(tmp_path / "padded.npz", members)
    with pytest.raises(
        DataError, match=r"member histograms\.npy holds \d+ bytes once decompressed"
    ):
        load_counts(path)


def test_a_huge_npy_header_is_refused_unread(tmp_path: Path) -> None:
    members = {name: _npy_bytes(array) for name, array in _valid_arrays().items()}
    members["ids"] = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b" " * 100
    path = _raw_npz(tmp_path / "header.npz", members)
    with pytest.raises(DataError, match=r"member ids\.npy: \.npy header of 2147483648 bytes"):
        load_counts(path)


def test_the_valid_arrays_load(tmp_path: Path) -> None:
    path = tmp_path / "fine.npz"
    np.savez_compressed(path, **_valid_arrays())  # type: ignore[arg-type]
    assert load_counts(path).n_patches == 3


@pytest.mark.parametrize(("make", "kind"), [(os.mkfifo, "FIFO"), (os.mkdir, "folder")])
def test_a_fifo_or_folder_as_counts_is_named_so_unread(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    path = tmp_path / "special.npz"
    make(path)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: is a {kind}.*refused unread"):
        load_counts(path)
