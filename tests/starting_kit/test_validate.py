"""Tests of ``validate``: the real example submission, the hostile corpus, every check and the CLI."""

from __future__ import annotations

import io
import lzma
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from scoring import zipsafe
from scoring.errors import ConfigError, DataError, MissingFileError, SubmissionError
from scoring.evaluate import score_folders
from starting_kit.cli import app
from starting_kit.expect import expected_ids, format_id_ranges, parse_id_ranges
from starting_kit.pathlists import read_path_list
from starting_kit.submission import Problem, ValidationReport, render_report, validate_submission
from starting_kit.validate import (
    container_format,
    name_findings,
    tiff_compression,
)
from tests.starting_kit.conftest import IGN_REFERENCE
from tests.starting_kit.corpus import (
    CORPUS_IDS,
    CORPUS_SIZE,
    HostileCase,
    corpus_classes,
    official_like,
    pillow_bytes,
    write_zip,
)

runner = CliRunner()


def validate(path: Path, expect: Path | str | None = None, **options: object) -> ValidationReport:
    options.setdefault("expected_size", CORPUS_SIZE)
    options.setdefault("workers", 1)
    return validate_submission(path, expect=expect, **options)  # type: ignore[arg-type]


def messages(report: ValidationReport) -> list[str]:
    return [str(problem) for problem in report.problems]


# --- acceptance: IGN's real example submission -------------------------------------------------


def test_ign_example_submission_is_valid_against_the_toy_test_ids(
    ign_example_submission: Path,
) -> None:
    report = validate_submission(ign_example_submission, expect="flair1-toy-test")
    assert report.problems == ()
    assert report.ok and report.n_files == 50 and len(report.ids) == 50
    assert set(report.ids) == expected_ids("flair1-toy-test")


def test_ign_example_submission_misses_most_of_the_full_test_set(
    ign_example_submission: Path,
) -> None:
    report = validate_submission(ign_example_submission, expect="flair1-test", workers=1)
    assert not report.ok
    assert [p.message[:48] for p in report.errors] == [
        "missing predictions for 15,650 of 15,700 expecte"
    ]


def test_ign_example_folder_is_valid_too(ign_example_folder: Path) -> None:
    assert validate_submission(ign_example_folder, expect="flair1-toy-test").problems == ()


# --- built-in id lists --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "csv_name", "count"),
    [
        ("flair1-test", "flair-1-paths-test.csv", 15700),
        ("flair1-toy-test", "flair-1-paths-toy-test.csv", 50),
    ],
)
def test_builtin_id_lists_match_ign_path_lists(
    name: str, csv_name: str, count: int, tmp_path: Path
) -> None:
    ids = expected_ids(name)
    assert len(ids) == count
    csv_path = IGN_REFERENCE / csv_name
    if not csv_path.is_file():  # the full list is vendored xz-compressed (2.0 MB -> 16 KB)
        csv_path = tmp_path / csv_name
        csv_path.write_bytes(lzma.decompress((IGN_REFERENCE / f"{csv_name}.xz").read_bytes()))
    assert ids == {row.tile for row in read_path_list(csv_path)}
    assert expected_ids(csv_path) == ids


def test_full_test_set_is_one_contiguous_range() -> None:
    assert format_id_ranges(expected_ids("flair1-test")) == "061713-077412\n"


def test_id_ranges_round_trip() -> None:
    ids = {1, 2, 3, 7, 61713, 61714, 99999}
    assert parse_id_ranges(format_id_ranges(ids)) == ids
    assert format_id_ranges([]) == ""


