"""The id set a complete submission must cover: ``validate --expect`` and ``pack --expect``.

A source is one of:

- a built-in name: ``flair1-test`` (the 15,700 FLAIR #1 test ids of IGN's
  ``flair-1-paths-test.csv``) or ``flair1-toy-test`` (the 50 ids of ``flair-1-paths-toy-test.csv``),
  shipped as package data under ``starting_kit/data/``;
- an official path-list csv (``image_path,mask_path`` rows, see :mod:`starting_kit.pathlists`);
- a folder of test images ``IMG_<id>.tif`` or reference masks ``MSK_<id>.tif``, searched
  recursively.

The shipped lists are written as inclusive id ranges, one per line, so the full test set is one
line; ``benchmarks/make_id_lists.py`` regenerates them from the reference csvs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from scoring.errors import ConfigError, DataError, MissingFileError
from scoring.tiles import format_id, index_tiles
from starting_kit.pathlists import read_path_list

#: Built-in source name -> id-list file under ``starting_kit/data/``.
BUILTIN_ID_LISTS = {
    "flair1-test": "flair1-test-ids.txt",
    "flair1-toy-test": "flair1-toy-test-ids.txt",
}

SOURCE_HINT = (
    "--expect takes a built-in name (" + ", ".join(BUILTIN_ID_LISTS) + "), an official path-list "
    "csv, or a folder of IMG_<id>.tif / MSK_<id>.tif files"
)


def parse_id_ranges(text: str, origin: str = "id list") -> frozenset[int]:
    """Parse an id list: one id or one inclusive range ``first-last`` per line, ``#`` comments.

    >>> sorted(parse_id_ranges("# test\\n000003-000005\\n000009\\n"))
    [3, 4, 5, 9]

    Raises:
        DataError: a line is neither an id nor a range, or a range runs backwards.
    """
    ids: set[int] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, last = line.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise DataError(f"{origin}:{number}: {raw!r} is not an id or a range first-last of ids")
        low, high = int(first), int(last or first)
        if high < low:
            raise DataError(f"{origin}:{number}: range {line} runs backwards; write first-last")
        ids.update(range(low, high + 1))
    return frozenset(ids)


def format_id_ranges(ids: Iterable[int]) -> str:
    """Render ids as the shortest list of inclusive ranges, one per line (the inverse of parsing).

    >>> format_id_ranges([5, 3, 4, 9])
    '000003-000005\\n000009\\n'
    """
    lines = []
    ordered = sorted(set(ids))
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index] != ordered[index - 1] + 1:
            low, high = ordered[start], ordered[index - 1]
            lines.append(format_id(low) if low == high else f"{format_id(low)}-{format_id(high)}")
            start = index
    return "".join(f"{line}\n" for line in lines)


@functools.cache
def builtin_ids(name: str) -> frozenset[int]:
    """Load a built-in id set shipped with the package.

    Raises:
        ConfigError: ``name`` is not a built-in source.
    """
    if name not in BUILTIN_ID_LISTS:
        raise ConfigError(f"{name!r} is not a built-in id list; {SOURCE_HINT}")
    resource = resources.files("starting_kit") / "data" / BUILTIN_ID_LISTS[name]
    return parse_id_ranges(resource.read_text(encoding="utf-8"), origin=BUILTIN_ID_LISTS[name])


def folder_ids(folder: Path) -> frozenset[int]:
    """The ids of the test images (or, without images, the reference masks) under a folder.

    Raises:
        DataError: the folder holds neither ``IMG_<id>.tif`` nor ``MSK_<id>.tif`` files, or holds
            both with different id sets.
    """
    images = frozenset(index_tiles(folder, "image").by_id)
    masks = frozenset(index_tiles(folder, "mask").by_id)
    if images and masks and images != masks:
        raise DataError(
            f"{folder}: holds IMG_<id>.tif and MSK_<id>.tif files with different ids "
            f"({len(images)} images, {len(masks)} masks); point --expect at the test image folder"
        )
    if not images and not masks:
        raise DataError(
            f"{folder}: no IMG_<id>.tif or MSK_<id>.tif file found (searched recursively); "
            f"{SOURCE_HINT}"
        )
    return images or masks


def check_expect_source(source: str | Path) -> None:
    """Refuse an empty ``--expect``: ``Path("")`` is the current folder, which nobody means.

    Raises:
        ConfigError: the source is empty or blank.
    """
    if not str(source).strip():
        raise ConfigError(f"--expect is empty; {SOURCE_HINT}")


def expected_ids(source: str | Path) -> frozenset[int]:
    """Resolve an ``--expect`` source into the set of ids a complete submission must hold.

    Args:
        source: ``"flair1-test"``, ``"flair1-toy-test"``, a path-list csv or a folder.

    Raises:
        MissingFileError: the source is neither a built-in name nor an existing path.
        DataError: the csv or folder holds no id (or is malformed; the message names the line).
        ConfigError: the source is empty.
    """
    check_expect_source(source)
    if isinstance(source, str) and source in BUILTIN_ID_LISTS:
        return builtin_ids(source)
    path = Path(source)
    if path.is_dir():
        return folder_ids(path)
    if path.exists() and not path.is_file():
        # A FIFO, socket or device: reading it could block forever or never end.
        raise DataError(f"{path}: not a regular file (a FIFO, socket or device); {SOURCE_HINT}")
    if path.is_file():
        ids = frozenset(row.tile for row in read_path_list(path))
        if not ids:
            raise DataError(f"{path}: the path list has no row; expected image_path,mask_path rows")
        return ids
    raise MissingFileError(f"{source}: not found; {SOURCE_HINT}")
