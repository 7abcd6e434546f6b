"""Score a folder (or zip) of predictions against a folder of reference masks.

The I/O shell around :mod:`scoring.metrics`: pair files by id, stream the pairs across worker
processes, count each pair into a histogram of (truth, prediction) codes, fold, freeze a report.
Memory stays at a few patches per worker plus 196 counts per domain, whatever the number of
patches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops

from scoring import metrics
from scoring.atomic import scratch_directory
from scoring.classes import NUM_CLASSES
from scoring.counts import PatchCounts, PatchResult, counts_from_patches, mask_digest
from scoring.errors import (
    ConfigError,
    DataError,
    FlairKitError,
    MissingFileError,
    ScratchSpaceError,
    SubmissionError,
    os_error_advice,
    summarize,
)
from scoring.masks import (
    PATCH_SIZE,
    ImageSizeMismatch,
    check_prediction,
    check_reference_mask,
    load_image,
    load_prediction,
)
from scoring.pool import ProgressCallback, run_chunked
from scoring.report import ScoreReport
from scoring.tiles import (
    OFFICIAL_PRED_PATTERN,
    domain_zone,
    format_id,
    index_tiles,
    looks_official,
    summarize_duplicates,
    summarize_ids,
)
from scoring.zipsafe import extract_zip_safely

#: Domain key used when the truth folder is not in the ``<DOMAIN>/<ZONE>/msk/`` layout.
NO_DOMAIN = ""


@dataclass(frozen=True)
class Pair:
    """One prediction matched to its reference mask by id."""

    tile: int
    pred: Path
    truth: Path
    domain: str
    #: The zone folder of the truth layout (zone names repeat across domains); "" when flat.
    zone: str = NO_DOMAIN


@dataclass(frozen=True)
class Pairing:
    """The matched pairs and what did not match."""

    pairs: tuple[Pair, ...]
    missing: tuple[int, ...]
    extra: tuple[int, ...]
    #: Warnings about names: files that are not predictions (ignored, as the official scorer
    #: ignores them) and PRED names in another than the official form.
    notes: tuple[str, ...] = ()

    @property
    def has_domains(self) -> bool:
        """True when every reference mask sits in the dataset's domain/zone layout."""
        return bool(self.pairs) and all(p.domain != NO_DOMAIN for p in self.pairs)


def _swapped_error(pred_dir: Path, truth_dir: Path) -> ConfigError | None:
    """An error when the predictions look like reference masks and the truth like predictions."""
    masks_in_preds = len(index_tiles(pred_dir, "mask").by_id)
    preds_in_truth = len(index_tiles(truth_dir, "pred").by_id)
    if not masks_in_preds or (truth_dir.is_dir() and index_tiles(truth_dir, "mask").by_id):
        return None
    found = f"{preds_in_truth} PRED_<id>.tif files" if preds_in_truth else "no MSK_<id>.tif file"
    return ConfigError(
        f"the arguments look swapped: the predictions argument {pred_dir} holds "
        f"{masks_in_preds} MSK_<id>.tif reference masks and the truth argument {truth_dir} holds "
        f"{found}; pass the predictions first, then the reference masks"
    )


def _name_notes(unmatched: Sequence[Path], root: Path, preds: dict[int, Path]) -> tuple[str, ...]:
    """Warnings about the names of a submission (the official scorer ignores other names)."""
    notes = []
    others = [
        p.relative_to(root).as_posix()
        for p in unmatched
        if not (p.name == "metadata" and p.parent == root)  # Codabench's own file in res/
    ]
    if others:
        notes.append(
            f"{len(others)} files are not predictions PRED_<id>.tif and were ignored, as the "
            f"official scorer ignores them: {summarize(others, 5)}; a submission holds only "
            "PRED_<6-digit id>.tif files"
        )
    informal = [
        p.relative_to(root).as_posix()
        for _, p in sorted(preds.items())
        if not OFFICIAL_PRED_PATTERN.fullmatch(p.name)
    ]
    if informal:
        notes.append(
            f"{len(informal)} prediction names are not in the official form PRED_<6-digit id>.tif "
            f"(scored, as the official scorer reads them): {summarize(informal, 5)}"
        )
    return tuple(notes)


