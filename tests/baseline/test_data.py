"""Reading patches: band selection, scaling, the metric's label mapping, joint augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from baseline.data import (
    FlairDataset,
    Flips,
    apply_flips,
    draw_flips,
    image_to_float32,
    mask_to_index,
    read_image,
    read_mask,
)
from scoring.errors import DataError, MissingFileError
from starting_kit.discovery import find_split

from .conftest import write_geotiff


@pytest.fixture(scope="module")
def samples(flair_root: Path) -> list:
    return find_split(flair_root, "train")


def test_items_are_float_images_and_int64_class_indices(samples: list) -> None:
    item = FlairDataset(samples, (1, 2, 3, 4, 5))[0]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (5, 32, 32)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["mask"].dtype == torch.int64 and item["mask"].shape == (32, 32)
    assert item["metadata"].shape == (0,)
    raw = read_mask(samples[0].mask)
    assert torch.equal(item["mask"], torch.from_numpy(mask_to_index(raw).astype(np.int64)))
    expected = read_image(samples[0].image, (1, 2, 3, 4, 5)).astype(np.float32) / 255
    assert torch.equal(item["image"], torch.from_numpy(expected))


def test_rare_raw_classes_and_a_raw_zero_become_other() -> None:
    raw = np.array([[1, 12, 13, 17], [19, 0, 5, 255]], dtype=np.uint8)
    assert mask_to_index(raw).tolist() == [[0, 11, 12, 12], [12, 12, 4, 12]]
    assert image_to_float32(np.array([255], dtype=np.uint8)).tolist() == [1.0]


def test_band_selection(samples: list) -> None:
    item = FlairDataset(samples, (4, 1), with_masks=False)[0]
    full = read_image(samples[0].image, (1, 2, 3, 4, 5))
    assert item["image"].shape == (2, 32, 32)
    assert torch.equal(item["image"][0], torch.from_numpy(full[3].astype(np.float32) / 255))
    assert "mask" not in item


def test_missing_band_names_both_values(samples: list) -> None:
    with pytest.raises(
        DataError, match=r"reads bands \(1, 2, 3, 4, 6\) but the image has 5 band\(s\)"
    ):
        FlairDataset(samples, (1, 2, 3, 4, 6))[0]


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"image not found"):
        read_image(tmp_path / "IMG_000001.tif", (1,))
    broken = tmp_path / "IMG_000002.tif"
    broken.write_bytes(b"not a tiff")
    with pytest.raises(DataError, match=r"not a readable GeoTIFF"):
        read_image(broken, (1,))
    with pytest.raises(MissingFileError, match=r"mask not found"):
        read_mask(tmp_path / "MSK_000001.tif")


def test_float_image_is_refused(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "IMG_000001.tif", np.zeros((5, 8, 8), dtype=np.uint8))
    import rasterio

    with rasterio.open(path) as src:
        profile = src.profile
    profile.update(dtype="float32")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((5, 8, 8), dtype=np.float32))
    with pytest.raises(DataError, match=r"image dtype is float32; expected uint8"):
        read_image(path, (1, 2, 3))


def test_mask_size_must_match_image(samples: list, tmp_path: Path) -> None:
    sample = samples[0]
    small = write_geotiff(tmp_path / "MSK_000001.tif", np.ones((1, 16, 16), dtype=np.uint8))
    from dataclasses import replace

    with pytest.raises(DataError, match=r"mask is 16x16 but image IMG_000001.tif is 32x32"):
        FlairDataset([replace(sample, mask=small)], (1, 2, 3, 4, 5))[0]


def test_samples_without_masks_or_metadata_are_refused(samples: list) -> None:
    from dataclasses import replace

    with pytest.raises(DataError, match=r"1 training patch\(es\) have no mask, first IMG_000001"):
        FlairDataset([replace(samples[0], mask=None)], (1,))
    with pytest.raises(DataError, match=r"IMG_000001: no aerial metadata entry"):
        FlairDataset([replace(samples[0], metadata=None)], (1,), metadata_variant="corrected")


def test_metadata_is_encoded(flair_root: Path) -> None:
    from starting_kit.discovery import discover_tree

    with_metadata = discover_tree(
        flair_root / "flair_aerial_train", metadata=flair_root / "flair-1_metadata_aerial.json"
    )
    item = FlairDataset(with_metadata, (1,), with_masks=False, metadata_variant="official")[0]
    assert item["metadata"].shape == (45,) and item["metadata"].dtype == torch.float32


def test_apply_flips_matches_the_three_operations() -> None:
    array = np.arange(12).reshape(1, 3, 4)
    out = apply_flips(array, Flips(vertical=True, horizontal=True, quarter_turns=1))
    assert np.array_equal(out, np.rot90(array[:, ::-1, ::-1], 1, axes=(1, 2)))


def test_draws_cover_the_whole_d4_group() -> None:
    rng = np.random.default_rng(0)
    square = np.arange(16).reshape(4, 4)
    outcomes = {apply_flips(square, draw_flips(rng)).tobytes() for _ in range(400)}
    assert len(outcomes) == 8


def test_augmentation_moves_image_and_mask_together(samples: list) -> None:
    plain = FlairDataset(samples, (1, 2, 3, 4, 5))
    augmented = FlairDataset(samples, (1, 2, 3, 4, 5), augment=True, seed=1)
    changed = 0
    for epoch in (1, 2, 3):
        augmented.set_epoch(epoch)
        for index in range(len(samples)):
            a, b = plain[index], augmented[index]
            # The same symmetry applied to both: find it on the mask, check it on the image.
            matches = [
                (k, flip)
                for k in range(4)
                for flip in (False, True)
                if torch.equal(_d4(a["mask"], k, flip), b["mask"])
                and torch.equal(_d4(a["image"], k, flip), b["image"])
            ]
            assert matches, (
                f"epoch {epoch} sample {index}: image and mask were not transformed alike"
            )
            changed += not torch.equal(a["image"], b["image"])
    assert changed > 0


def test_augmentation_is_a_function_of_seed_epoch_index(samples: list) -> None:
    first = FlairDataset(samples, (1,), augment=True, seed=3)
    second = FlairDataset(samples, (1,), augment=True, seed=3)
    first.set_epoch(2)
    second.set_epoch(2)
    assert all(torch.equal(first[i]["image"], second[i]["image"]) for i in range(len(samples)))
    second.set_epoch(3)
    assert not all(torch.equal(first[i]["image"], second[i]["image"]) for i in range(len(samples)))


def _d4(tensor: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    out = torch.rot90(tensor, k, dims=(-2, -1))
    return out.flip(-1) if flip else out
