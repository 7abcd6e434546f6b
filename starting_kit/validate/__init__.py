"""Validate a submission (a zip or a folder of ``PRED`` files) before it costs an upload.

Every file is checked and every problem collected before anything is reported:

- names: ``PRED_<6-digit id>.tif``; ``PRED_IMG_<id>.tif`` (IGN's newer library) is accepted by
  the official scorer but warned about; any other file is an error; dot-files and ``__MACOSX`` are
  ignored;
- content, decoded with Pillow exactly as the official scorer decodes it: one band, the patch
  size (512x512 unless told otherwise), uint8, values 0..12. Values outside 0..12 are counted per
  file: the official scorer silently drops those pixels, which can inflate a score, so they are an
  error under ``strict`` and a warning otherwise. Constant masks and values that look 1-based (no
  0 but some 13) are warned about;
- form: LZW compression (a warning otherwise: larger uploads), TIFF data;
- ids against an expected set (:mod:`starting_kit.expect`): missing, extra and duplicate ids;
- zip safety through :mod:`scoring.zipsafe` (the reader ``flair-kit score`` uses too), and a flat
  layout: files inside a folder get a warning, as the platform does not unwrap folders.

Errors are what the platform or the official scorer would refuse or mis-score; warnings are what
still scores but deserves a look. Decoding is spread over worker processes, as scoring is.

The patch-size rule is a parameter, ``expected_size`` (``--size`` on the command line), so that
tests and synthetic toy data can use small masks; FLAIR submissions always use the default 512.

The package, in the order a validation runs: :mod:`~starting_kit.validate.listing` lists the
members of a folder or zip, :mod:`~starting_kit.validate.workers` reads and checks them in the
worker pool of :mod:`scoring.pool`, with the pure per-file checks of
:mod:`~starting_kit.validate.content`; :mod:`~starting_kit.validate.whole` adds the checks over the
whole submission, and :mod:`~starting_kit.validate.report` holds the findings and their rendering.
:func:`validate_submission` (here) drives them; this module re-exports the public names.
"""

from __future__ import annotations

from pathlib import Path

from scoring import zipsafe
from scoring.errors import MissingFileError
from scoring.masks import PATCH_SIZE
from scoring.pool import ProgressCallback
from starting_kit.expect import expected_ids
from starting_kit.validate.content import container_format, name_findings, tiff_compression
from starting_kit.validate.listing import (
    CheckOptions,
    Listing,
    Member,
    MemberResult,
    list_folder,
    list_zip,
)
from starting_kit.validate.report import (
    SHOWN_PROBLEMS,
    Problem,
    Severity,
    ValidationReport,
    render_report,
    sorted_problems,
)
from starting_kit.validate.whole import member_problems, one_based_problem, submission_problems
from starting_kit.validate.workers import check_member, check_members

__all__ = [
    "PATCH_SIZE",
    "SHOWN_PROBLEMS",
    "CheckOptions",
    "Listing",
    "Member",
    "MemberResult",
    "Problem",
    "ProgressCallback",
    "Severity",
    "ValidationReport",
    "check_member",
    "check_members",
    "container_format",
    "list_folder",
    "list_zip",
    "member_problems",
    "name_findings",
    "one_based_problem",
    "render_report",
    "sorted_problems",
    "submission_problems",
    "tiff_compression",
    "validate_submission",
]


def validate_submission(
    path: Path,
    *,
    expect: str | Path | None = None,
    strict: bool = False,
    progress: ProgressCallback | None = None,
    expected_size: int = PATCH_SIZE,
    workers: int | None = None,
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS,
) -> ValidationReport:
    """Check a submission zip or folder and collect every problem.

    Args:
        path: a ``.zip`` (any other file is read as a zip and reported if it is not one) or a
            folder of PRED files, searched recursively.
        expect: the expected id set (see :func:`starting_kit.expect.expected_ids`); None skips
            the missing/extra id checks.
        strict: values outside 0..12 are errors instead of warnings.
        progress: called with (files done, files total).
        expected_size: the required width and height of every mask (512 for FLAIR).
        workers: worker processes; default all usable cores.
        limits: the zip safety caps.

    Returns:
        The report; ``report.ok`` is False when any error was found.

    Raises:
        MissingFileError: ``path`` does not exist, or ``expect`` names no file or folder.
        DataError, ConfigError: ``expect`` cannot be read.
    """
    path = Path(path)
    expected = expected_ids(expect) if expect is not None else None
    if path.is_dir():
        listing = list_folder(path)
        options = CheckOptions(expected_size, strict, limits=limits)
    elif path.exists():
        listing = list_zip(path, limits)
        options = CheckOptions(expected_size, strict, zip_path=path, limits=limits)
    else:
        raise MissingFileError(
            f"{path}: not found; expected a submission .zip or a folder of PRED files"
        )
    results = check_members(listing.members, options, workers=workers, progress=progress)
    problems = submission_problems(listing, expected)
    problems += member_problems(results, strict=strict)
    return ValidationReport(
        sorted_problems(problems),
        listing.n_files,
        tuple(sorted({m.tile for m in listing.members})),
        None if expected is None else len(expected),
    )
