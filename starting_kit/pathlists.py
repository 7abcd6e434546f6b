"""Read and write IGN's official path lists (``flair-1-paths-*.csv``).

Format: no header, two comma-separated columns ``image_path,mask_path``, CRLF line endings, rows
sorted lexicographically by image path; paths are relative and their roots differ between files
(``../flair_aerial_train/...``, ``../data/flair_1_aerial_test/...``). Only the file names and the
``<DOMAIN>/<ZONE>`` folders carry meaning; ids come from the names, never from string slicing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from scoring.errors import DataError, MissingFileError
from scoring.tiles import domain_zone, tile_id

#: A path list larger than this is refused unread (IGN's largest, the full test list, is 2 MB).
MAX_PATH_LIST_BYTES = 256 * 10**6


class PathRow(NamedTuple):
    """One row of a path list, with the id and location read from the image name."""

    line: int
    image: PurePosixPath
    mask: PurePosixPath | None
    tile: int
    domain: str | None
    zone: str | None


def read_path_list(path: Path) -> list[PathRow]:
    """Parse an official path csv (CRLF or LF, with or without the mask column).

    Raises:
        MissingFileError: the file does not exist.
        DataError: a row has no ``IMG_<id>.tif`` image, a mask ``MSK_<id>.tif`` of another id, or
            more than two columns; the message names the line.
    """
    if not path.is_file():
        raise MissingFileError(f"{path}: path list not found")
    rows: list[PathRow] = []
    text = _read_csv_text(path)
    for line_number, fields in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        fields = [f.strip() for f in fields]
        if not fields or all(not f for f in fields):
            continue
        if len(fields) > 2:
            raise DataError(
                f"{path}:{line_number}: {len(fields)} columns; expected image_path,mask_path"
            )
        image = PurePosixPath(fields[0].replace("\\", "/"))
        tile = tile_id(image.name, "image")
        if tile is None:
            raise DataError(
                f"{path}:{line_number}: first column {fields[0]!r} is not an IMG_<id>.tif path"
            )
        mask = None
        if len(fields) == 2 and fields[1]:
            mask = PurePosixPath(fields[1].replace("\\", "/"))
            if tile_id(mask.name, "mask") != tile:
                raise DataError(
                    f"{path}:{line_number}: mask {mask.name!r} does not belong to image "
                    f"{image.name!r}; expected MSK_{tile:06d}.tif"
                )
        located = domain_zone(Path(*image.parts))
        rows.append(
            PathRow(
                line_number,
                image,
                mask,
                tile,
                located[0] if located else None,
                located[1] if located else None,
            )
        )
    return rows


def _read_csv_text(path: Path) -> str:
    """The text of a path list, refusing binary files and bytes that are not UTF-8.

    Raises:
        DataError: the file holds a NUL byte or invalid UTF-8; the message gives the byte offset.
    """
    size = path.stat().st_size
    expected = "expected a UTF-8 text csv of image_path,mask_path rows (IGN's flair-*-paths-*.csv)"
    if size > MAX_PATH_LIST_BYTES:
        raise DataError(
            f"{path}: {size / 1e6:.0f} MB, larger than any path list "
            f"({MAX_PATH_LIST_BYTES // 10**6} MB at most; IGN's full test list is 2 MB); {expected}"
        )
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(
            f"{path}: UTF-16 text (byte-order mark at byte offset 0); {expected}; "
            "re-save the file as UTF-8"
        )
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"{path}: binary file (NUL byte at byte offset {nul}), not a path list; {expected}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); "
            f"{expected}; re-save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")  # a BOM from spreadsheet tools


def format_path_list(rows: Sequence[tuple[object, object]]) -> str:
    """Render ``(image_path, mask_path)`` rows the official way: sorted, comma, CRLF, no header."""
    lines = sorted(f"{image},{mask}" for image, mask in rows)
    return "".join(f"{line}\r\n" for line in lines)
