"""The ``flair-kit compare`` and ``flair-kit leaderboard`` commands, and the options they share
with ``score`` (``--zones``, ``--errors``, ``--images``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar

import typer

from starting_kit.options import Workers, domain_errors_exit
from starting_kit.ranking.defaults import (
    DEFAULT_ERRORS,
    DEFAULT_REPLICATES,
    DEFAULT_SEED,
    MIN_REPLICATES,
)
from starting_kit.ranking.naming import display_name

if TYPE_CHECKING:
    from starting_kit.ranking.workflow import ErrorOptions, RankingOptions

Result = TypeVar("Result")

__all__ = ["DEFAULT_ERRORS", "DEFAULT_REPLICATES", "DEFAULT_SEED", "display_name", "register"]

Zones = Annotated[
    Path | None,
    typer.Option(
        "--zones",
        help="For a flat truth folder: csv of id,domain,zone (or an official path list) giving "
        "each patch's zone [default: the truth's <DOMAIN>/<ZONE> layout, else the built-in "
        "FLAIR #1 test table].",
        show_default=False,
    ),
]
#: None: not given (the default count, :data:`DEFAULT_ERRORS`); given without ``--html``, refused.
Errors = Annotated[
    int | None,
    typer.Option(
        "--errors",
        min=0,
        help=f"Worst patches and confused class pairs in the HTML [default: {DEFAULT_ERRORS}].",
        show_default=False,
    ),
]
Images = Annotated[
    Path | None,
    typer.Option(
        "--images",
        help="Dataset folder of the test IMG_<id>.tif files: adds a gallery of the worst patches "
        "(image | truth | prediction | errors) to the HTML.",
        show_default=False,
    ),
]
Html = Annotated[
    Path | None, typer.Option("--html", help="Write the report page (one self-contained file).")
]
Json = Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")]
Truth = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="Folder of reference MSK_<id>.tif masks; not needed when every input is saved counts.",
        show_default=False,
    ),
]
Replicates = Annotated[
    int,
    typer.Option(
        "--replicates",
        min=MIN_REPLICATES,
        help=f"Bootstrap replicates (at least {MIN_REPLICATES}).",
    ),
]
Seed = Annotated[
    int, typer.Option("--seed", min=0, help="Bootstrap seed (same seed, same result).")
]
Names = Annotated[
    str | None,
    typer.Option(
        "--names",
        help="Comma-separated display names, one per submission [default: file or folder stems].",
        show_default=False,
    ),
]
SUBMISSION_HELP = (
    "zip, folder of PRED_<id>.tif files, or saved counts (.npz from score --save-counts)"
)


def error_options(errors: int | None, images: Path | None, truth: Path | None) -> ErrorOptions:
    """What the HTML's error analysis shows, from the command's options."""
    from starting_kit.ranking.workflow import ErrorOptions

    return ErrorOptions(DEFAULT_ERRORS if errors is None else errors, images, truth)


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [name.strip() for name in value.split(",")]


def echo_outcome(text: str, notes: Sequence[str], written: Sequence[Path | None]) -> None:
    """Print a result on stdout, then its warnings and the files written on stderr."""
    typer.echo(text, nl=False)
    for note in notes:
        typer.echo(f"warning: {note}", err=True)
    for path in written:
        if path is not None:
            typer.echo(f"written {path}", err=True)


class Progress(Protocol):
    """A progress display: called with (done, total), closed at the end."""

    def __call__(self, done: int, total: int) -> None:
        """Show progress."""

    def close(self) -> None:
        """Finish the display."""


def register(app: typer.Typer, make_progress: Callable[[str], Progress]) -> None:
    """Add ``compare`` and ``leaderboard`` to the ``flair-kit`` app.

    Args:
        app: the root app.
        make_progress: makes the app's progress display from a label (the CLI's stderr bar).
    """

    def with_progress(
        work: Callable[[RankingOptions], Result],
        *,
        truth: Path | None,
        names: str | None,
        replicates: int,
        seed: int,
        zones: Path | None,
        errors: int | None,
        images: Path | None,
        workers: int | None,
    ) -> Result:
        """Run ``work`` with the options both commands share, a progress bar while scoring."""
        from starting_kit.ranking.workflow import RankingOptions

        progress = make_progress("scoring")
        try:
            return work(
                RankingOptions(
                    names=_names(names),
                    replicates=replicates,
                    seed=seed,
                    zones_csv=zones,
                    errors=error_options(errors, images, truth),
                    workers=workers,
                    progress=progress,
                )
            )
        finally:
            progress.close()

    @app.command()
    @domain_errors_exit
    def compare(
        a: Annotated[Path, typer.Argument(help=f"Submission A: {SUBMISSION_HELP}.")],
        b: Annotated[Path, typer.Argument(help=f"Submission B: {SUBMISSION_HELP}.")],
        truth: Truth = None,
        json_out: Json = None,
        html_out: Html = None,
        names: Names = None,
        replicates: Replicates = DEFAULT_REPLICATES,
        seed: Seed = DEFAULT_SEED,
        zones: Zones = None,
        errors: Errors = None,
        images: Images = None,
        workers: Workers = None,
    ) -> None:
        """Is A better than B? Exact mIoU of each, the difference and its 95% interval (zone bootstrap)."""
        from starting_kit.ranking.compare import render_comparison
        from starting_kit.ranking.workflow import Outputs, run_compare

        outputs = Outputs(json=json_out, html=html_out)
        outputs.check_used(images=images, errors=errors)
        result = with_progress(
            lambda options: run_compare(a, b, truth, outputs=outputs, options=options),
            truth=truth, names=names, replicates=replicates, seed=seed, zones=zones,
            errors=errors, images=images, workers=workers,
        )  # fmt: skip
        echo_outcome(render_comparison(result), result.analysis.warnings, outputs.written())

    @app.command()
    @domain_errors_exit
    def leaderboard(
        submissions: Annotated[
            list[Path], typer.Argument(help=f"Submissions to rank, each a {SUBMISSION_HELP}.")
        ],
        truth: Truth = None,
        json_out: Json = None,
        csv_out: Annotated[
            Path | None, typer.Option("--csv", help="Write the ranked table as csv here.")
        ] = None,
        html_out: Html = None,
        names: Names = None,
        replicates: Replicates = DEFAULT_REPLICATES,
        seed: Seed = DEFAULT_SEED,
        zones: Zones = None,
        errors: Errors = None,
        images: Images = None,
        workers: Workers = None,
    ) -> None:
        """Rank submissions by the official mIoU, with 95% intervals, rank stability and P(row beats column)."""
        from starting_kit.ranking.leaderboard import render_leaderboard
        from starting_kit.ranking.workflow import Outputs, run_leaderboard

        outputs = Outputs(json=json_out, html=html_out, csv=csv_out)
        outputs.check_used(images=images, errors=errors)
        board = with_progress(
            lambda options: run_leaderboard(submissions, truth, outputs=outputs, options=options),
            truth=truth, names=names, replicates=replicates, seed=seed, zones=zones,
            errors=errors, images=images, workers=workers,
        )  # fmt: skip
        echo_outcome(render_leaderboard(board), board.analysis.warnings, outputs.written())
