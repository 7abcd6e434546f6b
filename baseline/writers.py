"""PRED files encoded and written off the prediction loop's critical path.

Pillow's LZW encoder holds the GIL (measured on 2 cores: 2 writer threads encode 512-px maps no
faster than 1, about 240 tiles/s a core), so threads cannot keep up with a GPU that predicts more
than a thousand tiles a second. On CUDA the maps therefore go to a pool of writer *processes*
(spawned, never forked from a process that holds a CUDA context), a batch split into one chunk per
process so each message carries several maps. On CPU the model already uses every core and is the
bottleneck by far: two threads write beside it, as before, without the processes' start-up.

This module imports no torch: each spawned writer imports it, Pillow and numpy only.

The queue is bounded (at most two chunks per writer waiting), so memory stays flat and a failed
write surfaces within a few batches; :meth:`PredictionWriters.close` waits for every write and
raises the first failure, so the caller's scratch folder is published only when all files exist.
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

from scoring.errors import FlairKitError, FlairKitWarning
from scoring.pool import default_workers as usable_cores
from starting_kit.predictions import write_georeferenced, write_prediction

WriterKind = Literal["thread", "process"]


class WriterError(FlairKitError, RuntimeError):
    """A writer process died before finishing its files (killed, out of memory)."""


class WriterFallbackWarning(FlairKitWarning):
    """The writer processes could not start; the PRED files are written by threads."""


def _ready() -> None:
    """A no-op each writer process runs first: proof that it started."""


def default_writers(device_type: str, readers: int) -> tuple[WriterKind, int]:
    """The kind and number of PRED writers for a device, beside ``readers`` DataLoader workers.

    CPU: 2 threads (the model is the bottleneck). CUDA: processes on the cores the readers and the
    main process leave, at least 2, at most 8 (a 512-px map takes about 4 ms to encode: 5
    processes write over 1,000 tiles/s).
    """
    if device_type != "cuda":
        return "thread", 2
    spare = usable_cores() - readers - 1
    return "process", max(2, min(8, spare))


def write_chunk(
    targets: Sequence[Path],
    class_maps: np.ndarray,
    sources: Sequence[Path] | None,
) -> None:
    """Write one chunk of maps (official writer, or georeferenced when ``sources`` are given)."""
    for position, target in enumerate(targets):
        if sources is None:
            write_prediction(target, class_maps[position])
        else:
            write_georeferenced(target, class_maps[position], sources[position])


class PredictionWriters:
    """A bounded pool that writes PRED files while the loop predicts the next batch.

    Args:
        kind: ``thread`` or ``process``.
        workers: threads or processes.
        georeferenced: write with each input's georeferencing (rasterio) instead of the
            official writer.
    """

    def __init__(self, kind: WriterKind, workers: int, *, georeferenced: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"writers is {workers}; expected at least 1")
        self.kind = kind
        self.workers = workers
        self.georeferenced = georeferenced
        self.wait_s = 0.0
        self._pending: deque[Future[None]] = deque()
        self._pool: Executor
        self._probes: list[Future[None]] = []
        if kind == "process":
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )
            # Start the processes now (they import Pillow while the model loads); checked at
            # the first submit.
            self._probes = [self._pool.submit(_ready) for _ in range(workers)]
        else:
            self._pool = ThreadPoolExecutor(max_workers=workers)

    def _check_started(self) -> None:
        """Fall back to 2 threads when the writer processes could not start.

        A spawned process imports the main module again; a script that calls
        :func:`baseline.predict.predict` without ``if __name__ == "__main__":`` makes every
        writer process fail that way (Python's own rule for process pools).
        """
        probes, self._probes = self._probes, []
        try:
            for probe in probes:
                probe.result()
        except BrokenProcessPool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            warnings.warn(
                "the PRED writer processes could not start (a script calling predict without "
                "'if __name__ == \"__main__\":'?); writing with 2 threads instead",
                WriterFallbackWarning,
                stacklevel=3,
            )
            self.kind, self.workers = "thread", 2
            self._pool = ThreadPoolExecutor(max_workers=2)

    def submit(
        self, targets: Sequence[Path], class_maps: np.ndarray, sources: Sequence[Path]
    ) -> None:
        """Queue a batch of maps (N, H, W) for ``targets``; wait while the queue is full."""
        if self._probes:
            self._check_started()
        size = -(-len(targets) // self.workers)  # one chunk per writer
        for start in range(0, len(targets), size):
            stop = start + size
            chunk_sources = list(sources[start:stop]) if self.georeferenced else None
            self._pending.append(
                self._pool.submit(
                    write_chunk, list(targets[start:stop]), class_maps[start:stop], chunk_sources
                )
            )
        while len(self._pending) > 2 * self.workers:
            self._wait(self._pending.popleft())

    def close(self) -> None:
        """Wait for every queued write; raise the first failure."""
        try:
            while self._pending:
                self._wait(self._pending.popleft())
        finally:
            self._shutdown()

    def _wait(self, future: Future[None]) -> None:
        start = time.perf_counter()
        try:
            future.result()
        except BrokenProcessPool:
            raise WriterError(
                "a PRED writer process died before finishing its files (killed, or out of "
                "memory); nothing was published; rerun, or lower --batch-size"
            ) from None
        finally:
            self.wait_s += time.perf_counter() - start

    def _shutdown(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._probes.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PredictionWriters:  # noqa: PYI034 (mypy targets 3.10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._shutdown()