def pair_predictions(
    pred_dir: Path, truth_dir: Path, *, subset: bool = False, cli: bool = True
) -> Pairing:
    """Match ``PRED_<id>.tif`` / ``PRED_IMG_<id>.tif`` files to ``MSK_<id>.tif`` files by id.

    Both folders are searched recursively, as the official scorer globs them: hidden names are
    skipped, ``__MACOSX/`` is searched. A name the official glob lists (``PRED*.tif``) but whose
    id cannot be read is refused, as it breaks the official scorer's pairing; other names are
    ignored with a warning (:attr:`Pairing.notes`).

    Args:
        pred_dir: folder of predictions.
        truth_dir: folder of reference masks.
        subset: score only the ids present in both (development use) instead of refusing a
            submission with missing or extra ids.
        cli: messages may suggest command-line options (``--subset``); False on the platform.

    Raises:
        SubmissionError: no prediction, duplicate ids, unreadable PRED names, or (without
            ``subset``) missing or extra ids.
        DataError: no reference mask, duplicate or unreadable reference names (the organiser's).
        ConfigError: the two folders look swapped.
        MissingFileError: a folder does not exist.
    """
    subset_hint = (
        " (or pass --subset to score only the matched ids during development)" if cli else ""
    )
    truth = index_tiles(truth_dir, "mask")
    if not truth.by_id:
        swapped = _swapped_error(pred_dir, truth_dir) if cli else None
        if swapped is not None:
            raise swapped
        raise DataError(f"{truth_dir}: no MSK_<id>.tif reference mask found (searched recursively)")
    bad_masks = [p for p in truth.unmatched if looks_official(p.name, "mask")]
    if bad_masks:
        raise DataError(
            f"{truth_dir}: reference file names the official scorer lists (MSK*.tif) but whose id "
            f"cannot be read: {summarize([str(p.relative_to(truth_dir)) for p in bad_masks], 5)}; "
            "name each mask MSK_<id>.tif"
        )
    if truth.duplicates:
        raise DataError(
            f"{truth_dir}: duplicate reference ids {summarize_ids(sorted(truth.duplicates))}; "
            "each MSK_<id>.tif must occur once"
        )
    preds = index_tiles(pred_dir, "pred")
    if not preds.by_id:
        swapped = _swapped_error(pred_dir, truth_dir) if cli else None
        if swapped is not None:
            raise swapped
        raise SubmissionError(
            f"{pred_dir}: no PRED_<id>.tif file found (searched recursively); name each prediction "
            "PRED_<6-digit id>.tif after its image IMG_<id>.tif"
        )
    bad_preds = [p for p in preds.unmatched if looks_official(p.name, "pred")]
    if bad_preds:
        names = [p.relative_to(pred_dir).as_posix() for p in bad_preds]
        raise SubmissionError(
            f"file names the official scorer lists (PRED*.tif) but whose id it cannot read: "
            f"{summarize(names, 5)}; name each prediction PRED_<6-digit id>.tif or remove it"
        )
    if preds.duplicates:
        raise SubmissionError(
            f"duplicate prediction ids: {summarize_duplicates(preds.duplicates)}; keep exactly one "
            "file per id"
        )
    missing = tuple(sorted(set(truth.by_id) - set(preds.by_id)))
    extra = tuple(sorted(set(preds.by_id) - set(truth.by_id)))
    if not subset and missing:
        raise SubmissionError(
            f"missing predictions for {len(missing)} of {len(truth.by_id)} ids: "
            f"{summarize_ids(missing)}; write one PRED_<id>.tif per reference mask{subset_hint}"
        )
    if not subset and extra:
        raise SubmissionError(
            f"{len(extra)} predictions have no reference mask: {summarize_ids(extra)}; remove them"
            f"{subset_hint}"
        )
    pairs = []
    for tile in sorted(set(truth.by_id) & set(preds.by_id)):
        truth_path = truth.by_id[tile]
        located = domain_zone(truth_path.relative_to(truth_dir))
        domain, zone = located if located else (NO_DOMAIN, NO_DOMAIN)
        pairs.append(Pair(tile, preds.by_id[tile], truth_path, domain, zone))
    if not pairs:
        raise SubmissionError(
            "no prediction id matches a reference id (predictions: "
            f"{summarize_ids(sorted(preds.by_id))}; references: {summarize_ids(sorted(truth.by_id))})"
        )
    notes = _name_notes(preds.unmatched, pred_dir, preds.by_id)
    return Pairing(tuple(pairs), missing, extra, notes)