@pytest.mark.parametrize(
    ("text", "match"),
    [("000001\nabc\n", r"ids\.txt:2: 'abc' is not an id"), ("000009-000003\n", "runs backwards")],
)
def test_malformed_id_list_names_the_line(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_id_ranges(text, origin="ids.txt")


def test_expected_ids_from_folders(tmp_path: Path) -> None:
    images = tmp_path / "test" / "D012_2019" / "Z1_UU" / "img"
    images.mkdir(parents=True)
    for tile in (61713, 61714):
        (images / f"IMG_{tile:06d}.tif").write_bytes(b"")
    assert expected_ids(tmp_path / "test") == {61713, 61714}
    masks = tmp_path / "labels"
    masks.mkdir()
    (masks / "MSK_061713.tif").write_bytes(b"")
    assert expected_ids(masks) == {61713}


def test_expected_ids_refuses_images_and_masks_that_disagree(tmp_path: Path) -> None:
    (tmp_path / "IMG_000001.tif").write_bytes(b"")
    (tmp_path / "MSK_000002.tif").write_bytes(b"")
    with pytest.raises(DataError, match=r"different ids.*point --expect at the test image folder"):
        expected_ids(tmp_path)


def test_expected_ids_refuses_a_folder_without_tiles(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape("no IMG_<id>.tif or MSK_<id>.tif file found")):
        expected_ids(tmp_path)


def test_expected_ids_refuses_an_empty_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "empty.csv"
    csv_path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="the path list has no row"):
        expected_ids(csv_path)


def test_expected_ids_refuses_an_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match="flair1-tset: not found; --expect takes a built-in name"
    ):
        expected_ids("flair1-tset")


def test_builtin_ids_refuses_unknown_names() -> None:
    from starting_kit.expect import builtin_ids

    with pytest.raises(ConfigError, match="'flair3' is not a built-in id list"):
        builtin_ids("flair3")


# --- the hostile corpus -------------------------------------------------------------------------


def test_corpus_covers_every_check(hostile_cases: list[HostileCase]) -> None:
    names = {case.name for case in hostile_cases}
    assert len(hostile_cases) >= 25
    assert len(names) == len(hostile_cases)
    required = {
        "zip_bomb",
        "zip_slip",
        "symlink",
        "truncated_tiff",
        "png_renamed",
        "two_band",
        "wrong_size",
        "float_values",
        "duplicate_in_two_folders",
        "encrypted",
        "nested_zip",
        "metadata_entry",
        "empty_zip",
        "not_a_zip",
        "other_name",
        "pred_img_name",
        "values_out_of_range",
        "one_based",
        "constant_mask",
        "uncompressed",
        "missing_id",
        "extra_id",
        "inside_a_folder",
        "absolute_path",
    }
    assert required <= names
    assert all(case.is_zip == case.path.is_file() for case in hostile_cases)


def test_every_hostile_case_reports_its_message(hostile_cases: list[HostileCase]) -> None:
    failures = []
    for case in hostile_cases:
        report = validate(case.path, case.expect, strict=case.strict, expected_size=case.size)
        hits = [p for p in report.problems if case.expected in p.message]
        if (
            not hits
            or hits[0].severity != case.severity
            or report.ok != (case.severity == "warning")
        ):
            failures.append(f"{case.name}: {messages(report)}")
    assert failures == []


def test_warning_cases_carry_no_other_problem(hostile_cases: list[HostileCase]) -> None:
    for case in hostile_cases:
        if case.severity == "warning":
            report = validate(case.path, case.expect, strict=case.strict, expected_size=case.size)
            assert {p.severity for p in report.problems} == {"warning"}, case.name


def test_encrypted_case_is_real_zipcrypto(hostile_cases: list[HostileCase], tmp_path: Path) -> None:
    from tests.starting_kit.corpus import PASSWORD, good_files

    case = next(c for c in hostile_cases if c.name == "encrypted")
    with zipfile.ZipFile(case.path) as archive:
        names = archive.namelist()
        with pytest.raises(RuntimeError, match="password required"):
            archive.read(names[0])
        data = archive.read(names[0], pwd=PASSWORD)
    assert data == good_files(tmp_path)[names[0]]


