"""Which patches a toy dataset holds: ids, splits, domains, zones, centroids and metadata entries.

By default the patches are IGN's real FLAIR #1 toy patches (200 train/val + 50 test), read from a
copy of ``flair-one_TOY_metadata.json`` shipped in ``starting_kit/data/``: real ids, domains,
zones, Lambert-93 centroids, altitudes, dates, times and cameras. Fewer patches take an evenly
spread subset; more patches continue the FLAIR id scheme inside the same zones (formats.md
section 3): consecutive ids are 102.4 m apart in x on a 10-column grid, +10 ids is one row
(102.4 m) further south.

FLAIR #2 uses the same train patches (as the real challenge did). Its test patches take the
geography of the FLAIR #1 toy test patches with ids renumbered into the FLAIR #2 test range,
077413 onwards, right after every FLAIR #1 id (the real FLAIR #2 test domains are known only from
participant code).

Everything here is a pure function of the parameters: no randomness, so the layout does not
depend on the seed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from scoring.errors import ConfigError
from scoring.tiles import format_id, tile_id
from starting_kit.choices import DATASETS
from starting_kit.discovery import METADATA_FIELDS, OFFICIAL_VAL_DOMAINS

Split = Literal["train", "test"]

#: Id ranges (inclusive) of the real splits (formats.md section 1).
ID_RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("flair1", "train"): (1, 61712),
    ("flair1", "test"): (61713, 77412),
    ("flair2", "train"): (1, 61712),
    ("flair2", "test"): (77413, 93462),
}
#: Distance between the centroids of neighbouring patches, metres (512 px at 0.2 m).
PATCH_SPACING_M = 102.4
#: Patches per row of a zone's id grid.
GRID_COLUMNS = 10
#: The package-data copy of IGN's real toy metadata.
REFERENCE_METADATA = "flair1-toy-metadata.json"


@dataclass(frozen=True)
class PatchPlan:
    """One patch to generate: its id, split, place and 8-field metadata entry."""

    tile: int
    split: Split
    domain: str
    zone: str
    entry: dict[str, Any]

    @property
    def name(self) -> str:
        """``IMG_<id>``, the metadata key."""
        return f"IMG_{format_id(self.tile)}"

    @property
    def centroid(self) -> tuple[float, float]:
        """Lambert-93 ``(x, y)`` of the patch centre, metres."""
        return float(self.entry["patch_centroid_x"]), float(self.entry["patch_centroid_y"])


def reference_metadata() -> dict[str, dict[str, Any]]:
    """IGN's real FLAIR #1 toy metadata (250 entries), in file order (sorted by id)."""
    text = (resources.files("starting_kit") / "data" / REFERENCE_METADATA).read_text("utf-8")
    loaded: dict[str, dict[str, Any]] = json.loads(text)
    return loaded


def _tile(name: str) -> int:
    tile = tile_id(f"{name}.tif", "image")
    if tile is None:
        raise ConfigError(f"{REFERENCE_METADATA}: key {name!r} is not IMG_<id>")
    return tile


