"""Pack a folder of predictions into the flat zip the platform expects, without surprises.

``PRED_<id>.tif`` files are found recursively and validated as ``flair-kit validate`` would
(:mod:`starting_kit.validate`); any error stops the packing before anything is written. The zip is
flat (every file at the root, where the platform looks) and *stored*: the TIFFs are already LZW,
so recompressing them would only cost time. With ``fix``, files that are valid in content but not
in form (other compression, ``PRED_IMG_`` or unpadded names, integer dtypes other than uint8, one
band repeated in a 3-D array, non-TIFF data) are re-encoded into exactly the official format by
:func:`starting_kit.predictions.write_prediction`, in a temporary folder beside the output: the
originals are never touched.

The archive is written to a hidden temporary file beside the output, checked with the same zip
reader the scorer uses, flushed to disk and only then renamed into place, so an interrupted or
failed run leaves no partial file; an existing output is replaced only with ``overwrite``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scoring import zipsafe
from scoring.atomic import atomic_path, check_target, make_parent_folder, scratch_directory
from scoring.errors import ConfigError, MissingFileError, OutputExistsError, SubmissionError
from starting_kit.expect import expected_ids
from starting_kit.validate import (
    PATCH_SIZE,
    CheckOptions,
    MemberResult,
    Problem,
    ProgressCallback,
    ValidationReport,
    check_members,
    list_folder,
    member_problems,
    sorted_problems,
    submission_problems,
)

#: CodaLab's default ``max_submission_size`` (300 MB); counted in decimal megabytes, the
#: smaller reading, so that a warning is never missed.
UPLOAD_LIMIT_BYTES = 300 * 1000 * 1000


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_submission` wrote.

    Attributes:
        output: the archive.
        n_files: PRED files in the archive.
        size_bytes: the archive's size.
        fixed: the source files (relative to the prediction folder) that ``fix`` re-encoded.
        report: the validation of the packed files (warnings only; errors stop packing), plus a
            warning when the archive exceeds the default upload limit.
    """

    output: Path
    n_files: int
    size_bytes: int
    fixed: tuple[str, ...]
    report: ValidationReport


class InvalidSubmissionError(SubmissionError):
    """The predictions cannot be packed as they are; ``report`` holds every problem found."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


def _check_paths(pred_dir: Path, output: Path, overwrite: bool) -> None:
    if not pred_dir.exists():
        raise MissingFileError(f"{pred_dir}: not found; expected a folder of PRED_<id>.tif files")
    if not pred_dir.is_dir():
        raise ConfigError(
            f"{pred_dir}: pack takes a folder of PRED_<id>.tif files; to check a zip, run "
            "flair-kit validate on it"
        )
    if output.suffix.lower() != ".zip":
        raise ConfigError(f"{output}: the archive name must end in .zip, e.g. submission.zip")
    if output.is_dir():
        raise ConfigError(
            f"{output}: is a folder; give the archive's file name, e.g. {output}/submission.zip"
        )
    check_target(output)  # a FIFO or device is refused before any work, and never opened
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output}: already exists; pass --overwrite to replace it")


def skipped_problem(skipped: Sequence[str]) -> list[Problem]:
    """One warning naming the files that are not predictions and stay out of the archive."""
    if not skipped:
        return []
    shown = ", ".join(skipped[:5]) + (f" ({len(skipped)} in total)" if len(skipped) > 5 else "")
    return [
        Problem(
            "warning",
            "",
            f"{len(skipped)} files are not named PRED_<id>.tif and are left out of the archive: "
            f"{shown}",
        )
    ]


def size_problem(output: Path, size: int) -> list[Problem]:
    """A warning when the archive exceeds CodaLab's default upload limit."""
    if size <= UPLOAD_LIMIT_BYTES:
        return []
    return [
        Problem(
            "warning",
            output.name,
            f"the archive is {size / 1e6:.1f} MB, above {UPLOAD_LIMIT_BYTES // 10**6} MB, "
            "CodaLab's default upload limit (max_submission_size); check the phase's limit with "
            "the organisers before uploading",
        )
    ]


def _failure_message(pred_dir: Path, report: ValidationReport) -> str:
    errors = report.errors
    first = "; ".join(str(problem) for problem in errors[:3])
    more = f"; and {len(errors) - 3} more errors" if len(errors) > 3 else ""
    fixable = sum("--fix" in problem.message for problem in errors)
    hint = f" ({fixable} can be repaired with --fix)" if fixable else ""
    return (
        f"{pred_dir}: not packed, nothing written: {len(errors)} errors{hint}: {first}{more}; "
        f"run flair-kit validate {pred_dir} for the full list"
    )


def _entries(results: Sequence[MemberResult]) -> list[tuple[str, Path]]:
    entries = []
    for result in results:
        if result.fixed is not None:
            entries.append((result.fixed.name, result.fixed))
        else:
            assert isinstance(result.member.source, Path)  # folder members are paths
            entries.append((PurePosixPath(result.member.name).name, result.member.source))
    return sorted(entries)


