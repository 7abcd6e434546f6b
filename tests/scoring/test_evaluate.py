"""Scoring folders and zips: id pairing, per-domain breakdown, the real example, every error path."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from scoring import evaluate
from scoring.atomic import owner_pid
from scoring.errors import DataError, MissingFileError, ScratchSpaceError, SubmissionError
from scoring.evaluate import SUBMISSION_SCRATCH, pair_predictions, score_folders
from scoring.render import LEADERBOARD_KEYS, render_html, render_text, scores_txt
from scoring.zipsafe import extract_zip_safely
from tests.scoring.conftest import save_tif
from tests.scoring.official import official_miou, official_patch_matrix, official_score_folders

Masks = dict[int, np.ndarray]


def preds_from_truth(truth: Masks, rng: np.random.Generator) -> Masks:
    """Predictions that are right about half of the time."""
    preds = {}
    for tile, mask in truth.items():
        pred = np.clip(mask.astype(np.int16) - 1, 0, 12).astype(np.uint8)
        wrong = rng.random(mask.shape) < 0.5
        pred[wrong] = rng.integers(0, 13, int(wrong.sum()))
        preds[tile] = pred
    return preds


def official_expectation(truth: Masks, preds: Masks) -> np.ndarray:
    return sum(official_patch_matrix(truth[t], preds[t]) for t in truth)


def test_folder_scores_equal_the_official_scorer(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> None:
    preds = preds_from_truth(truth_tree, rng)
    report = score_folders(write_preds(preds), tmp_path / "truth", workers=1)
    expected = official_expectation(truth_tree, preds)
    assert np.array_equal(report.confusion, expected)
    assert report.miou == official_miou(expected)[0]
    assert report.n_patches == 6
    assert report.dropped_pixels == 0


def test_parallel_workers_give_the_same_report(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> None:
    pred_dir = write_preds(preds_from_truth(truth_tree, rng))
    one = score_folders(pred_dir, tmp_path / "truth", workers=1)
    two = score_folders(pred_dir, tmp_path / "truth", workers=2)
    assert one.to_dict() == two.to_dict()


def test_per_domain_breakdown(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> None:
    preds = preds_from_truth(truth_tree, rng)
    report = score_folders(write_preds(preds), tmp_path / "truth", workers=1)
    assert [(d.domain, d.n_patches) for d in report.per_domain] == [
        ("D012_2019", 3),
        ("D071_2020", 3),
    ]
    d071 = {t: m for t, m in truth_tree.items() if t >= 70000}
    expected = official_expectation(d071, preds)
    assert report.per_domain[1].miou == official_miou(expected)[0]
    assert "D071_2020" in render_text(report)


def test_flat_truth_has_no_domains(
    tmp_path: Path, rng: np.random.Generator, write_preds: Callable
) -> None:
    mask = rng.integers(1, 13, (8, 8)).astype(np.uint8)
    save_tif(tmp_path / "flat" / "MSK_000001.tif", mask)
    report = score_folders(write_preds({1: mask - 1}), tmp_path / "flat")
    assert report.per_domain == ()
    assert report.miou == 1.0


def test_quirks_raw_zero_other_and_dropped_values(tmp_path: Path, write_preds: Callable) -> None:
    truth = np.array([[0, 13, 1, 1], [19, 2, 2, 2]], dtype=np.uint8)
    pred = np.array([[12, 0, 0, 255], [3, 1, 1, 13]], dtype=np.uint8)
    save_tif(tmp_path / "t" / "MSK_000007.tif", truth)
    report = score_folders(write_preds({7: pred}), tmp_path / "t")
    assert report.raw_zero_truth_pixels == 1
    assert report.dropped_pixels == 2
    assert np.array_equal(report.confusion, official_patch_matrix(truth, pred))
    assert report.confusion[12, 12] == 1  # raw 0 -> other, predicted other
    assert report.confusion[12, 0] == 1  # raw 13 (other) predicted building: FP for building
    assert any(
        "2 prediction pixels hold values outside 0..12 and were dropped" in w
        for w in report.warnings
    )


def test_pred_img_names_are_accepted(tmp_path: Path, rng: np.random.Generator) -> None:
    mask = rng.integers(1, 13, (8, 8)).astype(np.uint8)
    save_tif(tmp_path / "t" / "MSK_062613.tif", mask)
    save_tif(tmp_path / "p" / "sub" / "PRED_IMG_062613.tif", mask - 1)
    assert score_folders(tmp_path / "p", tmp_path / "t").miou == 1.0


def test_debris_and_other_names_are_ignored(tmp_path: Path, rng: np.random.Generator) -> None:
    mask = rng.integers(1, 13, (8, 8)).astype(np.uint8)
    save_tif(tmp_path / "t" / "MSK_000001.tif", mask)
    save_tif(tmp_path / "p" / "PRED_000001.tif", mask - 1)
    (tmp_path / "p" / "__MACOSX").mkdir()
    (tmp_path / "p" / "__MACOSX" / "._PRED_000001.tif").write_bytes(b"AppleDouble fork")
    (tmp_path / "p" / "._PRED_000001.tif").write_bytes(b"resource fork")
    (tmp_path / "p" / "metadata").write_text("description: platform file\n")
    (tmp_path / "p" / "readme.txt").write_text("hello")
    assert score_folders(tmp_path / "p", tmp_path / "t").n_patches == 1


def test_a_pred_file_in_macosx_counts_as_the_official_glob_lists_it(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    # IGN's scorer globs PRED*.tif recursively: __MACOSX/PRED_x.tif is listed (issue 11).
    mask = rng.integers(1, 13, (8, 8)).astype(np.uint8)
    save_tif(tmp_path / "t" / "MSK_000001.tif", mask)
    save_tif(tmp_path / "p" / "PRED_000001.tif", mask - 1)
    save_tif(tmp_path / "p" / "__MACOSX" / "PRED_000001.tif", mask)
    with pytest.raises(SubmissionError, match="duplicate prediction ids: 000001"):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_zip_submission_scores_like_the_folder(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> None:
    archive = _zipped_predictions(tmp_path, truth_tree, write_preds, rng)
    assert (
        score_folders(archive, tmp_path / "truth").to_dict()
        == score_folders(tmp_path / "pred", tmp_path / "truth").to_dict()
    )


def test_real_example_submission_end_to_end(example_submission: Path, example_truth: Path) -> None:
    report = score_folders(example_submission, example_truth, workers=2)
    expected_miou, expected_matrix = official_score_folders(example_submission, example_truth)
    assert report.n_patches == 50
    assert np.array_equal(report.confusion, expected_matrix)
    assert report.miou == expected_miou
    assert report.raw_zero_truth_pixels > 0
    data = report.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON: NaN written as null
    assert {
        "miou",
        "per_class",
        "confusion_matrix",
        "n_patches",
        "dropped_pixels",
        "per_domain",
    } <= set(data)
    assert [c["name"] for c in data["per_class"]][-1] == "other"


def test_scores_txt_and_html(example_submission: Path, example_truth: Path) -> None:
    report = score_folders(example_submission, example_truth)
    lines = scores_txt(report).splitlines()
    keys = [line.split(":")[0] for line in lines]
    assert keys[: len(LEADERBOARD_KEYS)] == LEADERBOARD_KEYS
    for line in lines:
        key, value = line.split(":")
        assert value.startswith(" ") and float(value) == float(value)  # never NaN
        assert len(key) <= 36
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.split("</title>")[1]
    assert "Confusion matrix" in page


# ---------------------------------------------------------------- error paths


def test_missing_predictions_named(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable
) -> None:
    preds = {t: np.zeros((16, 16), np.uint8) for t in list(truth_tree)[:4]}
    with pytest.raises(
        SubmissionError, match=r"missing predictions for 2 of 6 ids: 070002, 070003;.*--subset"
    ):
        score_folders(write_preds(preds), tmp_path / "truth")


def test_extra_predictions_named(tmp_path: Path, truth_tree: Masks, write_preds: Callable) -> None:
    preds = {t: np.zeros((16, 16), np.uint8) for t in truth_tree}
    preds[99] = np.zeros((16, 16), np.uint8)
    with pytest.raises(
        SubmissionError, match=r"1 predictions have no reference mask: 000099; remove them"
    ):
        score_folders(write_preds(preds), tmp_path / "truth")


def test_missing_list_is_capped_at_ten_with_total(tmp_path: Path) -> None:
    for tile in range(1, 31):
        save_tif(tmp_path / "t" / f"MSK_{tile:06d}.tif", np.ones((2, 2), np.uint8))
    save_tif(tmp_path / "p" / "PRED_000001.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(SubmissionError, match=r"000011 \(29 in total\)"):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_subset_scores_matched_ids_with_warnings(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> None:
    preds = preds_from_truth(truth_tree, rng)
    kept = {t: preds[t] for t in list(preds)[:2]}
    kept[99] = np.zeros((16, 16), np.uint8)
    report = score_folders(write_preds(kept), tmp_path / "truth", subset=True)
    assert report.n_patches == 2
    assert any("4 reference ids have no prediction" in w for w in report.warnings)
    assert any("1 predictions have no reference" in w for w in report.warnings)


def test_duplicate_ids_in_two_folders(tmp_path: Path, truth_tree: Masks) -> None:
    for tile in truth_tree:
        save_tif(tmp_path / "p" / "a" / f"PRED_{tile:06d}.tif", np.zeros((16, 16), np.uint8))
    save_tif(tmp_path / "p" / "b" / "PRED_061713.tif", np.zeros((16, 16), np.uint8))
    with pytest.raises(
        SubmissionError,
        match=r"duplicate prediction ids: 061713 \(.*a/PRED_061713.tif, .*b/PRED_061713.tif\)",
    ):
        score_folders(tmp_path / "p", tmp_path / "truth")


def test_pred_and_pred_img_of_one_id_are_duplicates(tmp_path: Path) -> None:
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((2, 2), np.uint8))
    save_tif(tmp_path / "p" / "PRED_000001.tif", np.zeros((2, 2), np.uint8))
    save_tif(tmp_path / "p" / "PRED_IMG_000001.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(SubmissionError, match="duplicate prediction ids: 000001"):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_prediction_of_another_shape(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable
) -> None:
    preds = {t: np.zeros((16, 16), np.uint8) for t in truth_tree}
    preds[61714] = np.zeros((8, 16), np.uint8)
    with pytest.raises(
        SubmissionError,
        match=r"PRED_061714.tif: prediction is 16x8 but reference MSK_061714.tif is 16x16",
    ):
        score_folders(write_preds(preds), tmp_path / "truth", workers=2)


def test_multiband_prediction(tmp_path: Path) -> None:
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((4, 4), np.uint8))
    save_tif(tmp_path / "p" / "PRED_000001.tif", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(
        SubmissionError,
        match=r"PRED_000001.tif: prediction has shape \(4, 4, 3\) \(several bands\); expected one band",
    ):
        score_folders(tmp_path / "p", tmp_path / "t")


@pytest.mark.parametrize(
    "content",
    [b"", b"not a tiff at all", b"II*\x00\x08\x00\x00\x00\x05\x00"],
    ids=["empty", "text", "truncated"],
)
def test_undecodable_prediction(tmp_path: Path, content: bytes) -> None:
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((4, 4), np.uint8))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "PRED_000001.tif").write_bytes(content)
    with pytest.raises(
        SubmissionError,
        match=r"PRED_000001.tif: cannot be decoded by Pillow .*write each prediction",
    ):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_truncated_lzw_prediction(tmp_path: Path, example_submission: Path) -> None:
    whole = (example_submission / "PRED_061946.tif").read_bytes()
    save_tif(tmp_path / "t" / "MSK_061946.tif", np.ones((512, 512), np.uint8))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "PRED_061946.tif").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(SubmissionError, match=r"PRED_061946.tif: cannot be decoded by Pillow"):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_float_prediction_with_fractions(tmp_path: Path) -> None:
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((4, 4), np.uint8))
    save_tif(tmp_path / "p" / "PRED_000001.tif", np.full((4, 4), 0.5, np.float32), compression=None)
    with pytest.raises(
        SubmissionError,
        match=r"non-integer float values \(dtype float32\); expected integer class indices",
    ):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_integral_float_prediction_counts_like_sklearn(tmp_path: Path) -> None:
    truth = np.array([[1, 2], [3, 13]], np.uint8)
    pred = np.array([[0, 1], [5, 12]], np.float32)
    save_tif(tmp_path / "t" / "MSK_000001.tif", truth)
    save_tif(tmp_path / "p" / "PRED_000001.tif", pred, compression=None)
    report = score_folders(tmp_path / "p", tmp_path / "t")
    assert np.array_equal(report.confusion, official_patch_matrix(truth, pred))


def test_no_predictions_at_all(tmp_path: Path, truth_tree: Masks) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pred_000001.tif").write_bytes(b"x")
    with pytest.raises(
        SubmissionError,
        match=r"no PRED_<id>.tif file found .*name each prediction PRED_<6-digit id>.tif",
    ):
        score_folders(tmp_path / "p", tmp_path / "truth")


def test_no_reference_masks(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    with pytest.raises(DataError, match=r"no MSK_<id>.tif reference mask found"):
        pair_predictions(tmp_path, tmp_path / "t")


def test_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=r"nope: not found; expected a folder of PRED files or a .zip"
    ):
        score_folders(tmp_path / "nope", tmp_path)
    (tmp_path / "p").mkdir()
    with pytest.raises(
        MissingFileError, match=r"gone: folder not found; expected a folder of MSK_<id>.tif files"
    ):
        score_folders(tmp_path / "p", tmp_path / "gone")


def test_reference_mask_must_be_uint8(tmp_path: Path) -> None:
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((4, 4), np.int32), compression=None)
    save_tif(tmp_path / "p" / "PRED_000001.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(
        DataError, match=r"MSK_000001.tif: reference mask has dtype int32; expected uint8"
    ):
        score_folders(tmp_path / "p", tmp_path / "t")


def test_unsafe_zip_is_refused_before_extraction(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../../escaped.tif", b"x")
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((2, 2), np.uint8))
    with pytest.raises(
        SubmissionError, match=r"unsafe or invalid zip: \.\./\.\./escaped.tif: path escapes"
    ):
        score_folders(archive, tmp_path / "t")
    assert not (tmp_path.parent / "escaped.tif").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "sub.zip"
    bogus.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(SubmissionError, match=r"sub.zip: not a readable zip archive"):
        score_folders(bogus, tmp_path)


def test_a_png_renamed_tif_is_decoded_like_the_official_scorer(tmp_path: Path) -> None:
    # Pillow sniffs content, not extensions: the official scorer scores such a file, so do we.
    save_tif(tmp_path / "t" / "MSK_000001.tif", np.ones((4, 4), np.uint8))
    (tmp_path / "p").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(
        tmp_path / "p" / "PRED_000001.tif", format="PNG"
    )
    assert score_folders(tmp_path / "p", tmp_path / "t").miou == 1.0


def test_pillow_fast_path_equals_numpy_path_and_official(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from scoring.evaluate import Pair, count_pair
    from scoring.metrics import fold_pair_histogram, pair_histogram

    for case in range(20):
        shape = tuple(rng.integers(1, 40, size=2))
        truth = rng.choice([0, 1, 5, 12, 13, 19, 200, 255], size=shape).astype(np.uint8)
        pred = rng.choice([0, 3, 11, 12, 13, 99, 255], size=shape).astype(np.uint8)
        pair = Pair(
            case,
            save_tif(tmp_path / f"p{case}.tif", pred),
            save_tif(tmp_path / f"t{case}.tif", truth),
            "",
        )
        fast = count_pair(pair)
        assert np.array_equal(fast, pair_histogram(truth, pred))
        tally = fold_pair_histogram(fast)
        assert np.array_equal(tally.confusion, official_patch_matrix(truth, pred))
        assert tally.dropped_pixels == int((pred > 12).sum())
        assert tally.raw_zero_truth_pixels == int((truth == 0).sum())


def test_first_error_stops_the_pool(tmp_path: Path) -> None:
    for tile in range(1, 41):
        save_tif(tmp_path / "t" / f"MSK_{tile:06d}.tif", np.ones((4, 4), np.uint8))
        save_tif(tmp_path / "p" / f"PRED_{tile:06d}.tif", np.zeros((4, 4), np.uint8))
    (tmp_path / "p" / "PRED_000003.tif").write_bytes(b"broken")
    with pytest.raises(SubmissionError, match=r"PRED_000003.tif: cannot be decoded"):
        score_folders(tmp_path / "p", tmp_path / "t", workers=2)


def _zipped_predictions(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> Path:
    """Predictions written to tmp/pred, zipped as tmp/submission.zip."""
    pred_dir = write_preds(preds_from_truth(truth_tree, rng))
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(pred_dir.iterdir()):
            handle.write(path, path.name)
    return archive


@pytest.fixture
def zipped(
    tmp_path: Path, truth_tree: Masks, write_preds: Callable, rng: np.random.Generator
) -> Path:
    return _zipped_predictions(tmp_path, truth_tree, write_preds, rng)


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private folder standing for the system's temporary folder (TMPDIR)."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _record_extractions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Where each zip is extracted (the real extraction still runs)."""
    seen: list[Path] = []

    def recording(path: Path, destination: Path) -> None:
        seen.append(destination)
        extract_zip_safely(path, destination)

    monkeypatch.setattr(evaluate, "extract_zip_safely", recording)
    return seen


