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
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scoring import metrics
from scoring.atomic import atomic_file
from scoring.errors import DataError, MissingFileError

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


def load_counts(path: Path) -> PatchCounts:
    """Read counts written by :func:`save_counts` (``flair-kit score --save-counts``).

    Raises:
        MissingFileError: the file does not exist.
        DataError: the file is not a counts file of this format (the message says which key),
            holds no patch, or holds inconsistent arrays (the message names the file).
    """
    if not path.is_file():
        raise MissingFileError(f"{path}: counts file not found; write one with score --save-counts")
    how = "write it with flair-kit score PRED TRUTH --save-counts FILE.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in COUNTS_KEYS if key not in data.files]
            if missing:
                raise DataError(
                    f"{path}: not a flair-kit counts file (no {', '.join(missing)}); {how}"
                )
            found = str(data["format"])
            if found != COUNTS_FORMAT:
                raise DataError(
                    f"{path}: counts format {found!r}, expected {COUNTS_FORMAT!r}; {how}"
                )
            arrays = {key: data[key] for key in COUNTS_KEYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: unreadable counts file ({exc}); {how}") from None
    if arrays["ids"].size == 0:
        # Nothing to score or resample: every later step would fail on empty sums.
        raise DataError(f"{path}: counts of 0 patches; {how} on a non-empty prediction")
    try:
        return PatchCounts(
            np.asarray(arrays["ids"], dtype=np.int64),
            tuple(str(d) for d in arrays["domains"]),
            tuple(str(z) for z in arrays["zones"]),
            _stored_counts(arrays["histograms"], path),
            str(arrays["truth_fingerprint"]),
        )
    except DataError as exc:
        # The checks of PatchCounts know no file; the user needs to know which one is wrong.
        message = str(exc)
        raise type(exc)(
            message if message.startswith(f"{path}:") else f"{path}: {message}"
        ) from None


def _stored_counts(histograms: NDArray[Any], path: Path) -> NDArray[Any]:
    """The stored histograms as uint32 or int64, refusing anything but non-negative integers."""
    if histograms.dtype in (np.uint32, np.int64) and (
        histograms.dtype == np.uint32 or histograms.size == 0 or int(histograms.min()) >= 0
    ):
        return histograms
    raise DataError(
        f"{path}: histograms of dtype {histograms.dtype} (or negative counts); expected uint32 or "
        "int64 pixel counts as score --save-counts writes them"
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
