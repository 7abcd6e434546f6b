"""Many rasters for ``baseline map``: inputs, grids of adjacent tiles, shards and the manifest.

No model and no output format here; :mod:`baseline.mapping` drives it.

- Inputs (:func:`list_rasters`): a folder (its ``*.tif``, ``*.tiff``, ``*.vrt`` and ``*.jp2``,
  searched recursively, sorted) or a text list (one path a line, relative to the list's folder;
  blank lines and ``#`` comments skipped). Each input raster gives one output named by its stem;
  a VRT is one raster. Two inputs with the same stem are refused.
- Grids (:func:`place_rasters`): rasters with the same CRS and pixel size, unrotated, whose
  origins lie on one pixel lattice and whose edges touch (corners count) form a **mosaic**; each
  is mapped as a window of the mosaic's map (:func:`baseline.blending.blend_window`), reading its
  neighbours through :class:`MosaicReader`, so no seam appears at tile edges. A raster that
  overlaps another of its lattice, or has no lattice, is a mosaic of its own.
- Shards (:func:`plan_shards`): the outputs still to write, largest first (pixels), each given
  to the least-loaded rank (ties: the lower rank); every rank computes the same plan.
- Manifest (:func:`check_manifest`): ``flair-map.json`` in the output folder records the
  checkpoint's sha256 and the options that change outputs; a folder mapped with another
  checkpoint or other options is refused, naming what differs, unless ``--overwrite``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from baseline.geotiff import read_window
from scoring.atomic import atomic_write_json
from scoring.errors import ConfigError, DataError, MissingFileError
from scoring.masks import absent_or_kind, open_regular, require_regular

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: What a folder of rasters is searched for.
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2")
#: The manifest's name in an output folder.
MANIFEST = "flair-map.json"
#: Rasters whose origins are off the lattice by more than this (pixels) are not on one grid.
GRID_TOLERANCE_PX = 1e-3
#: Open rasters kept by a :class:`MosaicReader`.
OPEN_RASTERS = 16


def list_rasters(source: Path) -> list[Path]:
    """The rasters of a folder or a text list, in a stable order.

    Only regular files count: a FIFO, socket or device named like a raster in the folder, or
    named by the list (or standing as the list itself), is refused unread, never opened.

    Raises:
        MissingFileError: ``source`` or a listed raster does not exist.
        DataError: no raster found, two rasters share a stem (one output each), a list that is
            not UTF-8 text (line named), or an input that is not a regular file (what it is named).
    """
    if not source.exists():
        raise MissingFileError(f"{source}: not found; expected a raster, a folder or a list")
    if source.is_dir():
        found = []
        for path in sorted(source.rglob("*")):
            if path.suffix.lower() not in RASTER_SUFFIXES or path.is_dir():
                continue
            require_regular(path, "raster")
            found.append(path)
        where = f"{source}: no raster ({', '.join(RASTER_SUFFIXES)}) in the folder"
    else:
        found = []
        for number, text in read_list_lines(source):
            if not text or text.startswith("#"):
                continue
            path = Path(text) if Path(text).is_absolute() else source.parent / text
            state = absent_or_kind(path)
            if state != "is a file":
                error = MissingFileError if state == "not found" else DataError
                raise error(
                    f"{source}, line {number}: {path} {state}; list one existing raster file per "
                    "line (relative paths start at the list's folder)"
                )
            found.append(path)
        where = f"{source}: the list names no raster; write one path per line"
    if not found:
        raise DataError(where)
    stems: dict[str, Path] = {}
    for path in found:
        if path.stem in stems:
            raise DataError(
                f"{path} and {stems[path.stem]}: two inputs named {path.stem}; each input gives "
                f"the output {path.stem}.tif: rename one or map them into separate folders"
            )
        stems[path.stem] = path
    return found


def read_list_lines(source: Path) -> list[tuple[int, str]]:
    """The numbered, stripped lines of a text list of rasters (read only if a regular file).

    Raises:
        DataError: not a regular file (refused unread), or a line that is not UTF-8 (named).
    """
    with open_regular(source, "a text list of rasters, one path a line") as handle:
        data = handle.read()
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            lines.append((number, raw.decode("utf-8").strip()))
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{source}, line {number}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "a list of rasters is a UTF-8 text file with one path a line"
            ) from None
    return lines


@contextmanager
def quiet_gdal() -> Iterator[None]:
    """Keep GDAL's and libtiff's own messages (``_tiffSeekProc: No space left on device.``) off
    stderr while they run; the failure itself still raises and is reported once, as one line.

    libtiff prints those lines from C through its global error handler, which is unset here;
    rasterio logs GDAL's other messages, which Python's last-resort handler would print.
    """
    logger = logging.getLogger("rasterio")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    libtiff = _libtiff()
    previous = libtiff.TIFFSetErrorHandler(None) if libtiff is not None else None
    try:
        yield
    finally:
        if libtiff is not None:
            libtiff.TIFFSetErrorHandler(previous)
        logger.setLevel(level)


@functools.cache
def _libtiff() -> Any:
    """The libtiff rasterio's wheels bundle (GDAL writes GeoTIFFs through it); None elsewhere,
    where its messages are left as they are."""
    folder = Path(rasterio.__file__).parent.with_name("rasterio.libs")
    for path in sorted(folder.glob("libtiff-*.so*")):
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by GDAL: the same library
        except OSError:
            return None
        lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
        lib.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        return lib
    return None


def unreadable_raster(path: Path, exc: Exception) -> DataError:
    """The error for a file GDAL cannot open as a raster, with the fix."""
    return DataError(
        f"{path}: not a readable raster ({exc}); give a GeoTIFF, VRT, JPEG 2000 or other raster "
        "GDAL reads, or replace the damaged file with a fresh copy"
    )


@dataclass(frozen=True)
class Footprint:
    """Where one raster lies: CRS, geotransform (a tuple of 6) and size."""

    path: Path
    crs: str
    transform: tuple[float, float, float, float, float, float]
    height: int
    width: int

    @property
    def pixels(self) -> int:
        """Pixels of the raster."""
        return self.height * self.width


def read_footprint(path: Path) -> Footprint:
    """The footprint of a raster (its header only).

    Raises:
        DataError: not a readable raster.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                t = src.transform
                return Footprint(
                    path,
                    str(src.crs) if src.crs else "",
                    (t.a, t.b, t.c, t.d, t.e, t.f),
                    src.height,
                    src.width,
                )
    except RasterioIOError as exc:
        raise unreadable_raster(path, exc) from None


