"""Toy datasets: the real FLAIR #1/#2 formats (formats.md section 12), learnability, safety.

Outputs are read the way the official code reads them: images with rasterio, masks with rasterio
and with Pillow (the metric's decoder), Sentinel-2 arrays with ``np.load``, dates from characters
15..18 of the product names.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from scoring.classes import NUM_SCORED_CLASSES
from scoring.errors import ConfigError, OutputExistsError
from scoring.metrics import confusion_matrix, iou_per_class, mean_iou_score, truth_to_index
from starting_kit import toydata
from starting_kit.cli import app
from starting_kit.discovery import CENTROIDS_NAME, METADATA_FIELDS, SPLIT_FOLDERS, find_split
from starting_kit.pathlists import read_path_list
from starting_kit.toydata import (
    MANIFEST_NAME,
    METADATA_FILES,
    ToyDataset,
    generate_toy_dataset,
    layout,
    scene,
    sentinel,
)
from tests.starting_kit.conftest import IGN_REFERENCE, TOY_SIZE

DOMAIN = re.compile(r"^D\d{3}_(2018|2019|2020|2021)$")
ZONE = re.compile(r"^Z\d+_[A-Z]{2}$")
PRODUCT = re.compile(r"^S2[AB]_MSIL2A_(\d{8})T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_\d{8}T\d{6}$")
OFFICIAL_FILTER = (0.5, 60)  # area threshold, probability threshold (formats.md 6.2 step 7)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).digest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tiny(out: Path, **options: object) -> ToyDataset:
    params = {"dataset": "flair1", "size": 16, "n_train": 3, "n_test": 2}
    params.update(options)
    return generate_toy_dataset(out, **params)  # type: ignore[arg-type]


# --- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["toy_flair1", "toy_flair2"])
def test_tree_has_the_official_names_and_nothing_else(fixture: str, request) -> None:
    toy: ToyDataset = request.getfixturevalue(fixture)
    dataset = toy.dataset
    prefix = toydata.CSV_PREFIXES[dataset]
    expected_root = {
        MANIFEST_NAME,
        METADATA_FILES[dataset],
        f"{prefix}-train.csv",
        f"{prefix}-val.csv",
        f"{prefix}-test.csv",
    }
    for split in ("train", "test"):
        folders = SPLIT_FOLDERS[(dataset, split)]
        expected_root |= {folders.images, folders.masks}
        if folders.sentinel:
            expected_root |= {folders.sentinel, CENTROIDS_NAME}
    assert {p.name for p in toy.root.iterdir()} == expected_root
    for split, ids in (("train", toy.train_ids), ("test", toy.test_ids)):
        folders = SPLIT_FOLDERS[(dataset, split)]
        found = set()
        for leaf, prefix_name, top in (
            ("img", "IMG", folders.images),
            ("msk", "MSK", folders.masks),
        ):
            for path in (toy.root / top).rglob("*"):
                parts = path.relative_to(toy.root / top).parts
                # Nothing but folders at the domain and zone levels (the official listing breaks).
                if len(parts) < 4:
                    assert path.is_dir(), path
                    continue
                domain, zone, folder, name = parts
                assert DOMAIN.match(domain) and ZONE.match(zone) and folder == leaf, path
                match = re.fullmatch(rf"{prefix_name}_(\d{{6}})\.tif", name)
                assert match, path
                found.add((leaf, int(match.group(1))))
        assert found == {(leaf, t) for t in ids for leaf in ("img", "msk")}


def test_sentinel_tree_has_one_triplet_per_zone(toy_flair2: ToyDataset) -> None:
    for split, ids in (("train", toy_flair2.train_ids), ("test", toy_flair2.test_ids)):
        folders = SPLIT_FOLDERS[("flair2", split)]
        zones = {
            p.parent.parent.relative_to(toy_flair2.root / folders.images).parts
            for p in (toy_flair2.root / folders.images).rglob("IMG_*.tif")
        }
        assert len(ids) >= len(zones) > 1
        sen = toy_flair2.root / str(folders.sentinel)
        for domain, zone in zones:
            names = sorted(p.name for p in (sen / domain / zone / "sen").iterdir())
            stem = f"SEN2_sp_{domain}-{zone}"
            assert names == [f"{stem}_data.npy", f"{stem}_masks.npy", f"{stem}_products.txt"]
        triplet_zones = {p.relative_to(sen).parts[:2] for p in sen.rglob("*_data.npy")}
        assert triplet_zones == zones


def test_default_patches_are_igns_real_toy_patches() -> None:
    train, test = layout.plan_patches("flair1")
    reference = layout.reference_metadata()
    assert len(train) == 200 and len(test) == 50
    assert [p.name for p in train + test] == sorted(reference)
    for plan in train + test:
        entry = reference[plan.name]
        assert (plan.domain, plan.zone, plan.entry) == (entry["domain"], entry["zone"], entry)
    assert sum(layout.is_val(p) for p in train) == 44
    assert len({p.domain for p in train if not layout.is_val(p)}) == 31


def test_default_splits_match_igns_toy_csvs() -> None:
    paths = {s: IGN_REFERENCE / f"flair-1-paths-toy-{s}.csv" for s in ("train", "val", "test")}
    ids = {s: {row.tile for row in read_path_list(p)} for s, p in paths.items()}
    train, test = layout.plan_patches("flair1")
    assert {p.tile for p in train if not layout.is_val(p)} == ids["train"]
    assert {p.tile for p in train if layout.is_val(p)} == ids["val"]
    assert {p.tile for p in test} == ids["test"]


def test_default_metadata_json_is_byte_identical_to_igns() -> None:
    train, test = layout.plan_patches("flair1")
    text = layout.metadata_json(train + test)
    packaged = Path(toydata.__file__).parent.parent / "data" / layout.REFERENCE_METADATA
    assert text == packaged.read_text("utf-8")
    real = IGN_REFERENCE / "flair1_TOY_metadata.json"
    assert text.encode("utf-8") == real.read_bytes()


def test_more_patches_continue_the_id_and_grid_scheme() -> None:
    train, test = layout.plan_patches("flair1", 260, 70)
    reference = layout.reference_metadata()
    zones = {(e["domain"], e["zone"]) for e in reference.values()}
    assert len(train) == 260 and len(test) == 70
    assert len({p.tile for p in train + test}) == 330
    assert all(1 <= p.tile <= 61712 for p in train)
    assert all(61713 <= p.tile <= 77412 for p in test)
    assert all((p.domain, p.zone) in zones for p in train + test)
    assert {p.name for p in train + test} >= set(reference)
    by_zone: dict[tuple[str, str], list[layout.PatchPlan]] = {}
    for plan in train + test:
        by_zone.setdefault((plan.domain, plan.zone), []).append(plan)
    for plans in by_zone.values():
        anchor = min(plans, key=lambda p: p.tile)
        centres = [p.centroid for p in plans]
        # No two patches of a zone on one grid cell; new ones are whole grid steps away.
        assert len({(round(x), round(y)) for x, y in centres}) == len(centres)
        for plan in plans:
            if plan.name not in reference:
                steps = [
                    (plan.centroid[i] - anchor.centroid[i]) / layout.PATCH_SPACING_M for i in (0, 1)
                ]
                assert all(abs(s - round(s)) < 1e-6 for s in steps)
                assert tuple(layout.metadata_entry(plan)) == METADATA_FIELDS


def test_fewer_patches_are_spread_over_the_reference() -> None:
    train, test = layout.plan_patches("flair1", 10, 5)
    assert len(train) == 10 and len(test) == 5
    assert len({p.domain for p in train}) >= 8


def test_flair2_test_ids_continue_after_every_flair1_id() -> None:
    train, test = layout.plan_patches("flair2")
    flair1_train, flair1_test = layout.plan_patches("flair1")
    assert [p.tile for p in train] == [p.tile for p in flair1_train]
    assert [p.tile for p in test] == list(range(77413, 77413 + 50))
    assert [(p.domain, p.zone, p.centroid) for p in test] == [
        (p.domain, p.zone, p.centroid) for p in flair1_test
    ]


# --- aerial images, masks, metadata, csvs ----------------------------------------------------


def test_images_are_5_band_uint8_geotiffs_on_the_patch_centroid(toy_flair1: ToyDataset) -> None:
    metadata = json.loads(toy_flair1.metadata.read_text("utf-8"))
    for sample in find_split(toy_flair1.root, "train") + find_split(toy_flair1.root, "test"):
        entry = metadata[sample.name]
        with rasterio.open(sample.image) as src:
            assert (src.count, src.width, src.height) == (5, TOY_SIZE, TOY_SIZE)
            assert src.dtypes == ("uint8",) * 5
            assert src.crs.to_epsg() == 2154
            assert src.nodata is None and src.compression is None
            assert src.interleaving.name == "pixel"
            t = src.transform
            assert (t.a, t.b, t.d, t.e) == (0.2, 0.0, 0.0, -0.2)
            half = TOY_SIZE * 0.2 / 2
            assert t.c == pytest.approx(entry["patch_centroid_x"] - half, abs=1e-6)
            assert t.f == pytest.approx(entry["patch_centroid_y"] + half, abs=1e-6)
            assert src.read().shape == (5, TOY_SIZE, TOY_SIZE)


def test_masks_read_identically_with_rasterio_and_pillow(toy_flair1: ToyDataset) -> None:
    values: dict[str, set[int]] = {"train": set(), "test": set()}
    for split in ("train", "test"):
        for sample in find_split(toy_flair1.root, split):
            assert sample.mask is not None
            with rasterio.open(sample.mask) as src:
                assert (src.count, src.dtypes, src.crs.to_epsg()) == (1, ("uint8",), 2154)
                from_rasterio = src.read(1)
            from_pillow = np.array(Image.open(sample.mask))
            assert from_pillow.dtype == np.uint8
            assert np.array_equal(from_pillow, from_rasterio)
            assert from_pillow.min() >= 1 and from_pillow.max() <= 19
            values[split] |= set(np.unique(from_pillow).tolist())
    for split in ("train", "test"):
        # Every scored class in every split, and some of the rare classes 13..19.
        assert set(range(1, NUM_SCORED_CLASSES + 1)) <= values[split]
        assert values[split] & set(range(13, 20))
    assert set(range(13, 20)) <= values["train"] | values["test"]


def test_rare_classes_stay_rare(toy_flair1: ToyDataset) -> None:
    counts = np.zeros(20, dtype=np.int64)
    for sample in find_split(toy_flair1.root, "train"):
        counts += np.bincount(np.array(Image.open(sample.mask)).ravel(), minlength=20)
    assert counts[0] == 0
    assert 0 < counts[13:].sum() / counts.sum() < 0.02


def test_metadata_json_is_written_like_igns(toy_flair1: ToyDataset) -> None:
    text = toy_flair1.metadata.read_text("utf-8")
    assert "\n" not in text and text.endswith("}}")
    loaded = json.loads(text)
    assert json.dumps(loaded) == text  # default separators, nothing else
    assert list(loaded) == sorted(loaded)
    assert set(loaded) == {f"IMG_{t:06d}" for t in toy_flair1.train_ids + toy_flair1.test_ids}
    for sample in find_split(toy_flair1.root, "train") + find_split(toy_flair1.root, "test"):
        entry = loaded[sample.name]
        assert list(entry) == [
            "domain",
            "zone",
            "patch_centroid_x",
            "patch_centroid_y",
            "patch_centroid_z",
            "date",
            "time",
            "camera",
        ]
        assert (entry["domain"], entry["zone"]) == (sample.domain, sample.zone)
        assert all(isinstance(entry[k], float) for k in ("patch_centroid_x", "patch_centroid_y"))
        assert isinstance(entry["patch_centroid_z"], float)
        assert dt.date.fromisoformat(entry["date"]).year == int(sample.domain[-4:])
        assert re.fullmatch(r"\d\dh\d\d", entry["time"])


def test_path_csvs_are_official_style(toy_flair1: ToyDataset) -> None:
    listed: dict[str, list[int]] = {}
    for name, path in (
        ("train", toy_flair1.train_csv),
        ("val", toy_flair1.val_csv),
        ("test", toy_flair1.test_csv),
    ):
        raw = path.read_bytes()
        lines = raw.decode("utf-8").split("\r\n")
        assert lines[-1] == "" and all("\n" not in line for line in lines)
        assert lines[:-1] == sorted(lines[:-1])
        rows = list(csv.reader(lines[:-1]))
        assert all(len(row) == 2 and row[0].endswith(".tif") for row in rows)
        assert all((toy_flair1.root / cell).is_file() for row in rows for cell in row)
        listed[name] = [row.tile for row in read_path_list(path)]
    assert sorted(listed["train"] + listed["val"]) == list(toy_flair1.train_ids)
    assert sorted(listed["val"]) == list(toy_flair1.val_ids)
    assert sorted(listed["test"]) == list(toy_flair1.test_ids)
    val_domains = {
        s.domain for s in find_split(toy_flair1.root, "train") if s.tile in toy_flair1.val_ids
    }
    assert val_domains and val_domains <= set(layout.OFFICIAL_VAL_DOMAINS)


# --- FLAIR #2 Sentinel-2 ---------------------------------------------------------------------


def _official_filter_keeps(masks: np.ndarray) -> np.ndarray:
    """The official cloud/snow filter on a (T, 2, h, w) crop: which dates it keeps."""
    area, probability = OFFICIAL_FILTER
    flagged = (masks.astype(int) >= probability).sum(axis=(1, 2, 3))
    return flagged / (masks.shape[2] * masks.shape[3]) < area


def test_sentinel_arrays_products_and_centroids(toy_flair2: ToyDataset) -> None:
    centroids = json.loads((toy_flair2.root / CENTROIDS_NAME).read_text("utf-8"))
    assert set(centroids) == {
        f"IMG_{t:06d}.tif" for t in toy_flair2.train_ids + toy_flair2.test_ids
    }
    cloudy = snowy = 0
    for split in ("train", "test"):
        for sample in find_split(toy_flair2.root, split, dataset="flair2"):
            assert sample.sentinel is not None and sample.centroid is not None
            data = np.load(sample.sentinel.data, mmap_mode="r")
            masks = np.load(sample.sentinel.masks)
            products = sample.sentinel.products.read_text("utf-8").splitlines()
            steps, bands, height, width = data.shape
            assert (bands, data.dtype) == (10, np.uint16)
            assert masks.shape == (steps, 2, height, width) and masks.dtype == np.uint8
            assert 0 < data.min() and data.max() <= 10000 and masks.max() <= 100
            assert len(products) == steps
            # The official parser: MMDD at characters 15..18, year forced to 2021.
            dates = [dt.date(2021, int(p[15:17]), int(p[17:19])) for p in products]
            assert dates == sorted(dates) and len(set(dates)) == steps
            for product in products:
                match = PRODUCT.fullmatch(product)
                assert match, product
                assert match.group(1)[:4] == sample.domain[-4:] and product[15:19] != "0229"
            row, col = centroids[f"{sample.name}.tif"]
            assert (row, col) == sample.centroid
            assert row >= 56 and col >= 56 and height - row >= 56 and width - col >= 56
            for crop in (20, 56):  # sat_patch_size 40 (default) and 112 (largest allowed)
                window = masks[:, :, row - crop : row + crop, col - crop : col + crop]
                assert _official_filter_keeps(window).any()
            cover = (masks >= 60).mean(axis=(2, 3))
            snowy += int((cover[:, 0] > 0.05).sum())
            cloudy += int((cover[:, 1] > 0.05).sum())
    assert snowy > 0 and cloudy > 0


def test_centroids_sit_on_a_10_m_grid_consistent_with_lambert93(toy_flair2: ToyDataset) -> None:
    metadata = json.loads((toy_flair2.metadata).read_text("utf-8"))
    samples = find_split(toy_flair2.root, "train", dataset="flair2") + find_split(
        toy_flair2.root, "test", dataset="flair2"
    )
    by_zone: dict[tuple[str, str], list] = {}
    for sample in samples:
        by_zone.setdefault((sample.domain, sample.zone), []).append(sample)
    pairs = 0
    for members in by_zone.values():
        for a in members:
            for b in members:
                xa, ya = metadata[a.name]["patch_centroid_x"], metadata[a.name]["patch_centroid_y"]
                xb, yb = metadata[b.name]["patch_centroid_x"], metadata[b.name]["patch_centroid_y"]
                # One S2 pixel is 10 m; rows grow southwards.
                assert abs((b.centroid[1] - a.centroid[1]) * 10 - (xb - xa)) < 10
                assert abs((b.centroid[0] - a.centroid[0]) * 10 - (ya - yb)) < 10
                pairs += a is not b
    assert pairs == 0 or pairs >= 2


def test_satellite_pixels_follow_the_aerial_labels(tmp_path: Path) -> None:
    """Under a 512 px patch, each fully covered S2 pixel shows the spectra of its 50x50 labels.

    The S2 grid is aligned with Lambert-93 metres (documented in toydata.sentinel), so the S2
    pixel of an aerial pixel follows from its L93 centre and the patch's centroid pixel alone.
    """
    toy = generate_toy_dataset(tmp_path / "d", dataset="flair2", size=512, n_train=3, n_test=1)
    metadata = json.loads(toy.metadata.read_text("utf-8"))
    correlations = []
    for sample in find_split(toy.root, "train", dataset="flair2"):
        assert sample.sentinel is not None and sample.centroid is not None
        assert sample.mask is not None
        data = np.load(sample.sentinel.data).astype(np.float64)
        masks = np.load(sample.sentinel.masks)
        products = sample.sentinel.products.read_text("utf-8").splitlines()
        days = [dt.date(2021, int(p[15:17]), int(p[17:19])).timetuple().tm_yday for p in products]
        labels = np.array(Image.open(sample.mask))
        with rasterio.open(sample.image) as src:
            cols_x = np.array([src.xy(0, j)[0] for j in range(src.width)])
            rows_y = np.array([src.xy(i, 0)[1] for i in range(src.height)])
        cx = metadata[sample.name]["patch_centroid_x"]
        cy = metadata[sample.name]["patch_centroid_y"]
        row, col = sample.centroid
        s2_col = col + np.floor(cols_x / 10).astype(int) - int(np.floor(cx / 10))
        s2_row = row + np.floor(-rows_y / 10).astype(int) - int(np.floor(-cy / 10))
        cells = (s2_row[:, None] * data.shape[3] + s2_col[None, :]).ravel()
        counts = np.bincount(
            cells * 20 + labels.ravel(), minlength=20 * data.shape[2] * data.shape[3]
        )
        counts = counts.reshape(-1, 20)
        full = np.flatnonzero(counts.sum(axis=1) == 2500)
        assert len(full) >= 64
        fractions = counts[full] / 2500.0
        for t in np.flatnonzero(masks.max(axis=(1, 2, 3)) < 60):
            spectra = sentinel.class_spectra([days[t]])[0]  # (20, 10)
            expected = fractions @ spectra
            observed = data[t].reshape(10, -1)[:, full].T
            ndvi_expected = (expected[:, 6] - expected[:, 2]) / (expected[:, 6] + expected[:, 2])
            ndvi_observed = (observed[:, 6] - observed[:, 2]) / (observed[:, 6] + observed[:, 2])
            if ndvi_expected.std() > 0.05:
                correlations.append(np.corrcoef(ndvi_expected, ndvi_observed)[0, 1])
    assert correlations and min(correlations) > 0.9


# --- learnability ----------------------------------------------------------------------------


def test_scored_classes_are_far_apart_in_the_five_bands() -> None:
    means = scene.MEANS[1 : NUM_SCORED_CLASSES + 1].astype(np.float64)
    distance = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1))
    np.fill_diagonal(distance, np.inf)
    assert distance.min() >= 45


def test_nearest_centroid_per_pixel_classifier_scores_high(toy_flair1: ToyDataset) -> None:
    """Separability without torch: class means fit on train pixels, applied to test pixels."""

    def pixels(split: str) -> tuple[np.ndarray, np.ndarray]:
        bands, classes = [], []
        for sample in find_split(toy_flair1.root, split):
            with rasterio.open(sample.image) as src:
                bands.append(src.read().reshape(5, -1).T.astype(np.float64))
            classes.append(truth_to_index(np.array(Image.open(sample.mask))).ravel())
        return np.concatenate(bands), np.concatenate(classes)

    train_x, train_y = pixels("train")
    test_x, test_y = pixels("test")
    centroids = np.stack([train_x[train_y == k].mean(axis=0) for k in range(NUM_SCORED_CLASSES)])
    distance = ((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    confusion = confusion_matrix(test_y, distance.argmin(axis=1))
    assert not np.isnan(iou_per_class(confusion)[:NUM_SCORED_CLASSES]).any()
    assert mean_iou_score(confusion) >= 0.75  # chance is about 0.05


def test_domains_get_different_moderate_shifts() -> None:
    shifts = [scene.domain_shift(np.random.default_rng([0, d])) for d in range(20)]
    gains = np.array([g for g, _ in shifts])
    offsets = np.array([o for _, o in shifts])
    assert ((gains >= 0.92) & (gains <= 1.08)).all() and (np.abs(offsets) <= 8).all()
    assert gains[:, :4].std(axis=0).min() > 0.02 and offsets[:, :4].std(axis=0).min() > 2


def _ndvi(spectra: np.ndarray) -> np.ndarray:
    return (spectra[..., 6] - spectra[..., 2]) / (spectra[..., 6] + spectra[..., 2])


def test_phenology_separates_the_classes_over_the_year() -> None:
    days = list(range(15, 365, 30))
    spectra = sentinel.class_spectra(days)  # (12 dates, 20, 10); row 0 is unused
    ndvi = np.zeros(spectra.shape[:2])
    ndvi[:, 1:] = _ndvi(spectra[:, 1:])
    deciduous, coniferous, water, crops, vineyard = 7, 6, 5, 11, 9
    winter, summer, july_end = days.index(15), days.index(195), days.index(225)
    assert ndvi[summer, deciduous] - ndvi[winter, deciduous] > 0.4
    assert np.ptp(ndvi[:, coniferous]) < 0.1 and ndvi[:, coniferous].min() > 0.5
    assert ndvi[:, water].max() < 0
    assert ndvi[days.index(135), crops] - ndvi[july_end, crops] > 0.3  # harvest
    assert ndvi[summer, vineyard] - ndvi[days.index(105), vineyard] > 0.3  # late leaf-out
    scored = spectra[:, 1 : NUM_SCORED_CLASSES + 1] / 10000
    series = scored.transpose(1, 0, 2).reshape(NUM_SCORED_CLASSES, -1)
    distance = np.sqrt(((series[:, None] - series[None]) ** 2).sum(-1))
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 0.1


def test_product_names_follow_esa_and_never_hold_29_february() -> None:
    rng = np.random.default_rng(0)
    days = sentinel.acquisition_days(rng, 2020, 70)
    assert len(set(days)) == 70 and days == sorted(days)
    assert all((d.month, d.day) != (2, 29) for d in days)
    for name, day in zip(sentinel.product_names(rng, days, "31TCJ"), days, strict=True):
        assert PRODUCT.fullmatch(name) and name[11:15] == "2020"
        assert name[15:19] == f"{day.month:02d}{day.day:02d}"


# --- determinism and the output folder -------------------------------------------------------


def test_same_seed_gives_identical_files_other_seed_other_pixels(tmp_path: Path) -> None:
    first = _tiny(tmp_path / "a", dataset="flair2")
    second = _tiny(tmp_path / "b", dataset="flair2")
    other = _tiny(tmp_path / "c", dataset="flair2", seed=1)
    assert _files(first.root) == _files(second.root)
    assert (first.train_ids, first.test_ids) == (other.train_ids, other.test_ids)
    changed = {k for k, v in _files(other.root).items() if _files(first.root).get(k) != v}
    assert any(k.endswith(".tif") for k in changed) and any(
        k.endswith("_data.npy") for k in changed
    )


def test_flair1_and_flair2_share_their_train_images(tmp_path: Path) -> None:
    one = _tiny(tmp_path / "one", dataset="flair1")
    two = _tiny(tmp_path / "two", dataset="flair2")
    ones = {k: v for k, v in _files(one.root).items() if k.startswith("flair_aerial_train/")}
    twos = {k: v for k, v in _files(two.root).items() if k.startswith("flair_aerial_train/")}
    assert ones and ones == twos


def test_same_parameters_reuse_the_dataset_without_writing(tmp_path: Path) -> None:
    first = _tiny(tmp_path / "d")
    stamps = {p: p.stat().st_mtime_ns for p in first.root.rglob("*")}
    again = _tiny(tmp_path / "d")
    assert again.reused and not first.reused
    assert (again.train_ids, again.test_ids, again.n_bytes) == (
        first.train_ids,
        first.test_ids,
        first.n_bytes,
    )
    assert {p: p.stat().st_mtime_ns for p in first.root.rglob("*")} == stamps


def test_a_rerun_that_finds_the_dataset_still_removes_a_killed_runs_scratch(
    tmp_path: Path,
) -> None:
    _tiny(tmp_path / "d")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = tmp_path / f".d.flair-kit-{child.pid}-0123abcd.partial"
    stale.mkdir()  # as kill -9 of a toy-data run leaves it
    (stale / "flair-kit-toy.json").write_text("{}", "utf-8")
    live = tmp_path / f".d.flair-kit-{os.getppid()}-0123abcd.partial"
    live.mkdir()  # a running process's scratch is never touched
    assert _tiny(tmp_path / "d").reused
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["d", live.name])


def test_an_empty_existing_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert _tiny(tmp_path / "d").n_files > 10


def test_other_parameters_are_refused(tmp_path: Path) -> None:
    _tiny(tmp_path / "d")
    with pytest.raises(
        OutputExistsError, match=r"holds another toy dataset .*--seed 0.*requested.*--seed 3"
    ):
        _tiny(tmp_path / "d", seed=3)


def test_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"not empty and holds no toy dataset"):
        _tiny(tmp_path / "d")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["notes.txt"]


def test_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("x")
    with pytest.raises(OutputExistsError, match=r"is not a folder"):
        _tiny(tmp_path / "d")


def test_a_modified_dataset_is_refused(tmp_path: Path) -> None:
    toy = _tiny(tmp_path / "d")
    next(toy.root.rglob("MSK_*.tif")).unlink()
    (toy.root / "extra.txt").write_text("x")
    with pytest.raises(
        OutputExistsError, match=r"modified or incomplete \(missing flair_.*extra extra.txt"
    ):
        _tiny(tmp_path / "d")


def test_an_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    toy = _tiny(tmp_path / "d")
    (toy.root / MANIFEST_NAME).write_text("{")
    with pytest.raises(OutputExistsError, match=r"unreadable toy manifest"):
        _tiny(tmp_path / "d")


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = []
    original = toydata._write_geotiff

    def flaky(path: Path, array: np.ndarray, centre: tuple[float, float]) -> None:
        if len(written) == 3:
            raise OSError("disk full")
        written.append(path)
        original(path, array, centre)

    monkeypatch.setattr(toydata, "_write_geotiff", flaky)
    with pytest.raises(OSError, match="disk full"):
        _tiny(tmp_path / "d")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dataset": "flair3"}, r"unknown dataset 'flair3'; expected flair1 or flair2"),
        ({"seed": -1}, r"seed -1 is negative"),
        ({"size": 8}, r"patch size 8 px is out of range; expected 16 to 2048"),
        ({"n_train": 0}, r"0 train patches requested; expected 1 to 61712"),
        ({"n_test": 15701}, r"15701 test patches requested; expected 1 to 15700"),
        (
            {"n_test": 16051, "dataset": "flair2"},
            r"16051 test patches requested; expected 1 to 16050",
        ),
    ],
)
def test_bad_parameters_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _tiny(tmp_path / "d", **options)
    assert not (tmp_path / "d").exists()


# --- command line ----------------------------------------------------------------------------


def test_cli_writes_and_summarises(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "toy-data",
        str(tmp_path / "d"),
        "--dataset",
        "flair2",
        "--size",
        "16",
        "--train",
        "3",
        "--test",
        "2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'd'}: toy flair2, seed 0, 16x16 px patches" in result.stdout
    assert "3 train (" in result.stdout and "2 test;" in result.stdout and " MB, " in result.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and again.stdout.startswith(
        "found (same parameters, nothing written)"
    )
    assert find_split(tmp_path / "d", "test", dataset="flair2")


def test_cli_refuses_another_dataset_in_the_same_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["toy-data", str(tmp_path / "d"), "--size", "16", "--train", "2", "--test", "1"]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["toy-data", str(tmp_path / "d"), "--size", "32", "--train", "2", "--test", "1"]
    )
    assert result.exit_code == 1
    assert "error:" in result.stderr and "holds another toy dataset" in result.stderr
    assert "Traceback" not in result.output


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["toy-data", str(tmp_path / "d"), "--size", "8"]).exit_code == 2
    assert (
        runner.invoke(app, ["toy-data", str(tmp_path / "d"), "--dataset", "flair3"]).exit_code == 2
    )
    help_text = runner.invoke(app, ["toy-data", "--help"])
    assert help_text.exit_code == 0 and "--dataset" in help_text.stdout


def test_a_folder_filled_meanwhile_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = toydata._write_tables

    def intruder(root: Path, *args: object) -> None:
        original(root, *args)  # type: ignore[arg-type]
        (tmp_path / "d").mkdir(exist_ok=True)
        (tmp_path / "d" / "theirs.txt").write_text("x")

    monkeypatch.setattr(toydata, "_write_tables", intruder)
    with pytest.raises(OutputExistsError, match=r"filled by someone else while the toy dataset"):
        _tiny(tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["theirs.txt"]