def test_zip_safety_errors_also_stop_score(hostile_cases: list[HostileCase]) -> None:
    # flair-kit score reads zips through the same scoring.zipsafe checks.
    for name in ("zip_slip", "symlink", "encrypted", "zip_bomb", "metadata_entry"):
        case = next(c for c in hostile_cases if c.name == name)
        with pytest.raises(SubmissionError, match="unsafe or invalid zip"):
            score_folders(case.path, case.expect)


@pytest.mark.parametrize(
    "name",
    ["zip_slip", "zip_bomb", "symlink", "absolute_path", "not_a_zip", "empty_zip"],
)
def test_safety_errors_do_not_cascade_into_id_errors(
    hostile_cases: list[HostileCase], name: str
) -> None:
    case = next(c for c in hostile_cases if c.name == name)
    report = validate(case.path, case.expect)
    assert len(report.problems) == 1, messages(report)
    assert case.expected in report.problems[0].message


# --- whole submissions --------------------------------------------------------------------------


def test_good_folder_and_zip_have_no_problem(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    report = validate(good_prediction_folder, corpus_reference)
    assert report.problems == ()
    assert report.ids == CORPUS_IDS and report.n_files == 4 and report.expected == 4
    files = {p.name: p.read_bytes() for p in good_prediction_folder.iterdir()}
    zipped = write_zip(tmp_path / "good.zip", files)
    assert validate(zipped, corpus_reference).problems == ()


def test_platform_debris_is_ignored(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    files = {p.name: p.read_bytes() for p in good_prediction_folder.iterdir()}
    files["__MACOSX/._PRED_061713.tif"] = b"\0\5\26\7 AppleDouble"
    files[".DS_Store"] = b"junk"
    files["__MACOSX/"] = b""
    report = validate(write_zip(tmp_path / "mac.zip", files), corpus_reference)
    assert report.problems == () and report.n_files == 4
    (good_prediction_folder / ".DS_Store").write_bytes(b"junk")
    assert validate(good_prediction_folder, corpus_reference).problems == ()


def test_every_problem_is_collected(tmp_path: Path, corpus_reference: Path) -> None:
    classes = corpus_classes(CORPUS_IDS[0])
    files = {
        "PRED_061713.tif": b"garbage",
        "PRED_061714.tif": pillow_bytes(classes.astype(np.uint16)),
        "PRED_IMG_061715.tif": official_like(classes),
        "notes.txt": b"hello",
        "PRED_000001.tif": official_like(classes),
    }
    report = validate(write_zip(tmp_path / "many.zip", files), corpus_reference)
    wheres = {p.where for p in report.problems}
    assert wheres == {"", "PRED_061713.tif", "PRED_061714.tif", "PRED_IMG_061715.tif", "notes.txt"}
    assert len(report.errors) == 5  # garbage, uint16, notes.txt, missing 061716, extra 000001
    assert len(report.warnings) == 1
    assert report.problems[0].where == ""  # whole-submission errors first
    assert report.problems[-1].severity == "warning"


def test_strict_turns_dropped_values_into_errors(tmp_path: Path, corpus_reference: Path) -> None:
    classes = corpus_classes(CORPUS_IDS[0])
    classes[0, :] = 200
    files = {f"PRED_{t:06d}.tif": official_like(corpus_classes(t)) for t in CORPUS_IDS[1:]}
    files["PRED_061713.tif"] = official_like(classes)
    path = write_zip(tmp_path / "drop.zip", files)
    lenient = validate(path, corpus_reference)
    strict = validate(path, corpus_reference, strict=True)
    assert lenient.ok and not strict.ok
    expected = "32 of 1,024 pixels hold values outside 0..12 (range 0..200)"
    assert [p.message[: len(expected)] for p in strict.errors] == [expected]


def test_parallel_workers_give_the_same_report(hostile_cases: list[HostileCase]) -> None:
    case = next(c for c in hostile_cases if c.name == "duplicate_in_two_folders")
    calls: list = []
    serial = validate(case.path, case.expect, workers=1)
    parallel = validate(
        case.path, case.expect, workers=2, progress=lambda d, t: calls.append((d, t))
    )
    assert serial == parallel
    assert calls[-1] == (5, 5) and len(calls) > 1


def test_parallel_workers_read_folders_too(
    good_prediction_folder: Path, corpus_reference: Path
) -> None:
    assert validate(good_prediction_folder, corpus_reference, workers=2).problems == ()


def test_ids_are_not_checked_without_expect(hostile_cases: list[HostileCase]) -> None:
    case = next(c for c in hostile_cases if c.name == "missing_id")
    report = validate(case.path)
    assert report.ok and report.expected is None and len(report.ids) == 3


def test_entry_count_cap_skips_reading(good_prediction_folder: Path, tmp_path: Path) -> None:
    files = {p.name: p.read_bytes() for p in good_prediction_folder.iterdir()}
    path = write_zip(tmp_path / "four.zip", files)
    report = validate(path, limits=zipsafe.ZipLimits(max_entries=3))
    assert messages(report) == ["error: 4 entries, more than the cap of 3"]


def test_missing_submission_raises(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=re.escape("nope.zip: not found; expected a submission .zip")
    ):
        validate(tmp_path / "nope.zip")


def test_folder_symlink_to_a_real_file_is_a_warning(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.tif"
    link = good_prediction_folder / "PRED_061713.tif"
    target.write_bytes(link.read_bytes())
    link.unlink()
    link.symlink_to(target)
    report = validate(good_prediction_folder, corpus_reference)
    assert messages(report) == [
        "warning: PRED_061713.tif: symbolic link: the file it points to is read (and packed as a regular file)"
    ]


def test_rasterio_written_prediction_is_accepted_with_a_name_warning(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    folder = tmp_path / "preds"
    folder.mkdir()
    classes = corpus_classes(CORPUS_IDS[0])
    profile = {
        "driver": "GTiff",
        "width": CORPUS_SIZE,
        "height": CORPUS_SIZE,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0, 900000, 0, -0.2, 6500000),
        "compress": "lzw",
    }
    with rasterio.open(folder / "PRED_IMG_061713.tif", "w", **profile) as sink:
        sink.write(classes, 1)
    report = validate(folder)
    assert [p.severity for p in report.problems] == ["warning"]
    assert "PRED_IMG_<id>.tif is the name IGN's newer library writes" in report.problems[0].message


def test_oversized_folder_file_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "PRED_061713.tif").write_bytes(b"\0" * 2048)
    report = validate(folder, limits=zipsafe.ZipLimits(max_entry_bytes=1024))
    assert messages(report) == [
        "error: PRED_061713.tif: 2048 bytes, far larger than a prediction (cap 1024)"
    ]


# --- the safe entry reader (scoring.zipsafe.read_entry) -----------------------------------------


def test_read_entry_enforces_the_cap_on_actual_bytes(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "big.zip", {"PRED_061713.tif": b"x" * 5000})
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
        assert zipsafe.read_entry(archive, info) == b"x" * 5000
        with pytest.raises(
            SubmissionError,
            match=re.escape("PRED_061713.tif: expands beyond the cap of 4096 bytes"),
        ):
            zipsafe.read_entry(archive, info, zipsafe.ZipLimits(max_entry_bytes=4096))


# --- pure checks --------------------------------------------------------------------------------


def _tiff(compression: str | None) -> bytes:
    return pillow_bytes(np.zeros((4, 4), np.uint8), compression=compression)


@pytest.mark.parametrize(
    ("compression", "code"),
    [(None, 1), ("tiff_lzw", 5), ("tiff_adobe_deflate", 8), ("packbits", 32773)],
)
def test_tiff_compression_reads_the_tag(compression: str | None, code: int) -> None:
    assert tiff_compression(_tiff(compression)) == code


def test_tiff_compression_reads_big_endian_and_bigtiff_headers() -> None:
    # Hand-made: one directory with ImageWidth (256) and Compression (259) = LZW.
    classic = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 2)
    classic += struct.pack(">HHIHH", 256, 3, 1, 4, 0) + struct.pack(">HHIHH", 259, 3, 1, 5, 0)
    assert tiff_compression(classic + b"\0\0\0\0") == 5
    big = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 1)
    big += struct.pack("<HHQHxxxxxx", 259, 3, 1, 8)
    assert tiff_compression(big) == 8
    assert container_format(big) == "BigTIFF"


