"""Fixtures for the scoring tests: tiny masks written with Pillow in the real folder layout.

Only numpy, Pillow and pytest: these tests also run in the Python 3.9 / numpy 1.22 / Pillow 9
environment of the CodaLab images.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

#: IGN's reference files, vendored in the repository (tests/data/ign/README.md).
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ign"
EXAMPLE_ZIP = REFERENCE / "flair1_example_submission_TOY.zip"


def save_tif(path: Path, array: np.ndarray, compression: str | None = "tiff_lzw") -> Path:
    """Write an array with Pillow, as participants and IGN's writer do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    if compression:
        image.save(path, compression=compression)
    else:
        image.save(path)
    return path


WriteMask = Callable[..., Path]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20230321)


@pytest.fixture
def truth_tree(tmp_path: Path, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Six 16x16 reference masks in the <DOMAIN>/<ZONE>/msk layout, two domains; raw values 1..19."""
    layout = {
        61713: ("D012_2019", "Z1_UU"),
        61714: ("D012_2019", "Z1_UU"),
        61813: ("D012_2019", "Z2_UF"),
        70001: ("D071_2020", "Z10_AA"),
        70002: ("D071_2020", "Z10_AA"),
        70003: ("D071_2020", "Z11_NF"),
    }
    masks = {}
    for tile, (domain, zone) in layout.items():
        mask = rng.integers(1, 20, size=(16, 16)).astype(np.uint8)
        save_tif(tmp_path / "truth" / domain / zone / "msk" / f"MSK_{tile:06d}.tif", mask)
        masks[tile] = mask
    return masks


@pytest.fixture
def write_preds(tmp_path: Path) -> Callable[[dict[int, np.ndarray]], Path]:
    """Write predictions ``PRED_<id>.tif`` flat into tmp/pred and return the folder."""

    def write(preds: dict[int, np.ndarray], folder: str = "pred") -> Path:
        root = tmp_path / folder
        for tile, pred in preds.items():
            save_tif(root / f"PRED_{tile:06d}.tif", pred)
        return root

    return write


@pytest.fixture(scope="session")
def example_submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IGN's real example submission, extracted (50 PRED files, 512x512, LZW)."""
    folder = tmp_path_factory.mktemp("example")
    with zipfile.ZipFile(EXAMPLE_ZIP) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="session")
def example_truth(example_submission: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reference masks for the 50 example ids: the prediction + 1 with seeded noise, raw 0 and 13..19."""
    folder = tmp_path_factory.mktemp("example_truth")
    for pred_path in sorted(example_submission.glob("PRED_*.tif")):
        tile = int(pred_path.stem.split("_")[-1])
        rng = np.random.default_rng(tile)
        mask = np.asarray(Image.open(pred_path)).astype(np.uint8) + 1
        noise = rng.random(mask.shape) < 0.25
        mask[noise] = rng.integers(0, 20, int(noise.sum()))
        save_tif(folder / f"MSK_{tile:06d}.tif", mask)
    return folder


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
