"""Reading and checking members in worker processes (the pool of :mod:`scoring.pool`)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from scoring import zipsafe
from scoring.errors import DataError, SubmissionError
from scoring.masks import open_regular
from scoring.pool import ProgressCallback, run_chunked
from starting_kit.predictions import prediction_name, write_prediction
from starting_kit.validate.content import (
    FIX_HINT,
    RENAME_HINT,
    file_findings,
    name_findings,
    strip_location,
    unrepairable_hint,
)
from starting_kit.validate.listing import CheckOptions, Member, MemberResult
from starting_kit.validate.report import Problem

_WORKER: dict[str, Any] = {}


def _start_worker(options: CheckOptions) -> None:
    """Pool initializer: each process opens the zip once (parsing its directory is not free)."""
    _stop_worker()
    _WORKER["options"] = options
    if options.zip_path is not None:
        archive = zipfile.ZipFile(options.zip_path)
        _WORKER["archive"] = archive
        _WORKER["infos"] = archive.infolist()


def _stop_worker() -> None:
    archive = _WORKER.pop("archive", None)
    if archive is not None:
        archive.close()
    _WORKER.clear()


def _read_member(member: Member, options: CheckOptions) -> bytes:
    if member.source is None:
        raise ValueError(f"{member.name}: an unsafe entry is never read")
    if isinstance(member.source, int):
        info = _WORKER["infos"][member.source]
        return zipsafe.read_entry(_WORKER["archive"], info, options.limits)
    try:
        # A FIFO, socket or device (or a link to one) is refused unread: it could block or flood.
        with open_regular(member.source) as source:
            size = os.fstat(source.fileno()).st_size
            if size > options.limits.max_entry_bytes:
                raise SubmissionError(
                    f"{member.name}: {size} bytes, far larger than a prediction (cap "
                    f"{options.limits.max_entry_bytes})"
                )
            data = source.read(options.limits.max_entry_bytes + 1)
    except DataError as exc:
        raise SubmissionError(strip_location(str(exc), str(member.source))) from exc
    except OSError as exc:
        raise SubmissionError(f"{member.name}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > options.limits.max_entry_bytes:
        raise SubmissionError(
            f"{member.name}: more than {options.limits.max_entry_bytes} bytes, far larger than a "
            "prediction"
        )
    return data


def check_member(member: Member, options: CheckOptions) -> MemberResult:
    """Check one member; with ``options.fix_dir``, re-encode it there when only its form is wrong."""
    if member.source is None:  # an unsafe zip entry, already reported
        return MemberResult(member, ())
    base = PurePosixPath(member.name).name
    name_blocking, name_form = name_findings(base)
    try:
        data = _read_member(member, options)
    except SubmissionError as exc:
        message = strip_location(str(exc), member.name)
        return MemberResult(member, (Problem("error", member.name, message),))
    found = file_findings(
        data, member.name, expected_size=options.expected_size, strict=options.strict
    )
    form = name_form + found.form
    blocking = name_blocking + found.problems
    fixed = None
    content_valid = found.classes is not None and all(s != "error" for s, _ in blocking)
    if options.fix_dir is not None and form and content_valid and found.classes is not None:
        fixed = options.fix_dir / prediction_name(member.tile)
        write_prediction(fixed, found.classes)
        form = []  # repaired: the archive holds the official re-encoding
    elif options.fix_dir is not None:
        # --fix was given and could not repair it: say why, never "run --fix".
        hint = unrepairable_hint(found.outside_range)
        form = [
            (severity, message.replace(FIX_HINT, hint).replace(RENAME_HINT, hint))
            for severity, message in form
        ]
    problems = tuple(
        Problem(severity, member.name, message) for severity, message in form + blocking
    )
    return MemberResult(member, problems, fixed, found.value_range)


def _check_chunk(members: Sequence[Member]) -> list[MemberResult]:
    options = _WORKER["options"]
    return [check_member(member, options) for member in members]


def check_members(
    members: Sequence[Member],
    options: CheckOptions,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> list[MemberResult]:
    """Check every member, in parallel when it pays; results keep the members' order.

    Args:
        members: the files to check.
        options: size, strictness, the zip to read from and the ``--fix`` folder.
        workers: worker processes; default all usable cores.
        progress: called with (done, total) after each chunk.
        total: the total reported to ``progress`` (default ``len(members)``).
    """
    if not members:
        return []  # nothing to read: not even the zip is opened
    reported_total = len(members) if total is None else total
    results: list[MemberResult] = []

    def collect(chunk: Sequence[Member], chunk_results: list[MemberResult]) -> None:
        results.extend(chunk_results)
        if progress is not None:
            progress(len(results), reported_total)

    run_chunked(
        _check_chunk,
        members,
        collect,
        workers=workers,
        setup=_start_worker,
        setup_args=(options,),
        teardown=_stop_worker,
    )
    return results
