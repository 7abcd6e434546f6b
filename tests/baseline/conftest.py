"""Fixtures for the baseline tests: tiny FLAIR trees in the official layout, and a tiny model.

The generated data is learnable on purpose: each 8x8 block of a mask holds one raw class and the
image's five bands are that class's colour plus a little noise, so a few optimisation steps move
the validation mIoU. Sizes are 32 or 64 pixels; everything is seeded.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

import rasterio
from affine import Affine
from torch import nn

#: Training domains: two official validation domains and two others.
TRAIN_LAYOUT: dict[str, tuple[str, ...]] = {
    "D004_2021": ("Z1_UU",),
    "D014_2020": ("Z2_AA",),
    "D006_2020": ("Z1_NF", "Z2_UA"),
    "D007_2020": ("Z3_UU",),
}
TEST_LAYOUT: dict[str, tuple[str, ...]] = {"D012_2019": ("Z1_UU",), "D022_2021": ("Z5_AF",)}
#: Raw classes drawn in the masks (17 and 19 exercise the merge into 'other').
RAW_CLASSES = (1, 2, 3, 5, 6, 7, 10, 11, 17, 19)


def write_geotiff(
    path: Path, array: np.ndarray, x0: float = 900000.0, y0: float = 6300000.0
) -> Path:
    """Write a (bands, H, W) uint8 array as an EPSG:2154 GeoTIFF at 0.2 m, like IGN's patches."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bands, height, width = array.shape
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": bands,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, x0, 0.0, -0.2, y0),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return path


def class_colours(seed: int = 7) -> np.ndarray:
    """A fixed (20, 5) colour per raw class."""
    return np.random.default_rng(seed).integers(20, 236, size=(20, 5)).astype(np.int16)


