"""One chunked worker pool for work spread over files: scoring pairs, validating submissions.

Items are cut into small chunks, each chunk is handed to a worker process, and the results come
back in the items' order to a ``collect`` callback in the calling process. One worker (or one
chunk) runs in the calling process, without starting any. When a chunk raises, the remaining
chunks are skipped rather than computed, and the first error is raised once the pool is drained.

Standard library only, Python 3.9: the scoring program runs on the CodaLab images.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import threading
from collections.abc import Sequence
from typing import Any, Callable, TypeVar

#: Called with (items done, items total) as the work advances.
ProgressCallback = Callable[[int, int], None]
Item = TypeVar("Item")
Result = TypeVar("Result")

#: Chunks per worker: small chunks keep progress live and the load balanced; 8 is plenty.
CHUNKS_PER_WORKER = 8
#: Items per chunk at most, so that a chunk's result stays small to send back.
MAX_CHUNK = 128

# Set in pool workers: once a chunk has failed, the remaining chunks are skipped, not computed.
_STOP: Any = None
# What a skipped chunk returns in place of its result; never collected.
_SKIPPED = "skipped after an earlier failure"


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_size(n_items: int, workers: int) -> int:
    """Items per chunk for ``n_items`` spread over ``workers`` processes.

    >>> chunk_size(10, 1), chunk_size(100_000, 4), chunk_size(0, 4)
    (2, 128, 1)
    """
    return max(1, min(MAX_CHUNK, math.ceil(n_items / (workers * CHUNKS_PER_WORKER))))


def pool_context() -> multiprocessing.context.BaseContext:
    """The start method: fork starts workers in milliseconds, but is unsafe once threads exist."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _start_worker(
    stop: Any, setup: Callable[..., None] | None, setup_args: tuple[Any, ...]
) -> None:
    global _STOP
    _STOP = stop
    if setup is not None:
        setup(*setup_args)


def _run_chunk(work: Callable[[Sequence[Item]], Result], chunk: Sequence[Item]) -> Any:
    if _STOP is not None and _STOP.is_set():
        return _SKIPPED
    return work(chunk)


def run_chunked(
    work: Callable[[Sequence[Item]], Result],
    items: Sequence[Item],
    collect: Callable[[Sequence[Item], Result], None],
    *,
    workers: int | None = None,
    setup: Callable[..., None] | None = None,
    setup_args: tuple[Any, ...] = (),
    teardown: Callable[[], None] | None = None,
) -> None:
    """Run ``work`` over chunks of ``items`` in worker processes; collect the results in order.

    Args:
        work: computes one chunk's result; a module-level function, as it is sent to workers.
        items: the items.
        collect: called in this process with (chunk, its result), in the items' order.
        workers: worker processes; default all usable cores (:func:`default_workers`).
        setup: called once in each worker (and in this process when it does the work itself)
            with ``setup_args``, before any chunk; a module-level function.
        setup_args: the arguments of ``setup``; picklable.
        teardown: called in this process after it did the work itself (workers just exit).

    Raises:
        Exception: the first error a chunk raised, once every worker has stopped.
    """
    workers = max(1, workers or default_workers())
    size = chunk_size(len(items), workers)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if workers == 1 or len(chunks) <= 1:
        if setup is not None:
            setup(*setup_args)
        try:
            for chunk in chunks:
                collect(chunk, work(chunk))
        finally:
            if teardown is not None:
                teardown()
        return
    failure: Exception | None = None
    context = pool_context()
    stop = context.Event()
    with context.Pool(min(workers, len(chunks)), _start_worker, (stop, setup, setup_args)) as pool:
        results = pool.imap(functools.partial(_run_chunk, work), chunks)
        for chunk in chunks:
            try:
                result = next(results)
            # A worker's error (an invalid file), of whatever type: stop the others, raise it after.
            except Exception as exc:  # noqa: BLE001 (re-raised once the pool is drained)
                failure = failure or exc
                stop.set()
                continue
            if failure is None:
                collect(chunk, result)
        # Leave through close/join, never terminate() with results in flight: on Python 3.9 it
        # can deadlock while a worker is sending a result (seen under the emulated CodaLab image).
        # The stop event makes the remaining chunks return at once, so draining is cheap.
        pool.close()
        pool.join()
    if failure is not None:
        raise failure
