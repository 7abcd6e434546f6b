"""The ``flair-kit`` command line: thin commands over library functions.

Exit codes: 0 success, 1 a domain failure (invalid submission, unreadable data; one clear message on
stderr, no traceback), 2 a usage error (typer does this); see :mod:`starting_kit.options`. Results
go to stdout, diagnostics and progress bars to stderr.

Other packages add commands through the ``flair_kit.commands`` entry-point group (the way ``rio``
finds its plugins): each entry point names a ``register(app)`` function that adds its commands
and sub-apps to :data:`app`. The baseline registers ``flair-kit baseline ...`` and ``flair-kit
demo`` this way, so this package never imports it.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from scoring.atomic import sigterm_raises
from starting_kit import __version__
from starting_kit.choices import Dataset
from starting_kit.options import Workers, domain_errors_exit, fail, output_option, overwrite_option
from starting_kit.ranking import commands as ranking_commands

#: Entry-point group of the packages that add commands to ``flair-kit``.
COMMANDS_GROUP = "flair_kit.commands"

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="FLAIR challenge kit: score, validate and pack submissions, toy data, baselines, bundles.",
    pretty_exceptions_enable=False,
    # Help texts are plain text: rich markup would eat every [bracketed] part ("[default: ...]").
    rich_markup_mode=None,
)


class StderrProgress:
    """A progress bar on stderr, shown only for long runs on a terminal (or when forced)."""

    def __init__(self, label: str, *, threshold: int = 200, force: bool | None = None) -> None:
        self.label = label
        self.threshold = threshold
        self.enabled = sys.stderr.isatty() if force is None else force
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.threshold:
            return
        if self._bar is None:
            self._bar = typer.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        """Finish the bar line, if one was drawn."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _versions() -> Iterator[str]:
    yield f"flair-kit {__version__}"
    yield f"python {platform.python_version()} ({sys.executable})"
    for module in (
        "numpy",
        "PIL",
        "rasterio",
        "typer",
        "yaml",
        "torch",
        "segmentation_models_pytorch",
    ):
        try:
            imported = __import__(module)
            yield f"{module} {getattr(imported, '__version__', '?')}"
        except ImportError:
            yield f"{module} not installed"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"flair-kit {__version__}")
        raise typer.Exit()


def _show_versions_callback(value: bool) -> None:
    if value:
        for line in _versions():
            typer.echo(line)
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
    show_versions: Annotated[
        bool,
        typer.Option(
            "--show-versions",
            callback=_show_versions_callback,
            is_eager=True,
            help="Print the versions of Python and every library the kit uses (for bug reports).",
        ),
    ] = False,
) -> None:
    """FLAIR challenge kit."""


EXPECT_HELP = (
    "Expected ids: flair1-test, flair1-toy-test, an official path-list csv, or a folder of "
    "IMG_<id>.tif / MSK_<id>.tif files."
)
SIZE_HELP = (
    "Mask width and height in pixels (512 for FLAIR; smaller only for synthetic data) "
    "[default: the size of the --expect folder's patches, else 512]."
)
Expect = Annotated[str | None, typer.Option("--expect", help=EXPECT_HELP)]
Strict = Annotated[
    bool, typer.Option("--strict", help="Values outside 0..12 are errors, not warnings.")
]
Size = Annotated[int | None, typer.Option("--size", min=1, help=SIZE_HELP, show_default=False)]
#: Platforms a competition bundle is written for: CodaLab Competitions v1 or Codabench.
BundlePlatform = Literal["codalab", "codabench"]


