"""Tests of the chunked worker pool shared by scoring and validation."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scoring import pool

# Module-level state and functions: the pool sends them to its workers by name.
_OFFSET: list[int] = []


def _set_offset(offset: int) -> None:
    _OFFSET[:] = [offset]


def _clear_offset() -> None:
    _OFFSET.clear()


def _shifted(chunk: Sequence[int]) -> list[int]:
    return [item + (_OFFSET[0] if _OFFSET else 0) for item in chunk]


def _fail_on_13(chunk: Sequence[int]) -> list[int]:
    if 13 in chunk:
        raise ValueError("item 13 is invalid")
    return list(chunk)


@pytest.mark.parametrize("workers", [1, 3])
def test_results_come_back_in_order_after_setup(workers: int) -> None:
    collected: list[int] = []
    sizes: list[int] = []

    def collect(chunk: Sequence[int], result: list[int]) -> None:
        sizes.append(len(chunk))
        collected.extend(result)

    pool.run_chunked(
        _shifted,
        list(range(100)),
        collect,
        workers=workers,
        setup=_set_offset,
        setup_args=(1000,),
        teardown=_clear_offset,
    )
    assert collected == [1000 + i for i in range(100)]
    assert sum(sizes) == 100 and max(sizes) <= pool.MAX_CHUNK
    assert _OFFSET == []  # torn down in this process (workers just exit)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_first_error_is_raised_and_nothing_after_it_is_collected(workers: int) -> None:
    collected: list[int] = []
    with pytest.raises(ValueError, match="item 13 is invalid"):
        pool.run_chunked(
            _fail_on_13,
            list(range(100)),
            lambda chunk, result: collected.extend(result),
            workers=workers,
        )
    assert 13 not in collected and collected == list(range(len(collected)))


def test_no_items_collect_nothing() -> None:
    pool.run_chunked(_shifted, [], lambda chunk, result: pytest.fail("nothing to collect"))


def test_chunks_stay_small_and_number_about_eight_per_worker() -> None:
    assert pool.chunk_size(1, 4) == 1
    assert pool.chunk_size(320, 4) == 10
    assert pool.chunk_size(10**6, 4) == pool.MAX_CHUNK
    assert pool.default_workers() >= 1
