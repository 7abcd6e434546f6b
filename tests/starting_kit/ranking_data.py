"""Tiny generated data for the ranking tests: a truth tree with zones, predictions, simulated counts.

Files: 16x16 masks in the ``<DOMAIN>/<ZONE>/msk/`` layout, predictions with a chosen share of
pixels wrong, written with Pillow. Counts: :class:`scoring.counts.PatchCounts` built directly from
confusion matrices, for the statistical tests (no file at all).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from scoring import metrics
from scoring.classes import NUM_CLASSES
from scoring.counts import CODES, PatchCounts

SIDE = 16
#: (domain, zone, patches): 3 domains, 8 zones, 24 patches; zone names repeat across domains.
LAYOUT = (
    ("D012_2019", "Z1_UU", 3),
    ("D012_2019", "Z2_UF", 3),
    ("D012_2019", "Z3_AA", 3),
    ("D022_2021", "Z1_UU", 3),
    ("D022_2021", "Z2_NF", 3),
    ("D071_2020", "Z1_UU", 3),
    ("D071_2020", "Z4_FF", 3),
    ("D071_2020", "Z5_AN", 3),
)
FIRST_ID = 61713


def layout_ids() -> list[tuple[int, str, str]]:
    """(id, domain, zone) of every patch of :data:`LAYOUT`."""
    rows = []
    tile = FIRST_ID
    for domain, zone, count in LAYOUT:
        for _ in range(count):
            rows.append((tile, domain, zone))
            tile += 1
    return rows


def write_truth(root: Path, seed: int = 1) -> dict[int, np.ndarray]:
    """Masks (raw values 1..13) under ``root/<D>/<Z>/msk``; returns id -> class indices."""
    rng = np.random.default_rng(seed)
    classes = {}
    for tile, domain, zone in layout_ids():
        indices = rng.integers(0, NUM_CLASSES - 1, size=(SIDE, SIDE)).astype(np.uint8)
        path = root / domain / zone / "msk" / f"MSK_{tile:06d}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(indices + 1).save(path, compression="tiff_lzw")
        classes[tile] = indices
    return classes


def write_prediction(
    root: Path, truth: dict[int, np.ndarray], error_rate: float, seed: int, *, as_zip: bool = False
) -> Path:
    """Predictions that get ``error_rate`` of the pixels wrong (uniformly); a folder or a zip."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for tile, indices in truth.items():
        wrong = rng.random(indices.shape) < error_rate
        shifted = (indices + rng.integers(1, NUM_CLASSES - 1, size=indices.shape)) % (
            NUM_CLASSES - 1
        )
        prediction = np.where(wrong, shifted, indices).astype(np.uint8)
        path = root / f"PRED_{tile:06d}.tif"
        Image.fromarray(prediction).save(path, compression="tiff_lzw")
        files[path.name] = path
    if not as_zip:
        return root
    archive_path = root.with_suffix(".zip")
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, path in sorted(files.items()):
            archive.write(path, name)
    return archive_path


def write_images(root: Path) -> Path:
    """5-band uint8 aerial images IMG_<id>.tif for every patch (for the gallery)."""
    import rasterio
    from rasterio.transform import Affine

    rng = np.random.default_rng(3)
    for tile, domain, zone in layout_ids():
        path = root / domain / zone / "img" / f"IMG_{tile:06d}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.integers(0, 255, size=(5, SIDE, SIDE), dtype=np.uint8)
        with rasterio.open(
            path, "w", driver="GTiff", width=SIDE, height=SIDE, count=5, dtype="uint8",
            crs="EPSG:2154", transform=Affine(0.2, 0, 600_000, 0, -0.2, 6_800_000 - tile),
        ) as dst:  # fmt: skip
            dst.write(data)
    return root


def histogram_of(confusion: np.ndarray) -> np.ndarray:
    """The 196 code counts whose fold is ``confusion`` (no raw 0, nothing dropped)."""
    table = np.zeros((metrics.CODE_SIDE, metrics.CODE_SIDE), dtype=np.int64)
    table[:NUM_CLASSES, :NUM_CLASSES] = confusion
    return table.reshape(CODES)


def counts_of(
    confusions: np.ndarray, zones: list[str], domains: list[str] | None = None
) -> PatchCounts:
    """Counts of patches given their 13x13 confusions (ids from 1, outside any FLAIR table)."""
    n = len(confusions)
    return PatchCounts(
        np.arange(1, n + 1, dtype=np.int64),
        tuple(domains if domains is not None else ["D001_2020" if z else "" for z in zones]),
        tuple(zones),
        np.stack([histogram_of(c) for c in confusions]),
        "simulated",
    )


def expected_confusion(shares: np.ndarray, accuracy: float, pixels: float) -> np.ndarray:
    """Confusion of pixels with truth ``shares`` (12 scored classes): right with ``accuracy``,
    else spread evenly over the other scored classes."""
    n_scored = NUM_CLASSES - 1
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES))
    truth = pixels * np.asarray(shares, dtype=float)
    for k in range(n_scored):
        confusion[k, :n_scored] = truth[k] * (1 - accuracy) / (n_scored - 1)
        confusion[k, k] = truth[k] * accuracy
    return confusion


ALPHA = np.linspace(1.0, 4.0, NUM_CLASSES - 1) * 4
#: Mean accuracy of A and its zone-to-zone spread (uniform half-width).
MEAN_ACCURACY, SPREAD = 0.7, 0.15


def simulate_pair(
    rng: np.random.Generator,
    delta_accuracy: float,
    *,
    n_zones: int = 80,
    patches_per_zone: int = 2,
    pixels: float = 2e6,
    clustered: bool = True,
) -> tuple[PatchCounts, PatchCounts, float]:
    """Two submissions on a test set of zones drawn from a known population, and the population's
    true mIoU difference (the limit of the official metric over infinitely many zones).

    Each zone draws its class shares (Dirichlet) and A's accuracy; B is less accurate by
    ``delta_accuracy`` on average, with its own zone-level noise. The patches of a zone share the
    zone's accuracies (the correlation the zone bootstrap accounts for).
    """
    confusions_a, confusions_b, zones = [], [], []
    for zone in range(n_zones):
        shares = rng.dirichlet(ALPHA)
        accuracy_a = MEAN_ACCURACY + rng.uniform(-SPREAD, SPREAD)
        accuracy_b = accuracy_a - delta_accuracy + rng.uniform(-0.05, 0.05)
        for _ in range(patches_per_zone):
            patch_shares = rng.dirichlet(shares * 200) if clustered else rng.dirichlet(ALPHA)
            per_patch = pixels / patches_per_zone
            confusions_a.append(np.rint(expected_confusion(patch_shares, accuracy_a, per_patch)))
            confusions_b.append(np.rint(expected_confusion(patch_shares, accuracy_b, per_patch)))
            zones.append(f"Z{zone + 1}_AA")
    mean_shares = ALPHA / ALPHA.sum()
    true_a = metrics.mean_iou_score(expected_confusion(mean_shares, MEAN_ACCURACY, 1.0))
    true_b = metrics.mean_iou_score(
        expected_confusion(mean_shares, MEAN_ACCURACY - delta_accuracy, 1.0)
    )
    counts_a = counts_of(np.array(confusions_a, dtype=np.int64), zones)
    counts_b = counts_of(np.array(confusions_b, dtype=np.int64), zones)
    return counts_a, counts_b, true_a - true_b
