"""Toy datasets in the real FLAIR #1 and FLAIR #2 formats, learnable in a few CPU minutes.

:func:`generate_toy_dataset` writes a folder that code written for the real data reads unchanged
(formats.md section 12 is the checklist):

- ``flair_aerial_train/<DOMAIN>/<ZONE>/img/IMG_<id6>.tif`` and ``flair_labels_train/.../msk/
  MSK_<id6>.tif``; the test split in ``flair_1_aerial_test``/``flair_1_labels_test`` (FLAIR #1)
  or ``flair_2_aerial_test``/``flair_2_labels_test`` (FLAIR #2), test labels included so that
  local scoring works;
- FLAIR #2: ``flair_sen_train``/``flair_2_sen_test`` with one ``SEN2_sp_<DOMAIN>-<ZONE>_{data.npy,
  masks.npy,products.txt}`` triplet per zone and ``flair-2_centroids_sp_to_patch.json``;
- the aerial metadata JSON written like IGN's (``flair-1_metadata_aerial.json`` for FLAIR #1,
  ``flair_aerial_metadata.json`` for FLAIR #2), official-style path csvs
  (``flair-1-paths-{train,val,test}.csv``, val = the train patches of the official validation
  domains) and ``flair-kit-toy.json``, the manifest that records the parameters and files.

Images: GeoTIFF, 5 bands uint8 (R, G, B, NIR, elevation), EPSG:2154, 0.2 m pixels, north-up,
centred on the patch's Lambert-93 centroid, uncompressed. Masks: 1 band uint8, raw values 1..19
(never 0), with a little of the rare classes 13..19. Ids, domains, zones, centroids and metadata
are by default IGN's real toy patches (see :mod:`starting_kit.toydata.layout`).

Why every scored class is learnable (band means in :data:`~starting_kit.toydata.scene.LOOKS`,
all 12 at least 45 uint8 levels apart in the 5 bands):

=====================  =======================================================================
class                  what separates it
=====================  =======================================================================
1 building             elevation 70-180 (flat, ridge highest) with low NIR; rectangles with a
                       two-tone gable roof, in a yard
2 pervious surface     neutral grey, low NIR, on the ground; yards and urban fields
3 impervious surface   darkest land class in every band, on the ground; 5-9 m straight roads
4 bare soil            orange-brown (R >> B), mid NIR, on the ground
5 water                dark blue, NIR near 0, very smooth
6 coniferous           darkest green, tall (elevation ~130), 3-6 m crowns
7 deciduous            brightest NIR, bright green, tall (~95), crowns
8 brushwood            high NIR with brown tint, 2-6 m high (~34), patchy
9 vineyard             purplish mix of vine and soil, low (~16), rows 2-2.7 m apart
10 herbaceous          light green, high NIR, on the ground
11 agricultural land   yellow (R and G high, B low), high NIR, smooth large fields
12 plowed land         brown, low NIR, fine furrows
=====================  =======================================================================

Regions have plausible sizes (fields 30-60 m, roads 5-9 m, houses 8-22 m at 0.2 m) and depend
on the zone's letters (U urban, A agricultural, N natural, F forest). Each domain has its own
moderate radiometric shift (gain 0.92-1.08, offset +-8 per band), FLAIR's domain-adaptation
difficulty in miniature. The Sentinel-2 series carry class-dependent phenology
(:mod:`starting_kit.toydata.sentinel`), so the satellite branch of U-T&T has real signal.

Patches are generated independently from ``(seed, id)``: the same seed gives byte-identical
files, and FLAIR #1 and FLAIR #2 toy sets of one seed share their train images.
"""

from __future__ import annotations

import errno
import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scoring.atomic import atomic_directory, make_parent_folder, remove_stale_temporaries
from scoring.errors import ConfigError, OutputExistsError, summarize
from scoring.tiles import format_id
from starting_kit.choices import Dataset
from starting_kit.discovery import CENTROIDS_NAME, SPLIT_FOLDERS
from starting_kit.pathlists import format_path_list
from starting_kit.toydata import layout, scene, sentinel
from starting_kit.toydata.layout import PatchPlan

