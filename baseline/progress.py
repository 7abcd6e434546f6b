"""Progress reporting for training and prediction, decoupled from where it is shown.

The library reports through an :class:`Observer`; it never prints. :class:`ConsoleObserver` draws
a one-line progress bar with throughput on a stream the caller chooses (the command line passes
stderr) and, on terminals only, redraws it in place; on a pipe or a log file it writes one line
per epoch and nothing per batch.
"""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from baseline.demo import DemoResult
    from baseline.predict import PredictResult
    from baseline.train import EpochRecord, TrainResult


class Observer:
    """Receives progress; the default does nothing. Subclass and override what you need."""

    def begin(self, epochs: int) -> None:
        """Training starts; it will run at most ``epochs`` epochs."""

    def step(self, stage: str, done: int, total: int, items_per_s: float) -> None:
        """``done`` of ``total`` batches of ``stage`` ("train", "val", "predict") are finished."""

    def epoch(self, record: EpochRecord) -> None:
        """An epoch finished (training)."""

    def message(self, text: str) -> None:
        """A one-line note for the user (run folder, resumed epoch, early stop...)."""


def format_epoch(record: EpochRecord, epochs: int) -> str:
    """One summary line per epoch.

    >>> from baseline.train import EpochRecord
    >>> format_epoch(EpochRecord(3, 0.5, 0.61, 0.4321, 0.02, 12.5, 30.0, ()), 10)
    'epoch 3/10  train loss 0.5000  val loss 0.6100  val mIoU 0.4321  lr 0.02  12.5 img/s  30s'
    """
    return (
        f"epoch {record.epoch}/{epochs}  train loss {record.train_loss:.4f}  "
        f"val loss {record.val_loss:.4f}  val mIoU {record.val_miou:.4f}  lr {record.lr:.3g}  "
        f"{record.train_images_per_s:.1f} img/s  {record.seconds:.0f}s"
    )


class ConsoleObserver(Observer):
    """Progress bars and epoch lines on a text stream.

    Args:
        stream: where to write (the command line passes ``sys.stderr``).
        epochs: total number of epochs, for the epoch lines.
        unit: what the throughput counts ("img" or "tiles").
        live: redraw a bar per batch; default: only when ``stream`` is a terminal.
    """

    def __init__(
        self, stream: IO[str], *, epochs: int = 0, unit: str = "img", live: bool | None = None
    ) -> None:
        self.stream = stream
        self.epochs = epochs
        self.unit = unit
        isatty = getattr(stream, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self._last_draw = 0.0
        self._open = False

    def begin(self, epochs: int) -> None:
        """Remember the number of epochs for the epoch lines."""
        self.epochs = epochs

    def step(self, stage: str, done: int, total: int, items_per_s: float) -> None:
        """Redraw the bar, at most 10 times a second and always on the last batch."""
        if not self.live:
            return
        now = time.monotonic()
        if done < total and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = 30
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        line = f"{stage:>7} [{bar}] {done}/{total}  {items_per_s:.1f} {self.unit}/s"
        self.stream.write("\r" + line.ljust(72))
        self._open = True
        if done >= total:
            self._finish_line()
        self.stream.flush()

    def _finish_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def epoch(self, record: EpochRecord) -> None:
        """Write the epoch summary line."""
        self._finish_line()
        self.stream.write(format_epoch(record, self.epochs) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """Write a note on its own line."""
        self._finish_line()
        self.stream.write(text + "\n")
        self.stream.flush()


def render_train_result(result: TrainResult) -> str:
    """The summary the command line prints after training."""
    stop = ", stopped early" if result.stopped_early else ""
    return (
        f"trained {result.epochs_run} epoch(s){stop}; best epoch {result.best_epoch}: "
        f"val mIoU {result.best_val_miou:.4f}\n"
        f"best checkpoint: {result.best_checkpoint}\n"
        f"last checkpoint: {result.last_checkpoint}\n"
        f"per-epoch metrics: {result.run_dir / 'metrics.csv'}\n"
    )


def render_predict_result(result: PredictResult) -> str:
    """The summary the command line prints after prediction."""
    tta = ", D4 TTA" if result.tta else ""
    speed = f"{result.tiles_per_s:.1f} tiles/s ({result.device}, amp {result.amp}{tta})"
    lines = [
        f"predicted {result.n_tiles} tiles in {result.seconds:.1f} s: {speed}",
        f"predictions: {result.out_dir}",
    ]
    if result.archive is not None:
        lines.append(
            f"submission: {result.archive.output} ({result.archive.n_files} PRED files, "
            f"{result.archive.size_bytes / 1e6:.1f} MB, validated)"
        )
    return "\n".join(lines) + "\n"


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
