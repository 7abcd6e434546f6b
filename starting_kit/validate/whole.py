"""Checks over the whole submission: safety, emptiness, layout, ids and 1-based values."""

from __future__ import annotations

from collections.abc import Sequence

from scoring.classes import NUM_CLASSES
from scoring.errors import summarize
from scoring.tiles import format_id, summarize_ids
from starting_kit.validate.listing import Listing, Member, MemberResult
from starting_kit.validate.report import Problem


def id_problems(members: Sequence[Member], expected: frozenset[int] | None) -> list[Problem]:
    """Duplicate ids, and missing or extra ids against the expected set."""
    by_tile: dict[int, list[str]] = {}
    for member in members:
        by_tile.setdefault(member.tile, []).append(member.name)
    problems = [
        Problem(
            "error",
            "",
            f"id {format_id(tile)} occurs in {len(names)} files ({', '.join(names)}); keep "
            "exactly one file per id",
        )
        for tile, names in sorted(by_tile.items())
        if len(names) > 1
    ]
    if expected is None:
        return problems
    missing = sorted(expected - by_tile.keys())
    extra = sorted(by_tile.keys() - expected)
    if missing:
        problems.append(
            Problem(
                "error",
                "",
                f"missing predictions for {len(missing):,} of {len(expected):,} expected ids: "
                f"{summarize_ids(missing)}; write one PRED_<id>.tif per test image",
            )
        )
    if extra:
        problems.append(
            Problem(
                "error",
                "",
                f"{len(extra):,} predictions have ids outside the expected set: {summarize_ids(extra)}; "
                "remove them (predictions of training or validation patches?)",
            )
        )
    return problems


def layout_problem(in_folders: Sequence[str]) -> list[Problem]:
    """One warning when zip entries sit inside folders instead of at the archive root."""
    if not in_folders:
        return []
    folders = sorted({name.split("/", 1)[0] + "/" for name in in_folders})
    return [
        Problem(
            "warning",
            "",
            f"{len(in_folders):,} files sit inside folders ({summarize(folders, 3)}), not at the "
            "zip root; the official platform does not unwrap folders: zip the files, not their "
            "folder (flair-kit pack writes a flat zip)",
        )
    ]


def _no_prediction_problem(listing: Listing) -> list[Problem]:
    if listing.members or any(p.severity == "error" and p.where == "" for p in listing.problems):
        return []
    what = "the submission is empty" if listing.n_files == 0 else "no PRED_<id>.tif file found"
    return [
        Problem(
            "error",
            "",
            f"{what} (searched recursively); name each prediction PRED_<6-digit id>.tif after "
            "its image IMG_<id>.tif",
        )
    ]


def submission_problems(listing: Listing, expected: frozenset[int] | None) -> list[Problem]:
    """The whole-submission problems of a listing: safety, emptiness, layout, then ids.

    Id checks are skipped when the submission as a whole is already in error (an unreadable zip,
    a broken cap, no prediction at all): every id would be "missing", which only repeats it.
    """
    problems = list(listing.problems) + _no_prediction_problem(listing)
    problems += layout_problem(listing.in_folders)
    if not any(p.severity == "error" and p.where == "" for p in problems):
        problems += id_problems(listing.members, expected)
    return problems


ONE_BASED_RULE = (
    "no pixel of class 0 (building) in any file while every value lies in 1..{top}: the values "
    "look 1-based (raw labels 1..13, or argmax + 1?); class 0 covers 3-9% of every FLAIR test set, "
    "so a real submission always has some. Predictions must be class indices 0..12: subtract 1"
)


def one_based_problem(ranges: Sequence[tuple[int, int]], *, strict: bool) -> list[Problem]:
    """The whole-submission check for a 1-based submission (the trap that scores about 0.006).

    The heuristic, over every file together: no pixel is 0, every value lies in 1..13, and at
    least two distinct values occur (a constant mask is warned about on its own). A 0-based
    model that never predicts "building" on a whole test set does not exist in practice; on a
    tiny hand-made subset it may, which is why this is a warning (an error under ``strict``).

    >>> one_based_problem([(1, 12), (3, 7)], strict=False)[0].severity
    'warning'
    >>> one_based_problem([(0, 12), (3, 7)], strict=True)
    []
    """
    if not ranges:
        return []
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    if low < 1 or high > NUM_CLASSES or low == high:
        return []
    return [
        Problem(
            "error" if strict else "warning",
            "",
            f"{ONE_BASED_RULE.format(top=high)} ({len(ranges):,} files examined)",
        )
    ]


def member_problems(results: Sequence[MemberResult], *, strict: bool) -> list[Problem]:
    """Every member's own problems, then the checks over all members (1-based values)."""
    problems = [problem for result in results for problem in result.problems]
    ranges = [r.value_range for r in results if r.value_range is not None]
    return problems + one_based_problem(ranges, strict=strict)
