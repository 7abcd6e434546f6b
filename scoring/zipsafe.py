"""Inspect and extract submission zips without trusting them.

A submission zip comes from a stranger. Before anything is written, every entry is checked:
names the platform can extract (non-empty, no control character, components of at most 255
bytes, no name that is both a file and a folder, no name twice), no absolute paths or ``..``
(zip-slip), no symlinks, no encryption, no nested zips, no entry named
``metadata`` (CodaLab would treat the upload as a code submission), and caps on the entry count,
the uncompressed size per entry and in total, and the compression ratio (zip bombs). Extraction
writes only regular files, only under the destination, and counts the bytes it actually writes.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from scoring.errors import SubmissionError, summarize
from scoring.masks import special_file_kind
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


#: Longest file or folder name most file systems accept, in bytes (Linux ``NAME_MAX``).
NAME_MAX = 255
#: Longest path Linux accepts (``PATH_MAX``), in bytes.
PATH_MAX = 4096
#: Room left for the folder the platform extracts into (``/tmp/<random>/run/input/res/``).
EXTRACTION_ROOM = 256
#: What ``zipfile`` and the decompressors raise on an archive they cannot parse.
UNREADABLE_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    UnicodeDecodeError,
    ValueError,
    IndexError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _unsafe_path_reason(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "path escapes the archive with '..'"
    return None


def entry_name_problem(name: str) -> str | None:
    """Say why an entry name cannot be extracted faithfully by the platform, or None.

    The platform extracts with a plain ``extractall`` and the official scorer globs the result,
    so a name must be non-empty, stay inside the archive, hold no control character (a name
    ending in a newline is extracted as is, and ``PRED*.tif`` then no longer lists it), and fit
    the file system: every component at most :data:`NAME_MAX` bytes, the whole path well under
    :data:`PATH_MAX`.

    >>> entry_name_problem("PRED_000001.tif") is None
    True
    >>> entry_name_problem("PRED_000001.tif\\n")
    "control character '\\\\n' in the name; the platform extracts it as is and the official scorer's glob then skips the file"
    """
    if not name:
        return "empty entry name; the platform cannot extract it"
    unsafe = _unsafe_path_reason(name)
    if unsafe:
        return unsafe
    control = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    if control is not None:
        return (
            f"control character {control!r} in the name; the platform extracts it as is and the "
            "official scorer's glob then skips the file"
        )
    encoded = len(name.encode("utf-8", "surrogateescape"))
    if encoded > PATH_MAX - EXTRACTION_ROOM:
        return (
            f"path of {encoded} bytes, too long to extract (the file system allows {PATH_MAX} "
            "including the platform's extraction folder); use short names"
        )
    longest = max(PurePosixPath(name).parts or ("",), key=lambda p: len(p.encode("utf-8")))
    if len(longest.encode("utf-8")) > NAME_MAX:
        return (
            f"a path component of {len(longest.encode('utf-8'))} bytes, too long to extract (file "
            f"systems allow {NAME_MAX}); use short names"
        )
    return None


def entry_label(name: str) -> str:
    """The name to show for an entry: itself when printable, else its quoted repr (one line).

    >>> entry_label("PRED_000001.tif"), entry_label("PRED_000001.tif\\n"), entry_label("")
    ('PRED_000001.tif', "'PRED_000001.tif\\\\n'", "''")
    """
    return name if name and name.isprintable() else repr(name)


def is_debris(name: str) -> bool:
    """Say whether an entry is hidden (a dot-file or inside a dot-folder), so never scored.

    macOS zips put their ``._`` resource forks in ``__MACOSX/``: they are hidden. A ``PRED`` file
    in ``__MACOSX/`` without the dot is listed by the official scorer and therefore counts.
    """
    return any(is_ignored_name(part) for part in PurePosixPath(name).parts)


def read_listing(path: Path) -> list[zipfile.ZipInfo]:
    """Read a zip's central directory.

    Raises:
        SubmissionError: the file is not a readable zip (not a zip, truncated, an entry name that
            is not valid UTF-8 although the archive flags it as such, ...).
    """
    try:
        kind = special_file_kind(os.stat(path).st_mode)
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if kind is not None:  # opening a FIFO would block forever, a device would never end
        raise SubmissionError(f"{path}: is a {kind}, not a zip file (refused unread)")
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{path}: an entry name is not valid UTF-8 although the zip flags it as UTF-8 "
            f"({exc.object[:60]!r}); the platform cannot extract it: re-create the zip with "
            "ASCII names PRED_<id>.tif"
        ) from exc
    except UNREADABLE_ZIP as exc:
        reason = str(exc) or type(exc).__name__
        raise SubmissionError(f"{path}: not a readable zip archive ({reason})") from exc


def structure_problems(infos: list[zipfile.ZipInfo]) -> list[ZipProblem]:
    """Problems of the archive's tree: repeated names, and a name that is a file and a folder.

    ``extractall`` writes a repeated name twice (the last copy wins, so what is scored is not what
    was checked) and fails on a file that another entry needs as a folder.
    """
    problems: list[ZipProblem] = []
    counts = Counter(info.filename for info in infos)
    for name, count in sorted(counts.items()):
        if count > 1:
            problems.append(
                ZipProblem(
                    "error",
                    entry_label(name),
                    f"the archive holds {count} entries of this name (only the last would be "
                    "extracted); re-create the zip with flair-kit pack",
                )
            )
    folders: set[str] = set()
    for name in counts:
        parts = PurePosixPath(name).parts
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if name.endswith("/"):
            folders.add(name.rstrip("/"))
    for name in sorted(counts):
        if name and not name.endswith("/") and name in folders:
            problems.append(
                ZipProblem(
                    "error",
                    entry_label(name),
                    "this name is both a file and a folder in the archive; extraction fails or "
                    "keeps one of them; re-create the zip with flair-kit pack",
                )
            )
    return problems


def inspect_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> list[ZipProblem]:
    """List every safety problem of a zip without extracting anything.

    This is the one check both ``flair-kit validate`` and ``flair-kit score`` (through
    :func:`extract_zip_safely`) apply, so they agree on every archive.

    Raises:
        SubmissionError: the file is not a readable zip at all.
    """
    infos = read_listing(path)
    problems: list[ZipProblem] = []
    if len(infos) > limits.max_entries:
        problems.append(
            ZipProblem(
                "error", "", f"{len(infos)} entries, more than the cap of {limits.max_entries}"
            )
        )
    total = 0
    for info in infos:
        name = info.filename
        reason = entry_name_problem(name)
        if reason:
            problems.append(ZipProblem("error", entry_label(name), reason))
            continue
        if info.is_dir() or is_debris(name):
            continue
        if _is_symlink(info):
            problems.append(
                ZipProblem("error", name, "symbolic link; only regular files are allowed")
            )
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
                "error",
                "",
                f"total uncompressed size {total} bytes exceeds {limits.max_total_bytes}",
            )
        )
    return problems + structure_problems(infos)


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

    Hidden entries (dot-files, ``__MACOSX/._*``) are skipped. The byte count is enforced while
    writing, so a header that lies about sizes cannot overrun the caps.

    Raises:
        SubmissionError: :func:`inspect_zip` found an error, or an entry's data cannot be read
            (corrupt deflate stream, bad CRC, truncated archive); the message names the entries.
        OSError: writing under ``destination`` failed (a fault of the output side, not of the zip).
    """
    errors = [p for p in inspect_zip(path, limits) if p.severity == "error"]
    if errors:
        details = [f"{p.entry or path.name}: {p.message}" for p in errors]
        raise SubmissionError(f"{path}: unsafe or invalid zip: {summarize(details, 5)}")
    _extract_checked(path, destination.resolve(), limits)


