"""Turn command-line inputs (zips, folders, saved counts, mixed) into named per-patch counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scoring.counts import PatchCounts, is_counts_file, load_counts, mask_digest, truth_fingerprint
from scoring.errors import ConfigError, DataError
from scoring.evaluate import score_folders_with_counts
from scoring.pool import ProgressCallback
from scoring.tiles import format_id, index_tiles
from starting_kit.ranking.analysis import Submission
from starting_kit.ranking.naming import display_names


def truth_folder_fingerprint(truth: Path) -> str:
    """The fingerprint :mod:`scoring.counts` gives a truth folder (its ids and mask hashes)."""
    masks = index_tiles(truth, "mask").by_id
    return truth_fingerprint((tile, mask_digest(path)) for tile, path in masks.items())


def first_id_difference(
    ids: Sequence[int], others: Sequence[int]
) -> tuple[int | None, int | None] | None:
    """The first pair of ids where two sorted id lists differ (``None`` where a list has ended),
    or ``None`` when the lists are equal.

    >>> first_id_difference([1, 2, 4], [1, 3, 4])
    (2, 3)
    >>> first_id_difference([1, 2], [1, 2, 3])
    (None, 3)
    """
    for mine, theirs in zip(ids, others, strict=False):  # unequal lengths handled below
        if mine != theirs:
            return mine, theirs
    if len(ids) == len(others):
        return None
    if len(ids) > len(others):
        return ids[len(others)], None
    return None, others[len(ids)]


def check_same_ids(
    path: Path, counts: PatchCounts, reference: str, reference_ids: Sequence[int]
) -> None:
    """Refuse counts whose ids are not those of ``reference`` (a truth or another submission).

    The fingerprint alone does not catch this: a counts file cut to some patches keeps the
    fingerprint of the whole truth, and summing its counts against another's would pair patches
    wrongly.

    Raises:
        DataError: names both sides, their patch numbers and the first differing ids.
    """
    ids = [int(tile) for tile in counts.ids]
    difference = first_id_difference(ids, [int(tile) for tile in reference_ids])
    if difference is None:
        return
    mine, theirs = (format_id(t) if t is not None else "nothing" for t in difference)
    raise DataError(
        f"{path} holds {len(ids)} patches and {reference} holds {len(reference_ids)}, not the same "
        f"ids: the first difference is {mine} in {path} against {theirs} in {reference}; score "
        "every submission on the whole same truth"
    )


def load_submission(
    path: Path,
    truth: Path | None,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    scratch_beside: Path | None = None,
) -> tuple[PatchCounts, tuple[str, ...]]:
    """The per-patch counts of one input, and the warnings of its scoring.

    ``scratch_beside``: an output of the command, beside which a zip is extracted (see
    :func:`scoring.evaluate.submission_folder`).

    Raises:
        ConfigError: a zip or folder without ``--truth``.
        DataError, SubmissionError: see :func:`scoring.evaluate.score_folders_with_counts`.
    """
    if is_counts_file(path):
        return load_counts(path), ()
    if truth is None:
        raise ConfigError(
            f"{path}: a zip or folder of predictions needs --truth (the reference masks); only "
            "saved counts (score --save-counts FILE.npz) can be compared without it"
        )
    report, counts = score_folders_with_counts(
        path,
        truth,
        workers=workers,
        progress=progress,
        subset_hint=False,
        scratch_beside=scratch_beside,
    )
    return counts, report.warnings


def load_submissions(
    paths: Sequence[Path],
    truth: Path | None,
    *,
    names: Sequence[str] | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    scratch_beside: Path | None = None,
) -> tuple[list[Submission], list[str]]:
    """Load every input, named by ``names`` or by its stem (see :func:`display_names`).

    Saved counts given with ``--truth`` are checked against it, so a file scored against other
    masks is refused rather than ranked.

    Returns:
        The submissions and the warnings of their scoring, each prefixed by its name.

    Raises:
        ConfigError: ``names`` of another length than ``paths``.
        DataError: saved counts made against another truth than ``truth``, or inputs that do
            not all hold the same patch ids (the message names both files and the first
            differing ids).
    """
    if names is not None and len(names) != len(paths):
        raise ConfigError(
            f"{len(names)} --names for {len(paths)} submissions; give one name per submission"
        )
    labels = list(names) if names is not None else display_names(paths)
    expected = None
    truth_ids: list[int] = []
    if truth is not None and any(is_counts_file(p) for p in paths):
        expected = truth_folder_fingerprint(truth)
        truth_ids = sorted(index_tiles(truth, "mask").by_id)
    submissions: list[Submission] = []
    notes: list[str] = []
    first: tuple[Path, PatchCounts] | None = None
    for path, label in zip(paths, labels, strict=False):
        counts, warnings = load_submission(
            path, truth, workers=workers, progress=progress, scratch_beside=scratch_beside
        )
        if expected is not None and counts.truth_fingerprint != expected:
            raise DataError(
                f"{path}: these counts were made against another truth than {truth} (other ids "
                "or other mask files); score the submission again against this truth"
            )
        if expected is not None and is_counts_file(path):
            check_same_ids(path, counts, f"the truth {truth}", truth_ids)
        if first is None:
            first = (path, counts)
        else:
            check_same_ids(path, counts, str(first[0]), [int(t) for t in first[1].ids])
        notes.extend(f"{label}: {warning}" for warning in warnings)
        submissions.append(Submission(label, counts, None if is_counts_file(path) else path))
    return submissions, notes
