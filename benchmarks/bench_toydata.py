"""Benchmark the toy-data generator on its default sets, and discovery on what it wrote.

Generates, in a temporary folder, the default toy FLAIR #1 and FLAIR #2 datasets (IGN's 200 train
+ 50 test toy patches, 512 px, seed 0), then times :func:`starting_kit.discovery.find_split` on
both splits. Prints one table row per dataset: seconds, files, size on disk.

Usage: ``python benchmarks/bench_toydata.py [--size PX] [--dataset flair1|flair2|both]``.
Targets (issue 3): seconds to tens of seconds on a 2-core machine; 60 s for FLAIR #1 and 120 s
for FLAIR #2 at 512 px are treated as misses. Figures go in the README.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from starting_kit.discovery import find_split
from starting_kit.toydata import generate_toy_dataset

TARGET_SECONDS = {"flair1": 60.0, "flair2": 120.0}


def main(argv: list[str]) -> int:
    """Generate, time, print; returns 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="patch size in pixels [512]")
    parser.add_argument("--dataset", choices=("flair1", "flair2", "both"), default="both")
    args = parser.parse_args(argv)
    datasets = ("flair1", "flair2") if args.dataset == "both" else (args.dataset,)
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, {args.size} px patches")
    print("| dataset | patches | generate (s) | files | size on disk (MB) | discover (s) |")
    print("|---|---|---|---|---|---|")
    missed = []
    with tempfile.TemporaryDirectory(prefix="flair-kit-bench-toy-") as scratch:
        for dataset in datasets:
            start = time.perf_counter()
            toy = generate_toy_dataset(Path(scratch, dataset), dataset=dataset, size=args.size)
            generate_s = time.perf_counter() - start
            start = time.perf_counter()
            found = sum(len(find_split(toy.root, s, dataset=dataset)) for s in ("train", "test"))
            discover_s = time.perf_counter() - start
            patches = len(toy.train_ids) + len(toy.test_ids)
            assert found == patches, (found, patches)
            print(
                f"| {dataset} | {patches} | {generate_s:.1f} | {toy.n_files} | "
                f"{toy.n_bytes / 1e6:.0f} | {discover_s:.2f} |"
            )
            if args.size == 512 and generate_s > TARGET_SECONDS[dataset]:
                missed.append(dataset)
    if missed:
        print(f"target missed: {missed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
