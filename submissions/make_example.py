"""Regenerate ``submissions/example/``: a small, self-contained, scoreable FLAIR #1 submission.

Predictions: eight real files of IGN's official example submission (bytes unchanged).
References: masks derived from them with seeded, spatially coherent edits (rectangles relabelled,
a few pixels of the rare raw classes 13..19), written with Pillow/LZW in the dataset layout
``<DOMAIN>/<ZONE>/msk/MSK_<id>.tif`` (domains and zones from IGN's toy test list), so the
per-domain breakdown shows. Also writes the flat submission zip and the expected scores.

Usage: ``python submissions/make_example.py [--reference-dir tests/data/ign]`` (vendored files).
Standard library, numpy and Pillow only; deterministic bytes for the same inputs.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "example"
IDS = (61946, 62207, 63620, 64026, 66278, 67998, 71026, 76041)
ZIP_DATE = (2023, 3, 21, 0, 0, 0)  # the end of FLAIR #1: fixed, so the zip bytes are reproducible


def _locations(path_list: Path) -> dict:
    locations = {}
    with open(path_list, newline="") as handle:
        for row in csv.reader(handle):
            parts = PurePosixPath(row[1]).parts
            tile = int(parts[-1][4:10])
            locations[tile] = (parts[-4], parts[-3])
    return locations


def derive_reference(pred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible truth for a prediction: pred + 1, with relabelled rectangles and rare classes."""
    truth = pred.astype(np.uint8) + 1
    height, width = truth.shape
    for _ in range(6):
        h, w = rng.integers(24, 160, size=2)
        top, left = rng.integers(0, height - h), rng.integers(0, width - w)
        truth[top : top + h, left : left + w] = rng.integers(1, 13)
    for raw in (13, 18):  # a swimming pool and a greenhouse: they score as 'other'
        top, left = rng.integers(0, height - 12, size=2)
        truth[top : top + 12, left : left + 12] = raw
    return truth


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-dir", type=Path, default=HERE.parent / "tests" / "data" / "ign"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from scoring.evaluate import score_folders

    locations = _locations(args.reference_dir / "flair-1-paths-toy-test.csv")
    if EXAMPLE.exists():
        shutil.rmtree(EXAMPLE)
    predictions = EXAMPLE / "predictions"
    predictions.mkdir(parents=True)
    with zipfile.ZipFile(args.reference_dir / "flair1_example_submission_TOY.zip") as official:
        for tile in IDS:
            name = f"PRED_{tile:06d}.tif"
            data = official.read(name)
            (predictions / name).write_bytes(data)
            pred = np.asarray(Image.open(io.BytesIO(data)))
            domain, zone = locations[tile]
            target = EXAMPLE / "reference" / domain / zone / "msk" / f"MSK_{tile:06d}.tif"
            target.parent.mkdir(parents=True, exist_ok=True)
            truth = derive_reference(pred, np.random.default_rng(tile))
            Image.fromarray(truth).save(target, compression="tiff_lzw")
    with zipfile.ZipFile(EXAMPLE / "submission.zip", "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(predictions.iterdir()):
            info = zipfile.ZipInfo(path.name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    report = score_folders(EXAMPLE / "submission.zip", EXAMPLE / "reference", workers=1)
    (EXAMPLE / "expected_scores.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(f"wrote {EXAMPLE} (mIoU {report.miou:.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
