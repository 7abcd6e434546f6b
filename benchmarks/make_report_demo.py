"""Write demo submissions for the report pages: toy data and three runs of known quality.

Usage: ``python benchmarks/make_report_demo.py OUT``. Writes ``OUT/toy`` (``flair-kit toy-data``,
128 px, 120 test patches) and ``OUT/runs/{strong,medium,weak}`` whose predictions are the truth
with blobs of wrong classes (more and larger blobs for weaker runs, a per-zone difficulty so zones
differ as real zones do). Used by ``benchmarks/render_reports.sh``.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from scoring.classes import NUM_SCORED_CLASSES, TRUTH_LUT
from scoring.tiles import domain_zone, index_tiles

#: run name -> (blobs per patch, blob radius in px)
RUNS = {"strong": (4, 10.0), "medium": (4, 10.2), "weak": (6, 12.0)}


def corrupt(truth: np.ndarray, blobs: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """The truth's class indices with ``blobs`` discs of a wrong class painted over."""
    prediction = TRUTH_LUT[truth].copy()
    rows, cols = np.indices(truth.shape)
    for _ in range(blobs):
        r, c = rng.integers(0, truth.shape[0], size=2)
        disc = (rows - r) ** 2 + (cols - c) ** 2 < radius**2
        prediction[disc] = rng.integers(0, NUM_SCORED_CLASSES)
    return prediction


def main(out: Path) -> int:
    """Write the toy data and the runs."""
    toy = out / "toy"
    if not toy.exists():
        subprocess.run(
            ["flair-kit", "toy-data", str(toy), "--size", "128", "--train", "4", "--test", "120"],
            check=True,
        )
    truth_root = toy / "flair_1_labels_test"
    masks = index_tiles(truth_root, "mask").by_id
    for number, (name, (blobs, radius)) in enumerate(RUNS.items()):
        folder = out / "runs" / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(number)
        for tile, path in sorted(masks.items()):
            located = domain_zone(path.relative_to(truth_root))
            zone_bias = zlib.crc32("/".join(located or ()).encode()) % 3  # some zones are harder
            truth = np.asarray(Image.open(path))
            prediction = corrupt(truth, blobs + zone_bias, radius, rng)
            Image.fromarray(prediction).save(
                folder / f"PRED_{tile:06d}.tif", compression="tiff_lzw"
            )
    print(f"wrote {out}/runs (strong, medium, weak) for {len(masks)} patches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
