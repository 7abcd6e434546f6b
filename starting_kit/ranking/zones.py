"""Where each test patch lies: the (domain, zone) clusters the bootstrap resamples.

The test sets are built from whole zones (areas of about 100 patches), so the patches of one zone
are not independent samples: they share a landscape, a date and a camera. Zones come, in order of
preference, from a ``--zones`` csv (an explicit choice wins), the truth folder's
``<DOMAIN>/<ZONE>/msk/`` layout (kept in the counts), or the built-in table of the FLAIR #1 test set (built from IGN's path list; see
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
from scoring.masks import absent_or_kind
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

    An id listed twice with the same domain and zone is accepted; with another, refused.

    Raises:
        MissingFileError: the file does not exist.
        DataError: a row is neither form, a field is not named as FLAIR names it (the message
            says which field and what it must look like), or an id is given two locations.
    """
    if not path.is_file():
        why = absent_or_kind(path)
        raise MissingFileError(
            f"{path}: zones csv {why}; expected a csv of id,domain,zone rows or IGN's path list"
        )
    text = path.read_text("utf-8", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    table: dict[int, tuple[Location, int]] = {}
    if "IMG_" in first:  # IGN's path list: the zone is read from each image path
        for row in read_path_list(path):
            if row.domain is not None and row.zone is not None:
                _add_location(table, row.tile, Location(row.domain, row.zone), path, row.line)
        return {tile: location for tile, (location, _) in table.items()}
    for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        fields = [field.strip() for field in fields]
        if not any(fields) or (number == 1 and fields[:1] == ["id"]):
            continue
        tile, location = _zone_row(fields, f"{path}:{number}")
        _add_location(table, tile, location, path, number)
    return {tile: location for tile, (location, _) in table.items()}


def _zone_row(fields: Sequence[str], where: str) -> tuple[int, Location]:
    """One ``id,domain,zone`` row, or a DataError that says which field is wrong and how."""
    row = ",".join(fields)
    if len(fields) != 3:
        raise DataError(
            f"{where}: {row!r} has {len(fields)} fields; expected id,domain,zone such as "
            "061713,D012_2019,Z1_UU (or an official path list)"
        )
    tile = _zone_row_id(fields[0])
    if tile is None:
        raise DataError(
            f"{where}: id {fields[0]!r} in {row!r}; expected id,domain,zone with the id six "
            "digits such as 061713 (or an IMG_/MSK_/PRED_<id>.tif name)"
        )
    if not DOMAIN_PATTERN.match(fields[1]):
        raise DataError(
            f"{where}: domain {fields[1]!r} in {row!r}; expected id,domain,zone with the domain "
            "D, three digits, _, a year, such as D012_2019"
        )
    if not ZONE_PATTERN.match(fields[2]):
        raise DataError(
            f"{where}: zone {fields[2]!r} in {row!r}; expected id,domain,zone with the zone "
            "Z, a number, _, two capital letters, such as Z12_AU"
        )
    return tile, Location(fields[1], fields[2])


def _add_location(
    table: dict[int, tuple[Location, int]], tile: int, location: Location, path: Path, line: int
) -> None:
    """Record ``tile``'s location and line, refusing a second, different location for it."""
    known = table.get(tile)
    if known is not None and known[0] != location:
        (domain, zone), first_line = known
        raise DataError(
            f"{path}: id {format_id(tile)} is listed twice with different locations: line "
            f"{first_line} {domain}/{zone}, line {line} {location.domain}/{location.zone}; keep "
            "one row per id"
        )
    if known is None:
        table[tile] = (location, line)


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

    Order: ``zones_csv`` (what the user asked for explicitly wins, even over a truth layout;
    the source then says which zones it replaced), then the counts' own zones (the truth
    layout), then a built-in table that holds every id. When none covers every patch, each
    patch is its own cluster and a :class:`ZoneWarning` says the intervals are too narrow.

    Returns:
        The counts with domains and zones filled in, and a phrase naming the source.

    Raises:
        DataError: ``zones_csv`` lacks some of the ids (the message names them).
    """
    has_zones = all(counts.zones) and all(counts.domains)
    if zones_csv is not None:
        table = read_zones_csv(zones_csv)
        missing = [int(t) for t in counts.ids if int(t) not in table]
        if missing:
            raise DataError(
                f"{zones_csv}: no zone for {len(missing)} of {counts.n_patches} patch ids: "
                f"{summarize([format_id(t) for t in missing])}; list every id"
            )
        located = _relocated(counts, [table[int(t)] for t in counts.ids])
        if not has_zones:
            return located, f"{zones_csv}"
        replaced = located.domains != counts.domains or located.zones != counts.zones
        return located, (
            f"{zones_csv} (--zones; it replaces the zones of the truth layout or saved counts, "
            "which differ from it)"
            if replaced
            else f"{zones_csv} (--zones; the same as the truth layout's or saved counts' zones)"
        )
    if has_zones:
        return counts, "the truth folder's <DOMAIN>/<ZONE> layout"
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
