"""Benchmark the leaderboard from saved counts (issue 14, item 7: 20 x 15,700 patches, 2,000
replicates, target under 10 s on the 2-core machine).

Writes ``--submissions`` counts files of the FLAIR #1 test set's 15,700 ids (zones from the
built-in table, so 193 zones), with simulated per-patch histograms of different quality, then
times:

- ``run_leaderboard`` in-process (load every ``.npz``, bootstrap, rank, write JSON and CSV);
- the command ``flair-kit leaderboard *.npz --json --csv`` end to end (a new process: Python
  start-up and imports included);
- the same command with ``--html`` (charts and error analysis of every entry), for information.

Usage: ``python benchmarks/bench_leaderboard.py [--submissions 20] [--replicates 2000]
[--no-html]``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scoring import metrics
from scoring.counts import CODES, PatchCounts, save_counts
from starting_kit.ranking.workflow import Outputs, RankingOptions, run_leaderboard
from starting_kit.ranking.zones import builtin_zone_table

#: Pixels of a 512x512 patch.
PIXELS = 512 * 512


def simulated_counts(
    ids: np.ndarray, domains: list[str], zones: list[str], accuracy: float, seed: int
) -> PatchCounts:
    """Per-patch histograms: 4 classes per patch, right with ``accuracy`` plus a zone effect."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    histograms = np.zeros((n, metrics.CODE_SIDE, metrics.CODE_SIDE), dtype=np.int64)
    keys = [f"{d}/{z}" for d, z in zip(domains, zones, strict=False)]
    names, zone_of = np.unique(keys, return_inverse=True)
    right = np.clip(accuracy + rng.normal(0, 0.05, len(names))[zone_of], 0.05, 0.99)
    classes = np.argsort(rng.random((n, 12)), axis=1)[:, :4]
    shares = (rng.dirichlet(np.ones(4), size=n) * PIXELS).astype(np.int64)
    rows = np.arange(n)
    for j in range(4):
        hit = (shares[:, j] * right).astype(np.int64)
        np.add.at(histograms, (rows, classes[:, j], classes[:, j]), hit)
        np.add.at(histograms, (rows, classes[:, j], rng.integers(0, 12, n)), shares[:, j] - hit)
    return PatchCounts(ids, tuple(domains), tuple(zones), histograms.reshape(n, CODES), "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--no-html", action="store_true", help="skip the --html timing")
    args = parser.parse_args()
    table = builtin_zone_table("flair1-test-zones.csv")
    ids = np.array(sorted(table), dtype=np.int64)
    domains = [table[int(t)].domain for t in ids]
    zones = [table[int(t)].zone for t in ids]
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as scratch:
        root = Path(scratch)
        t = time.perf_counter()
        paths = []
        for k in range(args.submissions):
            path = root / f"run{k:02d}.npz"
            save_counts(path, simulated_counts(ids, domains, zones, 0.6 + 0.004 * k, seed=k))
            paths.append(path)
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(
            f"wrote {len(paths)} counts files of {len(ids)} patches ({size:.1f} MB) in "
            f"{time.perf_counter() - t:.1f} s"
        )
        t = time.perf_counter()
        board = run_leaderboard(
            paths,
            None,
            outputs=Outputs(json=root / "board.json", csv=root / "board.csv"),
            options=RankingOptions(replicates=args.replicates),
        )
        in_process = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"run_leaderboard in-process: {in_process:.2f} s, peak RSS {peak:.0f} MB ({len(paths)} x {len(ids)} patches, "
            f"{board.analysis.n_clusters} zones, {args.replicates} replicates)"
        )
        flair_kit = shutil.which("flair-kit") or str(Path(sys.executable).parent / "flair-kit")
        command = [flair_kit, "leaderboard", *map(str, paths), "--replicates", str(args.replicates)]
        t = time.perf_counter()
        subprocess.run(
            [*command, "--json", str(root / "c.json"), "--csv", str(root / "c.csv")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"flair-kit leaderboard (new process, JSON + CSV): {time.perf_counter() - t:.2f} s")
        if not args.no_html:
            t = time.perf_counter()
            subprocess.run(
                [*command, "--html", str(root / "c.html")], check=True, stdout=subprocess.DEVNULL
            )
            print(
                f"flair-kit leaderboard --html (charts, error analysis of {len(paths)} entries): "
                f"{time.perf_counter() - t:.2f} s, page {(root / 'c.html').stat().st_size / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
