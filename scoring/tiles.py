"""Tile identity: file-name patterns, id parsing, recursive discovery and the domain/zone layout.

One regex per kind of file, one function to read an id, pairing through ``dict[id, path]``.
Nothing here slices path strings by position (the original code's ``[-10:-4]``). Every pattern ends
in ``\\Z``, never ``$``: ``$`` also matches before a trailing newline, so ``"PRED_000001.tif\\n"``
would pass although the official scorer's ``PRED*.tif`` glob does not list it.

Discovery follows the official scorer, which globs ``PRED*.tif`` / ``MSK*.tif`` recursively: hidden
names (dot-files, dot-folders, which glob skips) are ignored, but ``__MACOSX/`` is an ordinary
folder to glob, so a ``PRED`` file inside it counts (and duplicates the real one).

FLAIR ids are 6-digit zero-padded integers, unique across splits. The official scorer sorts by
``int(name.split('_')[-1][:-4])``, so it treats ``PRED_061713.tif`` and ``PRED_IMG_061713.tif``
alike; :func:`tile_id` accepts both and returns the integer.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from scoring.errors import MissingFileError, summarize
from scoring.masks import absent_or_kind

#: ``PRED_<id>.tif`` (challenge format) or ``PRED_IMG_<id>.tif`` (IGN's newer library).
PRED_PATTERN = re.compile(r"^PRED_(?P<img>IMG_)?(?P<id>\d+)\.tif\Z")
#: Reference masks.
MASK_PATTERN = re.compile(r"^MSK_(?P<id>\d+)\.tif\Z")
#: Aerial images.
IMAGE_PATTERN = re.compile(r"^IMG_(?P<id>\d+)\.tif\Z")
#: Strict official submission name, used by ``validate``.
OFFICIAL_PRED_PATTERN = re.compile(r"^PRED_(?P<id>\d{6})\.tif\Z")
#: ``D<3-digit département>_<4-digit year>``.
DOMAIN_PATTERN = re.compile(r"^D\d{3}_\d{4}\Z")
#: ``Z<n>_<2 capital letters>``.
ZONE_PATTERN = re.compile(r"^Z\d+_[A-Z]{2}\Z")

KIND_PATTERNS = {"pred": PRED_PATTERN, "mask": MASK_PATTERN, "image": IMAGE_PATTERN}
KIND_NAMES = {"pred": "PRED_<id>.tif", "mask": "MSK_<id>.tif", "image": "IMG_<id>.tif"}


def format_id(tile: int) -> str:
    """Render an id the way FLAIR file names do (6 digits, zero-padded).

    >>> format_id(717)
    '000717'
    """
    return f"{tile:06d}"


def summarize_ids(tiles: Iterable[int]) -> str:
    """The first ids, as file names write them, and how many there are in total.

    >>> summarize_ids([5, 717])
    '000005, 000717'
    """
    return summarize([format_id(tile) for tile in tiles])


def summarize_duplicates(duplicates: Mapping[int, Sequence[object]]) -> str:
    """The ids found in several files, each with its files, in id order (the first ones shown).

    >>> summarize_duplicates({7: ["a/PRED_000007.tif", "b/PRED_000007.tif"]})
    '000007 (a/PRED_000007.tif, b/PRED_000007.tif)'
    """
    return summarize(
        [
            f"{format_id(tile)} ({', '.join(map(str, files))})"
            for tile, files in sorted(duplicates.items())
        ]
    )


#: The official scorer's discovery globs: ``fnmatch`` patterns of the base name.
OFFICIAL_GLOBS = {"pred": "PRED*.tif", "mask": "MSK*.tif", "image": "IMG*.tif"}


def is_ignored_name(name: str) -> bool:
    """Say whether a file or folder name is hidden, so that the official scorer's glob skips it.

    macOS zips carry ``__MACOSX/._*`` resource forks and editors leave dot-files: both are hidden.
    ``__MACOSX`` itself is not hidden: glob descends into it, so a ``PRED`` file there counts.

    >>> is_ignored_name("__MACOSX"), is_ignored_name("._PRED_000001.tif"), is_ignored_name("x")
    (False, True, False)
    """
    return name.startswith(".")


def looks_official(name: str, kind: str) -> bool:
    """Say whether the official scorer's glob lists a base name (``PRED*.tif`` for predictions).

    >>> looks_official("PRED_000001 (1).tif", "pred"), looks_official("notes.txt", "pred")
    (True, False)
    """
    return fnmatch.fnmatchcase(name, OFFICIAL_GLOBS[kind])


def tile_id(name: str, kind: str) -> int | None:
    """Return the integer id of a file name of the given kind, or None if the name does not match.

    Args:
        name: a base name such as ``PRED_061713.tif``.
        kind: ``"pred"``, ``"mask"`` or ``"image"``.

    >>> tile_id("PRED_IMG_061713.tif", "pred"), tile_id("MSK_000001.tif", "mask")
    (61713, 1)
    >>> tile_id("PRED_061713.tiff", "pred") is None
    True
    """
    match = KIND_PATTERNS[kind].fullmatch(name)
    return int(match.group("id")) if match else None


def walk_files(root: Path) -> Iterator[Path]:
    """Yield every file under ``root`` recursively in sorted order, skipping platform debris."""
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not is_ignored_name(d))
        for name in sorted(files):
            if not is_ignored_name(name):
                yield Path(folder, name)


class TileIndex(NamedTuple):
    """Files of one kind found under a folder, indexed by id."""

    by_id: dict[int, Path]
    duplicates: dict[int, list[Path]]
    unmatched: list[Path]


def index_tiles(root: Path, kind: str) -> TileIndex:
    """Find the files of one kind under ``root`` recursively and index them by id.

    Files whose names do not match the kind's pattern are listed in ``unmatched``; ids that occur
    more than once (in two folders, or as both ``PRED_x`` and ``PRED_IMG_x``) in ``duplicates``.

    Raises:
        MissingFileError: ``root`` is not a folder.
    """
    if not root.is_dir():
        why = absent_or_kind(root)
        raise MissingFileError(
            f"{root}: {'folder ' if why == 'not found' else ''}{why}; expected a folder of "
            f"{KIND_NAMES[kind]} files"
        )
    by_id: dict[int, Path] = {}
    duplicates: dict[int, list[Path]] = {}
    unmatched: list[Path] = []
    for path in walk_files(root):
        tile = tile_id(path.name, kind)
        if tile is None:
            unmatched.append(path)
        elif tile in by_id:
            duplicates.setdefault(tile, [by_id[tile]]).append(path)
        else:
            by_id[tile] = path
    return TileIndex(by_id, duplicates, unmatched)


def domain_zone(path: Path) -> tuple[str, str] | None:
    """Return ``(domain, zone)`` when ``path`` sits in the dataset layout ``<D>/<Z>/<leaf>/<file>``.

    >>> domain_zone(Path("labels/D012_2019/Z10_UU/msk/MSK_062613.tif"))
    ('D012_2019', 'Z10_UU')
    >>> domain_zone(Path("flat/MSK_062613.tif")) is None
    True
    """
    parts = path.parts
    if len(parts) < 4:
        return None
    domain, zone = parts[-4], parts[-3]
    if DOMAIN_PATTERN.match(domain) and ZONE_PATTERN.match(zone):
        return domain, zone
    return None
