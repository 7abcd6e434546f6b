"""Benchmark ``validate`` and ``pack`` on a full-size FLAIR #1 submission (15,700 files).

The submission is made of copies of the 50 real PRED files of IGN's example submission (real
spatial structure and LZW sizes, ~21.5 KB each), cycled in a shuffled order and renamed to the
15,700 ``flair1-test`` ids, in a temporary folder. Timed, each with worker processes (default:
all usable cores):

1. ``validate`` of the folder against ``flair1-test``;
2. ``pack`` of the folder into a flat stored zip (validation included);
3. ``validate`` of that zip (what an organiser or the upload check sees).

Usage: ``python benchmarks/bench_pack.py [--files N] [--workers W] [--example ZIP]``.
Targets (issue 4): 30 s or less each on a 2-core machine. Figures go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from scoring.pool import default_workers
from starting_kit.expect import expected_ids
from starting_kit.predictions import prediction_name
from starting_kit.submission import pack_submission, validate_submission

REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLE = REPOSITORY / "tests" / "data" / "ign" / "flair1_example_submission_TOY.zip"
TARGET_SECONDS = 30.0

T = TypeVar("T")


def example_files(example: Path) -> list[bytes]:
    """The bytes of every PRED file of the example submission."""
    with zipfile.ZipFile(example) as archive:
        return [archive.read(info) for info in archive.infolist() if not info.is_dir()]


def build_submission(
    folder: Path, sources: list[bytes], count: int, seed: int = 0
) -> tuple[int, int]:
    """Write ``count`` PRED files named after the first flair1-test ids; returns (files, bytes)."""
    ids = sorted(expected_ids("flair1-test"))[:count]
    order = list(range(len(sources)))
    random.Random(seed).shuffle(order)
    total = 0
    for index, tile in enumerate(ids):
        data = sources[order[index % len(order)]]
        (folder / prediction_name(tile)).write_bytes(data)
        total += len(data)
    return len(ids), total


def timed(function: Callable[[], T]) -> tuple[T, float]:
    """Run once and return (result, wall seconds)."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv: list[str]) -> int:
    """Build, time, print; returns 1 when a target is missed or a result is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=15700, help="number of PRED files [15700]")
    parser.add_argument("--workers", type=int, default=None, help="worker processes [all cores]")
    parser.add_argument(
        "--example", type=Path, default=EXAMPLE, help="IGN's example submission zip"
    )
    args = parser.parse_args(argv)
    if not args.example.is_file():
        print(f"{args.example}: not found; pass --example", file=sys.stderr)
        return 2
    workers = args.workers or default_workers()
    expect = "flair1-test" if args.files == 15700 else None
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, {workers} workers")
    with tempfile.TemporaryDirectory(prefix="flair-kit-bench-") as scratch:
        folder = Path(scratch, "predictions")
        folder.mkdir()
        (n_files, n_bytes), build_s = timed(
            lambda: build_submission(folder, example_files(args.example), args.files)
        )
        print(f"built {n_files:,} files, {n_bytes / 1e6:.1f} MB, in {build_s:.1f} s")
        output = Path(scratch, "submission.zip")
        folder_report, validate_s = timed(
            lambda: validate_submission(folder, expect=expect, workers=workers)
        )
        packed, pack_s = timed(
            lambda: pack_submission(folder, output, expect=expect, workers=workers)
        )
        zip_report, validate_zip_s = timed(
            lambda: validate_submission(output, expect=expect, workers=workers)
        )
        rows = [
            ("validate folder", validate_s, folder_report.ok),
            ("pack folder -> zip", pack_s, packed.n_files == n_files),
            ("validate zip", validate_zip_s, zip_report.ok),
        ]
        print(
            f"archive {packed.size_bytes / 1e6:.1f} MB; warnings: {[str(w) for w in packed.report.warnings]}"
        )
        print("| step | files | seconds | files/s | ms/file/worker | ok |")
        print("|---|---|---|---|---|---|")
        for step, seconds, ok in rows:
            print(
                f"| {step} | {n_files:,} | {seconds:.1f} | {n_files / seconds:,.0f} | "
                f"{seconds * workers / n_files * 1e3:.2f} | {ok} |"
            )
    missed = [step for step, seconds, _ in rows if seconds > TARGET_SECONDS * n_files / 15700]
    wrong = [step for step, _, ok in rows if not ok]
    if missed or wrong:
        print(f"target missed: {missed}; wrong result: {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