@pytest.mark.parametrize("data", [b"", b"II*\x00\xff\xff\xff\xff", b"XX*\x00", b"II\x2b\x01"])
def test_tiff_compression_gives_none_for_unparseable_headers(data: bytes) -> None:
    assert tiff_compression(data) is None


def test_tiff_without_compression_tag_means_none() -> None:
    data = (
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", 1)
        + struct.pack("<HHIHH", 256, 3, 1, 4, 0)
    )
    assert tiff_compression(data + b"\0\0\0\0") == 1


@pytest.mark.parametrize(
    ("name", "blocking", "fixable"),
    [
        ("PRED_061713.tif", [], []),
        ("PRED_IMG_061713.tif", [], ["warning"]),
        ("PRED_IMG_61713.tif", [], ["error"]),
        ("PRED_61713.tif", [], ["error"]),
        ("PRED_1234567.tif", ["error"], []),
    ],
)
def test_name_findings(name: str, blocking: list, fixable: list) -> None:
    found_blocking, found_fixable = name_findings(name)
    assert [s for s, _ in found_blocking] == blocking
    assert [s for s, _ in found_fixable] == fixable


def test_name_findings_refuses_non_pred_names() -> None:
    with pytest.raises(ValueError, match=re.escape("'MSK_000001.tif' is not a PRED file name")):
        name_findings("MSK_000001.tif")


