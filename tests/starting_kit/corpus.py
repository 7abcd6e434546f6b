"""A corpus of broken and hostile submissions, each with the message ``validate`` must report.

``hostile_submissions(tmp)`` builds every case under ``tmp`` and returns them. Each case starts
from a good submission of :data:`CORPUS_IDS` (``CORPUS_SIZE`` x ``CORPUS_SIZE`` masks, official
format) and breaks one thing, so a case fails for exactly the reason it names. Cases are realistic
uploads: zips written with :mod:`zipfile` as people's tools write them (an encrypted entry is real
ZipCrypto; a symlink is a real Unix symlink entry); the few that only make sense for a folder say
``is_zip=False``.

The masks are small to keep tests fast: validate them with ``expected_size=CORPUS_SIZE``
(``flair-kit validate --size 32``) and ``expect=case.expect``, a folder of matching reference
masks ``MSK_<id>.tif`` (values 1..19) that also serves as the reference data of an emulated scoring
run. ``severity`` is what ``validate`` reports for the expected message with ``strict=case.strict``;
a case whose severity is ``"error"`` must make ``validate`` fail (and the platform refuse or
mis-score it); a ``"warning"`` case still scores.

Imported by the competition-bundle tests (issue 7): keep the signature and the fields stable.
"""

from __future__ import annotations

import io
import shutil
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from starting_kit.predictions import prediction_name, write_prediction

#: Width and height of every corpus mask (the official format is 512; see the module docstring).
CORPUS_SIZE = 32
#: The ids of a complete corpus submission: four FLAIR #1 test ids.
CORPUS_IDS: tuple[int, ...] = (61713, 61714, 61715, 61716)
#: The password of the encrypted case.
PASSWORD = b"flair"


@dataclass(frozen=True)
class HostileCase:
    """One broken or hostile submission.

    Attributes:
        name: a short identifier (also the file or folder name under ``tmp``).
        path: the submission: a ``.zip``, or a folder when ``is_zip`` is False.
        expected: a fragment of the message ``validate`` must report.
        is_zip: False for the cases that are folders (a zip could not carry the defect).
        severity: the severity of that message under ``strict``.
        strict: validate with ``strict=True`` (``--strict``).
        expect: folder of reference masks ``MSK_<id>.tif`` for :data:`CORPUS_IDS` (``--expect``).
        size: the mask size to validate against (``expected_size`` / ``--size``).
    """

    name: str
    path: Path
    expected: str
    is_zip: bool = True
    severity: Literal["error", "warning"] = "error"
    strict: bool = False
    expect: Path | None = None
    size: int = CORPUS_SIZE


def corpus_classes(tile: int, size: int = CORPUS_SIZE) -> np.ndarray:
    """The good prediction of a tile: every class 0..12 present, deterministic per id."""
    rng = np.random.default_rng(tile)
    classes = rng.integers(0, 13, size=(size, size), dtype=np.uint8)
    classes.flat[:13] = np.arange(13, dtype=np.uint8)
    return classes


def official_bytes(classes: np.ndarray, scratch: Path) -> bytes:
    """The bytes of a prediction in the official format (through the official writer)."""
    path = scratch / "official.tif"
    write_prediction(path, classes)
    data = path.read_bytes()
    path.unlink()
    return data


def pillow_bytes(
    array: np.ndarray, *, fmt: str = "TIFF", compression: str | None = "tiff_lzw"
) -> bytes:
    """Encode an array with Pillow, as a participant's own code would."""
    buffer = io.BytesIO()
    options = {"compression": compression} if fmt == "TIFF" and compression else {}
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_reference(folder: Path, ids: Sequence[int] = CORPUS_IDS, size: int = CORPUS_SIZE) -> Path:
    """Reference masks ``MSK_<id>.tif`` (raw labels 1..19) for the corpus ids, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for tile in ids:
        labels = (corpus_classes(tile, size) + 1).astype(np.uint8)
        Image.fromarray(labels).save(folder / f"MSK_{tile:06d}.tif", compression="tiff_lzw")
    return folder


def good_files(scratch: Path) -> dict[str, bytes]:
    """The files of a complete, valid corpus submission: official name -> bytes."""
    return {prediction_name(t): official_bytes(corpus_classes(t), scratch) for t in CORPUS_IDS}


def write_zip(
    path: Path, files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """Zip ``name -> bytes`` entries as an ordinary tool does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names; some cases want them
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    return path


