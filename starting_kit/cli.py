"""The ``flair-kit`` command line: thin commands over library functions.

Exit codes: 0 success, 1 a domain failure (invalid submission, unreadable data; one clear message on
stderr, no traceback), 2 a usage error (typer does this). Results go to stdout, diagnostics and
progress bars to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import typer

from scoring.errors import FlairKitError
from starting_kit import __version__

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="FLAIR challenge kit: score, validate and pack submissions, toy data, baselines, bundles.",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one clear error line on stderr and return the exit to raise (code 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def domain_errors_exit(command: F) -> F:
    """Turn the kit's errors into one stderr line and exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlairKitError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


class StderrProgress:
    """A progress bar on stderr, shown only for long runs on a terminal (or when forced)."""

    def __init__(self, label: str, *, threshold: int = 200, force: Optional[bool] = None) -> None:
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


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file, so a reader never sees half a file."""
    scratch = path.with_name(f".{path.name}.partial")
    scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(scratch, path)


def _versions() -> Iterator[str]:
    yield f"flair-kit {__version__}"
    yield f"python {platform.python_version()} ({sys.executable})"
    for module in ("numpy", "PIL", "rasterio", "typer", "yaml", "torch", "segmentation_models_pytorch"):
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
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
    show_versions: bool = typer.Option(
        False,
        "--show-versions",
        callback=_show_versions_callback,
        is_eager=True,
        help="Print the versions of Python and every library the kit uses (for bug reports).",
    ),
) -> None:
    """FLAIR challenge kit."""


@app.command()
@domain_errors_exit
def score(
    predictions: Path = typer.Argument(..., help="Folder of PRED_<id>.tif files, or a submission zip."),
    truth: Path = typer.Argument(..., help="Folder of reference MSK_<id>.tif masks (searched recursively)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes [default: all cores]."),
    subset: bool = typer.Option(
        False, "--subset", help="Score only the ids present in both (development use; warns)."
    ),
) -> None:
    """Score predictions against reference masks with the official FLAIR metric (CodaLab-exact)."""
    from scoring.evaluate import score_folders
    from scoring.render import render_text

    progress = StderrProgress("scoring")
    try:
        report = score_folders(predictions, truth, workers=workers, subset=subset, progress=progress)
    finally:
        progress.close()
    typer.echo(render_text(report), nl=False)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if json_out is not None:
        write_json_atomically(json_out, report.to_dict())
        typer.echo(f"report written to {json_out}", err=True)



EXPECT_HELP = (
    "Expected ids: flair1-test, flair1-toy-test, an official path-list csv, or a folder of "
    "IMG_<id>.tif / MSK_<id>.tif files."
)
SIZE_HELP = "Mask width and height in pixels (always 512 for FLAIR; smaller only for synthetic data)."


@app.command()
@domain_errors_exit
def validate(
    submission: Path = typer.Argument(..., help="Submission zip, or folder of PRED_<id>.tif files."),
    expect: Optional[str] = typer.Option(None, "--expect", help=EXPECT_HELP),
    strict: bool = typer.Option(False, "--strict", help="Values outside 0..12 are errors, not warnings."),
    size: int = typer.Option(512, "--size", min=1, help=SIZE_HELP),
    show: int = typer.Option(20, "--show", min=0, help="Problems to list before the totals."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes [default: all cores]."),
) -> None:
    """Check a submission zip or folder (names, content, ids, zip safety); exit 1 on any error."""
    from starting_kit.submission import render_report, validate_submission

    progress = StderrProgress("validating")
    try:
        report = validate_submission(
            submission, expect=expect, strict=strict, progress=progress, expected_size=size, workers=workers
        )
    finally:
        progress.close()
    typer.echo(render_report(report, limit=show), nl=False)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
@domain_errors_exit
def pack(
    pred_dir: Path = typer.Argument(..., help="Folder of PRED_<id>.tif files (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="Zip to write, e.g. submission.zip."),
    expect: Optional[str] = typer.Option(None, "--expect", help=EXPECT_HELP),
    fix: bool = typer.Option(
        False, "--fix", help="Re-encode files valid in content but not in form (originals untouched)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output zip."),
    strict: bool = typer.Option(False, "--strict", help="Values outside 0..12 are errors, not warnings."),
    size: int = typer.Option(512, "--size", min=1, help=SIZE_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes [default: all cores]."),
) -> None:
    """Validate predictions and write the flat zip to upload (stored, written atomically)."""
    from starting_kit.submission import InvalidSubmissionError, pack_submission, render_report

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
            expected_size=size,
            workers=workers,
        )
    except InvalidSubmissionError as exc:
        progress.close()
        typer.echo(render_report(exc.report), err=True, nl=False)
        raise fail(f"{pred_dir}: not packed, nothing written ({len(exc.report.errors)} errors)") from None
    finally:
        progress.close()
    if result.report.warnings:
        typer.echo(render_report(result.report), err=True, nl=False)
    if result.fixed:
        typer.echo(f"re-encoded {len(result.fixed)} files in the official format (originals untouched)", err=True)
    typer.echo(f"wrote {result.output}: {result.n_files} PRED files, {result.size_bytes / 1e6:.1f} MB")

class BundleDataset(str, Enum):
    """Datasets a competition bundle can host."""

    flair1 = "flair1"
    flair2 = "flair2"


class BundlePlatform(str, Enum):
    """Platforms a competition bundle is written for."""

    codalab = "codalab"
    codabench = "codabench"


@app.command()
@domain_errors_exit
def bundle(
    dataset: Optional[BundleDataset] = typer.Option(None, "--dataset", help="Dataset of the competition."),
    reference: Optional[Path] = typer.Option(
        None, "--reference", help="Folder of reference MSK_<id>.tif masks (searched recursively)."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Bundle zip to write."),
    platform_name: BundlePlatform = typer.Option(
        BundlePlatform.codalab, "--platform", help="CodaLab Competitions v1 or Codabench."
    ),
    check: Optional[Path] = typer.Option(None, "--check", help="Validate this bundle zip instead of building one."),
    title: Optional[str] = typer.Option(None, "--title", help="Competition title."),
    start: Optional[str] = typer.Option(None, "--start", help="First day of the phase, YYYY-MM-DD."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day, YYYY-MM-DD [default: never ends]."),
    max_submissions: Optional[int] = typer.Option(None, "--max-submissions", min=1, help="Per participant [100]."),
    max_per_day: Optional[int] = typer.Option(None, "--max-per-day", min=1, help="Per participant per day [5]."),
    time_limit: Optional[int] = typer.Option(None, "--time-limit", min=60, help="Scoring time limit, s [1800]."),
    max_size: Optional[int] = typer.Option(None, "--max-size-mb", min=1, help="Largest upload on CodaLab, MB [500]."),
    docker_image: Optional[str] = typer.Option(
        None, "--docker-image", help="Image the scorer runs in [codalab/codalab-legacy:py39]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output zip."),
) -> None:
    """Build a CodaLab or Codabench competition bundle, or --check an existing one."""
    from starting_kit.bundle import build_bundle, check_bundle, describe

    if check is not None:
        if dataset or reference or output:
            raise typer.BadParameter("--check FILE takes no --dataset, --reference or --output")
        verdict = check_bundle(check)
        for warning in verdict.warnings:
            typer.echo(f"warning: {warning}", err=True)
        for error in verdict.errors:
            typer.echo(f"error: {error}", err=True)
        if not verdict.ok:
            raise typer.Exit(code=1)
        typer.echo(f"{check}: valid {verdict.platform} bundle ({len(verdict.warnings)} warnings)")
        return
    if dataset is None or reference is None or output is None:
        raise typer.BadParameter("building a bundle needs --dataset, --reference and --output (or --check FILE)")
    desc = describe(
        dataset.value,
        title=title,
        start=start,
        end=end,
        max_submissions=max_submissions,
        max_submissions_per_day=max_per_day,
        execution_time_limit=time_limit,
        max_submission_size_mb=max_size,
        docker_image=docker_image,
    )
    summary = build_bundle(desc, reference, output, platform=platform_name.value, overwrite=overwrite)
    typer.echo(
        f"wrote {summary.path}: {summary.platform} bundle, {summary.reference_masks} reference masks, "
        f"{summary.size_bytes} bytes, sha256 {summary.sha256}"
    )


def main() -> None:
    """Console-script entry point."""
    app()
