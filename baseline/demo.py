"""The end-to-end demo: toy data -> training -> prediction -> zip -> validation -> official score.

``flair-kit demo`` runs :func:`run_demo`. Everything lands in one work folder:

```
<workdir>/data/          the generated toy FLAIR #1 dataset (official layout)
<workdir>/run/           the training run (best.pt, last.pt, metrics.csv, training_curves.png,
                         split.json, config.yaml)
<workdir>/predictions/   PRED_<id>.tif for the toy test set
<workdir>/submission.zip the validated submission
<workdir>/score.json     the score report, in the format of `flair-kit score --json`
```

It trains the packaged ``flair1-toy-cpu`` configuration on :data:`DEMO_PATCH_SIZE`-pixel toy
patches; both were tuned so that the demo finishes within 5 minutes on a 2-core CPU with a toy-test
mIoU above 0.5 (see the configuration file for the choices and why). ``dataset="flair2"`` runs the
same steps on a toy FLAIR #2 dataset (with its Sentinel-2 series) and trains the U-T&T
``flair2-toy-cpu`` configuration on :data:`FLAIR2_DEMO_PATCH_SIZE`-pixel patches (within 8
minutes on a 2-core CPU, toy-test mIoU above 0.5).
"""

from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from baseline.choices import Device
from baseline.config import load_config, with_overrides
from baseline.predict import PredictResult, predict
from baseline.progress import Observer
from baseline.train import TrainResult, train
from scoring.atomic import atomic_write_json
from scoring.errors import ConfigError, OutputExistsError, SubmissionError
from scoring.evaluate import score_folders
from scoring.report import ScoreReport
from starting_kit.choices import DATASETS, Dataset
from starting_kit.discovery import SPLIT_FOLDERS
from starting_kit.patch_size import expected_patch_size
from starting_kit.submission import validate_submission
from starting_kit.toydata import generate_toy_dataset

#: The packaged configuration the demo trains.
DEMO_CONFIG = "flair1-toy-cpu"
#: Width and height of the generated toy patches (the real ones are 512).
DEMO_PATCH_SIZE = 64
#: The packaged configuration of the FLAIR #2 demo (U-T&T).
FLAIR2_DEMO_CONFIG = "flair2-toy-cpu"
#: Width and height of the FLAIR #2 demo's toy patches.
FLAIR2_DEMO_PATCH_SIZE = 64
#: What the demo writes inside its work folder (and removes again with ``overwrite``).
DEMO_OUTPUTS = ("data", "run", "predictions", "submission.zip", "score.json")


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote everything, and the score."""

    workdir: Path
    data: Path
    run: Path
    checkpoint: Path
    predictions: Path
    submission: Path
    score_json: Path
    report: ScoreReport
    training: TrainResult
    prediction: PredictResult
    seconds: float
    validate_command: str = ""


def render_demo_result(result: DemoResult) -> str:
    """Where the demo wrote everything (printed after the score table)."""
    return (
        f"\ndemo finished in {result.seconds:.0f} s; everything is in {result.workdir}:\n"
        f"  toy dataset     {result.data}\n"
        f"  training run    {result.run} (best epoch {result.training.best_epoch}, "
        f"val mIoU {result.training.best_val_miou:.4f})\n"
        f"  checkpoint      {result.checkpoint}\n"
        f"  predictions     {result.predictions} ({result.prediction.tiles_per_s:.1f} tiles/s)\n"
        f"  submission      {result.submission}\n"
        f"  score report    {result.score_json}\n"
        f"check the zip again with:\n  {result.validate_command}\n"
    )


def _prepare(workdir: Path, overwrite: bool) -> None:
    present = [name for name in DEMO_OUTPUTS if (workdir / name).exists()]
    if present and not overwrite:
        raise OutputExistsError(
            f"{workdir}: holds a previous demo ({', '.join(present)}); pass --overwrite to replace "
            "it or choose another --output"
        )
    for name in present:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    workdir.mkdir(parents=True, exist_ok=True)


def validate_command(submission: Path, test_images: Path) -> str:
    """The command that validates the demo's zip on its own (the patch size comes from
    ``--expect``, so no ``--size`` is needed).

    >>> validate_command(Path("demo/submission.zip"), Path("demo/data/flair_1_aerial_test"))
    'flair-kit validate demo/submission.zip --expect demo/data/flair_1_aerial_test'
    """
    return f"flair-kit validate {shlex.quote(str(submission))} --expect {shlex.quote(str(test_images))}"


def run_demo(
    workdir: Path,
    dataset: Dataset = "flair1",
    *,
    overwrite: bool = False,
    device: Device = "auto",
    observer: Observer | None = None,
) -> DemoResult:
    """Run the whole kit on generated toy data and score the result with the official metric.

    Args:
        workdir: the folder for every output (created).
        dataset: ``flair1`` (U-Net) or ``flair2`` (U-T&T with the Sentinel-2 series).
        overwrite: replace the outputs of a previous demo in ``workdir``.
        device: ``auto``, ``cpu`` or ``cuda``.
        observer: receives progress.

    Returns:
        The paths written and the score report.

    Raises:
        ConfigError: an unsupported dataset.
        OutputExistsError: ``workdir`` holds a previous demo and ``overwrite`` is False.
        SubmissionError: the packed submission fails validation (a bug: please report it).
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset is {dataset!r}; expected {' or '.join(DATASETS)}")
    config_name, size = (
        (DEMO_CONFIG, DEMO_PATCH_SIZE)
        if dataset == "flair1"
        else (FLAIR2_DEMO_CONFIG, FLAIR2_DEMO_PATCH_SIZE)
    )
    label = "FLAIR #1" if dataset == "flair1" else "FLAIR #2"

    observer = observer or Observer()
    started = time.perf_counter()
    _prepare(workdir, overwrite)
    data, run_dir = workdir / "data", workdir / "run"
    predictions, submission = workdir / "predictions", workdir / "submission.zip"
    observer.message(f"generating the toy {label} dataset ({size}x{size} patches) in {data}")
    generate_toy_dataset(data, dataset=dataset, seed=0, size=size)
    cfg = with_overrides(
        load_config(config_name), **{"data.train": data, "out": run_dir, "device": device}
    )
    training = train(cfg, observer=observer)
    test_images = data / SPLIT_FOLDERS[(dataset, "test")].images
    prediction = predict(
        training.best_checkpoint,
        data,
        predictions,
        batch_size=cfg.batch_size,
        device=device,
        num_workers=cfg.data.num_workers,
        pack=submission,
        observer=observer,
    )
    # Exactly what the printed command checks: the size comes from the test folder's patches.
    report = validate_submission(
        submission, expect=test_images, expected_size=expected_patch_size(test_images)
    )
    if not report.ok:
        raise SubmissionError(
            f"{submission}: the demo's own submission fails validation ({len(report.errors)} "
            "errors); this is a bug in flair-kit, please report it"
        )
    score = score_folders(submission, data / SPLIT_FOLDERS[(dataset, "test")].masks)
    score_json = workdir / "score.json"
    atomic_write_json(score_json, score.to_dict())  # exactly as `flair-kit score --json`
    return DemoResult(
        workdir=workdir,
        data=data,
        run=run_dir,
        checkpoint=training.best_checkpoint,
        predictions=predictions,
        submission=submission,
        score_json=score_json,
        report=score,
        training=training,
        prediction=prediction,
        seconds=time.perf_counter() - started,
        validate_command=validate_command(submission, test_images),
    )
