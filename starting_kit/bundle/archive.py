"""Reproducible zips: the scoring program, the reference data, and the bundle itself.

Every entry gets the same timestamp (1980-01-01, the zip format's epoch), the same permissions
(regular file, 0644, Unix), and entries are written in sorted order, so the same inputs give the
same bytes. Zips nested in the bundle are stored, not deflated again.
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

import scoring
from scoring.atomic import atomic_path
from scoring.errors import DataError, MissingFileError, OutputExistsError, summarize
from scoring.masks import open_regular, read_reference_mask
from scoring.tiles import index_tiles, summarize_duplicates

#: The zip format's earliest timestamp; every entry carries it.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: Regular file, rw-r--r--, in the high 16 bits of ``external_attr`` (Unix).
FILE_MODE = 0o100644 << 16
#: The scoring program's entry file, at the root of ``scoring_program.zip``.
ENTRY_SCRIPT = "score.py"
#: The one command both platforms run: single spaces and no quotes, because CodaLab v1 splits it
#: on single spaces; ``python3`` because some CodaLab images map ``python`` to Python 2.
SCORING_COMMAND = f"python3 $program/{ENTRY_SCRIPT} $input $output"
PROGRAM_METADATA = (
    f"command: {SCORING_COMMAND}\n"
    "description: FLAIR scoring program (flair-kit), mIoU over 12 classes; writes scores.txt, "
    "scores.json and detailed_results.html\n"
)

Source = bytes | Path


def _zip_info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    info.external_attr = FILE_MODE
    info.create_system = 3
    info.compress_type = compress
    return info


def write_zip(path: Path, entries: Iterable[tuple[str, Source]]) -> None:
    """Write a reproducible zip of ``(name, bytes or file path)`` entries, sorted by name.

    Members whose name ends in ``.zip`` are stored; the others are deflated at level 9.

    Raises:
        DataError: two entries share a name.
    """
    ordered = sorted(entries, key=lambda entry: entry[0])
    names = [name for name, _ in ordered]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: duplicate zip entries {summarize(repeated)}")
    with zipfile.ZipFile(path, "w", compresslevel=9) as archive:
        for name, source in ordered:
            stored = name.endswith(".zip")
            info = _zip_info(name, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
            if isinstance(source, bytes):
                archive.writestr(info, source)
                continue
            # The size known up front lets zipfile pick zip64 only for entries that need it.
            info.file_size = source.stat().st_size
            with open(source, "rb") as reader, archive.open(info, "w") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)


def scoring_package_files() -> list[tuple[str, Path]]:
    """The ``scoring`` package's modules as ``(scoring/<name>.py, path)``: no caches, no tests."""
    package = Path(scoring.__file__).resolve().parent
    return [(f"scoring/{path.name}", path) for path in sorted(package.glob("*.py"))]


def scoring_program_entries() -> list[tuple[str, Source]]:
    """Entries of ``scoring_program.zip``: ``metadata`` and ``score.py`` at the root, the package."""
    package = Path(scoring.__file__).resolve().parent
    entries: list[tuple[str, Source]] = [
        ("metadata", PROGRAM_METADATA.encode("utf-8")),
        (ENTRY_SCRIPT, package / ENTRY_SCRIPT),
    ]
    return entries + list(scoring_package_files())


def _check_reference_mask(path: Path) -> None:
    try:
        with warnings.catch_warnings():
            # Pillow's warnings (truncated file, decompression bomb) would add lines to stderr; the
            # full decode below refuses such a mask in one line.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_regular(path) as source, Image.open(source) as image:
                mode, size = image.mode, image.size
    except DataError:
        raise
    except Exception as exc:  # Pillow signals bad files with many exception types.
        raise DataError(
            f"{path}: cannot be read by Pillow ({exc}); expected a uint8 TIFF mask"
        ) from exc
    if mode != "L":
        raise DataError(
            f"{path}: reference mask has Pillow mode {mode} ({size[0]}x{size[1]}); expected a "
            "single-band uint8 mask (mode L) of raw labels 1..19"
        )
    # Decoded in full, as the scorer will decode it: a mask whose header is fine but whose strips
    # are corrupt would otherwise make a bundle on which every submission fails.
    try:
        read_reference_mask(path)
    except DataError as exc:
        raise DataError(f"{exc}; the scorer decodes every mask in full: re-export it") from exc


def reference_entries(truth_dir: Path) -> list[tuple[str, Source]]:
    """Find ``MSK_<id>.tif`` masks under ``truth_dir`` recursively and list them flat.

    Raises:
        MissingFileError: ``truth_dir`` is not a folder.
        DataError: no mask, two masks with the same id, or a mask that is not single-band uint8.
    """
    if not truth_dir.is_dir():
        raise MissingFileError(
            f"{truth_dir}: reference folder not found; pass the folder of MSK_<id>.tif files"
        )
    index = index_tiles(truth_dir, "mask")
    if index.duplicates:
        raise DataError(
            f"{truth_dir}: duplicate reference ids {summarize_duplicates(index.duplicates)}; "
            "reference_data.zip is "
            "flat, so each MSK_<id>.tif may occur once"
        )
    if not index.by_id:
        raise DataError(f"{truth_dir}: no MSK_<id>.tif reference mask found (searched recursively)")
    for path in index.by_id.values():
        _check_reference_mask(path)
    return [(path.name, path) for _, path in sorted(index.by_id.items())]


def write_atomically(path: Path, entries: Iterable[tuple[str, Source]], *, overwrite: bool) -> None:
    """Write a zip through a temporary file beside ``path``, so a reader never sees half a zip.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        MissingFileError: the parent folder does not exist.
    """
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise MissingFileError(f"{path.parent}: output folder not found; create it first")
    with atomic_path(path, overwrite=overwrite) as scratch:
        write_zip(scratch, entries)
