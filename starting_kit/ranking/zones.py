"""Where each test patch lies: the (domain, zone) clusters the bootstrap resamples.

The test sets are built from whole zones (areas of about 100 patches), so the patches of one zone
are not independent samples: they share a landscape, a date and a camera. Zones come, in order of
preference, from the truth folder's ``<DOMAIN>/<ZONE>/msk/`` layout (kept in the counts), a
``--zones`` csv, or the built-in table of the FLAIR #1 test set (built from IGN's path list; see
``starting_kit/data/README.md``). With none of these the bootstrap resamples patches and warns.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from scoring.counts import PatchCounts
from scoring.errors import DataError, FlairKitWarning, MissingFileError, summarize
from scoring.tiles import DOMAIN_PATTERN, ZONE_PATTERN, format_id, tile_id
from starting_kit.pathlists import read_path_list

#: Built-in zone tables, by the name a message gives them.
BUILTIN_ZONE_TABLES = {"FLAIR #1 test set": "flair1-test-zones.csv"}


class ZoneWarning(FlairKitWarning):
    """The bootstrap cannot resample zones, so its intervals are too narrow."""


class Location(NamedTuple):
    """The domain and zone of one patch."""

    domain: str
    zone: str


def parse_zone_table(text: str, origin: str) -> dict[int, Location]:
    """Parse a zone table: ``#`` comments, then ``first,last,domain,zone`` rows (inclusive ids).

    >>> parse_zone_table("# c\\n1,3,D012_2019,Z1_UU\\n", "t")[2]
    Location(domain='D012_2019', zone='Z1_UU')
    """
    table: dict[int, Location] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(",")
        if len(fields) != 4 or not fields[0].isdigit() or not fields[1].isdigit():
            raise DataError(f"{origin}:{number}: {line!r}; expected first_id,last_id,domain,zone")
        for tile in range(int(fields[0]), int(fields[1]) + 1):
            table[tile] = Location(fields[2], fields[3])
    return table


def format_zone_table(locations: dict[int, Location]) -> str:
    """Render ``id -> location`` as runs of consecutive ids (the compact form of the tables).

    >>> format_zone_table({1: Location("D1", "Z1"), 2: Location("D1", "Z1"), 5: Location("D1", "Z2")})
    '1,2,D1,Z1\\n5,5,D1,Z2\\n'
    """
    lines: list[str] = []
    run_start = previous = -2
    run_location: Location | None = None
    for tile in sorted(locations):
        location = locations[tile]
        if tile != previous + 1 or location != run_location:
            if run_location is not None:
                lines.append(f"{run_start},{previous},{run_location.domain},{run_location.zone}")
            run_start, run_location = tile, location
        previous = tile
    if run_location is not None:
        lines.append(f"{run_start},{previous},{run_location.domain},{run_location.zone}")
    return "".join(f"{line}\n" for line in lines)


def builtin_zone_table(file_name: str) -> dict[int, Location]:
    """A zone table shipped in ``starting_kit/data``."""
    text = resources.files("starting_kit").joinpath("data").joinpath(file_name).read_text("utf-8")
    return parse_zone_table(text, file_name)


def read_zones_csv(path: Path) -> dict[int, Location]:
    """Read ``--zones``: an ``id,domain,zone`` csv (header optional) or an official path list.

    Raises:
        MissingFileError: the file does not exist.
        DataError: a row is neither form, or a domain or zone is not named as FLAIR names them.
    """
    if not path.is_file():
        raise MissingFileError(f"{path}: zones csv not found")
    text = path.read_text("utf-8", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "IMG_" in first:  # IGN's path list: the zone is read from each image path
        return {
            row.tile: Location(row.domain, row.zone)
            for row in read_path_list(path)
            if row.domain is not None and row.zone is not None
        }
    table: dict[int, Location] = {}
    for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        fields = [field.strip() for field in fields]
        if not any(fields) or (number == 1 and fields[:1] == ["id"]):
            continue
        tile = _zone_row_id(fields[0]) if len(fields) == 3 else None
        if tile is None or not DOMAIN_PATTERN.match(fields[1]) or not ZONE_PATTERN.match(fields[2]):
            raise DataError(
                f"{path}:{number}: {','.join(fields)!r}; expected id,domain,zone such as "
                "061713,D012_2019,Z1_UU (or an official path list)"
            )
        table[tile] = Location(fields[1], fields[2])
    return table


def _zone_row_id(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    for kind in ("image", "mask", "pred"):
        tile = tile_id(text, kind)
        if tile is not None:
            return tile
    return None


def _lookup(ids: Iterable[int], table: dict[int, Location]) -> list[Location] | None:
    found = [table.get(int(tile)) for tile in ids]
    if any(location is None for location in found):
        return None
    return [location for location in found if location is not None]


def locate_patches(counts: PatchCounts, zones_csv: Path | None = None) -> tuple[PatchCounts, str]:
    """Give every patch its (domain, zone), and say where they came from.

    Order: the counts' own zones (the truth layout), then ``zones_csv``, then a built-in table
    that holds every id. When none covers every patch, each patch is its own cluster and a
    :class:`ZoneWarning` says the intervals are too narrow.

    Returns:
        The counts with domains and zones filled in, and a phrase naming the source.

    Raises:
        DataError: ``zones_csv`` lacks some of the ids (the message names them).
    """
    if all(counts.zones) and all(counts.domains):
        return counts, "the truth folder's <DOMAIN>/<ZONE> layout"
    if zones_csv is not None:
        table = read_zones_csv(zones_csv)
        missing = [int(t) for t in counts.ids if int(t) not in table]
        if missing:
            raise DataError(
                f"{zones_csv}: no zone for {len(missing)} of {counts.n_patches} patch ids: "
                f"{summarize([format_id(t) for t in missing])}; list every id"
            )
        return _relocated(counts, [table[int(t)] for t in counts.ids]), f"{zones_csv}"
    for description, file_name in BUILTIN_ZONE_TABLES.items():
        found = _lookup(counts.ids, builtin_zone_table(file_name))
        if found is not None:
            return _relocated(counts, found), f"the built-in zone table of the {description}"
    warnings.warn(
        "no zone for the patches (a flat truth folder of unknown ids, and no --zones csv): the "
        "bootstrap resamples patches, which ignores that patches of one zone are correlated, so "
        "its intervals are too narrow; give the truth in its <DOMAIN>/<ZONE>/msk/ layout or "
        "--zones ID_DOMAIN_ZONE.csv",
        ZoneWarning,
        stacklevel=2,
    )
    return counts, "none (each patch resampled on its own)"


def locate_recording(
    counts: PatchCounts, zones_csv: Path | None = None
) -> tuple[PatchCounts, str, tuple[str, ...]]:
    """:func:`locate_patches`, returning its warning as text (for a report) instead of issuing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        located, source = locate_patches(counts, zones_csv)
    return located, source, tuple(str(w.message) for w in caught)


def _relocated(counts: PatchCounts, locations: Sequence[Location]) -> PatchCounts:
    return counts.with_zones([loc.domain for loc in locations], [loc.zone for loc in locations])


def cluster_labels(counts: PatchCounts) -> list[str]:
    """The cluster of each patch: ``domain/zone``, or the patch id where zones are unknown."""
    return [
        f"{domain}/{zone}" if zone else f"patch {format_id(int(tile))}"
        for tile, domain, zone in zip(counts.ids, counts.domains, counts.zones, strict=False)
    ]
