"""Submissions: validate a zip or folder of predictions, and pack one into the zip to upload.

The public API in one place; the work lives in :mod:`starting_kit.validate` (checks, reports,
worker processes) and :mod:`starting_kit.pack` (flat stored zip, ``--fix``, atomic writing).
"""

from __future__ import annotations

from scoring.errors import SubmissionError
from starting_kit.expect import expected_ids
from starting_kit.pack import (
    UPLOAD_LIMIT_BYTES,
    InvalidSubmissionError,
    PackResult,
    pack_submission,
)
from starting_kit.validate import (
    PATCH_SIZE,
    SHOWN_PROBLEMS,
    Problem,
    ValidationReport,
    render_report,
    validate_submission,
)

__all__ = [
    "PATCH_SIZE",
    "SHOWN_PROBLEMS",
    "UPLOAD_LIMIT_BYTES",
    "InvalidSubmissionError",
    "PackResult",
    "Problem",
    "SubmissionError",
    "ValidationReport",
    "expected_ids",
    "pack_submission",
    "render_report",
    "validate_submission",
]