def evenly_spread(items: Sequence[Any], count: int) -> list[Any]:
    """Pick ``count`` items spread over the whole sequence, keeping their order.

    >>> evenly_spread(list(range(10)), 3)
    [0, 3, 6]
    """
    return [items[(i * len(items)) // count] for i in range(count)]


def float32_repr(value: float) -> float:
    """Round an altitude the way IGN's file prints it: a float32, at most 10 decimals.

    >>> float32_repr(1661.94)
    1661.9399414062
    """
    return round(float(np.float32(value)), 10)


def _grid_offset(anchor: int, tile: int) -> tuple[int, int]:
    """(columns east, rows south) of ``tile`` from ``anchor`` on the 10-column id grid.

    The anchor's column is taken as ``(anchor - 1) % 10``: the real zones' first ids are not
    known, and any fixed choice keeps ids and positions consistent inside the toy set.
    """
    start = (anchor - 1) % GRID_COLUMNS
    position = start + (tile - anchor)
    return position % GRID_COLUMNS - start, position // GRID_COLUMNS


def _extend(
    base: list[PatchPlan], extra: int, split: Split, id_range: tuple[int, int], used: set[int]
) -> list[PatchPlan]:
    """Add ``extra`` patches next to the existing ones, zone by zone, in the id/grid scheme."""
    zones: dict[tuple[str, str], list[PatchPlan]] = {}
    for plan in base:
        zones.setdefault((plan.domain, plan.zone), []).append(plan)
    order = sorted(zones, key=lambda z: min(p.tile for p in zones[z]))
    steps = {z: 0 for z in order}
    added: list[PatchPlan] = []
    low, high = id_range
    while len(added) < extra:
        progressed = False
        for key in order:
            if len(added) == extra:
                break
            members = zones[key]
            anchor = min(members, key=lambda p: p.tile)
            while True:
                steps[key] += 1
                # Alternate +1, -1, +2, -2, ... so zones near a range bound still grow.
                delta = (steps[key] + 1) // 2 * (1 if steps[key] % 2 else -1)
                tile = anchor.tile + delta
                if abs(delta) > high - low + 1:
                    break
                if tile < low or tile > high or tile in used:
                    continue
                east, south = _grid_offset(anchor.tile, tile)
                x = anchor.centroid[0] + east * PATCH_SPACING_M
                y = anchor.centroid[1] - south * PATCH_SPACING_M
                # Skip grid cells already taken by a real patch placed on another grid phase.
                if any(
                    abs(p.centroid[0] - x) < 50 and abs(p.centroid[1] - y) < 50 for p in members
                ):
                    continue
                entry = dict(anchor.entry)
                entry["patch_centroid_x"] = round(x, 2)
                entry["patch_centroid_y"] = round(y, 2)
                # Gentle terrain: a few metres per patch away from the anchor, deterministic.
                slope = ((zlib.crc32(f"{key}".encode()) % 7) - 3) * 0.8
                entry["patch_centroid_z"] = float32_repr(
                    float(anchor.entry["patch_centroid_z"]) + slope * (east - south)
                )
                plan = PatchPlan(tile, split, anchor.domain, anchor.zone, entry)
                members.append(plan)
                added.append(plan)
                used.add(tile)
                progressed = True
                break
        if not progressed:
            raise ConfigError(f"cannot place {extra} more {split} patches in the toy zones")
    return added


def _select(
    base: list[PatchPlan], count: int, split: Split, id_range: tuple[int, int], used: set[int]
) -> list[PatchPlan]:
    if count <= len(base):
        return evenly_spread(base, count)
    return base + _extend(base, count - len(base), split, id_range, used)


def _renumbered(plans: list[PatchPlan], first: int) -> list[PatchPlan]:
    return [
        PatchPlan(first + i, p.split, p.domain, p.zone, p.entry)
        for i, p in enumerate(sorted(plans, key=lambda p: p.tile))
    ]


def plan_patches(
    dataset: str, n_train: int | None = None, n_test: int | None = None
) -> tuple[list[PatchPlan], list[PatchPlan]]:
    """Decide the train and test patches of a toy dataset.

    Args:
        dataset: ``"flair1"`` or ``"flair2"``.
        n_train: number of train patches (default: IGN's 200 toy train/val patches).
        n_test: number of test patches (default: IGN's 50 toy test patches).

    Returns:
        ``(train, test)``, each sorted by id.

    Raises:
        ConfigError: an unknown dataset, or a count below 1 or above the real split's size.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected flair1 or flair2")
    reference = reference_metadata()
    first_test = ID_RANGES[("flair1", "test")][0]
    base: dict[str, list[PatchPlan]] = {"train": [], "test": []}
    for name, entry in reference.items():
        tile = _tile(name)
        split: Split = "train" if tile < first_test else "test"
        base[split].append(PatchPlan(tile, split, entry["domain"], entry["zone"], entry))
    counts = {"train": n_train, "test": n_test}
    chosen: dict[str, list[PatchPlan]] = {}
    used = {p.tile for plans in base.values() for p in plans}
    for split_name in ("train", "test"):
        split_key: Split = "train" if split_name == "train" else "test"
        low, high = ID_RANGES[("flair1", split_name)]
        count = counts[split_name]
        count = len(base[split_name]) if count is None else count
        limit = ID_RANGES[(dataset, split_name)][1] - ID_RANGES[(dataset, split_name)][0] + 1
        if not 1 <= count <= limit:
            raise ConfigError(
                f"{count} {split_name} patches requested; expected 1 to {limit} (the size of the "
                f"real {dataset} {split_name} split)"
            )
        if dataset == "flair2" and split_name == "test":
            # Renumbered below: the FLAIR #1 range it borrows its geography from may overflow.
            high = low + 2 * limit
        chosen[split_name] = sorted(
            _select(base[split_name], count, split_key, (low, high), used), key=lambda p: p.tile
        )
    if dataset == "flair2":
        chosen["test"] = _renumbered(chosen["test"], ID_RANGES[("flair2", "test")][0])
    return chosen["train"], chosen["test"]


def is_val(plan: PatchPlan) -> bool:
    """True for train patches of the official validation domains."""
    return plan.split == "train" and plan.domain in OFFICIAL_VAL_DOMAINS


def metadata_entry(plan: PatchPlan) -> dict[str, Any]:
    """The patch's entry with the 8 fields in IGN's order and its own domain/zone."""
    entry = dict(plan.entry)
    entry["domain"], entry["zone"] = plan.domain, plan.zone
    return {key: entry[key] for key in METADATA_FIELDS}


def metadata_json(plans: Sequence[PatchPlan]) -> str:
    """Render the aerial metadata JSON exactly like IGN's file.

    One line, Python's default separators, entries sorted by id, fields in IGN's order, no
    trailing newline.
    """
    ordered = sorted(plans, key=lambda p: p.tile)
    return json.dumps({p.name: metadata_entry(p) for p in ordered})


def year_of(domain: str) -> int:
    """The acquisition year of a domain name.

    >>> year_of("D012_2019")
    2019
    """
    return int(domain.split("_")[1])


def zone_letters(zone: str) -> str:
    """The two landscape letters of a zone name.

    >>> zone_letters("Z10_UA")
    'UA'
    """
    return zone.split("_")[1]
