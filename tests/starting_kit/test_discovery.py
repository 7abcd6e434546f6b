"""Discovery: samples from a tree or an official csv, paired by id, with clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scoring.errors import ConfigError, DataError, MissingFileError
from starting_kit.discovery import (
    CENTROIDS_NAME,
    METADATA_FIELDS,
    SPLIT_FOLDERS,
    Sample,
    discover_csv,
    discover_tree,
    domains,
    find_metadata,
    find_split,
)
from starting_kit.pathlists import format_path_list
from starting_kit.toydata import ToyDataset, layout
from tests.starting_kit.conftest import IGN_REFERENCE

TRAIN2 = SPLIT_FOLDERS[("flair2", "train")]
TEST2 = SPLIT_FOLDERS[("flair2", "test")]


def _first_image(root: Path) -> Path:
    return min((root / TRAIN2.images).rglob("IMG_*.tif"))


def _train_tree(root: Path, **options: object) -> list[Sample]:
    return discover_tree(root / TRAIN2.images, masks=root / TRAIN2.masks, **options)  # type: ignore[arg-type]


# --- what discovery finds --------------------------------------------------------------------


def test_find_split_flair1(toy_flair1: ToyDataset) -> None:
    train = find_split(toy_flair1.root, "train")
    test = find_split(toy_flair1.root, "test", dataset="flair1")
    assert [s.tile for s in train] == list(toy_flair1.train_ids)
    assert [s.tile for s in test] == list(toy_flair1.test_ids)
    for sample in train + test:
        assert sample.name == f"IMG_{sample.tile:06d}" and sample.image.name == f"{sample.name}.tif"
        assert sample.mask is not None and sample.mask.name == f"MSK_{sample.tile:06d}.tif"
        assert sample.image.parts[-4:-2] == (sample.domain, sample.zone) == sample.mask.parts[-4:-2]
        assert sample.sentinel is None and sample.centroid is None
        assert sample.metadata is not None and tuple(sample.metadata) == METADATA_FIELDS
        assert (sample.metadata["domain"], sample.metadata["zone"]) == (sample.domain, sample.zone)
    assert domains(train) == sorted({s.domain for s in train})
    assert len(domains(test)) > 1


def test_find_split_flair2(toy_flair2: ToyDataset) -> None:
    centroids = json.loads((toy_flair2.root / CENTROIDS_NAME).read_text("utf-8"))
    for split, ids in (("train", toy_flair2.train_ids), ("test", toy_flair2.test_ids)):
        samples = find_split(toy_flair2.root, split, dataset="flair2")
        assert [s.tile for s in samples] == list(ids)
        for sample in samples:
            assert sample.sentinel is not None
            stem = f"SEN2_sp_{sample.domain}-{sample.zone}"
            assert sample.sentinel.data.name == f"{stem}_data.npy"
            assert sample.sentinel.masks.name == f"{stem}_masks.npy"
            assert sample.sentinel.products.name == f"{stem}_products.txt"
            assert sample.centroid == tuple(centroids[f"{sample.name}.tif"])
            assert sample.mask is not None


def test_samples_are_hashable_and_comparable(toy_flair1: ToyDataset) -> None:
    train = find_split(toy_flair1.root, "train")
    assert len(set(train)) == len(train)
    assert find_split(toy_flair1.root, "train") == train


def test_test_masks_are_optional(toy_tree_copy: Path) -> None:
    shutil.rmtree(toy_tree_copy / TEST2.masks)
    samples = find_split(toy_tree_copy, "test", dataset="flair2")
    assert samples and all(s.mask is None for s in samples)


def test_csv_gives_exactly_what_the_tree_gives(toy_flair1: ToyDataset) -> None:
    root = toy_flair1.root
    metadata = toy_flair1.metadata
    folders = SPLIT_FOLDERS[("flair1", "train")]
    tree = discover_tree(root / folders.images, masks=root / folders.masks, metadata=metadata)
    listed = discover_csv(toy_flair1.train_csv, metadata=metadata) + discover_csv(
        toy_flair1.val_csv, root=root, metadata=metadata
    )
    assert sorted(listed, key=lambda s: s.tile) == tree
    assert discover_csv(toy_flair1.test_csv, metadata=metadata) == find_split(root, "test")


def test_csv_gives_exactly_what_the_tree_gives_flair2(toy_flair2: ToyDataset) -> None:
    root = toy_flair2.root
    options = {
        "sentinel": root / TEST2.sentinel,
        "centroids": root / CENTROIDS_NAME,
        "metadata": toy_flair2.metadata,
    }
    assert discover_csv(toy_flair2.test_csv, **options) == find_split(
        root, "test", dataset="flair2"
    )  # type: ignore[arg-type]


def _ign_style_csv(path: Path, plans: list[layout.PatchPlan], split: str) -> None:
    """Write a path list the way IGN's toy csvs are written (roots that do not exist here)."""
    base = f"../data/flair_1_toy_dataset/{split}"
    rows = [
        (
            f"{base}/flair_1_toy_aerial_{split}/{p.domain}/{p.zone}/img/IMG_{p.tile:06d}.tif",
            f"{base}/flair_1_toy_labels_{split}/{p.domain}/{p.zone}/msk/MSK_{p.tile:06d}.tif",
        )
        for p in plans
    ]
    path.write_bytes(format_path_list(rows).encode("utf-8"))


