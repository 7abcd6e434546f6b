"""Tests of ``pack``: byte-identical packing of IGN's example, --fix, atomic writing, the CLI."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import starting_kit.pack
from scoring.atomic import owner_pid
from scoring.errors import ConfigError, MissingFileError, OutputExistsError, SubmissionError
from starting_kit.cli import app
from starting_kit.submission import (
    InvalidSubmissionError,
    PackResult,
    pack_submission,
    validate_submission,
)
from starting_kit.validate.listing import CheckOptions
from tests.starting_kit.corpus import (
    CORPUS_IDS,
    CORPUS_SIZE,
    corpus_classes,
    official_bytes,
    official_like,
    pillow_bytes,
)

runner = CliRunner()


def pack(pred_dir: Path, output: Path, **options: object) -> PackResult:
    options.setdefault("expected_size", CORPUS_SIZE)
    options.setdefault("workers", 1)
    return pack_submission(pred_dir, output, **options)  # type: ignore[arg-type]


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- acceptance: IGN's real example -------------------------------------------------------------


def test_packing_ign_example_gives_identical_members(
    ign_example_submission: Path, ign_example_folder: Path, tmp_path: Path
) -> None:
    output = tmp_path / "submission.zip"
    result = pack_submission(ign_example_folder, output, expect="flair1-toy-test")
    assert result.report.problems == () and result.fixed == ()
    assert result.n_files == 50 and result.size_bytes == output.stat().st_size
    assert members(output) == members(ign_example_submission)
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    assert all("/" not in info.filename for info in infos)
    assert all(stat.S_IMODE(info.external_attr >> 16) == 0o644 for info in infos)
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert validate_submission(output, expect="flair1-toy-test").problems == ()


def test_fix_leaves_official_files_alone(
    ign_example_folder: Path, ign_example_submission: Path, tmp_path: Path
) -> None:
    result = pack_submission(ign_example_folder, tmp_path / "s.zip", fix=True, workers=2)
    assert result.fixed == ()
    assert members(tmp_path / "s.zip") == members(ign_example_submission)


# --- packing a folder ---------------------------------------------------------------------------


def test_pack_finds_files_recursively_and_writes_flat(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    nested = good_prediction_folder / "D012_2019" / "Z1_UU"
    nested.mkdir(parents=True)
    shutil.move(str(good_prediction_folder / "PRED_061713.tif"), nested / "PRED_061713.tif")
    (good_prediction_folder / "__MACOSX").mkdir()
    (good_prediction_folder / "__MACOSX" / "._PRED_061714.tif").write_bytes(b"junk")
    (good_prediction_folder / "log.txt").write_text("epoch 1", encoding="utf-8")
    output = tmp_path / "out" / "submission.zip"
    result = pack(good_prediction_folder, output, expect=corpus_reference)
    assert sorted(members(output)) == [f"PRED_{t:06d}.tif" for t in CORPUS_IDS]
    assert [str(p) for p in result.report.problems] == [
        "warning: 1 files are not named PRED_<id>.tif and are left out of the archive: log.txt"
    ]
    assert validate(output, corpus_reference).problems == ()


def validate(path: Path, expect: Path) -> object:
    return validate_submission(path, expect=expect, expected_size=CORPUS_SIZE, workers=1)


def test_pack_refuses_invalid_predictions_and_writes_nothing(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    (good_prediction_folder / "PRED_061713.tif").write_bytes(b"not a tiff")
    sub = good_prediction_folder / "b"
    sub.mkdir()
    shutil.copy(good_prediction_folder / "PRED_061714.tif", sub / "PRED_061714.tif")
    output = tmp_path / "out" / "submission.zip"
    with pytest.raises(
        InvalidSubmissionError, match="not packed, nothing written: 2 errors"
    ) as caught:
        pack(good_prediction_folder, output, expect=corpus_reference)
    assert isinstance(caught.value, SubmissionError)
    assert {p.where for p in caught.value.report.errors} == {"", "PRED_061713.tif"}
    assert "id 061714 occurs in 2 files" in str(caught.value)
    assert not output.parent.exists() or leftovers(output.parent) == []


def test_pack_checks_expected_ids(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    (good_prediction_folder / "PRED_061716.tif").unlink()
    with pytest.raises(
        InvalidSubmissionError, match="missing predictions for 1 of 4 expected ids: 061716"
    ):
        pack(good_prediction_folder, tmp_path / "s.zip", expect=corpus_reference)
    assert leftovers(tmp_path) == ["predictions", "reference"]


def test_pack_refuses_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidSubmissionError, match="the submission is empty"):
        pack(tmp_path / "empty", tmp_path / "s.zip")


def test_strict_pack_refuses_dropped_values(good_prediction_folder: Path, tmp_path: Path) -> None:
    classes = corpus_classes(CORPUS_IDS[0])
    classes[0, 0] = 13
    (good_prediction_folder / "PRED_061713.tif").write_bytes(official_like(classes))
    assert pack(good_prediction_folder, tmp_path / "lenient.zip").report.warnings
    with pytest.raises(
        InvalidSubmissionError, match=re.escape("1 of 1,024 pixels hold values outside 0..12")
    ):
        pack(good_prediction_folder, tmp_path / "strict.zip", strict=True)


def test_pack_refuses_more_files_than_the_zip_cap(
    good_prediction_folder: Path, tmp_path: Path
) -> None:
    from scoring.zipsafe import ZipLimits

    with pytest.raises(InvalidSubmissionError, match="4 files, more than the zip cap of 3"):
        pack(good_prediction_folder, tmp_path / "s.zip", limits=ZipLimits(max_entries=3))


# --- --fix --------------------------------------------------------------------------------------


def _broken_in_form(folder: Path) -> dict[str, np.ndarray]:
    """Replace the good files by files valid in content but not in form; returns id -> classes."""
    for path in folder.iterdir():
        path.unlink()
    classes = {t: corpus_classes(t) for t in CORPUS_IDS}
    a, b, c, d = CORPUS_IDS
    (folder / f"PRED_IMG_{a:06d}.tif").write_bytes(pillow_bytes(classes[a], compression=None))
    (folder / f"PRED_{b:06d}.tif").write_bytes(pillow_bytes(classes[b].astype(np.uint16)))
    (folder / f"PRED_{c:06d}.tif").write_bytes(pillow_bytes(np.dstack([classes[c]] * 3)))
    (folder / "sub").mkdir()
    (folder / "sub" / f"PRED_{d}.tif").write_bytes(pillow_bytes(classes[d], fmt="PNG"))
    return classes


def test_fix_re_encodes_into_the_official_format(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    classes = _broken_in_form(good_prediction_folder)
    before = digest(good_prediction_folder)
    output = tmp_path / "fixed.zip"
    result = pack(good_prediction_folder, output, expect=corpus_reference, fix=True, workers=2)
    assert digest(good_prediction_folder) == before  # originals untouched
    assert result.fixed == (
        "PRED_061714.tif",
        "PRED_061715.tif",
        "PRED_IMG_061713.tif",
        "sub/PRED_61716.tif",
    )
    assert result.report.problems == ()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    expected = {f"PRED_{t:06d}.tif": official_bytes(classes[t], scratch) for t in CORPUS_IDS}
    assert members(output) == expected
    assert validate(output, corpus_reference).problems == ()


def test_without_fix_form_errors_stop_packing_and_say_fix(
    good_prediction_folder: Path, tmp_path: Path
) -> None:
    _broken_in_form(good_prediction_folder)
    with pytest.raises(InvalidSubmissionError, match=r"4 errors \(4 can be repaired with --fix\)"):
        pack(good_prediction_folder, tmp_path / "s.zip")


def test_fix_keeps_warning_only_files_as_they_are_without_fix(
    good_prediction_folder: Path, tmp_path: Path
) -> None:
    data = pillow_bytes(corpus_classes(CORPUS_IDS[0]), compression=None)
    (good_prediction_folder / "PRED_061713.tif").write_bytes(data)
    result = pack(good_prediction_folder, tmp_path / "s.zip")
    assert members(tmp_path / "s.zip")["PRED_061713.tif"] == data
    assert [p.message[:16] for p in result.report.problems] == ["compression none"]


def test_fix_does_not_touch_invalid_content(good_prediction_folder: Path, tmp_path: Path) -> None:
    classes = corpus_classes(CORPUS_IDS[0])
    classes[:2] = 255
    uncompressed_dropped = pillow_bytes(classes, compression=None)
    (good_prediction_folder / "PRED_061713.tif").write_bytes(uncompressed_dropped)
    result = pack(good_prediction_folder, tmp_path / "s.zip", fix=True)
    assert result.fixed == ()
    assert members(tmp_path / "s.zip")["PRED_061713.tif"] == uncompressed_dropped
    assert sorted(p.message[:16] for p in result.report.warnings) == [
        "64 of 1,024 pixe",
        "compression none",
    ]
    small = pillow_bytes(corpus_classes(CORPUS_IDS[1], 16).astype(np.uint16))
    (good_prediction_folder / "PRED_061714.tif").write_bytes(small)
    with pytest.raises(InvalidSubmissionError, match="16x16 pixels; expected 32x32"):
        pack(good_prediction_folder, tmp_path / "t.zip", fix=True)


def test_fix_refuses_values_it_cannot_re_encode_naming_them_without_advising_fix(
    good_prediction_folder: Path, tmp_path: Path
) -> None:
    wide = corpus_classes(CORPUS_IDS[0]).astype(np.uint16)
    wide[:8] += 256  # classes 256..268: no uint8 can keep them
    outside = wide[wide > 12]
    (good_prediction_folder / "PRED_061713.tif").write_bytes(pillow_bytes(wide))
    expected = (
        f"values {outside.min()}..{outside.max()} (outside 0..12) cannot be re-encoded as uint8; "
        "write class indices 0..12"
    )
    with pytest.raises(InvalidSubmissionError) as caught:
        pack(good_prediction_folder, tmp_path / "s.zip", fix=True)
    assert expected in str(caught.value) and "--fix" not in str(caught.value)
    args = ["pack", str(good_prediction_folder), "-o", str(tmp_path / "s.zip")]
    result = runner.invoke(app, [*args, "--size", str(CORPUS_SIZE), "--fix"])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: PRED_061713.tif: dtype uint16") and expected in first, first
    assert "--fix" not in result.stderr, result.stderr
    assert not (tmp_path / "s.zip").exists()
    # without --fix the same file is still said to need it
    plain = runner.invoke(app, [*args, "--size", str(CORPUS_SIZE)])
    assert "flair-kit pack --fix re-encodes it" in plain.stderr


def test_fix_works_in_a_scratch_folder_beside_the_output_that_a_rerun_cleans(
    good_prediction_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_in_form(good_prediction_folder)
    output = tmp_path / "out" / "fixed.zip"
    output.parent.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = output.with_name(f".fixed.zip.flair-kit-{child.pid}-0123abcd.partial")
    stale.mkdir()  # as a kill -9 of pack --fix leaves it
    (stale / "PRED_061713.tif").write_bytes(b"left by kill -9")
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    seen: list[Path | None] = []
    real = starting_kit.pack.check_members

    def recording(members: object, options: CheckOptions, **kwargs: object) -> object:
        seen.append(options.fix_dir)
        return real(members, options, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(starting_kit.pack, "check_members", recording)
    result = pack(good_prediction_folder, output, fix=True)
    assert len(result.fixed) == 4
    assert seen[0] is not None and seen[0].parent == output.parent
    assert owner_pid(seen[0], output) == os.getpid()
    assert leftovers(output.parent) == ["fixed.zip"]  # ours removed, the stale one too
    assert list(system_tmp.iterdir()) == []


# --- paths, overwriting, atomic writing ---------------------------------------------------------


def test_existing_output_needs_overwrite(good_prediction_folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "s.zip"
    output.write_bytes(b"previous upload")
    with pytest.raises(
        OutputExistsError, match=re.escape("s.zip: already exists; pass --overwrite to replace it")
    ):
        pack(good_prediction_folder, output)
    assert output.read_bytes() == b"previous upload"
    result = pack(good_prediction_folder, output, overwrite=True)
    assert len(members(output)) == 4 and result.size_bytes == output.stat().st_size


def test_output_appearing_during_packing_is_not_overwritten(
    good_prediction_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "s.zip"
    real = starting_kit.pack.check_members

    def racing(*args: object, **kwargs: object) -> object:
        output.write_bytes(b"written by another process")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(starting_kit.pack, "check_members", racing)
    with pytest.raises(OutputExistsError, match="already exists"):
        pack(good_prediction_folder, output)
    assert output.read_bytes() == b"written by another process"
    assert leftovers(tmp_path) == ["predictions", "s.zip"]


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_while_writing_leaves_no_file(
    good_prediction_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
) -> None:
    calls = []
    real = shutil.copyfileobj

    def failing(source: object, target: object, length: int = 0) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise failure
        real(source, target, length)  # type: ignore[arg-type]

    monkeypatch.setattr(starting_kit.pack.shutil, "copyfileobj", failing)
    output = tmp_path / "s.zip"
    output.write_bytes(b"previous")
    with pytest.raises(type(failure)):
        pack(good_prediction_folder, output, overwrite=True)
    assert output.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["predictions", "s.zip"]


def test_archive_mode_follows_the_umask(good_prediction_folder: Path, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        pack(good_prediction_folder, tmp_path / "s.zip")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "s.zip").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("pred", "output", "error", "match"),
    [
        (
            "missing",
            "s.zip",
            MissingFileError,
            "missing: not found; expected a folder of PRED_<id>.tif",
        ),
        ("file.zip", "s.zip", ConfigError, "pack takes a folder of PRED_<id>.tif files"),
        ("predictions", "s.tar", ConfigError, "s.tar: the archive name must end in .zip"),
        (
            "predictions",
            "dir.zip",
            ConfigError,
            "dir.zip: is a folder; give the archive's file name",
        ),
    ],
)
def test_pack_path_errors(
    good_prediction_folder: Path, tmp_path: Path, pred: str, output: str, error: type, match: str
) -> None:
    (tmp_path / "file.zip").write_bytes(b"")
    (tmp_path / "dir.zip").mkdir()
    with pytest.raises(error, match=match):
        pack(tmp_path / pred, tmp_path / output)


def test_size_above_the_upload_limit_warns(
    good_prediction_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(starting_kit.pack, "UPLOAD_LIMIT_BYTES", 1000)
    result = pack(good_prediction_folder, tmp_path / "s.zip")
    assert [p.where for p in result.report.warnings] == ["s.zip"]
    assert "above 0 MB, CodaLab's default upload limit" in result.report.warnings[0].message
    assert result.report.ok


def test_progress_covers_checking_and_writing(good_prediction_folder: Path, tmp_path: Path) -> None:
    calls: list = []
    pack(good_prediction_folder, tmp_path / "s.zip", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (8, 8)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# --- command line -------------------------------------------------------------------------------


def test_cli_pack_writes_and_reports(
    good_prediction_folder: Path, corpus_reference: Path, tmp_path: Path
) -> None:
    output = tmp_path / "s.zip"
    args = [
        "pack",
        str(good_prediction_folder),
        "-o",
        str(output),
        "--size",
        str(CORPUS_SIZE),
        "--workers",
        "1",
    ]
    result = runner.invoke(app, [*args, "--expect", str(corpus_reference)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {output}: 4 PRED files, 0.0 MB")
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "s.zip: already exists; pass --overwrite to replace it" in again.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_cli_pack_failure_lists_problems(good_prediction_folder: Path, tmp_path: Path) -> None:
    _broken_in_form(good_prediction_folder)
    args = [
        "pack",
        str(good_prediction_folder),
        "-o",
        str(tmp_path / "s.zip"),
        "--size",
        str(CORPUS_SIZE),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "error: PRED_061714.tif: dtype uint16" in result.stderr
    assert "not packed, nothing written (4 errors)" in result.stderr
    assert not (tmp_path / "s.zip").exists()
    fixed = runner.invoke(app, [*args, "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "re-encoded 4 files in the official format (originals untouched)" in fixed.stderr


def test_cli_pack_shows_warnings(good_prediction_folder: Path, tmp_path: Path) -> None:
    (good_prediction_folder / "README.md").write_text("hi", encoding="utf-8")
    args = [
        "pack",
        str(good_prediction_folder),
        "-o",
        str(tmp_path / "s.zip"),
        "--size",
        str(CORPUS_SIZE),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert (
        "warning: 1 files are not named PRED_<id>.tif and are left out of the archive: README.md"
        in result.stderr
    )


def test_fix_rescues_a_tiff_only_gdal_reads(good_prediction_folder: Path, tmp_path: Path) -> None:
    from tests.starting_kit.corpus import gdal_bytes

    classes = corpus_classes(CORPUS_IDS[0])
    (good_prediction_folder / "PRED_061713.tif").write_bytes(gdal_bytes(classes.astype(np.int64)))
    with pytest.raises(InvalidSubmissionError, match="cannot read this int64 TIFF, only GDAL can"):
        pack(good_prediction_folder, tmp_path / "s.zip")
    result = pack(good_prediction_folder, tmp_path / "s.zip", fix=True)
    assert result.fixed == ("PRED_061713.tif",)
    assert members(tmp_path / "s.zip")["PRED_061713.tif"] == official_bytes(classes, tmp_path)