def test_palette_and_bilevel_masks(tmp_path: Path) -> None:
    classes = corpus_classes(CORPUS_IDS[0])
    palette = Image.fromarray(classes).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, format="TIFF", compression="tiff_lzw")
    bilevel = io.BytesIO()
    Image.fromarray(classes > 6).save(bilevel, format="TIFF")
    files = {"PRED_061713.tif": buffer.getvalue(), "PRED_061714.tif": bilevel.getvalue()}
    report = validate(write_zip(tmp_path / "modes.zip", files))
    assert "PRED_061713.tif" not in {p.where for p in report.problems}
    assert [p.message[:10] for p in report.problems if p.where == "PRED_061714.tif"] == [
        "dtype bool",
        "compressio",
    ]


# --- rendering ----------------------------------------------------------------------------------


def test_render_report_limits_and_totals() -> None:
    problems = tuple(Problem("error", f"PRED_{i:06d}.tif", "broken") for i in range(25))
    report = ValidationReport(
        (*problems, Problem("warning", "", "look")), 26, tuple(range(25)), 15700
    )
    text = render_report(report, limit=20).splitlines()
    assert len(text) == 22
    assert text[20] == "... 6 more problems not shown"
    assert (
        text[21] == "INVALID: 25 errors, 1 warning in 26 files (25 PRED ids; expected 15,700 ids)"
    )
    assert render_report(ValidationReport((), 1, (5,), None)) == (
        "valid: 0 errors, 0 warnings in 1 file (1 PRED ids; ids not checked: pass --expect)\n"
    )


# --- command line -------------------------------------------------------------------------------


def test_cli_validate_real_example_exits_0(ign_example_submission: Path) -> None:
    result = runner.invoke(
        app, ["validate", str(ign_example_submission), "--expect", "flair1-toy-test"]
    )
    assert result.exit_code == 0, result.output
    assert "valid: 0 errors, 0 warnings in 50 files" in result.stdout