# Pillow's point() takes its lookup table as a list.
_TRUTH_POINT = metrics.TRUTH_CODE_LUT.tolist()
_PRED_POINT = metrics.PRED_CODE_LUT.tolist()
_CODES = metrics.CODE_SIDE * metrics.CODE_SIDE


def count_pair(pair: Pair) -> np.ndarray:
    """Read one pair and count its pixels into the 196-code histogram of :mod:`scoring.metrics`.

    Raises:
        SubmissionError, DataError: see :func:`count_pair_and_form`.
    """
    return count_pair_and_form(pair)[0]


def form_problem(image: Image.Image) -> str | None:
    """Name what is wrong with a decodable prediction's form only (same classes once decoded).

    The official scorer decodes these exactly as it decodes the official format, so they score
    the same; ``validate`` rejects them, so ``score`` names them in a warning.
    """
    if image.format != "TIFF":
        return f"{image.format or 'non-TIFF'} data named .tif"
    if getattr(getattr(image, "tag_v2", None), "_bigtiff", False):
        return "BigTIFF (not a classic TIFF)"
    if image.mode != "L":
        return f"Pillow mode {image.mode} instead of uint8 (mode L)"
    return None


def count_pair_and_form(pair: Pair) -> tuple[np.ndarray, str | None]:
    """Count one pair (see :func:`count_pair`) and name a problem of its prediction's form.

    The common case (two 8-bit single-band images) never leaves Pillow's C code: both images go
    through their code lookup table, are added byte-wise and histogrammed, which costs a fraction of
    the decoding. Any other layout takes the numpy path, which checks and converts it. The
    prediction's header is checked against the truth's size before any pixel is decoded.

    Raises:
        SubmissionError: the prediction is undecodable, multi-band, of another shape than its
            reference, or holds non-integer values.
        DataError: the reference mask is unreadable, multi-band or not uint8, or of another size
            than a FLAIR patch while the prediction has the patch size (the organiser's data).
    """
    truth_image = load_image(pair.truth)
    try:
        pred_image = load_prediction(
            pair.pred, expected_size=truth_image.size, reference=f"MSK_{format_id(pair.tile)}.tif"
        )
    except SubmissionError as exc:
        cause = exc.__cause__
        patch = (PATCH_SIZE, PATCH_SIZE)
        if (
            isinstance(cause, ImageSizeMismatch)
            and cause.size == patch
            and truth_image.size != patch
        ):
            raise DataError(
                f"{pair.truth}: reference mask is {truth_image.size[0]}x{truth_image.size[1]}, "
                f"not a {PATCH_SIZE}x{PATCH_SIZE} FLAIR patch, while its prediction has the patch "
                "size; the reference data is wrong, not the submission"
            ) from exc
        raise
    form = form_problem(pred_image)
    if form is None and truth_image.mode == "L" and truth_image.size == pred_image.size:
        codes = ImageChops.add_modulo(
            truth_image.point(_TRUTH_POINT), pred_image.point(_PRED_POINT)
        )
        return np.array(codes.histogram()[:_CODES], dtype=np.int64), None
    truth = check_reference_mask(np.asarray(truth_image), pair.truth)
    pred = check_prediction(np.asarray(pred_image), pair.pred)
    if pred.shape != truth.shape:
        raise SubmissionError(
            f"{pair.pred}: prediction is {pred.shape[1]}x{pred.shape[0]} but reference "
            f"MSK_{format_id(pair.tile)}.tif is {truth.shape[1]}x{truth.shape[0]}; predict at the "
            "reference size"
        )
    try:
        pred_codes = metrics.prediction_to_codes(pred)
    except ValueError as exc:
        raise SubmissionError(
            f"{pair.pred}: {exc} (dtype {pred.dtype}); expected integer class indices 0..12"
        ) from exc
    return metrics.pair_histogram(truth, pred_codes), form


ChunkResult = dict[str, tuple[int, np.ndarray]]
#: (form problem, prediction path) of each pair whose prediction's form is not the official one.
FormNotes = list[tuple[str, str]]


def _add_counts(total: ChunkResult, domain: str, count: int, histogram: np.ndarray) -> None:
    previous = total.get(domain)
    if previous is None:
        total[domain] = (count, histogram)
    else:
        total[domain] = (previous[0] + count, previous[1] + histogram)