@dataclass(frozen=True)
class Member:
    """A raster placed in its mosaic: top-left ``(row, col)`` in mosaic pixels."""

    footprint: Footprint
    row: int
    col: int

    def intersects(self, y: int, x: int, h: int, w: int) -> bool:
        """Whether the raster lies under the window."""
        fp = self.footprint
        return (
            self.row < y + h
            and y < self.row + fp.height
            and self.col < x + w
            and x < self.col + fp.width
        )


@dataclass(frozen=True)
class Mosaic:
    """Rasters on one pixel grid whose edges touch; a lone raster is a mosaic of one."""

    height: int
    width: int
    members: tuple[Member, ...]


def place_rasters(footprints: Sequence[Footprint]) -> list[Mosaic]:
    """Group rasters into mosaics of adjacent tiles of one grid (see the module docstring)."""
    lattices: dict[tuple[str, float, float], list[int]] = {}
    alone: list[int] = []
    for index, fp in enumerate(footprints):
        a, b, _, d, e, _ = fp.transform
        if not fp.crs or b != 0 or d != 0 or a <= 0 or e >= 0:
            alone.append(index)
        else:
            lattices.setdefault((fp.crs, round(a, 9), round(e, 9)), []).append(index)
    mosaics: list[tuple[int, Mosaic]] = []
    for (_, a, e), indexes in lattices.items():
        x0 = min(footprints[i].transform[2] for i in indexes)
        y0 = max(footprints[i].transform[5] for i in indexes)
        placed: list[tuple[int, int, int]] = []
        for i in indexes:
            col_f = (footprints[i].transform[2] - x0) / a
            row_f = (y0 - footprints[i].transform[5]) / -e
            col, row = round(col_f), round(row_f)
            if max(abs(col - col_f), abs(row - row_f)) > GRID_TOLERANCE_PX:
                alone.append(i)
            else:
                placed.append((i, row, col))
        overlapping = {
            i
            for i, r, c in placed
            for j, rj, cj in placed
            if i != j
            and r < rj + footprints[j].height
            and rj < r + footprints[i].height
            and c < cj + footprints[j].width
            and cj < c + footprints[i].width
        }
        alone.extend(sorted(overlapping))
        placed = [p for p in placed if p[0] not in overlapping]
        for group in _touching(placed, footprints):
            top = min(r for _, r, _ in group)
            left = min(c for _, _, c in group)
            members = tuple(Member(footprints[i], r - top, c - left) for i, r, c in sorted(group))
            height = max(m.row + m.footprint.height for m in members)
            width = max(m.col + m.footprint.width for m in members)
            mosaics.append((min(i for i, _, _ in group), Mosaic(height, width, members)))
    for i in alone:
        fp = footprints[i]
        mosaics.append((i, Mosaic(fp.height, fp.width, (Member(fp, 0, 0),))))
    return [m for _, m in sorted(mosaics, key=lambda item: item[0])]