@app.command()
@domain_errors_exit
def score(
    predictions: Annotated[
        Path, typer.Argument(help="Folder of PRED_<id>.tif files, or a submission zip.")
    ],
    truth: Annotated[
        Path,
        typer.Argument(help="Folder of reference MSK_<id>.tif masks (searched recursively)."),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full report as JSON here.")
    ] = None,
    workers: Workers = None,
    subset: Annotated[
        bool,
        typer.Option(
            "--subset", help="Score only the ids present in both (development use; warns)."
        ),
    ] = False,
    save_counts: Annotated[
        Path | None,
        typer.Option(
            "--save-counts",
            help="Keep each patch's counts (FILE.npz) for compare and leaderboard without decoding.",
            show_default=False,
        ),
    ] = None,
    html_out: ranking_commands.Html = None,
    zones: ranking_commands.Zones = None,
    errors: ranking_commands.Errors = None,
    images: ranking_commands.Images = None,
) -> None:
    """Score predictions against reference masks with the official FLAIR metric (CodaLab-exact)."""
    # Imported per command, for start-up speed: each command loads only the modules it runs.
    from scoring.evaluate import score_folders, score_folders_with_counts
    from scoring.render import render_text
    from starting_kit.ranking.workflow import Outputs, write_score_outputs

    keep_counts = save_counts is not None or html_out is not None
    outputs = Outputs(json=json_out, html=html_out, counts=save_counts)
    # An option no output uses, a folder, FIFO, missing folder, read-only disk or an output over
    # or inside an input (--save-counts run.zip, --html truth/MSK_1.tif) fails before the scoring.
    outputs.check_used(images=images, errors=errors, zones=zones)
    outputs.probe([predictions, truth, zones, images])
    progress = StderrProgress("scoring")
    # A zip is extracted beside an output when there is one: nothing written outside its folder.
    beside = outputs.scratch_beside()
    try:
        if keep_counts:
            report, counts = score_folders_with_counts(
                predictions, truth, workers=workers, subset=subset, progress=progress,
                scratch_beside=beside,
            )  # fmt: skip
        else:
            report, counts = (
                score_folders(
                    predictions, truth, workers=workers, subset=subset, progress=progress,
                    scratch_beside=beside,
                ),
                None,
            )  # fmt: skip
    finally:
        progress.close()
    typer.echo(render_text(report), nl=False)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    # All the outputs are published together at the end, or none of them.
    notes = write_score_outputs(
        report, counts, ranking_commands.display_name(predictions), outputs=outputs,
        zones_csv=zones, errors=ranking_commands.error_options(errors, images, truth),
        predictions=predictions,
    )  # fmt: skip
    if json_out is not None:
        typer.echo(f"report written to {json_out}", err=True)
    ranking_commands.echo_outcome("", notes, [html_out, save_counts])


@app.command()
@domain_errors_exit
def validate(
    submission: Annotated[
        Path, typer.Argument(help="Submission zip, or folder of PRED_<id>.tif files.")
    ],
    expect: Expect = None,
    strict: Strict = False,
    size: Size = None,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Problems to list before the totals.")
    ] = 20,
    workers: Workers = None,
) -> None:
    """Check a submission zip or folder (names, content, ids, zip safety); exit 1 on any error."""
    # Imported per command, for start-up speed.
    from starting_kit.patch_size import expected_patch_size
    from starting_kit.submission import render_report, validate_submission

    expected_size = expected_patch_size(expect, size)
    progress = StderrProgress("validating")
    try:
        report = validate_submission(
            submission,
            expect=expect,
            strict=strict,
            progress=progress,
            expected_size=expected_size,
            workers=workers,
        )
    finally:
        progress.close()
    typer.echo(render_report(report, limit=show), nl=False)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
@domain_errors_exit
def pack(
    pred_dir: Annotated[
        Path, typer.Argument(help="Folder of PRED_<id>.tif files (searched recursively).")
    ],
    output: Annotated[Path, output_option("Zip to write, e.g. submission.zip.")],
    expect: Expect = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Re-encode files valid in content but not in form (originals untouched)."
        ),
    ] = False,
    overwrite: Annotated[bool, overwrite_option("Replace an existing output zip.")] = False,
    strict: Strict = False,
    size: Size = None,
    workers: Workers = None,
) -> None:
    """Validate predictions and write the flat zip to upload (stored, written atomically)."""
    # Imported per command, for start-up speed.
    from starting_kit.patch_size import expected_patch_size
    from starting_kit.submission import InvalidSubmissionError, pack_submission, render_report

    expected_size = expected_patch_size(expect, size)
    progress = StderrProgress("packing")
    try:
        result = pack_submission(
            pred_dir,
            output,
            expect=expect,
            fix=fix,
            overwrite=overwrite,
            progress=progress,
            strict=strict,
            expected_size=expected_size,
            workers=workers,
        )
    except InvalidSubmissionError as exc:
        progress.close()
        typer.echo(render_report(exc.report), err=True, nl=False)
        raise fail(
            f"{pred_dir}: not packed, nothing written ({len(exc.report.errors)} errors)"
        ) from None
    finally:
        progress.close()
    if result.report.warnings:
        typer.echo(render_report(result.report), err=True, nl=False)
    if result.fixed:
        typer.echo(
            f"re-encoded {len(result.fixed)} files in the official format (originals untouched)",
            err=True,
        )
    typer.echo(
        f"wrote {result.output}: {result.n_files} PRED files, {result.size_bytes / 1e6:.1f} MB"
    )


