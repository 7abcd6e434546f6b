"""Progress reporting for training and prediction, decoupled from where it is shown.

The library reports through an :class:`Observer`; it never prints. :class:`ConsoleObserver` draws
a one-line progress bar with throughput on a stream the caller chooses (the command line passes
stderr) and, on terminals only, redraws it in place; on a pipe or a log file it writes one line
per epoch and nothing per batch.
"""

from __future__ import annotations

import time
from typing import IO, Protocol


class EpochSummary(Protocol):
    """A finished epoch as an observer sees it (:class:`baseline.train.EpochRecord` is one).

    A protocol, so that progress reporting depends on nothing of the training code.
    """

    def summary(self, epochs: int) -> str:
        """One summary line for an epoch of a run of ``epochs`` epochs."""
        ...


class Observer:
    """Receives progress; the default does nothing. Subclass and override what you need."""

    def begin(self, epochs: int) -> None:
        """Training starts; it will run at most ``epochs`` epochs."""

    def step(self, stage: str, done: int, total: int, items_per_s: float) -> None:
        """``done`` of ``total`` batches of ``stage`` ("train", "val", "predict") are finished."""

    def epoch(self, record: EpochSummary) -> None:
        """An epoch finished (training)."""

    def message(self, text: str) -> None:
        """A one-line note for the user (run folder, resumed epoch, early stop...)."""


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

    def epoch(self, record: EpochSummary) -> None:
        """Write the epoch summary line."""
        self._finish_line()
        self.stream.write(record.summary(self.epochs) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """Write a note on its own line."""
        self._finish_line()
        self.stream.write(text + "\n")
        self.stream.flush()