def _touching(
    placed: Sequence[tuple[int, int, int]], footprints: Sequence[Footprint]
) -> list[list[tuple[int, int, int]]]:
    """Groups of placed rasters whose boxes touch (corners count)."""
    parent = list(range(len(placed)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, (i, r, c) in enumerate(placed):
        for m in range(k):
            j, rj, cj = placed[m]
            if (
                rj <= r + footprints[i].height
                and r <= rj + footprints[j].height
                and cj <= c + footprints[i].width
                and c <= cj + footprints[j].width
            ):
                parent[find(k)] = find(m)
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for k, item in enumerate(placed):
        groups.setdefault(find(k), []).append(item)
    return list(groups.values())


class MosaicReader:
    """Reads any window of a mosaic from its rasters (gaps between them are 0).

    Keeps at most :data:`OPEN_RASTERS` rasters open; :meth:`close` closes them. The rasters
    under a window are found through buckets of the largest raster's size, so a read costs the
    same in a mosaic of four tiles and of thousands.
    """

    def __init__(self, mosaic: Mosaic, bands: Sequence[int]) -> None:
        self.mosaic = mosaic
        self.bands = tuple(bands)
        self._open: OrderedDict[int, Any] = OrderedDict()
        self._cell = max(max(m.footprint.height, m.footprint.width) for m in mosaic.members)
        self._buckets: dict[tuple[int, int], list[int]] = {}
        for index, member in enumerate(mosaic.members):
            fp = member.footprint
            for r in range(
                member.row // self._cell, (member.row + fp.height - 1) // self._cell + 1
            ):
                for c in range(
                    member.col // self._cell, (member.col + fp.width - 1) // self._cell + 1
                ):
                    self._buckets.setdefault((r, c), []).append(index)

    def under(self, y: int, x: int, h: int, w: int) -> list[int]:
        """Indexes of the members under the window, ascending."""
        found = {
            index
            for r in range(y // self._cell, (y + h - 1) // self._cell + 1)
            for c in range(x // self._cell, (x + w - 1) // self._cell + 1)
            for index in self._buckets.get((r, c), ())
        }
        return sorted(i for i in found if self.mosaic.members[i].intersects(y, x, h, w))

    def _source(self, index: int) -> Any:
        if index in self._open:
            self._open.move_to_end(index)
            return self._open[index]
        path = self.mosaic.members[index].footprint.path
        try:
            src = rasterio.open(path)
        except RasterioIOError as exc:
            raise DataError(f"{path}: not a readable raster ({exc})") from None
        self._open[index] = src
        if len(self._open) > OPEN_RASTERS:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        return src

    def __call__(self, y: int, x: int, h: int, w: int) -> NDArray[np.uint8]:
        window = np.zeros((len(self.bands), h, w), np.uint8)
        for index in self.under(y, x, h, w):
            member = self.mosaic.members[index]
            fp = member.footprint
            top, left = max(y, member.row), max(x, member.col)
            bottom = min(y + h, member.row + fp.height)
            right = min(x + w, member.col + fp.width)
            pixels = read_window(
                self._source(index),
                fp.path,
                self.bands,
                Window(left - member.col, top - member.row, right - left, bottom - top),
            )
            window[:, top - y : bottom - y, left - x : right - x] = pixels
        return window

    def close(self) -> None:
        """Close the open rasters."""
        while self._open:
            _, src = self._open.popitem()
            src.close()


@dataclass(frozen=True)
class Job:
    """One output to write: member ``member`` of mosaic ``mosaic`` (indexes), its pixels."""

    mosaic: int
    member: int
    pixels: int
    name: str


def plan_shards(jobs: Sequence[Job], world_size: int) -> list[list[Job]]:
    """Disjoint shards balanced by pixels: largest job first onto the least-loaded rank.

    >>> jobs = [Job(0, 0, p, n) for p, n in [(5, "a"), (9, "b"), (4, "c"), (4, "d")]]
    >>> [[j.name for j in shard] for shard in plan_shards(jobs, 2)]
    [['b', 'd'], ['a', 'c']]

    Raises:
        ConfigError: ``world_size < 1``.
    """
    if world_size < 1:
        raise ConfigError(f"world size is {world_size}; expected at least 1 process")
    shards: list[list[Job]] = [[] for _ in range(world_size)]
    loads = [0] * world_size
    for job in sorted(jobs, key=lambda j: (-j.pixels, j.name)):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shards[rank].append(job)
        loads[rank] += job.pixels
    return shards


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_manifest(folder: Path, record: Mapping[str, Any], *, overwrite: bool) -> None:
    """Refuse to mix outputs of another checkpoint or other options into ``folder``; record ours.

    ``record`` holds ``checkpoint_sha256`` and the options that change outputs. A folder without
    a manifest, or with ``overwrite``, gets ours (written atomically). A key recorded on one side
    only (``classes``, ``metadata_sha256``: written only when used) is a difference too.

    Raises:
        ConfigError: the folder's manifest differs (each difference named) and not
            ``overwrite``, or it is unreadable or not a JSON object.
    """
    path = folder / MANIFEST
    if path.exists() and not overwrite:
        fix = "pass --overwrite to map every raster again, or map into another --output folder"
        try:
            with open_regular(path, "a JSON manifest") as handle:
                recorded = json.loads(handle.read().decode("utf-8"))
        except (DataError, ValueError) as exc:
            raise ConfigError(
                f"{path}: unreadable manifest ({exc}); delete it only if the folder's maps all "
                "come from this checkpoint and options, or pass --overwrite"
            ) from None
        if not isinstance(recorded, dict):
            raise ConfigError(
                f"{path}: not a map manifest (a JSON {type(recorded).__name__} where an object "
                f"is expected); {fix}"
            )
        differs = [
            f"{'' if key == 'classes' else key + ' '}{describe_record(key, recorded.get(key))} "
            f"there, {describe_record(key, record.get(key))} now"
            for key in [*record, *(k for k in recorded if k not in record)]
            if recorded.get(key) != record.get(key)
        ]
        if differs:
            raise ConfigError(
                f"{folder}: mapped with another checkpoint or options ({'; '.join(differs)}); "
                "map into another --output folder, or pass --overwrite to replace its maps"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dict(record))


def describe_record(key: str, value: Any) -> str:
    """A manifest value as a message shows it: plain words, no Python reprs.

    >>> describe_record("classes", None), describe_record("classes", "challenge")
    ("the model's own classes", 'the challenge classes')
    >>> describe_record("tta", True), describe_record("metadata_sha256", None)
    ('on', 'none (no --metadata)')
    """
    if key == "classes":  # recorded only with --challenge-classes
        return "the model's own classes" if value is None else f"the {value} classes"
    if value is None:
        return "none (no --metadata)" if key == "metadata_sha256" else "not recorded"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