def _count_chunk(
    pairs: Sequence[Pair], keep_patches: bool = False
) -> tuple[ChunkResult, FormNotes, list[PatchResult]]:
    """Code histograms of a chunk of pairs, one per domain, with patch counts and form notes.

    With ``keep_patches``, also each patch's own histogram and the digest of its mask (for
    :class:`scoring.counts.PatchCounts`).
    """
    result: ChunkResult = {}
    notes: FormNotes = []
    patches: list[PatchResult] = []
    for pair in pairs:
        histogram, form = count_pair_and_form(pair)
        _add_counts(result, pair.domain, 1, histogram)
        if form is not None:
            notes.append((form, str(pair.pred)))
        if keep_patches:
            patches.append((pair.tile, pair.domain, pair.zone, histogram, mask_digest(pair.truth)))
    return result, notes, patches


def count_pairs(
    pairs: Sequence[Pair],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    form_notes: FormNotes | None = None,
    patches: list[PatchResult] | None = None,
) -> dict[str, tuple[int, np.ndarray]]:
    """Count every pair into per-domain code histograms, in parallel when it pays.

    Args:
        pairs: the pairs.
        workers: worker processes; default all usable cores.
        progress: called with (pairs done, pairs total).
        form_notes: when given, receives (form problem, prediction) for every prediction not in
            the official form (see :func:`form_problem`).
        patches: when given, receives each patch's (id, domain, zone, histogram, mask digest).

    Returns:
        domain -> (number of patches, 196 int64 code counts, see :func:`scoring.metrics.pair_histogram`).

    Raises:
        SubmissionError, DataError: the first pair that cannot be counted (:func:`count_pair`);
            the remaining pairs are skipped.
    """
    total: ChunkResult = {}
    done = 0

    def merge(
        chunk: Sequence[Pair], counted: tuple[ChunkResult, FormNotes, list[PatchResult]]
    ) -> None:
        nonlocal done
        result, notes, kept = counted
        if form_notes is not None:
            form_notes.extend(notes)
        if patches is not None:
            patches.extend(kept)
        for domain, (count, histogram) in result.items():
            _add_counts(total, domain, count, histogram)
        done += len(chunk)
        if progress is not None:
            progress(done, len(pairs))

    work = functools.partial(_count_chunk, keep_patches=patches is not None)
    run_chunked(work, pairs, merge, workers=workers)
    return total


def score_pairs(
    pairing: Pairing,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    warnings: tuple[str, ...] = (),
    per_patch: list[PatchResult] | None = None,
) -> ScoreReport:
    """Score matched pairs into a frozen report (per-domain when the truth layout allows it).

    Its ``warnings`` are ``warnings``, then the pairing's name notes, then every problem of form
    (:func:`form_problem`), values outside 0..12 (:func:`dropped_warning`) and a 1-based
    submission (:func:`one_based_warning`): never a silent score. ``per_patch``, when given,
    receives every patch's own counts (see :func:`count_pairs`).
    """
    notes: FormNotes = []
    counted = count_pairs(
        pairing.pairs, workers=workers, progress=progress, form_notes=notes, patches=per_patch
    )
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    dropped = raw_zero = patches = 0
    per_domain = {}
    for domain, (count, histogram) in counted.items():
        tally = metrics.fold_pair_histogram(histogram)
        confusion += tally.confusion
        dropped += tally.dropped_pixels
        raw_zero += tally.raw_zero_truth_pixels
        patches += count
        if pairing.has_domains:
            per_domain[domain] = (count, tally.confusion)
    report = ScoreReport.from_counts(
        confusion,
        patches,
        dropped,
        raw_zero,
        per_domain,
        warnings + pairing.notes + form_warnings(notes),
    )
    extra = dropped_warning(report) + one_based_warning(report)
    return dataclasses.replace(report, warnings=report.warnings + extra) if extra else report


def form_warnings(notes: FormNotes) -> tuple[str, ...]:
    """One warning per kind of form problem, with the count and the first files."""
    by_kind: dict[str, list[str]] = {}
    for kind, path in notes:
        by_kind.setdefault(kind, []).append(path)
    return tuple(
        f"{len(paths)} predictions are {kind}: scored as the official scorer decodes them, but "
        f"the official format is an LZW TIFF of uint8 ({summarize(sorted(paths), 3)}); "
        "flair-kit pack --fix re-encodes them"
        for kind, paths in sorted(by_kind.items())
    )