def _stale_scratch(beside: Path) -> Path:
    """A scratch folder beside ``beside`` as a killed (kill -9) run leaves it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = beside.with_name(f".{beside.name}.flair-kit-{child.pid}-0123abcd.partial")
    stale.mkdir()
    (stale / "PRED_000001.tif").write_bytes(b"left by kill -9")
    return stale


def test_a_zip_is_extracted_beside_the_output_and_a_killed_runs_scratch_is_removed(
    tmp_path: Path,
    truth_tree: Masks,
    zipped: Path,
    system_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "out").mkdir()
    output = tmp_path / "out" / "report.json"
    stale = _stale_scratch(output)
    seen = _record_extractions(monkeypatch)
    report = score_folders(zipped, tmp_path / "truth", scratch_beside=output)
    assert report.n_patches == len(truth_tree)
    assert len(seen) == 1 and seen[0].parent == output.parent
    assert owner_pid(seen[0], output) == os.getpid()  # a kit temporary, recognised when stale
    assert list(output.parent.iterdir()) == []  # the stale one removed, ours too
    assert not stale.exists() and list(system_tmp.iterdir()) == []


def test_without_output_a_zip_is_extracted_in_tmpdir_whose_stale_scratch_is_removed(
    tmp_path: Path,
    truth_tree: Masks,
    zipped: Path,
    system_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = _stale_scratch(system_tmp / SUBMISSION_SCRATCH)
    live = system_tmp / f".{SUBMISSION_SCRATCH}.flair-kit-{os.getppid()}-0123abcd.partial"
    live.mkdir()  # a running process's scratch is never touched
    seen = _record_extractions(monkeypatch)
    assert score_folders(zipped, tmp_path / "truth").n_patches == len(truth_tree)
    assert len(seen) == 1 and seen[0].parent == system_tmp
    assert not stale.exists() and not seen[0].exists()
    assert list(system_tmp.iterdir()) == [live]


@pytest.mark.parametrize(
    ("code", "beside", "fragments"),
    [
        (
            errno.ENOSPC,
            False,
            ["{tmp}: the disk is full (No space left on device) in this temporary folder",
             "free space there, or set TMPDIR", "TMPDIR chooses the temporary folder"],
        ),
        (
            errno.EROFS,
            False,
            ["{tmp}: the file system is read-only", "or set TMPDIR to another folder"],
        ),
        (
            errno.ENOSPC,
            True,
            ["{out}: the disk is full (No space left on device) while extracting {zip} beside",
             "free space on that disk"],
        ),
    ],
)  # fmt: skip
def test_a_failure_to_extract_names_the_scratch_folder_and_how_to_move_it(
    tmp_path: Path,
    truth_tree: Masks,
    zipped: Path,
    system_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    beside: bool,
    fragments: list[str],
) -> None:
    output = tmp_path / "report.json"

    def failing(path: Path, destination: Path) -> None:
        (destination / "PRED_000001.tif").write_bytes(b"partly")
        raise OSError(code, os.strerror(code))  # as a write on a full disk: no file name

    monkeypatch.setattr(evaluate, "extract_zip_safely", failing)
    with pytest.raises(ScratchSpaceError) as caught:
        score_folders(zipped, tmp_path / "truth", scratch_beside=output if beside else None)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment.format(tmp=system_tmp, out=output, zip=zipped) in message, message
    assert isinstance(caught.value, OSError)  # still an OSError for callers that catch those
    assert list(system_tmp.iterdir()) == [] and not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.json.")]