def make_patch(
    rng: np.random.Generator, size: int, bands: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """A learnable (image, raw mask) pair: 8x8 blocks of one class, class colour plus noise."""
    blocks = size // 8
    raw = rng.choice(RAW_CLASSES, size=(blocks, blocks)).astype(np.uint8)
    raw = np.kron(raw, np.ones((8, 8), dtype=np.uint8))
    colours = class_colours()
    image = colours[raw].transpose(2, 0, 1) + rng.integers(-12, 13, size=(5, size, size))
    return np.clip(image, 0, 255).astype(np.uint8)[:bands], raw


def make_flair_tree(
    root: Path,
    *,
    size: int = 32,
    per_zone: int = 3,
    train: dict[str, tuple[str, ...]] | None = None,
    test: dict[str, tuple[str, ...]] | None = None,
    metadata: bool = True,
    bands: int = 5,
    seed: int = 0,
) -> Path:
    """Write a FLAIR #1 dataset root: train/test images and labels, metadata JSON."""
    rng = np.random.default_rng(seed)
    entries: dict[str, Any] = {}
    tile = 1
    layouts = (
        ("flair_aerial_train", "flair_labels_train", train if train is not None else TRAIN_LAYOUT),
        ("flair_1_aerial_test", "flair_1_labels_test", test if test is not None else TEST_LAYOUT),
    )
    for images, labels, layout in layouts:
        for domain, zones in layout.items():
            for zone in zones:
                for _ in range(per_zone):
                    image, raw = make_patch(rng, size, bands)
                    name = f"{tile:06d}"
                    x0, y0 = 900000.0 + 102.4 * tile, 6300000.0
                    write_geotiff(
                        root / images / domain / zone / "img" / f"IMG_{name}.tif", image, x0, y0
                    )
                    write_geotiff(
                        root / labels / domain / zone / "msk" / f"MSK_{name}.tif", raw[None], x0, y0
                    )
                    entries[f"IMG_{name}"] = {
                        "domain": domain,
                        "zone": zone,
                        "patch_centroid_x": x0 + 51.2,
                        "patch_centroid_y": y0 - 51.2,
                        "patch_centroid_z": float(rng.uniform(0, 900)),
                        "date": f"{domain[-4:]}-0{1 + tile % 9}-1{tile % 10}",
                        "time": f"1{tile % 10}h2{tile % 10}",
                        "camera": "UCE-M3-f120-s07" if tile % 2 else "CAMERA#017",
                    }
                    tile += 1
    if metadata:
        (root / "flair-1_metadata_aerial.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def flair_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-pixel FLAIR #1 dataset root shared by the read-only tests."""
    return make_flair_tree(tmp_path_factory.mktemp("flair") / "data")


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_tree(name, **options)`` writes a fresh dataset root under tmp_path."""

    def factory(name: str = "data", **options: Any) -> Path:
        return make_flair_tree(tmp_path / name, **options)

    return factory


class TinyNet(nn.Module):
    """A two-layer stand-in for the U-Net: conv, BatchNorm, ReLU, dropout, 1x1 conv."""

    def __init__(self, in_channels: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Dropout2d(0.2),
            nn.Conv2d(8, classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build_tiny_model(
    arch: str,
    encoder: str,
    in_channels: int,
    num_classes: int,
    encoder_weights: str = "none",
    *,
    decoder_channels: tuple[int, ...] | None = None,
    use_metadata: bool = False,
    metadata_fusion: str = "projected",
) -> nn.Module:
    """Same signature as :func:`baseline.model.build_model`, a tiny network (style.md 8)."""
    from baseline.model import FlairSegmenter

    if use_metadata:
        raise AssertionError("the tiny model has no metadata branch; use the real smp model")
    return FlairSegmenter(TinyNet(in_channels, num_classes))


@pytest.fixture(scope="module")
def checkpoint(flair_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of a one-epoch tiny run on ``flair_root`` (one per test module that asks for it)."""
    import yaml

    import baseline.train
    from baseline.config import config_from_dict, with_overrides

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(baseline.train, "build_model", build_tiny_model)
        cfg = with_overrides(
            config_from_dict(yaml.safe_load(TEST_CONFIG)),
            **{"data.train": flair_root, "out": tmp_path_factory.mktemp("run"), "epochs": 1},
        )
        return baseline.train.train(cfg).best_checkpoint


@pytest.fixture
def tiny_model(monkeypatch: pytest.MonkeyPatch) -> Callable[..., nn.Module]:
    """Replace the network builder of training and prediction by the tiny model."""
    import baseline.inference
    import baseline.train

    monkeypatch.setattr(baseline.train, "build_model", build_tiny_model)
    monkeypatch.setattr(baseline.inference, "build_model", build_tiny_model)
    return build_tiny_model


#: A configuration for fast CPU tests (tiny data; the network is replaced or small).
TEST_CONFIG = """\
name: test
data:
  split: official
  num_workers: 0
model:
  arch: unet
  encoder: resnet18
  decoder_channels: [16, 16, 8, 8, 8]
optim:
  optimizer: adam
  lr: 0.01
  scheduler: plateau
epochs: 2
batch_size: 4
seed: 3
device: cpu
amp: off
monitor: val_miou
"""


@pytest.fixture
def test_config(tmp_path: Path) -> Path:
    """The fast test configuration as a YAML file."""
    path = tmp_path / "test.yaml"
    path.write_text(TEST_CONFIG, encoding="utf-8")
    return path


class FullDiskSink:
    """A binary sink that takes ``room`` bytes, then fails every write with ENOSPC, as a full disk
    does (torch.save sees the failure only through its writer)."""

    def __init__(self, sink: Any, room: int) -> None:
        self.sink = sink
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()


@pytest.fixture
def checkpoint_disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every checkpoint written from now on finds the disk full after 2 KB."""
    import contextlib

    import baseline.checkpoint

    real = baseline.checkpoint.atomic_file

    @contextlib.contextmanager
    def full_after_2k(target: Any, mode: str = "wb", **options: Any) -> Any:
        with real(target, mode, **options) as sink:
            yield FullDiskSink(sink, room=2048)

    monkeypatch.setattr(baseline.checkpoint, "atomic_file", full_after_2k)
