"""The ``flair-kit`` command line: thin commands over library functions.

Exit codes: 0 success, 1 a domain failure (invalid submission, unreadable data; one clear message on
stderr, no traceback), 2 a usage error (typer does this). Results go to stdout, diagnostics and
progress bars to stderr.
"""

from __future__ import annotations

import functools
import platform
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import typer

from scoring.atomic import SIGTERM_EXIT_CODE, Terminated, probe_writable, terminate_as_exception
from scoring.errors import FlairKitError, describe_os_error
from starting_kit import __version__

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="FLAIR challenge kit: score, validate and pack submissions, toy data, baselines, bundles.",
    pretty_exceptions_enable=False,
    # Help texts are plain text: rich markup would eat every [bracketed] part ("[default: ...]").
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one clear error line on stderr and return the exit to raise (code 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def domain_errors_exit(command: F) -> F:
    """Turn the kit's errors into one stderr line and exit code 1, never a traceback.

    File-system faults (``OSError``: a read-only or full disk, a missing folder, a folder where a
    file is expected) are reported the same way, as ``PATH: what happened (strerror); how to
    fix``. Ctrl-C exits 130 and SIGTERM 143; the atomic writers have removed their temporaries by
    then.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlairKitError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(describe_os_error(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None
        except Terminated:
            typer.echo("terminated (SIGTERM)", err=True)
            raise typer.Exit(code=SIGTERM_EXIT_CODE) from None

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


def main_output(output: Optional[Path], alias: Optional[Path], alias_name: str) -> Optional[Path]:
    """The value of ``--output``, or of its hidden older spelling ``alias_name``.

    Raises:
        typer.BadParameter: both are given with different values (a usage error, exit 2).
    """
    # Two options rather than two names of one: click cannot hide one name of an option.
    if output is not None and alias is not None and output != alias:
        raise typer.BadParameter(
            f"{alias_name} is the older name of --output; give --output only", param_hint="'--output'"
        )
    return output if output is not None else alias


def required_output(output: Optional[Path], alias: Optional[Path], alias_name: str) -> Path:
    """:func:`main_output` for a command whose ``--output`` is required."""
    value = main_output(output, alias, alias_name)
    if value is None:
        raise typer.BadParameter("missing: this option is required", param_hint="'--output'")
    return value


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file, so a reader never sees half a file."""
    from scoring.atomic import atomic_write_json

    atomic_write_json(path, data)


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

    if json_out is not None:
        probe_writable(json_out)  # a folder, FIFO or read-only disk fails before the scoring
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
SIZE_HELP = (
    "Mask width and height in pixels (512 for FLAIR; smaller only for synthetic data) "
    "[default: the size of the --expect folder's patches, else 512]."
)


@app.command()
@domain_errors_exit
def validate(
    submission: Path = typer.Argument(..., help="Submission zip, or folder of PRED_<id>.tif files."),
    expect: Optional[str] = typer.Option(None, "--expect", help=EXPECT_HELP),
    strict: bool = typer.Option(False, "--strict", help="Values outside 0..12 are errors, not warnings."),
    size: Optional[int] = typer.Option(None, "--size", min=1, help=SIZE_HELP, show_default=False),
    show: int = typer.Option(20, "--show", min=0, help="Problems to list before the totals."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes [default: all cores]."),
) -> None:
    """Check a submission zip or folder (names, content, ids, zip safety); exit 1 on any error."""
    from starting_kit.patch_size import expected_patch_size
    from starting_kit.submission import render_report, validate_submission

    expected_size = expected_patch_size(expect, size)
    progress = StderrProgress("validating")
    try:
        report = validate_submission(
            submission, expect=expect, strict=strict, progress=progress, expected_size=expected_size, workers=workers
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
    size: Optional[int] = typer.Option(None, "--size", min=1, help=SIZE_HELP, show_default=False),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes [default: all cores]."),
) -> None:
    """Validate predictions and write the flat zip to upload (stored, written atomically)."""
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
    end: Optional[str] = typer.Option(None, "--end", help="Last day, YYYY-MM-DD (default: never ends)."),
    max_submissions: Optional[int] = typer.Option(None, "--max-submissions", min=1, help="Per participant (default 100)."),
    max_per_day: Optional[int] = typer.Option(None, "--max-per-day", min=1, help="Per participant per day (default 5)."),
    time_limit: Optional[int] = typer.Option(None, "--time-limit", min=60, help="Scoring time limit in s (default 1800)."),
    max_size: Optional[int] = typer.Option(None, "--max-size-mb", min=1, help="Largest upload on CodaLab in MB (default 500)."),
    docker_image: Optional[str] = typer.Option(
        None, "--docker-image", help="Image the scorer runs in (default codalab/codalab-legacy:py39)."
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


baseline_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Train or run the reference models (FLAIR #1 U-Net/ResNet34, FLAIR #2 U-T&T). Needs torch and segmentation-models-pytorch (the baseline extra).",
)
app.add_typer(baseline_app, name="baseline")


class Device(str, Enum):
    """Where the baseline runs."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Amp(str, Enum):
    """Mixed precision of the baseline."""

    auto = "auto"
    off = "off"
    bf16 = "bf16"
    fp16 = "fp16"


class PredictContext(str, Enum):
    """How test patches are predicted: alone, or inside their rebuilt zone."""

    patch = "patch"
    zone = "zone"


class MapOutput(str, Enum):
    """What ``baseline map`` writes."""

    classes = "classes"
    probabilities = "probabilities"


class DemoDataset(str, Enum):
    """Datasets the demo can run on."""

    flair1 = "flair1"
    flair2 = "flair2"


@baseline_app.command("train")
@domain_errors_exit
def baseline_train(
    config: str = typer.Option(
        ..., "--config", help="YAML file, or a packaged config: flair1-baseline, flair1-toy-cpu, flair2-baseline, flair2-toy-cpu."
    ),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Dataset root (flair_aerial_train/, flair_labels_train/) or a path csv."
    ),
    val: Optional[Path] = typer.Option(
        None, "--val", help="Validation path csv (e.g. flair-1-paths-val.csv) [split by domains]."
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Run folder (checkpoints, metrics.csv, split.json)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Older name of --output."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Maximum number of epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per step and process."),
    device: Optional[Device] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of split, sampler, augmentation, weights."),
    amp: Optional[Amp] = typer.Option(None, "--amp", help="Autocast: auto (bf16 where native), off, bf16, fp16."),
    encoder_weights: Optional[str] = typer.Option(
        None, "--encoder-weights", help="none, imagenet, or a local encoder weights file."
    ),
    metadata: Optional[Path] = typer.Option(None, "--metadata", help="Aerial metadata JSON (metadata models)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="DataLoader workers per process."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output exactly where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in a run folder that holds a run."),
) -> None:
    """Train the baseline (several GPUs/nodes: torchrun --nproc_per_node N -m starting_kit baseline train ...)."""
    from baseline import require_dependencies

    require_dependencies()
    from baseline.config import load_config, with_overrides
    from baseline.progress import ConsoleObserver, render_train_result
    from baseline.train import train

    overrides = {
        "data.train": data,
        "data.val": val,
        "out": main_output(output, out, "--out"),
        "epochs": epochs,
        "batch_size": batch_size,
        "device": device.value if device else None,
        "seed": seed,
        "amp": amp.value if amp else None,
        "model.encoder_weights": encoder_weights,
        "data.metadata": metadata,
        "data.num_workers": workers,
    }
    cfg = with_overrides(load_config(config), **overrides)
    result = train(cfg, resume=resume, overwrite=overwrite, observer=ConsoleObserver(sys.stderr))
    if result.rank == 0:
        typer.echo(render_train_result(result), nl=False)


@baseline_app.command("predict")
@domain_errors_exit
def baseline_predict(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="best.pt or last.pt of a training run."),
    data: Path = typer.Option(..., "--data", help="Dataset root, folder of test images, or a path csv."),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="Folder for the PRED_<id>.tif files (required; written whole or not at all).",
        show_default=False,
    ),
    out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Older name of --output."),
    pack: Optional[Path] = typer.Option(None, "--pack", help="Also write the validated submission zip here."),
    tta: bool = typer.Option(False, "--tta", help="Average the 8 flips/rotations (D4 test-time augmentation)."),
    georeferenced: bool = typer.Option(
        False, "--georeferenced", help="Keep the input's CRS and transform (rasterio) instead of plain TIFFs."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Patches per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    amp: Amp = typer.Option(Amp.auto, "--amp", help="Autocast: auto (bf16 where native), off, bf16, fp16."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=0, help="DataLoader reader processes [0 on CPU, up to 8 on a GPU]."
    ),
    bands: Optional[str] = typer.Option(
        None, "--bands", help="Comma-separated 1-based bands; must equal the checkpoint's [checkpoint's]."
    ),
    metadata: Optional[Path] = typer.Option(None, "--metadata", help="Aerial metadata JSON (metadata models)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the PRED files in --output (all of them) and the zip."
    ),
    context: PredictContext = typer.Option(
        PredictContext.patch,
        "--context",
        help="patch: each patch alone; zone: inside its zone rebuilt from the georeferencing (blended windows).",
    ),
) -> None:
    """Predict test patches into official PRED_<id>.tif files (and a submission zip with --pack).

    A dataset root means its test split (flair_1_aerial_test/ or flair_2_aerial_test/).
    """
    from baseline import require_dependencies

    require_dependencies()
    from baseline.predict import predict
    from baseline.progress import ConsoleObserver, render_predict_result

    try:
        band_list = tuple(int(b) for b in bands.split(",")) if bands else None
    except ValueError:
        raise typer.BadParameter(f"--bands {bands!r}: expected comma-separated integers such as 1,2,3,4,5") from None
    result = predict(
        checkpoint,
        data,
        required_output(output, out, "--out"),
        batch_size=batch_size,
        device=device.value,
        amp=amp.value,
        tta=tta,
        georeferenced=georeferenced,
        num_workers=workers,
        bands=band_list,
        metadata=metadata,
        pack=pack,
        overwrite=overwrite,
        observer=ConsoleObserver(sys.stderr, unit="tiles"),
        context=context.value,
    )
    typer.echo(render_predict_result(result), nl=False)


@baseline_app.command("map")
@domain_errors_exit
def baseline_map(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="best.pt or last.pt of a training run."),
    raster: Path = typer.Option(
        ..., "--raster", help="Georeferenced (CRS and geotransform) uint8 raster of any size with the checkpoint's bands."
    ),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="GeoTIFF to write (required; the input's CRS and transform).",
        show_default=False,
    ),
    out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Older name of --output."),
    product: MapOutput = typer.Option(
        MapOutput.classes, "--product", help="classes (uint8 + colour table) or probabilities (uint8 x 255, one band per class)."
    ),
    tile: int = typer.Option(512, "--tile", min=1, help="Tile side in pixels (the model's patch size)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", min=0, help="Pixels shared by neighbouring tiles (default tile/4)."),
    margin: Optional[int] = typer.Option(
        None, "--margin", min=0, help="Inner tile border given no weight, at most overlap/2 (default tile/8)."
    ),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimized GeoTIFF (with overviews)."),
    tta: bool = typer.Option(False, "--tta", help="Average the 8 flips/rotations of every tile (D4)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tiles per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    amp: Amp = typer.Option(Amp.auto, "--amp", help="Autocast: auto (bf16 where native), off, bf16, fp16."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output file."),
) -> None:
    """Map a large raster: blended sliding-window inference, bounded memory, GeoTIFF/COG output."""
    from baseline import require_dependencies

    require_dependencies()
    from baseline.mapping import map_raster, render_map_result
    from baseline.progress import ConsoleObserver

    products = [choice.value for choice in MapOutput]
    if output is not None and not output.suffix and output.name in products:
        raise typer.BadParameter(
            f"--output names the GeoTIFF to write; choose {output.name} with --product {output.name} "
            f"(e.g. --output {output.name}.tif --product {output.name})",
            param_hint="'--output'",
        )
    result = map_raster(
        checkpoint,
        raster,
        required_output(output, out, "--out"),
        tile=tile,
        overlap=overlap,
        margin=margin,
        output=product.value,
        cog=cog,
        tta=tta,
        batch_size=batch_size,
        device=device.value,
        amp=amp.value,
        overwrite=overwrite,
        observer=ConsoleObserver(sys.stderr, unit="tiles"),
    )
    typer.echo(render_map_result(result), nl=False)


@app.command()
@domain_errors_exit
def demo(
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Folder for every output [default: flair-kit-demo].", show_default=False
    ),
    workdir: Optional[Path] = typer.Option(None, "--workdir", hidden=True, help="Older name of --output."),
    dataset: DemoDataset = typer.Option(DemoDataset.flair1, "--dataset", help="Which challenge."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous demo in --output."),
) -> None:
    """Toy data, training, prediction, zip, validation and official score: the kit end to end."""
    from baseline import require_dependencies

    require_dependencies()
    from baseline.demo import run_demo
    from baseline.progress import ConsoleObserver, render_demo_result
    from scoring.render import render_text

    result = run_demo(
        main_output(output, workdir, "--workdir") or Path("flair-kit-demo"),
        dataset.value, overwrite=overwrite, device=device.value, observer=ConsoleObserver(sys.stderr)
    )
    typer.echo(render_text(result.report), nl=False)
    typer.echo(render_demo_result(result), nl=False)


class ToyDataName(str, Enum):
    """Challenges whose layout the toy-data generator reproduces."""

    flair1 = "flair1"
    flair2 = "flair2"


@app.command("toy-data")
@domain_errors_exit
def toy_data(
    out: Path = typer.Argument(..., help="Folder to create; must be new or empty (or hold this very toy set)."),
    dataset: ToyDataName = typer.Option(ToyDataName.flair1, "--dataset", help="Which challenge's layout."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; the same seed gives identical files."),
    size: int = typer.Option(512, "--size", min=16, max=2048, help="Patch side in pixels (real data: 512)."),
    n_train: Optional[int] = typer.Option(
        None, "--train", min=1, help="Train patches, validation domains included (default: IGN's 200 toy ones)."
    ),
    n_test: Optional[int] = typer.Option(None, "--test", min=1, help="Test patches (default: IGN's 50 toy ones)."),
) -> None:
    """Write a toy FLAIR #1 or #2 dataset in the official formats, learnable in a few CPU minutes."""
    import time

    from starting_kit.toydata import generate_toy_dataset, render_summary

    started = time.perf_counter()
    progress = StderrProgress("generating", threshold=50)
    try:
        result = generate_toy_dataset(
            out, dataset=dataset.value, seed=seed, size=size, n_train=n_train, n_test=n_test, progress=progress
        )
    finally:
        progress.close()
    typer.echo(render_summary(result, time.perf_counter() - started), nl=False)


def main() -> None:
    """Console-script entry point."""
    terminate_as_exception()  # SIGTERM raises, so interrupted writes clean up after themselves
    app()