def write_folder(path: Path, files: dict[str, bytes]) -> Path:
    """Write ``relative name -> bytes`` files under a folder."""
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- ZipCrypto, to build a genuinely encrypted entry (zipfile only decrypts) ---------------------


def _crc_table() -> list[int]:
    table = []
    for value in range(256):
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    return table


_CRC_TABLE = _crc_table()


class _ZipCrypto:
    """PKWARE traditional encryption (APPNOTE 6.1), the mirror of zipfile's decrypter."""

    def __init__(self, password: bytes) -> None:
        self.keys = [305419896, 591751049, 878082192]
        for byte in password:
            self._update(byte)

    @staticmethod
    def _crc(crc: int, byte: int) -> int:
        return (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = self._crc(k0, byte)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = self._crc(k2, (k1 >> 24) & 0xFF)
        self.keys = [k0, k1, k2]

    def encrypt(self, plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            temp = self.keys[2] | 2
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def raw_zip(path: Path, entries: list[tuple[str | bytes, bytes, int, int, int]]) -> Path:
    """Write stored entries byte by byte: (name, stored bytes, crc, plain size, flag bits).

    A name given as bytes is written as is (an invalid UTF-8 name); a str is UTF-8 encoded.
    """
    local, central = bytearray(), bytearray()
    for name, stored, crc, plain_size, flags in entries:
        encoded = name if isinstance(name, bytes) else name.encode()
        offset = len(local)
        local += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            flags,
            0,
            0,
            0x21,
            crc,
            len(stored),
            plain_size,
            len(encoded),
            0,
        )
        local += encoded + stored
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,
            20,
            flags,
            0,
            0,
            0x21,
            crc,
            len(stored),
            plain_size,
            len(encoded),
            0,
            0,
            0,
            0,
            (stat.S_IFREG | 0o644) << 16,
            offset,
        )
        central += encoded
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(local), 0
    )
    path.write_bytes(bytes(local + central + end))
    return path


def encrypted_zip(path: Path, files: dict[str, bytes], password: bytes = PASSWORD) -> Path:
    """A zip whose entries are ZipCrypto-encrypted, as ``zip -e`` makes them."""
    entries = []
    for name, data in files.items():
        crc = zlib.crc32(data)
        cipher = _ZipCrypto(password)
        # 11 random-looking bytes then the CRC's high byte, which decrypters check.
        header = bytes((7 * i + 3) & 0xFF for i in range(11)) + bytes([crc >> 24])
        entries.append((name, cipher.encrypt(header + data), crc, len(data), 0x1))
    return raw_zip(path, entries)