def _read_chunk(source: IO[bytes], path: Path, name: str) -> bytes:
    try:
        return source.read(1 << 20)
    except UNREADABLE_ZIP as exc:
        reason = str(exc) or type(exc).__name__
        raise SubmissionError(
            f"{path}: entry {name!r} cannot be read from the zip ({reason}); re-create the zip"
        ) from exc


def _extract_checked(path: Path, root: Path, limits: ZipLimits) -> None:
    written_total = 0
    try:
        archive = zipfile.ZipFile(path)
    except UNREADABLE_ZIP as exc:
        raise SubmissionError(f"{path}: not a readable zip archive ({exc})") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or is_debris(info.filename):
                continue
            target = (root / info.filename).resolve()
            if root not in target.parents:
                raise SubmissionError(
                    f"{path}: entry {info.filename!r} escapes the extraction folder"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                source = archive.open(info)
            except UNREADABLE_ZIP as exc:
                raise SubmissionError(
                    f"{path}: entry {info.filename!r} cannot be read from the zip ({exc}); "
                    "re-create the zip"
                ) from exc
            with source, open(target, "wb") as sink:
                while True:
                    chunk = _read_chunk(source, path, info.filename)
                    if not chunk:
                        break
                    written += len(chunk)
                    written_total += len(chunk)
                    if written > limits.max_entry_bytes or written_total > limits.max_total_bytes:
                        raise SubmissionError(
                            f"{path}: entry {info.filename!r} expands beyond the size caps (zip bomb?)"
                        )
                    sink.write(chunk)