def write_flat_zip(
    entries: Sequence[tuple[str, Path]],
    output: Path,
    *,
    overwrite: bool = False,
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS,
    progress: ProgressCallback | None = None,
    done: int = 0,
    total: int | None = None,
) -> int:
    """Write ``(name in the archive, source file)`` pairs as a stored zip, atomically.

    Args:
        entries: archive names (flat, unique) and the files whose bytes they hold.
        output: the archive to create.
        overwrite: replace an existing ``output``.
        limits: the zip safety caps the finished archive must pass.
        progress: called with (done + entries written, total).
        done: progress already made before this step.
        total: the total reported to ``progress`` (default ``done + len(entries)``).

    Returns:
        The archive's size in bytes.

    Raises:
        OutputExistsError: ``output`` exists (or appeared) and ``overwrite`` is False.
        SubmissionError: the finished archive fails the zip safety checks.
    """
    total = done + len(entries) if total is None else total
    make_parent_folder(output)
    with atomic_path(output, overwrite=overwrite) as scratch:
        with open(scratch, "xb") as sink:
            with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
                for count, (name, source) in enumerate(entries, start=1):
                    info = zipfile.ZipInfo.from_file(source, name, strict_timestamps=False)
                    info.compress_type = zipfile.ZIP_STORED
                    # A plain readable file whatever the source's mode (no exec bits, no links).
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    with open(source, "rb") as data, archive.open(info, "w") as member:
                        shutil.copyfileobj(data, member, 1 << 20)
                    if progress is not None:
                        progress(done + count, total)
            sink.flush()
            os.fsync(sink.fileno())
        unsafe = [p for p in zipsafe.inspect_zip(scratch, limits) if p.severity == "error"]
        if unsafe:
            details = "; ".join(f"{p.entry or output.name}: {p.message}" for p in unsafe[:5])
            raise SubmissionError(f"{output}: the packed archive fails the zip checks: {details}")
        size = scratch.stat().st_size
    return size


def pack_submission(
    pred_dir: Path,
    output: Path,
    *,
    expect: str | Path | frozenset[int] | None = None,
    fix: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    strict: bool = False,
    expected_size: int = PATCH_SIZE,
    workers: int | None = None,
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS,
) -> PackResult:
    """Validate the PRED files under a folder and write them as a flat, stored zip.

    Args:
        pred_dir: folder of ``PRED_<id>.tif`` files, searched recursively; other files are left
            out (with a warning), platform debris silently.
        output: the ``.zip`` to write (its folder is created if needed).
        expect: the expected id set (see :func:`starting_kit.expect.expected_ids`), or the ids
            themselves (a caller that has just found the inputs it predicted).
        fix: re-encode files that are valid in content but not in form into the official format.
        overwrite: replace an existing ``output``.
        progress: called with (steps done, steps total) over validation and writing.
        strict: values outside 0..12 are errors instead of warnings.
        expected_size: the required width and height of every mask (512 for FLAIR).
        workers: worker processes for validation; default all usable cores.
        limits: the zip safety caps.

    Returns:
        What was written; ``result.report.warnings`` lists what deserves a look.

    Raises:
        InvalidSubmissionError: a validation error (a :class:`SubmissionError`); nothing written.
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
        MissingFileError, ConfigError: a path is missing or of the wrong kind.
    """
    pred_dir, output = Path(pred_dir), Path(output)
    _check_paths(pred_dir, output, overwrite)
    expected = expect if isinstance(expect, frozenset) or expect is None else expected_ids(expect)
    listing = list_folder(pred_dir, pack=True)
    total = 2 * len(listing.members)
    with contextlib.ExitStack() as stack:
        fix_dir = None
        if fix:
            # Re-encoded files go beside the output, named like every kit temporary: removed
            # afterwards, and by the next run if this one is killed (kill -9).
            make_parent_folder(output)
            fix_dir = stack.enter_context(scratch_directory(output))
        options = CheckOptions(expected_size, strict, fix_dir=fix_dir, limits=limits)
        results = check_members(
            listing.members, options, workers=workers, progress=progress, total=total
        )
        problems = submission_problems(listing, expected)
        problems += skipped_problem(listing.skipped)
        if len(listing.members) > limits.max_entries:
            problems.append(
                Problem(
                    "error",
                    "",
                    f"{len(listing.members)} files, more than the zip cap of {limits.max_entries}",
                )
            )
        problems += member_problems(results, strict=strict)
        report = ValidationReport(
            sorted_problems(problems),
            listing.n_files,
            tuple(sorted({m.tile for m in listing.members})),
            None if expected is None else len(expected),
        )
        if not report.ok:
            raise InvalidSubmissionError(_failure_message(pred_dir, report), report)
        entries = _entries(results)
        size = write_flat_zip(
            entries,
            output,
            overwrite=overwrite,
            limits=limits,
            progress=progress,
            done=len(listing.members),
            total=total,
        )
    extra = size_problem(output, size)
    if extra:
        report = dataclasses.replace(
            report, problems=sorted_problems(report.problems + tuple(extra))
        )
    return PackResult(
        output,
        len(entries),
        size,
        tuple(r.member.name for r in results if r.fixed is not None),
        report,
    )
