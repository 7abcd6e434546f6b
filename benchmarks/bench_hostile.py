"""Peak memory and time of ``validate`` and ``score`` on the worst hostile files (issue 11).

Builds, in a temporary folder, the cases that used to cost gigabytes or hang:

- one 9 KB-class TIFF declaring 8192x8192 pixels of float32, int64 or complex128 (a deflated
  strip of zeros);
- a 13 KB-class zip of 50 such float32 TIFFs;
- a zip bomb (one member expanding 1000:1, 512 MB of zeros);
- decompression bombs: a PNG of a few KB declaring 30000x30000 pixels, and a BigTIFF declaring
  8192x8192 uint8;

and runs ``flair-kit validate`` and ``flair-kit score`` on each in a fresh process (``python -m
starting_kit``), reporting the wall time and the peak resident memory of the process and its
children (``ru_maxrss`` of ``RUSAGE_CHILDREN``, measured per run through a wrapper process).

Usage: ``python benchmarks/bench_hostile.py [--workers 1]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile.test_inputs import header_tiff, png_bomb
from tests.starting_kit.corpus import CORPUS_IDS, write_reference, write_zip

#: Runs one command and prints its peak RSS (children included) as JSON: a clean measurement.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": done.returncode, "wall": wall, "peak_kb": peak, "err": done.stderr[-300:]}))
"""


def build_cases(root: Path) -> dict[str, Path]:
    """Write every hostile submission under ``root``; name -> zip."""
    first = f"PRED_{CORPUS_IDS[0]:06d}.tif"
    # A deflated strip of 8 MiB of zeros: about 8 KB on disk, as the hostile corpus's 9 KB files.
    strip = zlib.compress(b"\0" * (8 << 20), 9)

    def declared(bits: int, sample_format: int) -> bytes:
        return header_tiff(
            8192, 8192, bits=bits, sample_format=sample_format, payload=strip, compression=8
        )

    cases = {
        "8192x8192 float32 TIFF": {first: declared(32, 3)},
        "8192x8192 int64 TIFF": {first: declared(64, 2)},
        "8192x8192 complex128 TIFF": {first: declared(128, 6)},
        "30000x30000 PNG bomb": {first: png_bomb()},
        "8192x8192 BigTIFF": {first: header_tiff(8192, 8192, big=True)},
    }
    paths = {}
    for index, (name, files) in enumerate(cases.items()):
        paths[name] = write_zip(root / f"case{index}.zip", files)
    bomb = declared(32, 3)
    paths["50 x 8192x8192 float32 in one zip"] = write_zip(
        root / "fifty.zip", {f"PRED_{61713 + i:06d}.tif": bomb for i in range(50)}
    )
    bomb_zip = root / "zipbomb.zip"
    with (
        zipfile.ZipFile(
            bomb_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
        ) as archive,
        archive.open(first, "w", force_zip64=True) as member,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(512):
            member.write(chunk)
    paths["zip bomb (512 MB of zeros)"] = bomb_zip
    return paths


def measure(args: list[str]) -> dict[str, float]:
    """Run ``python -m starting_kit ARGS`` in a fresh process; its wall time and peak RSS."""
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "starting_kit", *args]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True).stdout
    return json.loads(out)


def main() -> None:
    """Build the cases, run validate and score on each, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each command")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch:
        root = Path(scratch)
        reference = write_reference(root / "ref")
        baseline = measure(["--version"])
        print(
            f"interpreter + kit start-up: {baseline['peak_kb'] / 1024:.0f} MB, {baseline['wall']:.2f} s\n"
        )
        print("| case | zip size | validate: s | validate: peak MB | score: s | score: peak MB |")
        print("|---|---:|---:|---:|---:|---:|")
        worst = (0.0, 0.0)
        for name, path in build_cases(root).items():
            workers = ["--workers", str(options.workers)]
            checked = measure(["validate", str(path), "--size", "32", *workers])
            scored = measure(["score", str(path), str(reference), *workers])
            for run in (checked, scored):
                if run["rc"] != 1 or "Traceback" in run["err"]:
                    raise SystemExit(f"{name}: expected a clean refusal, got {run}")
                worst = (max(worst[0], run["wall"]), max(worst[1], run["peak_kb"] / 1024))
            print(
                f"| {name} | {path.stat().st_size / 1024:.0f} KB | {checked['wall']:.2f} | "
                f"{checked['peak_kb'] / 1024:.0f} | {scored['wall']:.2f} | {scored['peak_kb'] / 1024:.0f} |"
            )
        print(f"\nworst case: {worst[0]:.2f} s, {worst[1]:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