def one_based_warning(report: ScoreReport) -> tuple[str, ...]:
    """A warning when the predictions look 1-based (the trap that scores about 0.006).

    The heuristic (the one ``flair-kit validate`` applies): no pixel of class 0 in any file while
    predicted values 1..12 occur (at least two distinct ones). With the truth at hand the message
    adds the evidence: the pixel agreement of the values as they are and shifted down by 1.
    """
    confusion = report.confusion
    predicted = confusion.sum(axis=0)
    if predicted[0] or np.count_nonzero(predicted[1:]) < 2:
        return ()
    total = int(confusion.sum()) + report.dropped_pixels
    as_is = int(np.trace(confusion)) / total
    shifted = int(np.trace(confusion[:, 1:])) / total  # prediction k+1 against truth k
    return (
        (
            "no pixel of class 0 (building) in any prediction while values 1..12 occur: the values "
            "look 1-based (raw labels, or argmax + 1?); class 0 covers 3-9% of every FLAIR test "
            f"set. Pixel agreement with the truth: {as_is:.1%} as submitted, {shifted:.1%} with "
            "every value shifted down by 1; predictions must be class indices 0..12"
        ),
    )


def subset_warnings(pairing: Pairing) -> tuple[str, ...]:
    """Warnings that say a --subset score is not a full-test-set score."""
    notes = []
    if pairing.missing:
        notes.append(
            f"--subset: {len(pairing.missing)} reference ids have no prediction and are not "
            f"scored: {summarize_ids(pairing.missing)}"
        )
    if pairing.extra:
        notes.append(
            f"--subset: {len(pairing.extra)} predictions have no reference and are ignored: "
            f"{summarize_ids(pairing.extra)}"
        )
    return tuple(notes)


def dropped_warning(report: ScoreReport) -> tuple[str, ...]:
    """A warning when prediction values outside 0..12 were silently dropped, as CodaLab does."""
    if not report.dropped_pixels:
        return ()
    return (
        (
            f"{report.dropped_pixels} prediction pixels hold values outside 0..12 and were "
            "dropped from the confusion matrix, as the official scorer drops them; predictions "
            "must be class indices 0..12"
        ),
    )


def score_folders(
    predictions: Path,
    truth: Path,
    *,
    workers: int | None = None,
    subset: bool = False,
    progress: ProgressCallback | None = None,
    scratch_beside: Path | None = None,
) -> ScoreReport:
    """Score a folder or zip of predictions against a folder of reference masks.

    Args:
        predictions: folder of ``PRED_<id>.tif`` files (searched recursively) or a submission zip.
        truth: folder of ``MSK_<id>.tif`` reference masks (searched recursively).
        workers: worker processes; default all usable cores.
        subset: score only the matched ids instead of refusing missing or extra ids.
        progress: called with (pairs done, pairs total) as the work advances.
        scratch_beside: an output file of the command: a zip is extracted beside it (see
            :func:`submission_folder`).

    Returns:
        The frozen report; its ``warnings`` say what a user should know (subset, dropped pixels).

    Raises:
        SubmissionError, DataError, MissingFileError: see :func:`pair_predictions` and
            :func:`count_pair`.
    """
    return _score_folders(
        predictions,
        truth,
        workers=workers,
        subset=subset,
        progress=progress,
        scratch_beside=scratch_beside,
    )


def score_folders_with_counts(
    predictions: Path,
    truth: Path,
    *,
    workers: int | None = None,
    subset: bool = False,
    progress: ProgressCallback | None = None,
    subset_hint: bool = True,
    scratch_beside: Path | None = None,
) -> tuple[ScoreReport, PatchCounts]:
    """:func:`score_folders`, also keeping every patch's counts (``score --save-counts``).

    ``subset_hint``: missing/extra-id errors suggest ``--subset`` (False for commands without it:
    ``compare`` and ``leaderboard`` always compare whole test sets). ``scratch_beside``: see
    :func:`score_folders`.

    Returns:
        The report, and each patch's code counts with its id, domain and zone (from the truth's
        ``<DOMAIN>/<ZONE>/msk/`` layout, else empty) and the truth's fingerprint.
    """
    patches: list[PatchResult] = []
    report = _score_folders(
        predictions,
        truth,
        workers=workers,
        subset=subset,
        progress=progress,
        patches=patches,
        subset_hint=subset_hint,
        scratch_beside=scratch_beside,
    )
    return report, counts_from_patches(patches)


