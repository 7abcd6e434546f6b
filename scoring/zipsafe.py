"""Inspect and extract submission zips without trusting them.

A submission zip comes from a stranger. Before anything is written, every entry is checked:
no absolute paths or ``..`` (zip-slip), no symlinks, no encryption, no nested zips, no entry named
``metadata`` (CodaLab would treat the upload as a code submission), and caps on the entry count,
the uncompressed size per entry and in total, and the compression ratio (zip bombs). Extraction
writes only regular files, only under the destination, and counts the bytes it actually writes.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, NamedTuple, Optional

from scoring.errors import SubmissionError, summarize
from scoring.tiles import is_ignored_name


class ZipLimits(NamedTuple):
    """Caps that keep a hostile zip from exhausting disk or memory."""

    max_entries: int = 100_000
    max_entry_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024 * 1024
    max_ratio: float = 200.0


DEFAULT_LIMITS = ZipLimits()


class ZipProblem(NamedTuple):
    """One problem found in a zip: ``severity`` is ``"error"`` or ``"warning"``."""

    severity: str
    entry: str
    message: str


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _unsafe_path_reason(name: str) -> Optional[str]:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "path escapes the archive with '..'"
    return None


def is_debris(name: str) -> bool:
    """Say whether an entry lies in macOS or editor debris (``__MACOSX/``, dot-files)."""
    return any(is_ignored_name(part) for part in PurePosixPath(name).parts)


def inspect_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> List[ZipProblem]:
    """List every safety problem of a zip without extracting anything.

    Raises:
        SubmissionError: the file is not a readable zip at all.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path}: not a readable zip archive ({exc})") from exc

    problems: List[ZipProblem] = []
    if len(infos) > limits.max_entries:
        problems.append(
            ZipProblem("error", "", f"{len(infos)} entries, more than the cap of {limits.max_entries}")
        )
    total = 0
    for info in infos:
        name = info.filename
        reason = _unsafe_path_reason(name)
        if reason:
            problems.append(ZipProblem("error", name, reason))
            continue
        if info.is_dir() or is_debris(name):
            continue
        if _is_symlink(info):
            problems.append(ZipProblem("error", name, "symbolic link; only regular files are allowed"))
            continue
        if info.flag_bits & 0x1:
            problems.append(ZipProblem("error", name, "encrypted entry; upload unencrypted files"))
            continue
        base = PurePosixPath(name).name
        if base == "metadata":
            problems.append(
                ZipProblem(
                    "error",
                    name,
                    "entry named 'metadata' would make CodaLab treat the upload as a code "
                    "submission; remove it",
                )
            )
        if base.lower().endswith(".zip"):
            problems.append(ZipProblem("error", name, "nested zip; zip the PRED files themselves"))
        if info.file_size > limits.max_entry_bytes:
            problems.append(
                ZipProblem(
                    "error",
                    name,
                    f"uncompressed size {info.file_size} bytes exceeds the cap of "
                    f"{limits.max_entry_bytes}",
                )
            )
        if info.compress_size > 0 and info.file_size / info.compress_size > limits.max_ratio:
            problems.append(
                ZipProblem(
                    "error",
                    name,
                    f"compression ratio {info.file_size / info.compress_size:.0f}:1 exceeds "
                    f"{limits.max_ratio:.0f}:1 (zip bomb?)",
                )
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        problems.append(
            ZipProblem(
                "error", "", f"total uncompressed size {total} bytes exceeds {limits.max_total_bytes}"
            )
        )
    return problems


def read_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits = DEFAULT_LIMITS
) -> bytes:
    """Read one member of an open zip into memory, never expanding it beyond the per-entry cap.

    The cap applies to the bytes actually produced, so a header that understates an entry's size
    cannot overrun it; reading to the end makes :mod:`zipfile` check the CRC.

    Raises:
        SubmissionError: the entry expands beyond the cap or cannot be read (corrupt data, bad
            CRC, truncated archive, unsupported compression or encryption).
    """
    try:
        with archive.open(info) as source:
            data = source.read(limits.max_entry_bytes + 1)
    except Exception as exc:  # zipfile, zlib, bz2 and lzma each raise their own types.
        reason = str(exc) or type(exc).__name__
        raise SubmissionError(
            f"{info.filename}: cannot be read from the zip ({reason}); re-create the zip"
        ) from exc
    if len(data) > limits.max_entry_bytes:
        raise SubmissionError(
            f"{info.filename}: expands beyond the cap of {limits.max_entry_bytes} bytes (zip bomb?)"
        )
    return data


def extract_zip_safely(path: Path, destination: Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Extract the regular files of a checked zip under ``destination``.

    Debris (``__MACOSX``, dot-files) is skipped. The byte count is enforced while writing, so a
    header that lies about sizes cannot overrun the caps.

    Raises:
        SubmissionError: :func:`inspect_zip` found an error; the message names the entries.
    """
    errors = [p for p in inspect_zip(path, limits) if p.severity == "error"]
    if errors:
        details = [f"{p.entry or path.name}: {p.message}" for p in errors]
        raise SubmissionError(f"{path}: unsafe or invalid zip: {summarize(details, 5)}")
    root = destination.resolve()
    try:
        _extract_checked(path, root, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError) as exc:
        raise SubmissionError(f"{path}: corrupt zip archive ({exc}); re-create the zip") from exc


def _extract_checked(path: Path, root: Path, limits: ZipLimits) -> None:
    written_total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or is_debris(info.filename):
                continue
            target = (root / info.filename).resolve()
            if root not in target.parents:
                raise SubmissionError(f"{path}: entry {info.filename!r} escapes the extraction folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with archive.open(info) as source, open(target, "wb") as sink:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    written_total += len(chunk)
                    if written > limits.max_entry_bytes or written_total > limits.max_total_bytes:
                        raise SubmissionError(
                            f"{path}: entry {info.filename!r} expands beyond the size caps (zip bomb?)"
                        )
                    sink.write(chunk)
