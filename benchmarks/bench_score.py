"""Benchmark the scorer against a faithful re-implementation of the official per-patch loop.

Builds N realistic pairs from IGN's 50 real example predictions (LZW, 512x512) and references
derived from them like ``submissions/make_example.py`` does, then prints:

- per-pair cost of our scorer on one core, with its breakdown (decode truth, decode prediction,
  code lookup + byte add + histogram): the decode is the floor for any scorer that reads the files;
- per-pair cost of the official loop (Pillow + ``sklearn.metrics.confusion_matrix`` per patch) on a
  sample of the same files, and the ratio; both confusion matrices must be identical;
- wall time for all N pairs with all cores (process start-up excluded: the call is in-process);
- peak resident memory of the main process and of the largest worker;
- the cost of keeping each patch's counts (``score --save-counts``): CPU time of one process
  on 3,000 pairs with and without them in short alternations (``--rounds`` passes), the CPU time
  of the added work alone (hashing, assembling and saving), and
  (not with ``--counts-only``) the wall time of all N pairs with and without, best of rounds.

Usage: ``python benchmarks/bench_score.py [--n 15700] [--official-sample 400] [--workers N]
[--rounds 3] [--counts-only]`` (``--counts-only``: only the CPU-time measures of the counts).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scoring import metrics
from scoring.counts import counts_from_patches, mask_digest, save_counts
from scoring.evaluate import (
    Pair,
    count_pair,
    count_pairs,
    pair_predictions,
    score_folders,
    score_folders_with_counts,
)
from scoring.masks import load_image, load_prediction
from scoring.pool import default_workers
from tests.scoring.official import official_score_folders

EXAMPLE_ZIP = REPO / "tests" / "data" / "ign" / "flair1_example_submission_TOY.zip"


def _derive_reference():
    spec = importlib.util.spec_from_file_location(
        "make_example", REPO / "submissions" / "make_example.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.derive_reference


def build_pairs(root: Path, n: int) -> tuple:
    """Write n prediction and n reference files (the 50 real patterns, cycled) under root."""
    derive = _derive_reference()
    sources = []
    with zipfile.ZipFile(EXAMPLE_ZIP) as archive:
        for name in sorted(archive.namelist()):
            pred_bytes = archive.read(name)
            pred = np.asarray(Image.open(io.BytesIO(pred_bytes)))
            buffer = io.BytesIO()
            truth = derive(pred, np.random.default_rng(len(sources)))
            Image.fromarray(truth).save(buffer, format="TIFF", compression="tiff_lzw")
            sources.append((pred_bytes, buffer.getvalue()))
    pred_dir, truth_dir = root / "pred", root / "truth"
    pred_dir.mkdir()
    truth_dir.mkdir()
    for i in range(n):
        tile = 61713 + i
        pred_bytes, truth_bytes = sources[i % len(sources)]
        (pred_dir / f"PRED_{tile:06d}.tif").write_bytes(pred_bytes)
        (truth_dir / f"MSK_{tile:06d}.tif").write_bytes(truth_bytes)
    return pred_dir, truth_dir


def breakdown(pairs: list) -> dict:
    """Milliseconds per pair for each step of our hot loop, one core."""
    totals = {"decode truth": 0.0, "decode prediction": 0.0, "count (LUT+add+hist)": 0.0}
    for pair in pairs:
        t0 = time.perf_counter()
        load_image(pair.truth)
        t1 = time.perf_counter()
        load_prediction(pair.pred)
        t2 = time.perf_counter()
        count_pair(pair)
        t3 = time.perf_counter()
        totals["decode truth"] += t1 - t0
        totals["decode prediction"] += t2 - t1
        # count_pair decodes both again: its own share is what is left after the two decodes.
        totals["count (LUT+add+hist)"] += (t3 - t2) - (t2 - t0)
    return {k: 1000 * v / len(pairs) for k, v in totals.items()}


def counts_overhead(
    pred_dir: Path, truth_dir: Path, root: Path, workers: int, rounds: int, *, wall: bool = True
) -> None:
    """Time scoring with and without keeping each patch's counts, alternately (best of rounds).

    Three measures: CPU time of one process on up to 3,000 pairs, in paired rounds (little
    disturbed by other jobs on the machine); the CPU time of the added work alone (hashing the
    masks); wall time of all pairs with all workers.
    """
    pairs = pair_predictions(pred_dir, truth_dir).pairs[:3000]
    count_pairs(pairs[:200], workers=1)  # warm the page cache and imports
    # Many short alternations (300 pairs each, the order swapped every time): other jobs' load
    # drifts over seconds, and long rounds compared a busy minute with a quiet one.
    batches = [pairs[i : i + 300] for i in range(0, len(pairs), 300)] * rounds
    ratios, plain_cpu, kept_cpu = [], 0.0, 0.0
    for number, batch in enumerate(batches):
        timings = {}
        for keep in (False, True) if number % 2 == 0 else (True, False):
            t = time.process_time()
            count_pairs(batch, workers=1, patches=[] if keep else None)
            timings[keep] = time.process_time() - t
        plain_cpu += timings[False]
        kept_cpu += timings[True]
        ratios.append(timings[True] / timings[False])
    t = time.process_time()
    for pair in pairs:
        mask_digest(pair.truth)
    digest_ms = 1000 * (time.process_time() - t) / len(pairs)
    kept_patches: list = []
    count_pairs(pairs, workers=1, patches=kept_patches)
    t = time.process_time()
    save_counts(root / "sample.npz", counts_from_patches(kept_patches))
    save_ms = 1000 * (time.process_time() - t) / len(pairs)
    n = len(batches) * 300
    plain_ms, kept_ms = 1000 * plain_cpu / n, 1000 * kept_cpu / n + save_ms
    print(
        f"\n--save-counts, one process, CPU time, {len(batches)} alternations of 300 pairs: "
        f"{plain_ms:.3f} ms per pair without, {kept_ms:.3f} ms with (assembling and saving "
        f"included): overhead {100 * (kept_ms / plain_ms - 1):+.1f}% (median of the "
        f"alternations {100 * (float(np.median(ratios)) - 1):+.1f}%, before saving); the added "
        f"work alone: hashing each mask file {digest_ms:.3f} ms per pair, assembling and saving "
        f"the counts {save_ms:.3f} ms per pair"
    )
    if not wall:
        return
    plain, kept = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        report = score_folders(pred_dir, truth_dir, workers=workers)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        report_kept, counts = score_folders_with_counts(pred_dir, truth_dir, workers=workers)
        save_counts(root / "counts.npz", counts)
        kept.append(time.perf_counter() - t)
        assert report_kept.miou == report.miou
    best_plain, best_kept = min(plain), min(kept)
    size = (root / "counts.npz").stat().st_size
    print(
        f"--save-counts, {report.n_patches} pairs, {workers} workers, wall time, best of {rounds}: "
        f"{best_plain:.2f} s without, {best_kept:.2f} s with (counts file {size / 1e6:.2f} MB); "
        f"overhead {100 * (best_kept / best_plain - 1):+.1f}%"
    )
    print(
        f"  all rounds without: {[round(x, 2) for x in plain]}, with: {[round(x, 2) for x in kept]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=15700, help="pairs to score (FLAIR #1 test: 15,700)"
    )
    parser.add_argument(
        "--official-sample", type=int, default=400, help="pairs timed with the official loop"
    )
    parser.add_argument("--workers", type=int, default=None, help="worker processes [all cores]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --save-counts timings")
    parser.add_argument(
        "--counts-only", action="store_true", help="time only the --save-counts overhead"
    )
    args = parser.parse_args()
    workers = args.workers or default_workers()

    with tempfile.TemporaryDirectory(prefix="bench-score-") as scratch:
        root = Path(scratch)
        t = time.perf_counter()
        pred_dir, truth_dir = build_pairs(root, args.n)
        print(f"built {args.n} pairs in {time.perf_counter() - t:.1f} s under {root}")

        if args.counts_only:
            counts_overhead(pred_dir, truth_dir, root, workers, args.rounds, wall=False)
            return
        sample = min(args.official_sample, args.n)
        sample_root = root / "sample"
        (sample_root / "pred").mkdir(parents=True)
        (sample_root / "truth").mkdir()
        for i in range(sample):
            tile = 61713 + i
            for folder, name in (
                ("pred", f"PRED_{tile:06d}.tif"),
                ("truth", f"MSK_{tile:06d}.tif"),
            ):
                (sample_root / folder / name).write_bytes((root / folder / name).read_bytes())
        pairs = [
            Pair(
                61713 + i,
                sample_root / "pred" / f"PRED_{61713 + i:06d}.tif",
                sample_root / "truth" / f"MSK_{61713 + i:06d}.tif",
                "",
            )
            for i in range(sample)
        ]

        breakdown(pairs[:20])  # warm the page cache and imports
        parts = breakdown(pairs)
        t = time.perf_counter()
        ours_one = count_pairs(pairs, workers=1)
        ours_ms = 1000 * (time.perf_counter() - t) / sample
        t = time.perf_counter()
        official_miou, official_matrix = official_score_folders(
            sample_root / "pred", sample_root / "truth"
        )
        official_ms = 1000 * (time.perf_counter() - t) / sample
        ours_matrix = metrics.fold_pair_histogram(ours_one[""][1]).confusion
        identical = np.array_equal(ours_matrix, official_matrix)
        ours_miou = metrics.mean_iou_score(ours_matrix)

        print(f"\nper pair, one core, {sample} pairs:")
        for step, ms in parts.items():
            print(f"  {step:<20}{ms:7.3f} ms")
        print(f"  {'ours (total)':<20}{ours_ms:7.3f} ms")
        print(f"  {'official loop':<20}{official_ms:7.3f} ms")
        print(f"  speed-up            {official_ms / ours_ms:7.1f}x")
        print(
            f"  confusion matrices identical: {identical}; mIoU ours {ours_miou!r} official {official_miou!r}"
        )

        t = time.perf_counter()
        report = score_folders(pred_dir, truth_dir, workers=workers)
        elapsed = time.perf_counter() - t
        print(
            f"\nall {report.n_patches} pairs, {workers} workers: {elapsed:.2f} s "
            f"({1000 * elapsed / report.n_patches:.3f} ms per pair), mIoU {report.miou:.5f}"
        )

        counts_overhead(pred_dir, truth_dir, root, workers, args.rounds)

    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: main process {main_peak:.0f} MB, largest worker {child_peak:.0f} MB")
    if not identical:
        sys.exit("confusion matrices differ")


if __name__ == "__main__":
    main()
