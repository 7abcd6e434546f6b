"""Per-patch counts kept once: each patch's 196-code histogram with its id, domain and zone.

A submission scored once can be compared and ranked any number of times without decoding a file
again: the counts of any subset of patches (a zone, a domain, a bootstrap resample) sum to the
confusion matrix the official metric needs. Counts carry a fingerprint of the truth they were
scored against (its ids and the hash of every mask file), so counts made against different truths
are never mixed.

Stored as ``.npz`` that loads with ``allow_pickle=False``: plain integer and unicode arrays only.
Standard library + numpy, Python 3.9: the scorer keeps what it needs here.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from scoring import metrics
from scoring.atomic import atomic_file
from scoring.errors import DataError, FlairKitError, MissingFileError
from scoring.masks import open_regular

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Format tag written into every counts file; a file without it (or another) is refused.
COUNTS_FORMAT = "flair-kit-counts-1"
#: Codes per patch (see :func:`scoring.metrics.pair_histogram`).
CODES = metrics.CODE_SIDE * metrics.CODE_SIDE
#: The keys of a counts file.
COUNTS_KEYS = ("format", "ids", "domains", "zones", "histograms", "truth_fingerprint")


def mask_digest(path: Path) -> str:
    """Hash of a reference mask file's bytes (SHA-256): a changed mask changes it.

    SHA-256 rather than BLAKE2b: with the SHA instructions of current CPUs it hashes a 20 KB
    mask in 0.02 ms, half BLAKE2b's time, and keeping counts must cost scoring little.
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def truth_fingerprint(digests: Iterable[tuple[int, str]]) -> str:
    """Fingerprint of a truth: SHA-256 over its ``(id, mask digest)`` pairs in id order.

    >>> truth_fingerprint([(2, "b"), (1, "a")]) == truth_fingerprint([(1, "a"), (2, "b")])
    True
    """
    lines = "".join(f"{tile:06d}:{digest}\n" for tile, digest in sorted(digests))
    return hashlib.sha256(lines.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class PatchCounts:
    """Every patch's code counts against one truth, in id order.

    ``domains`` and ``zones`` are empty strings where unknown (a flat truth folder with no zone
    table); a zone is the pair (domain, zone), as zone names repeat across domains.
    ``histograms`` are non-negative integers: int64, or uint32 as loaded from a file (half the
    memory when many submissions are ranked); sums are taken in int64.
    """

    ids: NDArray[np.int64]
    domains: tuple[str, ...]
    zones: tuple[str, ...]
    histograms: NDArray[Any]
    truth_fingerprint: str

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.histograms.dtype not in (np.int64, np.uint32):
            raise DataError(
                f"counts histograms of dtype {self.histograms.dtype}; expected uint32 or int64 "
                "pixel counts"
            )
        if self.histograms.shape != (n, CODES):
            raise DataError(
                f"counts of {n} patches hold histograms of shape {self.histograms.shape}; "
                f"expected ({n}, {CODES})"
            )
        if len(self.domains) != n or len(self.zones) != n:
            raise DataError(
                f"counts of {n} patches hold {len(self.domains)} domains and {len(self.zones)} "
                "zones; expected one of each per patch"
            )
        if n > 1 and not bool(np.all(np.diff(self.ids) > 0)):
            raise DataError("counts ids are not unique and increasing; rescore the submission")

    @property
    def n_patches(self) -> int:
        """Number of patches."""
        return len(self.ids)

    def total_histogram(self) -> NDArray[np.int64]:
        """The 196 code counts of all patches together."""
        return np.asarray(self.histograms.sum(axis=0, dtype=np.int64))

    def confusion(self) -> NDArray[np.int64]:
        """The official 13x13 confusion matrix of all patches (what ``score`` computes)."""
        return metrics.fold_pair_histogram(self.total_histogram()).confusion

    def confusion_of(self, patches: NDArray[np.bool_]) -> NDArray[np.int64]:
        """The official 13x13 confusion matrix of the selected patches (a boolean mask)."""
        total = np.asarray(self.histograms[patches].sum(axis=0, dtype=np.int64))
        return metrics.fold_pair_histogram(total).confusion

    def with_zones(self, domains: Sequence[str], zones: Sequence[str]) -> PatchCounts:
        """The same counts with each patch's domain and zone replaced."""
        return PatchCounts(
            self.ids, tuple(domains), tuple(zones), self.histograms, self.truth_fingerprint
        )


def _smallest_unsigned(histograms: NDArray[Any]) -> NDArray[Any]:
    # A 512x512 patch holds 262,144 pixels: uint32 halves the file of int64 counts.
    if histograms.size == 0 or int(histograms.max()) < 2**32:
        return histograms.astype(np.uint32)
    return histograms


def save_counts(path: Path, counts: PatchCounts) -> None:
    """Write counts to ``path`` (``.npz``, compressed, atomically; loads without pickle)."""
    with atomic_file(path, "wb") as sink:
        np.savez_compressed(
            sink,
            format=np.array(COUNTS_FORMAT),
            ids=counts.ids.astype(np.int64),
            domains=np.array(counts.domains, dtype=str),
            zones=np.array(counts.zones, dtype=str),
            histograms=_smallest_unsigned(counts.histograms),
            truth_fingerprint=np.array(counts.truth_fingerprint),
        )


#: Most patches a counts file may declare. FLAIR's largest split holds about 62,000 patches; the
#: cap bounds what a hostile file can make the loader allocate (784 MB of uint32 histograms).
MAX_PATCHES = 1_000_000
#: Longest domain or zone name accepted (FLAIR's are like ``D064_2021`` and ``Z1_UU``).
MAX_NAME_CHARS = 256
#: Longest ``.npy`` header read (numpy's own default cap since 1.24; older numpy has none).
MAX_NPY_HEADER = 10_000
_HOW = "write it with flair-kit score PRED TRUTH --save-counts FILE.npz"
#: Everything a broken zip or ``.npy`` stream raises while being read.
_UNREADABLE = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


@dataclass(frozen=True)
class NpyMember:
    """What one ``.npy`` member of a counts file declares, read from its header only."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    header_bytes: int
    stored_bytes: int

    @property
    def data_bytes(self) -> int:
        """Bytes the array's data takes once loaded."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def describe(self) -> str:
        """``dtype uint32 and shape (2, 196)``, as messages show it."""
        return f"dtype {self.dtype} and shape {self.shape}"


def read_npy_member(archive: zipfile.ZipFile, name: str) -> NpyMember:
    """Read the header of the ``.npy`` member ``name``, never its data.

    At most ``12 + MAX_NPY_HEADER`` bytes are decompressed, whatever the member declares.

    Raises:
        DataError: the header is not a ``.npy`` header of version 1 or 2, or is too long.
    """
    with archive.open(name) as stream:
        prefix = stream.read(12)
        try:
            version = np.lib.format.read_magic(io.BytesIO(prefix))
        except ValueError:
            raise DataError(f"{name}: not a .npy array (no NUMPY magic)") from None
        if version == (1, 0):
            start, length = 10, struct.unpack("<H", prefix[8:10])[0]
        elif version == (2, 0) and len(prefix) == 12:
            start, length = 12, struct.unpack("<I", prefix[8:12])[0]
        else:
            raise DataError(f"{name}: .npy format version {version}; expected 1.0 or 2.0")
        if length > MAX_NPY_HEADER:
            raise DataError(f"{name}: .npy header of {length} bytes, over {MAX_NPY_HEADER}")
        header = io.BytesIO(prefix + stream.read(start + length - len(prefix)))
    np.lib.format.read_magic(header)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read(header)
    return NpyMember(
        tuple(int(n) for n in shape), dtype, start + length, archive.getinfo(name).file_size
    )


def _declared_problem(key: str, member: NpyMember, n_ids: int | None) -> str | None:
    """Why a member's declared shape and dtype cannot be this key's (None: it can).

    ``n_ids`` is the number of patches the ids declare (None while checking the ids).
    """
    kind, ndim = member.dtype.kind, len(member.shape)
    if key in ("format", "truth_fingerprint"):
        if kind != "U" or ndim != 0 or member.dtype.itemsize > 4 * 128:
            return f"{member.describe()}; expected one string (0-d unicode array)"
    elif key == "ids":
        if kind not in "iu" or ndim != 1:
            return f"{member.describe()}; expected a 1-d array of integer patch ids"
        if member.shape[0] > MAX_PATCHES:
            return f"{member.shape[0]} ids; at most {MAX_PATCHES} patches are accepted"
    elif key in ("domains", "zones"):
        if kind != "U" or member.shape != (n_ids,):
            return f"{member.describe()}; expected ({n_ids},) strings, one per id"
        if member.dtype.itemsize > 4 * MAX_NAME_CHARS:
            return f"names of {member.dtype.itemsize // 4} characters; at most {MAX_NAME_CHARS}"
    elif key == "histograms":
        if member.dtype not in (np.dtype(np.uint32), np.dtype(np.int64)):
            return f"{member.describe()}; expected uint32 or int64 pixel counts"
        if member.shape != (n_ids, CODES):
            return (
                f"histograms of shape {member.shape}; expected ({n_ids}, {CODES}), one row of "
                "counts per id"
            )
    if member.stored_bytes != member.header_bytes + member.data_bytes:
        return (
            f"{member.stored_bytes} bytes once decompressed, where its header declares "
            f"{member.header_bytes + member.data_bytes}"
        )
    return None


def read_declarations(handle: BinaryIO, path: Path) -> dict[str, NpyMember]:
    """Read and check every member's header against the ids before any array is loaded.

    Raises:
        DataError: a key is missing or a member's declared shape, dtype or size does not fit
            (naming the file, the member, what was found and what was expected).
    """
    try:
        with zipfile.ZipFile(handle) as archive:
            names = set(archive.namelist())
            missing = [key for key in COUNTS_KEYS if f"{key}.npy" not in names]
            if missing:
                raise DataError(
                    f"{path}: not a flair-kit counts file (no {', '.join(missing)}); {_HOW}"
                )
            members: dict[str, NpyMember] = {}
            n_ids = None
            for key in COUNTS_KEYS:
                try:
                    members[key] = read_npy_member(archive, f"{key}.npy")
                except DataError as exc:
                    raise DataError(f"{path}: member {exc}; {_HOW}") from None
                problem = _declared_problem(key, members[key], n_ids)
                if problem is not None:
                    raise DataError(f"{path}: member {key}.npy holds {problem}; {_HOW}")
                if key == "format":
                    # Another format is named as such, before its members are judged by ours.
                    with archive.open("format.npy") as stream:
                        found = str(np.lib.format.read_array(stream, allow_pickle=False))
                    if found != COUNTS_FORMAT:
                        raise DataError(
                            f"{path}: counts format {found!r}, expected {COUNTS_FORMAT!r}; {_HOW}"
                        )
                if key == "ids":
                    n_ids = members[key].shape[0]
                    if n_ids == 0:
                        # Nothing to score or resample: every later step would fail on empty sums.
                        raise DataError(
                            f"{path}: counts of 0 patches; {_HOW} on a non-empty prediction"
                        )
    except FlairKitError:
        raise
    except _UNREADABLE as exc:
        raise DataError(f"{path}: unreadable counts file ({exc}); {_HOW}") from None
    return members


def load_counts(path: Path) -> PatchCounts:
    """Read counts written by :func:`save_counts` (``flair-kit score --save-counts``).

    Every member's header (shape, dtype, decompressed size) is checked against the ids before
    anything is loaded, so a small file cannot make the loader allocate gigabytes.

    Raises:
        MissingFileError: the file does not exist.
        DataError: the path is not a regular file (a FIFO, a folder: refused unread), not a
            counts file of this format (the message says which member), holds no patch, or holds
            inconsistent arrays; the message names the file and how to fix it.
    """
    if not path.exists():
        raise MissingFileError(f"{path}: counts file not found; write one with score --save-counts")
    with open_regular(path, "a counts .npz file written by score --save-counts") as handle:
        read_declarations(handle, path)
        handle.seek(0)
        try:
            with np.load(handle, allow_pickle=False) as data:
                arrays = {key: data[key] for key in COUNTS_KEYS}
        except _UNREADABLE as exc:
            raise DataError(f"{path}: unreadable counts file ({exc}); {_HOW}") from None
    try:
        counts = PatchCounts(
            _stored_ids(arrays["ids"]),
            tuple(str(d) for d in arrays["domains"]),
            tuple(str(z) for z in arrays["zones"]),
            arrays["histograms"],
            str(arrays["truth_fingerprint"]),
        )
        check_stored_counts(counts)
        return counts
    except DataError as exc:
        # The checks here and in PatchCounts know no file; the user needs to know which one.
        raise DataError(f"{path}: {exc}; {_HOW}") from None


def _stored_ids(ids: NDArray[Any]) -> NDArray[np.int64]:
    """The stored ids as int64, refusing negative ones and values beyond int64."""
    if ids.dtype.kind == "u" and ids.size and int(ids.max()) > np.iinfo(np.int64).max:
        raise DataError(f"ids up to {int(ids.max())}; expected patch ids 0..999999")
    if ids.size and int(ids.min()) < 0:
        raise DataError(f"ids down to {int(ids.min())}; expected patch ids 0..999999")
    return ids.astype(np.int64)


def check_stored_counts(counts: PatchCounts) -> None:
    """Refuse negative counts and patches of no pixel at all (no scored mask is empty)."""
    histograms = counts.histograms
    if histograms.dtype == np.int64 and int(histograms.min()) < 0:
        raise DataError(
            f"histograms hold negative counts (down to {int(histograms.min())}); expected "
            "pixel counts as score --save-counts writes them"
        )
    empty = np.flatnonzero(~histograms.any(axis=1))
    if empty.size:
        shown = ", ".join(f"{int(counts.ids[i]):06d}" for i in empty[:5])
        raise DataError(
            f"{empty.size} patches count no pixel at all (all-zero histograms: {shown}); every "
            "scored patch counts each pixel of its mask"
        )


def is_counts_file(path: Path) -> bool:
    """Say whether ``path`` names a counts file (by its ``.npz`` suffix)."""
    return path.suffix.lower() == ".npz"


def counts_from_patches(
    patches: Sequence[tuple[int, str, str, NDArray[np.int64], str]],
) -> PatchCounts:
    """Freeze per-patch results ``(id, domain, zone, histogram, mask digest)`` into counts."""
    ordered = sorted(patches, key=lambda patch: patch[0])
    histograms = (
        np.stack([patch[3] for patch in ordered]).astype(np.int64)
        if ordered
        else np.zeros((0, CODES), dtype=np.int64)
    )
    return PatchCounts(
        np.array([patch[0] for patch in ordered], dtype=np.int64),
        tuple(patch[1] for patch in ordered),
        tuple(patch[2] for patch in ordered),
        histograms,
        truth_fingerprint((patch[0], patch[4]) for patch in ordered),
    )


#: One patch's result as the scorer's workers return it: (id, domain, zone, histogram, digest).
PatchResult = tuple[int, str, str, "NDArray[np.int64]", str]

__all__ = [
    "COUNTS_FORMAT",
    "PatchCounts",
    "counts_from_patches",
    "is_counts_file",
    "load_counts",
    "mask_digest",
    "save_counts",
    "truth_fingerprint",
]