@app.command()
@domain_errors_exit
def bundle(
    dataset: Annotated[
        Dataset | None, typer.Option("--dataset", help="Dataset of the competition.")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference", help="Folder of reference MSK_<id>.tif masks (searched recursively)."
        ),
    ] = None,
    output: Annotated[Path | None, output_option("Bundle zip to write.")] = None,
    platform_name: Annotated[
        BundlePlatform, typer.Option("--platform", help="CodaLab Competitions v1 or Codabench.")
    ] = "codalab",
    check: Annotated[
        Path | None,
        typer.Option("--check", help="Validate this bundle zip instead of building one."),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Competition title.")] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First day of the phase, YYYY-MM-DD.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last day, YYYY-MM-DD (default: never ends).")
    ] = None,
    max_submissions: Annotated[
        int | None,
        typer.Option("--max-submissions", min=1, help="Per participant (default 100)."),
    ] = None,
    max_per_day: Annotated[
        int | None,
        typer.Option("--max-per-day", min=1, help="Per participant per day (default 5)."),
    ] = None,
    time_limit: Annotated[
        int | None,
        typer.Option("--time-limit", min=60, help="Scoring time limit in s (default 1800)."),
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option("--max-size-mb", min=1, help="Largest upload on CodaLab in MB (default 500)."),
    ] = None,
    docker_image: Annotated[
        str | None,
        typer.Option(
            "--docker-image",
            help="Image the scorer runs in (default codalab/codalab-legacy:py39).",
        ),
    ] = None,
    overwrite: Annotated[bool, overwrite_option("Replace an existing output zip.")] = False,
) -> None:
    """Build a CodaLab or Codabench competition bundle, or --check an existing one."""
    # Imported per command, for start-up speed.
    from starting_kit.bundle import build_bundle, check_bundle, describe

    if check is not None:
        if dataset or reference or output:
            raise typer.BadParameter("--check FILE takes no --dataset, --reference or --output")
        verdict = check_bundle(check)
        for warning in verdict.warnings:
            typer.echo(f"warning: {check}: {warning}", err=True)
        for error in verdict.errors:
            typer.echo(f"error: {check}: {error}", err=True)
        if not verdict.ok:
            raise typer.Exit(code=1)
        typer.echo(f"{check}: valid {verdict.platform} bundle ({len(verdict.warnings)} warnings)")
        return
    if dataset is None or reference is None or output is None:
        raise typer.BadParameter(
            "building a bundle needs --dataset, --reference and --output (or --check FILE)"
        )
    desc = describe(
        dataset,
        title=title,
        start=start,
        end=end,
        max_submissions=max_submissions,
        max_submissions_per_day=max_per_day,
        execution_time_limit=time_limit,
        max_submission_size_mb=max_size,
        docker_image=docker_image,
    )
    summary = build_bundle(desc, reference, output, platform=platform_name, overwrite=overwrite)
    typer.echo(
        f"wrote {summary.path}: {summary.platform} bundle, {summary.reference_masks} reference "
        f"masks, {summary.size_bytes} bytes, sha256 {summary.sha256}"
    )


@app.command("toy-data")
@domain_errors_exit
def toy_data(
    out: Annotated[
        Path,
        typer.Argument(help="Folder to create; must be new or empty (or hold this very toy set)."),
    ],
    dataset: Annotated[
        Dataset, typer.Option("--dataset", help="Which challenge's layout.")
    ] = "flair1",
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, help="Random seed; the same seed gives identical files."),
    ] = 0,
    size: Annotated[
        int,
        typer.Option("--size", min=16, max=2048, help="Patch side in pixels (real data: 512)."),
    ] = 512,
    n_train: Annotated[
        int | None,
        typer.Option(
            "--train",
            min=1,
            help="Train patches, validation domains included (default: IGN's 200 toy ones).",
        ),
    ] = None,
    n_test: Annotated[
        int | None,
        typer.Option("--test", min=1, help="Test patches (default: IGN's 50 toy ones)."),
    ] = None,
) -> None:
    """Write a toy FLAIR #1 or #2 dataset in the official formats, learnable in a few CPU minutes."""
    # Imported per command, for start-up speed.
    from starting_kit.toydata import generate_toy_dataset, render_summary

    started = time.perf_counter()
    progress = StderrProgress("generating", threshold=50)
    try:
        result = generate_toy_dataset(
            out,
            dataset=dataset,
            seed=seed,
            size=size,
            n_train=n_train,
            n_test=n_test,
            progress=progress,
        )
    finally:
        progress.close()
    typer.echo(render_summary(result, time.perf_counter() - started), nl=False)


def register_plugins(root_app: typer.Typer) -> None:
    """Let every installed ``flair_kit.commands`` entry point add its commands to ``root_app``.

    Loading a plugin imports its command module only: a plugin keeps its heavy libraries (torch)
    inside its commands, so ``flair-kit score`` starts as fast with plugins as without.
    A plugin that fails to load (a broken install, an incompatible version) costs only its own
    commands: one warning line on stderr names it, and every other command still works.
    """
    for entry_point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = entry_point.load()
            register(root_app)
        except Exception as exc:  # noqa: BLE001 - any plugin failure must not take the kit down
            typer.echo(
                f"warning: the '{entry_point.name}' commands ({entry_point.value}) could not be"
                f" loaded: {type(exc).__name__}: {exc}; reinstall flair-kit"
                " (pip install -e '.[baseline]') or report it",
                err=True,
            )


ranking_commands.register(app, StderrProgress)
register_plugins(app)


def main() -> None:
    """Console-script entry point."""
    with sigterm_raises():  # SIGTERM raises, so interrupted writes clean up after themselves
        app()