def _score_folders(
    predictions: Path,
    truth: Path,
    *,
    workers: int | None,
    subset: bool,
    progress: ProgressCallback | None,
    patches: list[PatchResult] | None = None,
    subset_hint: bool = True,
    scratch_beside: Path | None = None,
) -> ScoreReport:
    with submission_folder(predictions, scratch_beside) as pred_dir:
        try:
            pairing = pair_predictions(pred_dir, truth, subset=subset, cli=subset_hint)
            notes = subset_warnings(pairing) if subset else ()
            report = score_pairs(
                pairing, workers=workers, progress=progress, warnings=notes, per_patch=patches
            )
        except FlairKitError as exc:
            if pred_dir == predictions:
                raise
            raise type(exc)(_in_zip(str(exc), pred_dir, predictions)) from exc
    if pred_dir == predictions:
        return report
    warnings = tuple(_in_zip(w, pred_dir, predictions) for w in report.warnings)
    return dataclasses.replace(report, warnings=warnings)


def _in_zip(message: str, scratch: Path, archive: Path) -> str:
    """Name files of an extracted zip as members of the zip, not as paths of a scratch folder."""
    return message.replace(f"{scratch}{os.sep}", f"{archive}:").replace(str(scratch), str(archive))


#: The scratch folder of an extracted zip when the command writes no file: in the system's
#: temporary folder, named ``.flair-kit-submission.flair-kit-<pid>-<hex>.partial``.
SUBMISSION_SCRATCH = "flair-kit-submission"


@contextlib.contextmanager
def submission_folder(path: Path, scratch_beside: Path | None = None) -> Iterator[Path]:
    """Yield a folder holding the submission: the folder itself, or a zip extracted safely.

    A zip is checked and extracted into a private scratch folder that is removed afterwards:
    beside ``scratch_beside`` (an output file of the command, so nothing is written outside the
    requested output's folder) or, when the command writes no file, in the system's temporary
    folder (``TMPDIR``). Either way it is named like every kit temporary, so one left by
    ``kill -9`` is removed by the next run (:func:`scoring.atomic.scratch_directory`).

    Raises:
        MissingFileError: the path does not exist.
        SubmissionError: the zip is unsafe or corrupt.
        ScratchSpaceError: the scratch folder cannot be created or filled (full or read-only
            disk); the message names the folder and how to choose another.
    """
    if path.is_dir():
        yield path
        return
    if not path.exists():
        raise MissingFileError(f"{path}: not found; expected a folder of PRED files or a .zip")
    target = scratch_beside
    if target is None:
        target = Path(tempfile.gettempdir()) / SUBMISSION_SCRATCH
    with contextlib.ExitStack() as stack:
        try:
            scratch = stack.enter_context(scratch_directory(target))
            extract_zip_safely(path, scratch)
        except FlairKitError:
            raise
        except OSError as exc:
            raise extraction_failure(exc, path, target, system_temp=scratch_beside is None) from exc
        yield scratch


def extraction_failure(
    exc: OSError, archive: Path, target: Path, *, system_temp: bool
) -> ScratchSpaceError:
    """One line for a failure to write the extracted copy of ``archive``: which folder, and how
    to choose another (``TMPDIR`` for the system's temporary folder).

    >>> import errno
    >>> full = OSError(errno.ENOSPC, "No space left on device")
    >>> print(extraction_failure(full, Path("s.zip"), Path("/tmp/x"), system_temp=True))
    ... # doctest: +NORMALIZE_WHITESPACE
    /tmp: the disk is full (No space left on device) in this temporary folder while extracting
    s.zip; free space there, or set TMPDIR to a folder on a disk with room (TMPDIR chooses the
    temporary folder)
    """
    what, fix = os_error_advice(exc.errno)
    strerror = f" ({exc.strerror})" if exc.strerror else ""
    if not system_temp:
        return ScratchSpaceError(
            f"{target}: {what}{strerror} while extracting {archive} beside this output; {fix}"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space there, or set TMPDIR to a folder on a disk with room"
    else:
        fix = f"{fix}, or set TMPDIR to another folder"
    return ScratchSpaceError(
        f"{target.parent}: {what}{strerror} in this temporary folder while extracting {archive}; "
        f"{fix} (TMPDIR chooses the temporary folder)"
    )