def test_igns_toy_csvs_resolve_in_a_generated_tree(tmp_path: Path) -> None:
    """IGN's csv roots (../data/flair_1_toy_dataset/...) are matched by their tails."""
    from starting_kit.toydata import generate_toy_dataset

    toy = generate_toy_dataset(tmp_path / "toy", size=16)
    _, test_plans = layout.plan_patches("flair1")
    csv = tmp_path / "flair-1-paths-toy-test.csv"
    real = IGN_REFERENCE / "flair-1-paths-toy-test.csv"
    if real.is_file():
        shutil.copy(real, csv)
    else:
        _ign_style_csv(csv, test_plans, "test")
    found = discover_csv(csv, root=toy.root, metadata=toy.metadata)
    assert len(found) == 50
    assert found == find_split(toy.root, "test")


def test_stray_files_do_not_break_discovery(toy_tree_copy: Path) -> None:
    expected = _train_tree(toy_tree_copy)
    image = _first_image(toy_tree_copy)
    zone_folder, domain_folder = image.parent.parent, image.parent.parent.parent
    for folder in (toy_tree_copy / TRAIN2.images, domain_folder, zone_folder, image.parent):
        (folder / "README.txt").write_text("notes")
        (folder / ".DS_Store").write_bytes(b"\0")
    (image.parent / f"{image.name}.aux.xml").write_text("<PAMDataset/>")
    (toy_tree_copy / TRAIN2.masks / "Thumbs.db").write_bytes(b"\0")
    sen_zone = toy_tree_copy / TRAIN2.sentinel / image.parts[-4] / image.parts[-3]
    (sen_zone / "notes.md").write_text("x")
    assert _train_tree(toy_tree_copy) == expected
    assert find_split(toy_tree_copy, "train", dataset="flair2")


# --- errors ----------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError,
        match=r"nowhere: folder not found; expected <DOMAIN>/<ZONE>/img/IMG_<id>.tif",
    ):
        discover_tree(tmp_path / "nowhere")
    with pytest.raises(MissingFileError, match=r"dataset folder not found .*flair-kit toy-data"):
        find_split(tmp_path / "nowhere", "train")
    (tmp_path / "data").mkdir()
    with pytest.raises(
        MissingFileError, match=r"flair_aerial_train: folder not found; a flair1 dataset"
    ):
        find_split(tmp_path / "data", "train")


def test_no_image(tmp_path: Path) -> None:
    (tmp_path / "images" / "D012_2019").mkdir(parents=True)
    with pytest.raises(DataError, match=r"images: no IMG_<id>.tif image found"):
        discover_tree(tmp_path / "images")