#: Version of what the generator writes for given parameters; a manifest with another version
#: is a different dataset even with the same parameters.
TOY_FORMAT = 1
#: The manifest written last at the dataset root.
MANIFEST_NAME = "flair-kit-toy.json"
#: Aerial metadata file name per challenge (FLAIR #1 legacy config name; FLAIR #2 name).
METADATA_FILES = {"flair1": "flair-1_metadata_aerial.json", "flair2": "flair_aerial_metadata.json"}
#: Path-list prefix per challenge (IGN's csv_full naming).
CSV_PREFIXES = {"flair1": "flair-1-paths", "flair2": "flair-2-paths"}
#: Accepted patch sizes, pixels.
SIZE_RANGE = (16, 2048)

# Independent random streams per purpose, so that adding one never shifts another.
_PATCH_STREAM, _DOMAIN_STREAM, _ZONE_STREAM = 1, 2, 3

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ToyDataset:
    """What :func:`generate_toy_dataset` wrote (or found already written)."""

    root: Path
    dataset: str
    seed: int
    size: int
    train_ids: tuple[int, ...]  # every patch under flair_aerial_train, val ones included
    val_ids: tuple[int, ...]  # the train patches of the official validation domains
    test_ids: tuple[int, ...]
    metadata: Path
    centroids: Path | None  # FLAIR #2 only
    train_csv: Path  # train patches outside the validation domains
    val_csv: Path
    test_csv: Path
    n_files: int
    n_bytes: int
    reused: bool  # True when ``root`` already held this very dataset and nothing was written


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _parameters(dataset: str, seed: int, size: int, n_train: int, n_test: int) -> dict[str, Any]:
    return {
        "format": TOY_FORMAT,
        "dataset": dataset,
        "seed": seed,
        "size": size,
        "n_train": n_train,
        "n_test": n_test,
    }


def _check_parameters(dataset: str, seed: int, size: int) -> None:
    if dataset not in METADATA_FILES:
        raise ConfigError(f"unknown dataset {dataset!r}; expected flair1 or flair2")
    if seed < 0:
        raise ConfigError(f"seed {seed} is negative; expected 0 or more")
    if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]:
        raise ConfigError(
            f"patch size {size} px is out of range; expected {SIZE_RANGE[0]} to {SIZE_RANGE[1]} "
            "(the real patches are 512)"
        )


def _relative_files(root: Path) -> dict[str, int]:
    files: dict[str, int] = {}
    for folder, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            files[path.relative_to(root).as_posix()] = path.stat().st_size
    return files


def _result(root: Path, manifest: dict[str, Any], reused: bool) -> ToyDataset:
    dataset = manifest["dataset"]
    prefix = CSV_PREFIXES[dataset]
    files = manifest["files"]
    return ToyDataset(
        root=root,
        dataset=dataset,
        seed=manifest["seed"],
        size=manifest["size"],
        train_ids=tuple(manifest["train_ids"]),
        val_ids=tuple(manifest["val_ids"]),
        test_ids=tuple(manifest["test_ids"]),
        metadata=root / METADATA_FILES[dataset],
        centroids=root / CENTROIDS_NAME if dataset == "flair2" else None,
        train_csv=root / f"{prefix}-train.csv",
        val_csv=root / f"{prefix}-val.csv",
        test_csv=root / f"{prefix}-test.csv",
        n_files=len(files) + 1,
        n_bytes=sum(files.values()) + (root / MANIFEST_NAME).stat().st_size,
        reused=reused,
    )


def _describe(parameters: dict[str, Any]) -> str:
    return (
        f"--dataset {parameters['dataset']} --seed {parameters['seed']} --size {parameters['size']} "
        f"--train {parameters['n_train']} --test {parameters['n_test']}"
    )