def test_cli_validate_lists_problems_and_exits_1(hostile_cases: list[HostileCase]) -> None:
    case = next(c for c in hostile_cases if c.name == "zip_slip")
    result = runner.invoke(
        app,
        [
            "validate",
            str(case.path),
            "--expect",
            str(case.expect),
            "--size",
            str(CORPUS_SIZE),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 1
    assert "error: ../PRED_061713.tif: path escapes the archive with '..'" in result.stdout
    assert "INVALID: 1 error, 0 warnings in 4 files (4 PRED ids; expected 4 ids)" in result.stdout


def test_cli_validate_show_and_strict(hostile_cases: list[HostileCase]) -> None:
    case = next(c for c in hostile_cases if c.name == "values_out_of_range")
    base = ["validate", str(case.path), "--size", str(CORPUS_SIZE), "--workers", "1"]
    lenient = runner.invoke(app, base)
    assert (
        lenient.exit_code == 0 and "warning: PRED_061713.tif: 128 of 1,024 pixels" in lenient.stdout
    )
    strict = runner.invoke(app, [*base, "--strict", "--show", "0"])
    assert strict.exit_code == 1
    assert (
        strict.stdout
        == "... 1 more problems not shown\nINVALID: 1 error, 0 warnings in 4 files (4 PRED ids; ids not checked: pass --expect)\n"
    )


def test_cli_validate_default_size_is_512(good_prediction_folder: Path) -> None:
    result = runner.invoke(app, ["validate", str(good_prediction_folder), "--workers", "1"])
    assert result.exit_code == 1
    assert "32x32 pixels; expected 512x512" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.zip"], "missing.zip: not found"),
        (
            ["{good}", "--expect", "flair9-test"],
            "flair9-test: not found; --expect takes a built-in name",
        ),
    ],
)
def test_cli_validate_domain_errors_exit_1(
    args: list, message: str, good_prediction_folder: Path
) -> None:
    args = [a.replace("{good}", str(good_prediction_folder)) for a in args]
    result = runner.invoke(app, ["validate", *args])
    assert result.exit_code == 1
    assert message in result.stderr


def test_truncated_gdal_only_tiff_is_not_rescued(tmp_path: Path) -> None:
    from tests.starting_kit.corpus import gdal_bytes

    data = gdal_bytes(corpus_classes(CORPUS_IDS[0]).astype(np.int64))
    report = validate(write_zip(tmp_path / "t.zip", {"PRED_061713.tif": data[: len(data) // 2]}))
    assert [p.severity for p in report.problems] == ["error"]
    assert report.problems[0].message.startswith("cannot be decoded by Pillow")
    assert "--fix" not in report.problems[0].message


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            zipsafe.ZipLimits(max_total_bytes=3000),
            "total uncompressed size 4096 bytes exceeds 3000",
        ),
        (
            zipsafe.ZipLimits(max_entry_bytes=1000),
            "uncompressed size 1024 bytes exceeds the cap of 1000",
        ),
    ],
)
def test_zip_size_caps(tmp_path: Path, limits: zipsafe.ZipLimits, message: str) -> None:
    files = {f"PRED_{t:06d}.tif": bytes(range(256)) * 4 for t in CORPUS_IDS}
    path = write_zip(tmp_path / "big.zip", files, compression=zipfile.ZIP_STORED)
    report = validate(path, limits=limits)
    assert not report.ok
    assert any(message in p.message for p in report.errors), messages(report)


@pytest.mark.parametrize("command", ["validate", "pack"])
def test_cli_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--expect" in result.stdout and "--size" in result.stdout


def test_a_size_mismatch_says_how_to_validate_toy_data_of_another_patch_size(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(
        folder / "PRED_000001.tif", compression="tiff_lzw"
    )
    report = validate_submission(folder)
    (problem,) = [p for p in report.problems if "64x64 pixels" in p.message]
    assert "expected 512x512" in problem.message
    assert (
        "pass --expect DATASET_TEST_FOLDER (the size is read from it) or --size N"
        in problem.message
    )