def test_image_without_mask(toy_tree_copy: Path) -> None:
    image = _first_image(toy_tree_copy)
    next((toy_tree_copy / TRAIN2.masks).rglob(image.name.replace("IMG", "MSK"))).unlink()
    with pytest.raises(MissingFileError, match=rf"no mask for 1 of 8 images: .*{image.name}"):
        _train_tree(toy_tree_copy)


def test_require_masks_without_masks_folder(toy_tree_copy: Path) -> None:
    with pytest.raises(ConfigError, match="masks are required but no masks folder was given"):
        discover_tree(toy_tree_copy / TRAIN2.images, require_masks=True)
    shutil.rmtree(toy_tree_copy / TRAIN2.masks)
    with pytest.raises(
        MissingFileError, match="flair_labels_train: folder not found; train masks are required"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_orphan_mask(toy_tree_copy: Path) -> None:
    mask = next((toy_tree_copy / TRAIN2.masks).rglob("MSK_*.tif"))
    shutil.copy(mask, mask.with_name("MSK_000999.tif"))
    with pytest.raises(DataError, match=r"1 masks have no image: .*MSK_000999.tif"):
        _train_tree(toy_tree_copy)


def test_mask_in_another_zone(toy_tree_copy: Path) -> None:
    masks = sorted((toy_tree_copy / TRAIN2.masks).rglob("MSK_*.tif"))
    moved, other = masks[0], masks[-1]
    assert moved.parts[-4:-2] != other.parts[-4:-2]
    moved.rename(other.parent / moved.name)
    with pytest.raises(
        DataError,
        match=rf"masks in the wrong folder: .*{moved.name} is in {other.parts[-4]}/{other.parts[-3]}",
    ):
        _train_tree(toy_tree_copy)


def test_duplicate_ids(toy_tree_copy: Path) -> None:
    images = sorted((toy_tree_copy / TRAIN2.images).rglob("IMG_*.tif"))
    shutil.copy(images[0], images[-1].parent / images[0].name)
    with pytest.raises(DataError, match=rf"ids found more than once: {images[0].name[4:10]} "):
        _train_tree(toy_tree_copy)


def test_image_outside_the_layout(toy_tree_copy: Path) -> None:
    image = _first_image(toy_tree_copy)
    shutil.copy(image, image.parent.parent.parent / "IMG_000998.tif")
    with pytest.raises(
        DataError,
        match=r"IMG_000998.tif: outside the dataset layout; expected .*/<DOMAIN>/<ZONE>/img/IMG_000998.tif",
    ):
        _train_tree(toy_tree_copy)


def test_zone_without_sentinel_triplet(toy_tree_copy: Path) -> None:
    image = _first_image(toy_tree_copy)
    domain, zone = image.parts[-4], image.parts[-3]
    shutil.rmtree(toy_tree_copy / TRAIN2.sentinel / domain / zone)
    with pytest.raises(
        MissingFileError, match=rf"no Sentinel-2 triplet for 1 zones with images: {domain}/{zone}"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_incomplete_sentinel_triplet(toy_tree_copy: Path) -> None:
    products = next((toy_tree_copy / TRAIN2.sentinel).rglob("*_products.txt"))
    products.unlink()
    with pytest.raises(
        MissingFileError, match=rf"incomplete Sentinel-2 triplet, missing {products.name}"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_two_sentinel_triplets_in_one_zone(toy_tree_copy: Path) -> None:
    data = next((toy_tree_copy / TRAIN2.sentinel).rglob("*_data.npy"))
    copy = data.parent.parent / "sen2" / data.name
    copy.parent.mkdir()
    shutil.copy(data, copy)
    with pytest.raises(DataError, match=r"two Sentinel-2 triplets in zone .*keep exactly one"):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_misnamed_sentinel_triplet(toy_tree_copy: Path) -> None:
    """The torchgeo fake data's underscore between domain and zone is refused."""
    data = next((toy_tree_copy / TRAIN2.sentinel).rglob("*_data.npy"))
    domain, zone = data.parts[-4], data.parts[-3]
    wrong = data.with_name(f"SEN2_sp_{domain}_{zone}_data.npy")
    data.rename(wrong)
    with pytest.raises(
        DataError,
        match=rf"{wrong.name}: a Sentinel-2 file of zone {domain}/{zone} must be named SEN2_sp_{domain}-{zone}_data.npy",
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_missing_centroid_file(toy_tree_copy: Path) -> None:
    (toy_tree_copy / CENTROIDS_NAME).unlink()
    with pytest.raises(MissingFileError, match=r"flair-2_centroids_sp_to_patch.json: not found"):
        find_split(toy_tree_copy, "test", dataset="flair2")


def test_image_missing_from_centroids(toy_tree_copy: Path) -> None:
    path = toy_tree_copy / CENTROIDS_NAME
    centroids = json.loads(path.read_text("utf-8"))
    dropped = sorted(centroids)[:2]
    for key in dropped:
        del centroids[key]
    path.write_text(json.dumps(centroids), encoding="utf-8")
    with pytest.raises(
        DataError, match=rf"no centroid for 2 of 8 images: {dropped[0]}, {dropped[1]}"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], r"expected \[row, col\], two integers"),
        ([1.5, 2], r"expected \[row, col\]"),
        ({"r": 1}, "expected"),
    ],
)
def test_bad_centroid_values(toy_tree_copy: Path, value: object, message: str) -> None:
    path = toy_tree_copy / CENTROIDS_NAME
    centroids = json.loads(path.read_text("utf-8"))
    centroids[min(centroids)] = value
    path.write_text(json.dumps(centroids), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_bad_centroid_key(toy_tree_copy: Path) -> None:
    path = toy_tree_copy / CENTROIDS_NAME
    path.write_text(json.dumps({"IMG_000001": [60, 60]}), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"key 'IMG_000001' is not an image name; expected IMG_<id>.tif"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def _edit_metadata(root: Path, edit) -> None:
    path = root / "flair_aerial_metadata.json"
    entries = json.loads(path.read_text("utf-8"))
    edit(entries)
    path.write_text(json.dumps(entries), encoding="utf-8")


def test_image_missing_from_metadata(toy_tree_copy: Path) -> None:
    name = _first_image(toy_tree_copy).stem
    _edit_metadata(toy_tree_copy, lambda e: e.pop(name))
    with pytest.raises(DataError, match=rf"no entry for 1 of 8 images: {name}$"):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_metadata_contradicting_the_folders(toy_tree_copy: Path) -> None:
    name = _first_image(toy_tree_copy).stem
    _edit_metadata(toy_tree_copy, lambda e: e[name].update(domain="D999_2021"))
    with pytest.raises(
        DataError, match=rf"domain/zone contradict the folders for {name} \(JSON D999_2021/"
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_metadata_entry_without_the_8_fields(toy_tree_copy: Path) -> None:
    name = _first_image(toy_tree_copy).stem
    _edit_metadata(toy_tree_copy, lambda e: e[name].pop("camera"))
    with pytest.raises(DataError, match=rf"entry {name} lacks the fields camera"):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_metadata_not_json(toy_tree_copy: Path) -> None:
    (toy_tree_copy / "flair_aerial_metadata.json").write_text("{oops")
    with pytest.raises(
        DataError,
        match=r"flair_aerial_metadata.json: not valid JSON .*expected the aerial metadata JSON",
    ):
        find_split(toy_tree_copy, "train", dataset="flair2")
    (toy_tree_copy / "flair_aerial_metadata.json").write_text("[]")
    with pytest.raises(DataError, match=r"holds a JSON list; expected an object"):
        find_split(toy_tree_copy, "train", dataset="flair2")


def test_several_metadata_files(toy_tree_copy: Path) -> None:
    shutil.copy(
        toy_tree_copy / "flair_aerial_metadata.json", toy_tree_copy / "flair-1_metadata_aerial.json"
    )
    with pytest.raises(
        DataError,
        match=r"several aerial metadata files \(flair-1_metadata_aerial.json, flair_aerial_metadata.json\); keep one",
    ):
        find_metadata(toy_tree_copy)


def test_unknown_dataset(toy_tree_copy: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset/split 'flair3'/'train'"):
        find_split(toy_tree_copy, "train", dataset="flair3")  # type: ignore[arg-type]


def test_many_missing_masks_list_ten_and_the_total(tmp_path: Path) -> None:
    from starting_kit.toydata import generate_toy_dataset

    toy = generate_toy_dataset(tmp_path / "d", size=16, n_train=13, n_test=1)
    for mask in (toy.root / "flair_labels_train").rglob("MSK_*.tif"):
        mask.unlink()
    with pytest.raises(
        MissingFileError,
        match=r"no mask for 13 of 13 images: (.*IMG_\d{6}\.tif, ){9}.*IMG_\d{6}\.tif \(13 in total\)",
    ):
        find_split(toy.root, "train")


# --- csv errors ------------------------------------------------------------------------------


def _csv(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "list.csv"
    path.write_bytes(format_path_list(rows).encode("utf-8"))
    return path


def test_csv_file_not_found_under_root(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    rows = [("../x/D012_2019/Z1_UU/img/IMG_000001.tif", "../x/D012_2019/Z1_UU/msk/MSK_000001.tif")]
    with pytest.raises(
        MissingFileError,
        match=r"1 listed files not found under .*: line 1: D012_2019/Z1_UU/img/IMG_000001.tif; pass the folder",
    ):
        discover_csv(_csv(tmp_path, rows), root=toy_flair1.root)


def test_csv_ambiguous_tail(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    root = tmp_path / "two"
    shutil.copytree(toy_flair1.root, root / "a")
    shutil.copytree(toy_flair1.root, root / "b")
    with pytest.raises(
        DataError,
        match=r"listed files match several files under .*; pass a root that holds one copy",
    ):
        discover_csv(toy_flair1.test_csv, root=root)


def test_csv_repeated_id(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    line = toy_flair1.test_csv.read_bytes().split(b"\r\n")[0]
    path = tmp_path / "list.csv"
    path.write_bytes(line + b"\r\n" + line + b"\r\n")
    with pytest.raises(DataError, match=r"ids listed more than once: \d{6} \(lines 1, 2\)"):
        discover_csv(path, root=toy_flair1.root)


def test_csv_path_outside_layout(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"paths outside the dataset layout: line 1: flat/IMG_000001.tif"
    ):
        discover_csv(
            _csv(tmp_path, [("flat/IMG_000001.tif", "flat/MSK_000001.tif")]), root=toy_flair1.root
        )


def test_csv_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: the path list is empty"):
        discover_csv(tmp_path / "empty.csv")
    with pytest.raises(MissingFileError, match=r"absent.csv: path list not found"):
        discover_csv(tmp_path / "absent.csv")
    with pytest.raises(MissingFileError, match=r"nowhere: folder not found \(the root searched"):
        discover_csv(
            _csv(tmp_path, [("D012_2019/Z1_UU/img/IMG_000001.tif", "")]), root=tmp_path / "nowhere"
        )


def test_csv_without_mask_column(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    images = [
        line.split(b",")[0] for line in toy_flair1.test_csv.read_bytes().split(b"\r\n") if line
    ]
    path = tmp_path / "images.csv"
    path.write_bytes(b"".join(i + b"\r\n" for i in images))
    found = discover_csv(path, root=toy_flair1.root)
    assert [s.tile for s in found] == list(toy_flair1.test_ids)
    assert all(s.mask is None for s in found)


def test_csv_mask_in_another_zone(toy_flair1: ToyDataset, tmp_path: Path) -> None:
    rows = [
        (
            "x/D012_2019/Z1_UU/img/IMG_000001.tif",
            "x/D012_2019/Z2_UF/msk/MSK_000001.tif",
        )
    ]
    with pytest.raises(
        DataError,
        match=r"masks listed in another domain/zone than their image: line 1: x/D012_2019/Z2_UF",
    ):
        discover_csv(_csv(tmp_path, rows), root=toy_flair1.root)


def test_discovery_imports_neither_torch_nor_rasterio() -> None:
    import subprocess
    import sys

    code = (
        "import sys, starting_kit.discovery; "
        "print(sorted(m for m in ('torch', 'rasterio', 'typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