def _existing(out: Path, parameters: dict[str, Any]) -> ToyDataset | None:
    """Decide what to do with an existing output folder.

    Returns the dataset already there when it is this very dataset, untouched; None when the
    folder is absent or empty. Anything else is refused, so two datasets never get mixed.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another output folder")
    if not any(out.iterdir()):
        return None
    manifest_path = out / MANIFEST_NAME
    if not manifest_path.is_file():
        raise OutputExistsError(
            f"{out}: folder is not empty and holds no toy dataset ({MANIFEST_NAME} missing); "
            "choose a new or empty folder"
        )
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        found = {key: manifest[key] for key in parameters}
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputExistsError(
            f"{manifest_path}: unreadable toy manifest ({exc}); delete {out} and generate again"
        ) from exc
    if found != parameters:
        raise OutputExistsError(
            f"{out}: holds another toy dataset ({_describe(found)}, format {found['format']}); "
            f"requested {_describe(parameters)}, format {parameters['format']}: delete it or "
            "choose another folder"
        )
    present = _relative_files(out)
    present.pop(MANIFEST_NAME, None)
    expected: dict[str, int] = manifest.get("files", {})
    problems = [f"missing {p}" for p in sorted(set(expected) - set(present))]
    problems += [
        f"changed {p}" for p in sorted(set(expected) & set(present)) if expected[p] != present[p]
    ]
    problems += [f"extra {p}" for p in sorted(set(present) - set(expected))]
    if problems:
        raise OutputExistsError(
            f"{out}: holds this toy dataset but modified or incomplete ({summarize(problems)}); "
            "delete it and generate again"
        )
    return _result(out, manifest, reused=True)


def _write_geotiff(path: Path, array: np.ndarray, centre: tuple[float, float]) -> None:
    """Write a (bands, h, w) uint8 array as an uncompressed north-up GeoTIFF in EPSG:2154.

    Encoded in memory and written with Python's file I/O, so a full disk is one clean ``OSError``
    rather than libtiff's dozens of stderr lines.
    """
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    bands, height, width = array.shape
    pixel = sentinel.AERIAL_PIXEL_M
    transform = Affine(
        pixel, 0.0, centre[0] - width * pixel / 2, 0.0, -pixel, centre[1] + height * pixel / 2
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile() as memory:
        with memory.open(
            driver="GTiff",
            width=width,
            height=height,
            count=bands,
            dtype="uint8",
            crs="EPSG:2154",
            transform=transform,
        ) as target:
            target.write(array)
        path.write_bytes(memory.read())


class _Writer:
    """Writes one toy dataset into a scratch folder."""

    def __init__(self, root: Path, dataset: str, seed: int, size: int, progress: Progress | None):
        self.root = root
        self.dataset = dataset
        self.seed = seed
        self.size = size
        self.progress = progress
        self.done = 0
        self.total = 0
        self.centroids: dict[int, tuple[int, int]] = {}
        self._domain_shifts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _domain_shift(self, domain: str) -> tuple[np.ndarray, np.ndarray]:
        if domain not in self._domain_shifts:
            rng = np.random.default_rng([self.seed, _crc(domain), _DOMAIN_STREAM])
            self._domain_shifts[domain] = scene.domain_shift(rng)
        return self._domain_shifts[domain]

    def patch(self, plan: PatchPlan, index: int) -> np.ndarray:
        """Draw, render and write one patch; return its label map."""
        rng = np.random.default_rng([self.seed, plan.tile, _PATCH_STREAM])
        drawn = scene.draw_labels(
            rng,
            self.size,
            layout.zone_letters(plan.zone),
            forced=index % 12 + 1,
            forced_rare=13 + index % 7,
        )
        gain, offset = self._domain_shift(plan.domain)
        own_gain, own_offset = scene.acquisition_shift(rng)
        image = scene.render_image(rng, drawn, gain * own_gain, offset + own_offset)
        folders = SPLIT_FOLDERS[(self.dataset, plan.split)]
        name = format_id(plan.tile)
        where = Path(plan.domain, plan.zone)
        _write_geotiff(
            self.root / folders.images / where / "img" / f"IMG_{name}.tif", image, plan.centroid
        )
        _write_geotiff(
            self.root / folders.masks / where / "msk" / f"MSK_{name}.tif",
            drawn.labels[None],
            plan.centroid,
        )
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
        return drawn.labels

    def zone(self, plans: Sequence[PatchPlan], indices: Sequence[int]) -> None:
        """Write a zone's patches and, for FLAIR #2, its Sentinel-2 triplet.

        ``indices`` are the patches' positions in their split (id order), which pick the class
        each patch must contain.
        """
        domain, zone = plans[0].domain, plans[0].zone
        if self.dataset == "flair1":
            for plan, index in zip(plans, indices, strict=True):
                self.patch(plan, index)
            return
        rng = np.random.default_rng([self.seed, _crc(f"{domain}-{zone}"), _ZONE_STREAM])
        grid = sentinel.superarea_grid(rng, [p.centroid for p in plans])
        counts = np.zeros((len(scene.MEANS), grid.height, grid.width), dtype=np.float32)
        for plan, index, centroid in zip(plans, indices, grid.centroids, strict=True):
            labels = self.patch(plan, index)
            counts += sentinel.footprint_counts(grid, plan.centroid, labels)
            self.centroids[plan.tile] = centroid
        letters = layout.zone_letters(zone)
        fractions = sentinel.mix_fractions(
            sentinel.background_fractions(rng, grid, letters), counts
        )
        altitude = float(np.mean([float(p.entry["patch_centroid_z"]) for p in plans]))
        series = sentinel.synthesize_series(
            rng,
            grid,
            fractions,
            layout.year_of(domain),
            sentinel.mgrs_tile(*plans[0].centroid),
            snowy_zone=altitude > sentinel.SNOWY_ALTITUDE_M,
        )
        folder = self.root / self._sentinel_folder(plans[0].split) / domain / zone / "sen"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"SEN2_sp_{domain}-{zone}"
        np.save(folder / f"{stem}_data.npy", series.data)
        np.save(folder / f"{stem}_masks.npy", series.masks)
        products = "".join(f"{name}\n" for name in series.products)
        (folder / f"{stem}_products.txt").write_text(products, encoding="utf-8")

    def _sentinel_folder(self, split: str) -> str:
        folder = SPLIT_FOLDERS[(self.dataset, split)].sentinel
        if folder is None:
            raise ConfigError(f"{self.dataset} {split} has no Sentinel-2 folder")
        return folder

    def split(self, plans: Sequence[PatchPlan]) -> None:
        """Write a split zone by zone (a FLAIR #2 super-area needs all its patches at once)."""
        zones: dict[tuple[str, str], list[int]] = {}
        for index, plan in enumerate(plans):
            zones.setdefault((plan.domain, plan.zone), []).append(index)
        for indices in zones.values():
            self.zone([plans[i] for i in indices], indices)


def _relative(plan: PatchPlan, dataset: str) -> tuple[str, str]:
    """The patch's image and mask paths relative to the dataset root, as the csvs list them."""
    folders = SPLIT_FOLDERS[(dataset, plan.split)]
    name = format_id(plan.tile)
    where = f"{plan.domain}/{plan.zone}"
    return (
        f"{folders.images}/{where}/img/IMG_{name}.tif",
        f"{folders.masks}/{where}/msk/MSK_{name}.tif",
    )


def _write_tables(
    root: Path, dataset: str, train: Sequence[PatchPlan], test: Sequence[PatchPlan], writer: _Writer
) -> None:
    """Write the metadata JSON, the centroid JSON (FLAIR #2) and the path csvs."""
    everything = list(train) + list(test)
    (root / METADATA_FILES[dataset]).write_text(layout.metadata_json(everything), encoding="utf-8")
    if dataset == "flair2":
        centroids = {
            f"IMG_{format_id(tile)}.tif": list(writer.centroids[tile])
            for tile in sorted(writer.centroids)
        }
        (root / CENTROIDS_NAME).write_text(json.dumps(centroids), encoding="utf-8")
    prefix = CSV_PREFIXES[dataset]
    groups = {
        "train": [p for p in train if not layout.is_val(p)],
        "val": [p for p in train if layout.is_val(p)],
        "test": list(test),
    }
    for name, plans in groups.items():
        text = format_path_list([_relative(p, dataset) for p in plans])
        (root / f"{prefix}-{name}.csv").write_bytes(text.encode("utf-8"))


def generate_toy_dataset(
    out: Path,
    *,
    dataset: Dataset = "flair1",
    seed: int = 0,
    size: int = 512,
    n_train: int | None = None,
    n_test: int | None = None,
    progress: Progress | None = None,
) -> ToyDataset:
    """Write a toy FLAIR #1 or FLAIR #2 dataset in the official layout.

    The dataset is written to a hidden scratch folder next to ``out`` and renamed to ``out`` only
    once complete, so ``out`` never holds half a dataset. An existing ``out`` is handled safely:

    - absent or empty: the dataset is written;
    - holding this very dataset (same parameters and generator format, every file as the
      manifest records it): nothing is written and the existing dataset is returned
      (``reused=True``); generation is deterministic, so regenerating would write the same bytes;
    - anything else (other files, another toy dataset, a modified one): refused, never mixed.

    Args:
        out: the dataset folder to create.
        dataset: ``"flair1"`` or ``"flair2"``.
        seed: drives every pixel; the same seed gives byte-identical files.
        size: patch side in pixels (512 like the real data; tests use 32-128).
        n_train: train patches, validation domains included (default: IGN's 200 toy ones).
        n_test: test patches (default: IGN's 50 toy ones).
        progress: called with ``(patches done, total)`` after each patch.

    Returns:
        What was written (or found).

    Raises:
        ConfigError: an unknown dataset, a negative seed, a size or count out of range.
        OutputExistsError: ``out`` exists and is not an empty folder or this very dataset.
    """
    out = Path(out)
    _check_parameters(dataset, seed, size)
    train, test = layout.plan_patches(dataset, n_train, n_test)
    parameters = _parameters(dataset, seed, size, len(train), len(test))
    # What a killed run (kill -9) left beside ``out`` goes on every run, the one that finds the
    # dataset already there and writes nothing included.
    remove_stale_temporaries(out)
    existing = _existing(out, parameters)
    if existing is not None:
        return existing
    make_parent_folder(out)
    try:
        # A scratch folder beside ``out``, renamed onto it (absent or empty) once complete, removed
        # on any failure; one left by a killed run is removed by the next run.
        with atomic_directory(out) as scratch:
            manifest = _generate(scratch, dataset, seed, size, progress, train, test, parameters)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and out.is_dir():
            raise OutputExistsError(
                f"{out}: filled by someone else while the toy dataset was generated; "
                "choose a new or empty folder"
            ) from exc
        raise
    return _result(out, manifest, reused=False)


def _generate(
    scratch: Path,
    dataset: Dataset,
    seed: int,
    size: int,
    progress: Progress | None,
    train: Sequence[PatchPlan],
    test: Sequence[PatchPlan],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Write the whole dataset into ``scratch`` and return its manifest."""
    writer = _Writer(scratch, dataset, seed, size, progress)
    writer.total = len(train) + len(test)
    writer.split(train)
    writer.split(test)
    _write_tables(scratch, dataset, train, test, writer)
    manifest = dict(parameters)
    manifest["generator"] = "flair-kit toy-data"
    manifest["train_ids"] = [p.tile for p in train]
    manifest["val_ids"] = [p.tile for p in train if layout.is_val(p)]
    manifest["test_ids"] = [p.tile for p in test]
    manifest["files"] = _relative_files(scratch)
    (scratch / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def render_summary(result: ToyDataset, seconds: float) -> str:
    """A short text summary for the command line: where, how many patches, size, time."""
    verb = "found (same parameters, nothing written)" if result.reused else "wrote"
    return (
        f"{verb} {result.root}: toy {result.dataset}, seed {result.seed}, "
        f"{result.size}x{result.size} px patches\n"
        f"  {len(result.train_ids)} train ({len(result.val_ids)} of them in validation domains), "
        f"{len(result.test_ids)} test; {result.n_files} files, {result.n_bytes / 1e6:.1f} MB, "
        f"{seconds:.1f} s\n"
    )