def corrupt_zip(path: Path, files: dict[str, bytes], broken: str) -> Path:
    """A stored zip in which one entry's data no longer matches its CRC (a damaged upload)."""
    entries = []
    for name, data in files.items():
        stored = bytearray(data)
        if name == broken:
            stored[len(stored) // 2] ^= 0xFF
        entries.append((name, bytes(stored), zlib.crc32(data), len(data), 0))
    return raw_zip(path, entries)


# --- the corpus ----------------------------------------------------------------------------------


def _replace(files: dict[str, bytes], tile: int, name: str, data: bytes) -> dict[str, bytes]:
    changed = {k: v for k, v in files.items() if k != prediction_name(tile)}
    changed[name] = data
    return changed


def hostile_submissions(tmp: Path) -> list[HostileCase]:
    """Build every broken or hostile case under ``tmp``; see the module docstring."""
    tmp.mkdir(parents=True, exist_ok=True)
    scratch = tmp / "scratch"
    scratch.mkdir(exist_ok=True)
    expect = write_reference(tmp / "reference")
    good = good_files(scratch)
    first = CORPUS_IDS[0]
    first_name = prediction_name(first)
    classes = corpus_classes(first)
    size = CORPUS_SIZE
    cases: list[HostileCase] = []

    def add(name: str, path: Path, expected: str, **options: object) -> None:
        cases.append(HostileCase(name, path, expected, expect=expect, **options))  # type: ignore[arg-type]

    def zipped(name: str, files: dict[str, bytes], **kwargs: int) -> Path:
        return write_zip(tmp / f"{name}.zip", files, **kwargs)

    def one_file(name: str, data: bytes, entry: str = first_name) -> Path:
        return zipped(name, _replace(good, first, entry, data))

    # Names.
    add(
        "other_name",
        one_file("other_name", good[first_name], "prediction_061713.tif"),
        "not a prediction",
    )
    add(
        "pred_img_name",
        one_file("pred_img_name", good[first_name], "PRED_IMG_061713.tif"),
        "PRED_IMG_<id>.tif is the name",
        severity="warning",
    )
    add(
        "unpadded_id",
        one_file("unpadded_id", good[first_name], "PRED_61713.tif"),
        "not written with 6 digits",
    )
    # Content.
    add(
        "not_an_image",
        one_file("not_an_image", b"these are not the pixels you are looking for"),
        "cannot be decoded by Pillow",
    )
    add("empty_file", one_file("empty_file", b""), "empty file")
    data = good[first_name]
    add(
        "truncated_tiff",
        one_file("truncated_tiff", data[: len(data) // 2]),
        "cannot be decoded by Pillow",
    )
    add(
        "png_renamed",
        one_file("png_renamed", pillow_bytes(classes, fmt="PNG")),
        "holds PNG data, not a TIFF",
    )
    two_band = np.dstack([classes, np.full_like(classes, 255)])
    add("two_band", one_file("two_band", pillow_bytes(two_band)), "2 bands of different values")
    rgb = np.dstack([classes] * 3)
    add(
        "rgb_identical_bands",
        one_file("rgb_identical_bands", pillow_bytes(rgb)),
        "3 identical bands",
    )
    small = corpus_classes(first, size // 2)
    add(
        "wrong_size",
        one_file("wrong_size", pillow_bytes(small)),
        f"{size // 2}x{size // 2} pixels; expected {size}x{size}",
    )
    add("uint16", one_file("uint16", pillow_bytes(classes.astype(np.uint16))), "dtype uint16")
    add("int32", one_file("int32", pillow_bytes(classes.astype(np.int32))), "dtype int32")
    probabilities = classes.astype(np.float32) / 13.0
    add(
        "float_values",
        one_file("float_values", pillow_bytes(probabilities)),
        "float32 values that are not class indices",
    )
    whole_floats = classes.astype(np.float32)
    add(
        "float_whole_numbers",
        one_file("float_whole_numbers", pillow_bytes(whole_floats)),
        "dtype float32 holding whole numbers",
    )
    add(
        "int64_gdal_only",
        one_file("int64_gdal_only", gdal_bytes(classes.astype(np.int64))),
        "cannot read this int64 TIFF, only GDAL can",
    )
    dropped = classes.copy()
    dropped[:4, :] = 255
    dropped_bytes = official_like(dropped)
    add(
        "values_out_of_range",
        one_file("values_out_of_range", dropped_bytes),
        "outside 0..12",
        severity="warning",
    )
    add(
        "values_out_of_range_strict",
        one_file("values_out_of_range_strict", dropped_bytes),
        "outside 0..12",
        strict=True,
    )
    add(
        "one_based",
        one_file("one_based", official_like(classes + 1)),
        "look 1-based",
        severity="warning",
    )
    add(
        "constant_mask",
        one_file("constant_mask", official_bytes(np.zeros_like(classes), scratch)),
        "every pixel is 0",
        severity="warning",
    )
    add(
        "uncompressed",
        one_file("uncompressed", pillow_bytes(classes, compression=None)),
        "compression none; expected LZW",
        severity="warning",
    )
    add(
        "deflate_compressed",
        one_file("deflate_compressed", pillow_bytes(classes, compression="tiff_adobe_deflate")),
        "compression Deflate; expected LZW",
        severity="warning",
    )
    # Ids.
    missing = {k: v for k, v in good.items() if k != first_name}
    add("missing_id", zipped("missing_id", missing), "missing predictions for 1 of 4 expected ids")
    extra = dict(good)
    extra[prediction_name(1)] = good[first_name]
    add("extra_id", zipped("extra_id", extra), "1 predictions have ids outside the expected set")
    in_two = dict(good)
    in_two[f"a/{first_name}"] = in_two.pop(first_name)
    in_two[f"b/{first_name}"] = good[first_name]
    add("duplicate_in_two_folders", zipped("duplicate_in_two_folders", in_two), "occurs in 2 files")
    both_names = dict(good)
    both_names["PRED_IMG_061713.tif"] = good[first_name]
    add(
        "duplicate_pred_and_pred_img",
        zipped("duplicate_pred_and_pred_img", both_names),
        "id 061713 occurs in 2 files",
    )
    # Layout.
    wrapped = {f"predictions/{k}": v for k, v in good.items()}
    add(
        "inside_a_folder",
        zipped("inside_a_folder", wrapped),
        "not at the zip root",
        severity="warning",
    )
    backslash = _replace(good, first, "predictions\\" + first_name, good[first_name])
    add("windows_backslash", zipped("windows_backslash", backslash), "backslash in the entry name")
    # Zip safety.
    add(
        "zip_slip",
        one_file("zip_slip", good[first_name], "../" + first_name),
        "path escapes the archive",
    )
    add(
        "absolute_path",
        one_file("absolute_path", good[first_name], "/tmp/" + first_name),
        "absolute path",
    )
    add("symlink", symlink_zip(tmp / "symlink.zip", good, first_name), "symbolic link")
    add("encrypted", encrypted_zip(tmp / "encrypted.zip", good), "encrypted entry")
    inner = write_zip(scratch / "inner.zip", good)
    nested = {"inner.zip": inner.read_bytes()}
    add("nested_zip", zipped("nested_zip", nested), "nested zip")
    with_metadata = dict(good)
    with_metadata["metadata"] = b"command: python $program/run.py $input $output\n"
    add("metadata_entry", zipped("metadata_entry", with_metadata), "entry named 'metadata'")
    bomb = dict(good)
    bomb[first_name] = b"\0" * (16 * 1024 * 1024)
    add("zip_bomb", zipped("zip_bomb", bomb), "exceeds 200:1 (zip bomb?)")
    duplicated = [(k, v) for k, v in good.items()] + [(first_name, good[first_name])]
    add(
        "duplicate_entry_names",
        duplicate_entries_zip(tmp / "duplicate_entry_names.zip", duplicated),
        "entries of this name",
    )
    add(
        "corrupt_entry",
        corrupt_zip(tmp / "corrupt_entry.zip", good, first_name),
        "cannot be read from the zip",
    )
    add("empty_zip", zipped("empty_zip", {}), "the submission is empty")
    not_zip = tmp / "not_a_zip.zip"
    not_zip.write_text("PRED_061713.tif\nPRED_061714.tif\n", encoding="utf-8")
    add("not_a_zip", not_zip, "not a readable zip")
    # Folders.
    folder = write_folder(
        tmp / "folder_broken_symlink", {k: v for k, v in good.items() if k != first_name}
    )
    (folder / first_name).symlink_to(tmp / "does-not-exist.tif")
    add("folder_broken_symlink", folder, "cannot be read", is_zip=False)
    shutil.rmtree(scratch)
    return cases


def gdal_bytes(array: np.ndarray) -> bytes:
    """Encode a 2-D array as a GDAL (rasterio) LZW GeoTIFF, as IGN's newer library writes."""
    from affine import Affine
    from rasterio.io import MemoryFile

    profile = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": str(array.dtype),
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, 900000.0, 0.0, -0.2, 6500000.0),
        "compress": "lzw",
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(array, 1)
        return bytes(memory.read())


def official_like(classes: np.ndarray) -> bytes:
    """Bytes of a uint8 mask written exactly like the official format, whatever its values."""
    return pillow_bytes(np.ascontiguousarray(classes, dtype=np.uint8))


def symlink_zip(path: Path, files: dict[str, bytes], link_name: str) -> Path:
    """A zip in which ``link_name`` is a Unix symlink entry (``zip --symlinks``) to /etc/passwd."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name == link_name:
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, "/etc/passwd")
            else:
                archive.writestr(name, data)
    return path


def duplicate_entries_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    """A zip holding the same entry name twice (appending with ``zip`` tools can do this)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path
