"""What ``compare``, ``leaderboard`` and ``score --html/--save-counts`` do, below the command line.

Each function loads the inputs, runs the analysis and writes the requested outputs atomically;
the commands only parse options and print.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scoring.atomic import (
    StrPath,
    Writer,
    check_outputs_apart,
    json_writer,
    probe_writable,
    text_writer,
    write_together,
)
from scoring.counts import PatchCounts, save_counts
from scoring.errors import ConfigError, OutputPathError
from scoring.pool import ProgressCallback
from scoring.report import ScoreReport
from scoring.tiles import format_id
from starting_kit.ranking.analysis import Analysis, Submission, analyse
from starting_kit.ranking.compare import Comparison, compare_analysis
from starting_kit.ranking.defaults import DEFAULT_ERRORS, DEFAULT_REPLICATES, DEFAULT_SEED
from starting_kit.ranking.diagnostics import ErrorAnalysis, analyse_errors
from starting_kit.ranking.inputs import load_submissions
from starting_kit.ranking.leaderboard import Leaderboard, rank_analysis
from starting_kit.ranking.zones import locate_recording

if TYPE_CHECKING:
    from starting_kit.reports.gallery import GalleryTile


def check_counts_name(path: Path | None) -> None:
    """A counts file is named ``*.npz``, so that ``--save-counts run.zip`` cannot replace a
    submission.

    Raises:
        OutputPathError: another suffix.
    """
    if path is not None and path.suffix.lower() != ".npz":
        raise OutputPathError(
            f"{path}: --save-counts writes a .npz file; name it FILE.npz (e.g. "
            f"{path.with_suffix('.npz').name})"
        )


@dataclass(frozen=True)
class Outputs:
    """Files a command writes (None: not asked for)."""

    json: Path | None = None
    html: Path | None = None
    csv: Path | None = None
    counts: Path | None = None

    def probe(self, inputs: Sequence[Path | None] = ()) -> None:
        """Fail before any work when an output cannot be written (no folder, read-only disk),
        would overwrite one of ``inputs`` or another output, or a counts file lacks ``.npz``."""
        check_counts_name(self.counts)
        options = {"--json": self.json, "--html": self.html, "--csv": self.csv}
        check_outputs_apart({**options, "--save-counts": self.counts}, inputs)
        for path in (self.json, self.html, self.csv, self.counts):
            if path is not None:
                probe_writable(path, parent_must_exist=True)

    def written(self) -> list[Path]:
        """The outputs asked for."""
        return [p for p in (self.json, self.html, self.csv, self.counts) if p is not None]

    def scratch_beside(self) -> Path | None:
        """The output beside which a zip input is extracted (None: the system's temporary folder)."""
        return next(iter(self.written()), None)

    def check_used(
        self, *, images: Path | None, errors: int | None, zones: Path | None = None
    ) -> None:
        """Refuse an option that no requested output uses: silently ignoring it would hide a
        mistake (``score --zones z.csv`` without ``--html`` or ``--save-counts``).

        Args:
            images: ``--images`` (the HTML report's gallery).
            errors: ``--errors`` as given (None: not given; the HTML report's error analysis).
            zones: ``score --zones`` (the HTML report and the saved counts); compare and
                leaderboard always use theirs, so they pass None.

        Raises:
            ConfigError: naming the option and the outputs that use it.
        """
        asked = {"--html": self.html, "--save-counts": self.counts}
        needs = (
            ("--images", images, ("--html",)),
            ("--errors", errors, ("--html",)),
            ("--zones", zones, ("--html", "--save-counts")),
        )
        for option, value, users in needs:
            if value is not None and all(asked[user] is None for user in users):
                wanted = " or ".join(users)
                raise ConfigError(
                    f"{option} is used only by {wanted}; add {wanted}, or leave {option} out"
                )


@dataclass(frozen=True)
class ErrorOptions:
    """What the error analysis of a report shows."""

    limit: int = DEFAULT_ERRORS
    #: Dataset folder of the test images, for the gallery of the worst patches.
    images: Path | None = None
    #: Reference masks, for the gallery.
    truth: Path | None = None


@dataclass(frozen=True)
class RankingOptions:
    """How ``compare`` and ``leaderboard`` load, bootstrap and analyse their submissions."""

    #: Display names, one per submission (default: their stems, see ``naming``).
    names: Sequence[str] | None = None
    replicates: int = DEFAULT_REPLICATES
    seed: int = DEFAULT_SEED
    #: ``id,domain,zone`` csv for a flat truth folder.
    zones_csv: Path | None = None
    errors: ErrorOptions = field(default_factory=ErrorOptions)
    workers: int | None = None
    progress: ProgressCallback | None = None


def _analysed(
    paths: Sequence[Path], truth: Path | None, outputs: Outputs, options: RankingOptions
) -> Analysis:
    """Check the outputs, load the inputs, run the paired bootstrap; scoring warnings first."""
    outputs.probe([*paths, truth, options.zones_csv, options.errors.images])
    submissions, notes = load_submissions(
        paths,
        truth,
        names=options.names,
        workers=options.workers,
        progress=options.progress,
        scratch_beside=outputs.scratch_beside(),
    )
    analysis = analyse(
        submissions, replicates=options.replicates, seed=options.seed, zones_csv=options.zones_csv
    )
    return dataclasses.replace(
        analysis, warnings=(*notes, *gallery_notes(submissions, options.errors), *analysis.warnings)
    )


def gallery_notes(submissions: Sequence[Submission], options: ErrorOptions) -> list[str]:
    """Why ``--images`` will draw no gallery for some submissions (it is never silently dropped)."""
    if options.images is None:
        return []
    if options.truth is None:
        return ["--images: no gallery without --truth (the gallery draws the reference masks)"]
    counts_only = [s.name for s in submissions if s.predictions is None]
    if not counts_only:
        return []
    note = (
        f"--images: no gallery for {', '.join(counts_only)}: saved counts hold no predictions "
        "(give the zip or folder to draw them)"
    )
    return [note]


def error_analyses(
    submissions: Sequence[Submission], options: ErrorOptions
) -> tuple[list[ErrorAnalysis], dict[str, tuple[GalleryTile, ...]]]:
    """Error analysis of each submission, and the gallery of each one whose files are at hand."""
    # Imported here: the gallery reads aerial images with rasterio, needed only with --images.
    errors = [analyse_errors(s.name, s.counts, options.limit) for s in submissions]
    galleries: dict[str, tuple[GalleryTile, ...]] = {}
    if options.images is None or options.truth is None:
        return errors, galleries
    from starting_kit.reports.gallery import gallery

    for submission, analysis in zip(submissions, errors, strict=False):
        if submission.predictions is None:
            continue  # saved counts: no prediction files to draw
        tiles = [
            (p.tile, f"{format_id(p.tile)} {p.domain}/{p.zone}: patch mIoU {p.miou:.3f}")
            for p in analysis.worst
        ]
        galleries[submission.name] = gallery(
            tiles, submission.predictions, options.truth, options.images
        )
    return errors, galleries


def run_compare(
    a: Path,
    b: Path,
    truth: Path | None,
    *,
    outputs: Outputs,
    options: RankingOptions | None = None,
) -> Comparison:
    """Compare A and B and write the requested JSON and HTML."""
    options = options or RankingOptions()
    analysis = _analysed([a, b], truth, outputs, options)
    comparison = compare_analysis(analysis)
    # Only what was asked for is rendered; all of it is published together, or none.
    contents: dict[StrPath, Writer] = {}
    if outputs.json is not None:
        contents[outputs.json] = json_writer(comparison.to_dict())
    if outputs.html is not None:
        from starting_kit.reports.pages import comparison_page

        found, galleries = error_analyses(analysis.submissions, options.errors)
        contents[outputs.html] = text_writer(comparison_page(comparison, found, galleries))
    write_together(contents)
    return comparison


def run_leaderboard(
    paths: Sequence[Path],
    truth: Path | None,
    *,
    outputs: Outputs,
    options: RankingOptions | None = None,
) -> Leaderboard:
    """Rank the submissions and write the requested JSON, CSV and HTML."""
    options = options or RankingOptions()
    analysis = _analysed(paths, truth, outputs, options)
    board = rank_analysis(analysis)
    contents: dict[StrPath, Writer] = {}
    if outputs.json is not None:
        contents[outputs.json] = json_writer(board.to_dict())
    if outputs.csv is not None:
        table = board.frame().to_csv(index=False, lineterminator="\n")
        contents[outputs.csv] = text_writer(table)
    if outputs.html is not None:
        from starting_kit.reports.pages import leaderboard_page

        ranked = [analysis.submissions[entry.column] for entry in board.entries]
        found, galleries = error_analyses(ranked, options.errors)
        contents[outputs.html] = text_writer(leaderboard_page(board, found, galleries))
    write_together(contents)
    return board


def write_score_outputs(
    report: ScoreReport,
    counts: PatchCounts | None,
    name: str,
    *,
    outputs: Outputs,
    zones_csv: Path | None = None,
    errors: ErrorOptions | None = None,
    predictions: Path | None = None,
) -> tuple[str, ...]:
    """Write ``score --json``, ``--save-counts`` and ``--html``, all of them or none; returns
    warnings to show.

    Args:
        counts: each patch's counts; needed (not None) for ``--save-counts`` and ``--html``.
    """
    contents: dict[StrPath, Writer] = {}
    if outputs.json is not None:
        contents[outputs.json] = json_writer(report.to_dict())
    if counts is None:
        if outputs.counts is not None or outputs.html is not None:
            raise ValueError("score --save-counts and --html need the patch counts")
        write_together(contents)
        return ()
    located, _, notes = locate_recording(counts, zones_csv)
    if outputs.counts is not None:
        contents[outputs.counts] = lambda path: save_counts(path, located)
    if outputs.html is not None:
        from starting_kit.reports.pages import score_page

        submission = Submission(name, located, predictions)
        found, galleries = error_analyses([submission], errors or ErrorOptions())
        page = score_page(report, name, found[0], galleries.get(name, ()))
        contents[outputs.html] = text_writer(page)
    write_together(contents)
    return notes
