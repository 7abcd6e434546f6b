"""Validate a submission (a zip or a folder of ``PRED`` files) before it costs an upload.

Every file is checked and every problem collected before anything is reported:

- names: ``PRED_<6-digit id>.tif``; ``PRED_IMG_<id>.tif`` (IGN's newer library) is accepted by
  the official scorer but warned about; any other file is an error; dot-files and ``__MACOSX`` are
  ignored;
- content, decoded with Pillow exactly as the official scorer decodes it: one band, the patch
  size (512x512 unless told otherwise), uint8, values 0..12. Values outside 0..12 are counted per
  file: the official scorer silently drops those pixels, which can inflate a score, so they are an
  error under ``strict`` and a warning otherwise. Constant masks and values that look 1-based (no
  0 but some 13) are warned about;
- form: LZW compression (a warning otherwise: larger uploads), TIFF data;
- ids against an expected set (:mod:`starting_kit.expect`): missing, extra and duplicate ids;
- zip safety through :mod:`scoring.zipsafe` (the reader ``flair-kit score`` uses too), and a flat
  layout: files inside a folder get a warning, as the platform does not unwrap folders.

Errors are what the platform or the official scorer would refuse or mis-score; warnings are what
still scores but deserves a look. Decoding is spread over worker processes, as scoring is.

The patch-size rule is a parameter, ``expected_size`` (``--size`` on the command line), so that
tests and synthetic toy data can use small masks; FLAIR submissions always use the default 512.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import struct
import threading
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Literal

import numpy as np

from scoring import zipsafe
from scoring.classes import NUM_CLASSES
from scoring.errors import DataError, MissingFileError, SubmissionError, summarize
from scoring.evaluate import default_workers
from scoring.masks import (
    PRED_FORMAT_HINT,
    OversizeImageError,
    decode_budget,
    decode_image,
    open_regular,
)
from scoring.tiles import OFFICIAL_PRED_PATTERN, PRED_PATTERN, format_id, walk_files
from starting_kit.expect import expected_ids
from starting_kit.predictions import prediction_name, write_prediction

Severity = Literal["error", "warning"]
ProgressCallback = Callable[[int, int], None]

#: Width and height of a FLAIR patch, the only size the official scorer can pair with the truth.
PATCH_SIZE = 512
#: How many problems the command line shows before it gives totals.
SHOWN_PROBLEMS = 20
#: TIFF compression tag values and their names (TIFF 6.0 and libtiff's registry).
TIFF_COMPRESSIONS = {
    1: "none",
    2: "CCITT RLE",
    5: "LZW",
    6: "old-style JPEG",
    7: "JPEG",
    8: "Deflate",
    32773: "PackBits",
    32946: "Deflate",
    34887: "LERC",
    34925: "LZMA",
    50000: "ZSTD",
    50001: "WebP",
}
TIFF_LZW = 5
#: Magic numbers of the formats people most often save under a .tif name by mistake.
OTHER_FORMATS = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"RIFF", "WebP"),
)
FIX_HINT = "flair-kit pack --fix re-encodes it in the official format"
RENAME_HINT = "flair-kit pack --fix renames and re-encodes it"


@dataclass(frozen=True)
class Problem:
    """One finding of a validation.

    Attributes:
        severity: ``"error"`` (the submission would fail or be mis-scored) or ``"warning"``.
        where: the file or zip entry concerned, relative to the submission; ``""`` for the whole
            submission.
        message: what is wrong, what was expected and how to fix it.
    """

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.severity}: {self.where}: {self.message}"
            if self.where
            else (f"{self.severity}: {self.message}")
        )


@dataclass(frozen=True)
class ValidationReport:
    """Everything a validation found, errors first.

    Attributes:
        problems: every problem, errors before warnings, whole-submission problems first.
        n_files: files examined (platform debris such as ``__MACOSX`` excluded).
        ids: the distinct PRED ids found, sorted.
        expected: the size of the expected id set, or None when ids were not checked.
    """

    problems: tuple[Problem, ...]
    n_files: int
    ids: tuple[int, ...]
    expected: int | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that make the submission invalid."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The problems that still let the submission score."""
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors


def sorted_problems(problems: Sequence[Problem]) -> tuple[Problem, ...]:
    """Order problems for display: errors first, whole-submission ones first, then by file.

    >>> [p.where for p in sorted_problems([Problem("warning", "a", "m"), Problem("error", "b", "m"),
    ...                                    Problem("error", "", "m")])]
    ['', 'b', 'a']
    """
    rank = {"error": 0, "warning": 1}
    return tuple(sorted(problems, key=lambda p: (rank[p.severity], p.where != "", p.where)))


def render_report(report: ValidationReport, *, limit: int = SHOWN_PROBLEMS) -> str:
    """The text ``flair-kit validate`` prints: the first ``limit`` problems, then totals.

    >>> print(render_report(ValidationReport((Problem("error", "x.tif", "bad"),), 1, ())), end="")
    error: x.tif: bad
    INVALID: 1 error, 0 warnings in 1 file (0 PRED ids; ids not checked: pass --expect)
    """
    lines = [str(problem) for problem in report.problems[:limit]]
    hidden = len(report.problems) - limit
    if hidden > 0:
        lines.append(f"... {hidden} more problems not shown")
    verdict = "valid" if report.ok else "INVALID"
    errors, warnings = len(report.errors), len(report.warnings)
    coverage = (
        "ids not checked: pass --expect"
        if report.expected is None
        else f"expected {report.expected:,} ids"
    )
    lines.append(
        f"{verdict}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
        f"in {report.n_files:,} file{'s' * (report.n_files != 1)} "
        f"({len(report.ids):,} PRED ids; {coverage})"
    )
    return "".join(f"{line}\n" for line in lines)


# --- pure checks --------------------------------------------------------------------------------

Finding = tuple[Severity, str]


def container_format(data: bytes) -> str:
    """Name the container of a file from its magic number: ``TIFF``, ``BigTIFF``, ``PNG``, ...

    >>> container_format(b"II*\\x00rest"), container_format(b"\\x89PNG\\r\\n\\x1a\\n..."), container_format(b"?")
    ('TIFF', 'PNG', 'unknown')
    """
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        return "BigTIFF"
    for magic, name in OTHER_FORMATS:
        if data.startswith(magic):
            return name
    return "unknown"


def tiff_compression(data: bytes) -> int | None:
    """Read the Compression tag (259) of a TIFF's first image, without decoding anything.

    Returns None when the header or the first directory cannot be parsed, and 1 (none) when the
    tag is absent, as the TIFF specification defaults it.

    >>> import PIL.Image
    >>> buffer = io.BytesIO()
    >>> PIL.Image.new("L", (4, 4)).save(buffer, format="TIFF", compression="tiff_lzw")
    >>> tiff_compression(buffer.getvalue())
    5
    """
    try:
        order = {b"II": "<", b"MM": ">"}[data[:2]]
        (magic,) = struct.unpack_from(order + "H", data, 2)
        if magic == 42:
            (offset,) = struct.unpack_from(order + "I", data, 4)
            (count,) = struct.unpack_from(order + "H", data, offset)
            entry, size, start = order + "HHI", 12, offset + 2
        elif magic == 43:
            (offset,) = struct.unpack_from(order + "Q", data, 8)
            (count,) = struct.unpack_from(order + "Q", data, offset)
            entry, size, start = order + "HHQ", 20, offset + 8
        else:
            return None
        for index in range(count):
            tag, kind, _ = struct.unpack_from(entry, data, start + index * size)
            if tag == 259:
                # SHORT (3) values sit left-justified in the value field; LONG (4) fill it.
                value_at = start + index * size + struct.calcsize(entry)
                code = "H" if kind == 3 else "I"
                return int(struct.unpack_from(order + code, data, value_at)[0])
        return 1
    except (KeyError, struct.error):
        return None


def name_findings(base: str) -> tuple[list[Finding], list[Finding]]:
    """Check a ``PRED`` file name; returns (problems --fix cannot repair, problems it can).

    The name must match :data:`scoring.tiles.PRED_PATTERN` (the caller routes other names).

    >>> name_findings("PRED_061713.tif")
    ([], [])
    >>> name_findings("PRED_IMG_061713.tif")[1][0][0]
    'warning'
    """
    match = PRED_PATTERN.match(base)
    if match is None:
        raise ValueError(f"{base!r} is not a PRED file name")
    if OFFICIAL_PRED_PATTERN.match(base):
        return [], []
    tile = int(match.group("id"))
    if tile >= 10**6:
        return [
            (
                "error",
                (
                    f"id {tile} has more than 6 digits; FLAIR ids are 6-digit numbers: name each file "
                    "PRED_<id>.tif after its image IMG_<id>.tif"
                ),
            )
        ], []
    official = prediction_name(tile)
    if match.group("img") and len(match.group("id")) == 6:
        return [], [
            (
                "warning",
                (
                    f"PRED_IMG_<id>.tif is the name IGN's newer library writes; the official scorer "
                    f"accepts it, but the challenge format is {official}; {RENAME_HINT}"
                ),
            )
        ]
    return [], [
        (
            "error",
            f"the id is not written with 6 digits; expected {official}; {RENAME_HINT}",
        )
    ]


def _identical_bands(array: np.ndarray) -> bool:
    first = array[..., 0]
    return all(np.array_equal(first, array[..., band]) for band in range(1, array.shape[2]))


@dataclass
class ContentFindings:
    """What a decoded prediction revealed.

    Attributes:
        problems: findings ``--fix`` cannot repair (they stay after packing).
        form: findings ``--fix`` repairs when the content is valid (compression, dtype, bands).
        classes: the 2-D class map when the content is valid (right size, integer values 0..12),
            the input of ``--fix``; None otherwise.
    """

    problems: list[Finding]
    form: list[Finding]
    classes: np.ndarray | None
    #: (smallest value, largest value) of an integer-valued prediction, for the whole-submission
    #: checks (:func:`one_based_problem`); None when the values could not be judged.
    value_range: tuple[int, int] | None = None


def array_findings(array: np.ndarray, *, expected_size: int, strict: bool) -> ContentFindings:
    """Check a decoded prediction: bands, size, dtype and values.

    >>> ok = array_findings(np.arange(16, dtype=np.uint8).reshape(4, 4) % 13, expected_size=4,
    ...                     strict=False)
    >>> ok.problems, ok.form, ok.classes.shape
    ([], [], (4, 4))
    """
    problems: list[Finding] = []
    form: list[Finding] = []
    valid = True
    if array.ndim == 3:
        bands = array.shape[2]
        if not _identical_bands(array):
            problems.append(
                (
                    "error",
                    (
                        f"{bands} bands of different values; expected a single band of class "
                        f"indices 0..{NUM_CLASSES - 1}; {PRED_FORMAT_HINT}"
                    ),
                )
            )
            return ContentFindings(problems, form, None)
        form.append(
            (
                "error",
                (
                    f"{bands} identical bands (an RGB or grey+alpha save of a class map?); the official "
                    f"scorer needs a single band; {FIX_HINT}"
                ),
            )
        )
        array = array[..., 0]
    if array.ndim != 2:
        problems.append(
            ("error", f"decodes to shape {array.shape}; expected a single band; {PRED_FORMAT_HINT}")
        )
        return ContentFindings(problems, form, None)

    height, width = array.shape
    if (height, width) != (expected_size, expected_size):
        valid = False
        problems.append(
            (
                "error",
                (
                    f"{width}x{height} pixels; expected {expected_size}x{expected_size}: predict at the "
                    "full patch size (no crop, no resize)"
                ),
            )
        )

    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all() or not np.array_equal(array, np.floor(array)):
            example = array[~finite][0] if not finite.all() else array[array != np.floor(array)][0]
            problems.append(
                (
                    "error",
                    (
                        f"{array.dtype} values that are not class indices (e.g. {example!r}); expected "
                        f"uint8 class indices 0..{NUM_CLASSES - 1}: save argmax(scores).astype('uint8')"
                    ),
                )
            )
            return ContentFindings(problems, form, None)
        valid = False
        problems.append(
            (
                "error",
                (
                    f"dtype {array.dtype} holding whole numbers; expected uint8 class indices "
                    f"0..{NUM_CLASSES - 1}; {PRED_FORMAT_HINT}"
                ),
            )
        )
    elif array.dtype != np.uint8:
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            problems.append(("error", f"dtype {array.dtype}; expected uint8; {PRED_FORMAT_HINT}"))
            return ContentFindings(problems, form, None)
        form.append(
            (
                "error",
                f"dtype {array.dtype}; the official format is uint8 (1 byte per pixel); {FIX_HINT}",
            )
        )

    values = array.astype(np.uint8) if array.dtype == np.bool_ else array
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= NUM_CLASSES:
        valid = False
        outside = int(np.count_nonzero((values < 0) | (values >= NUM_CLASSES)))
        problems.append(
            (
                "error" if strict else "warning",
                (
                    f"{outside:,} of {values.size:,} pixels hold values outside 0..{NUM_CLASSES - 1} "
                    f"(range {low}..{high}); the official scorer silently drops those pixels, which "
                    f"can inflate a score; predict class indices 0..{NUM_CLASSES - 1}"
                ),
            )
        )
    if low >= 1 and high >= NUM_CLASSES and bool((values == NUM_CLASSES).any()):
        problems.append(
            (
                "warning",
                (
                    f"no pixel is 0 and some are {NUM_CLASSES}: the values look 1-based (raw labels "
                    f"1..{NUM_CLASSES}?); subtract 1 so that classes run 0..{NUM_CLASSES - 1}"
                ),
            )
        )
    if low == high:
        problems.append(
            ("warning", f"every pixel is {low}: a constant mask; is this prediction empty?")
        )
    return ContentFindings(problems, form, array if valid else None, (low, high))


class _LabelledBuffer(io.BytesIO):
    """File bytes that print as their submission name, so decoder messages name the file."""

    def __init__(self, data: bytes, label: str) -> None:
        super().__init__(data)
        self.label = label

    def __str__(self) -> str:
        return self.label

    __repr__ = __str__


def _strip_location(message: str, label: str) -> str:
    prefix = f"{label}: "
    return message.removeprefix(prefix)


def gdal_single_band(data: bytes, expected_size: tuple[int, int] | None = None) -> np.ndarray | None:
    """Read a single-band TIFF that Pillow cannot decode with GDAL (rasterio), if installed.

    Returns None when rasterio is missing, the data is not a TIFF, has several bands, its header
    declares more bytes than :func:`scoring.masks.decode_budget` allows (checked before reading),
    or GDAL reports any error (a truncated file).
    """
    if container_format(data) not in ("TIFF", "BigTIFF"):
        return None
    try:
        from rasterio.io import MemoryFile
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning: predictions need no CRS
            with MemoryFile(data) as memory, memory.open() as dataset:
                # The header only (size, bands, sample type): nothing is decoded beyond the budget.
                need = dataset.width * dataset.height * np.dtype(dataset.dtypes[0]).itemsize
                if dataset.count != 1 or need > decode_budget(expected_size):
                    return None
                return dataset.read(1)
    except Exception:  # noqa: BLE001 (rasterio and GDAL raise many types for unreadable data)
        return None


def file_findings(data: bytes, label: str, *, expected_size: int, strict: bool) -> ContentFindings:
    """Check one prediction file's bytes: decodable by Pillow, TIFF, LZW, then its array.

    Args:
        data: the file's bytes.
        label: the name reported in decoder messages.
        expected_size: the required width and height.
        strict: values outside 0..12 are errors instead of warnings.
    """
    size = (expected_size, expected_size)
    try:
        array = decode_image(_LabelledBuffer(data, label), expected_size=size)  # type: ignore[arg-type]
    except DataError as exc:
        reason = _strip_location(str(exc), label)
        if not data:
            reason = "empty file"
        gdal = None if isinstance(exc, OversizeImageError) else gdal_single_band(data, size)
        if gdal is None:
            return ContentFindings([("error", f"{reason}; {PRED_FORMAT_HINT}")], [], None)
        # A complete TIFF that only GDAL reads (int64 and other types Pillow has no mode for):
        # the official scorer cannot read it, but its content may be valid, so --fix can save it.
        found = array_findings(gdal, expected_size=expected_size, strict=strict)
        found.form.insert(
            0,
            (
                "error",
                (
                    f"the official scorer's decoder (Pillow) cannot read this {gdal.dtype} TIFF, "
                    f"only GDAL can; {FIX_HINT}"
                ),
            ),
        )
        return found
    found = array_findings(array, expected_size=expected_size, strict=strict)
    container = container_format(data)
    if container != "TIFF":
        found.form.insert(
            0,
            (
                "error",
                f"holds {container} data, not a TIFF; expected an LZW-compressed TIFF; {FIX_HINT}",
            ),
        )
    else:
        code = tiff_compression(data)
        if code != TIFF_LZW:
            name = TIFF_COMPRESSIONS.get(code, f"code {code}") if code is not None else "unreadable"
            found.form.insert(
                0,
                (
                    "warning",
                    f"compression {name}; expected LZW, which keeps uploads small; {FIX_HINT}",
                ),
            )
    return found


# --- the submission's members -------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One PRED file of a submission: a path in a folder or an entry of a zip."""

    name: str
    tile: int
    #: A folder file, a zip entry's index, or None for an entry too unsafe to read.
    source: Path | int | None


@dataclass(frozen=True)
class CheckOptions:
    """What every worker needs to check members."""

    expected_size: int
    strict: bool
    zip_path: Path | None = None
    fix_dir: Path | None = None
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS


@dataclass(frozen=True)
class MemberResult:
    """The problems of one member, and its re-encoded copy when ``--fix`` repaired it."""

    member: Member
    problems: tuple[Problem, ...]
    fixed: Path | None = None
    value_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Listing:
    """A submission's files before their content is read."""

    members: tuple[Member, ...]
    problems: tuple[Problem, ...]
    n_files: int
    skipped: tuple[str, ...]
    in_folders: tuple[str, ...]


def _other_name_problem(name: str) -> Problem:
    base = PurePosixPath(name).name
    if "\\" in name:
        message = (
            "backslash in the entry name (zipped on Windows?): the platform will not find a PRED "
            "file under it; re-create the zip with flair-kit pack"
        )
    elif base in ("metadata", "metadata.yaml"):
        message = (
            "a file named like this makes the platform treat the upload as a code submission; "
            "remove it"
        )
    elif base.lower().endswith(".zip"):
        message = "nested zip; zip the PRED files themselves (flair-kit pack does)"
    else:
        message = (
            "not a prediction: a submission holds only PRED_<6-digit id>.tif files (the official "
            "scorer ignores other names); remove or rename it"
        )
    return Problem("error", name, message)


@dataclass
class _ListingBuilder:
    """Collects a submission's files while its folder or zip directory is walked."""

    pack: bool
    members: list[Member] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    in_folders: list[str] = field(default_factory=list)
    n_files: int = 0

    def add(self, name: str, source: Path | int | None) -> None:
        """File one non-debris file as a member, a problem, or (when packing) a left-out file."""
        match = PRED_PATTERN.match(PurePosixPath(name).name)
        if match is not None:
            self.members.append(Member(name, int(match.group("id")), source))
        elif self.pack:
            self.skipped.append(name)
        else:
            self.problems.append(_other_name_problem(name))

    def freeze(self) -> Listing:
        """The immutable listing."""
        return Listing(
            tuple(self.members),
            tuple(self.problems),
            self.n_files,
            tuple(self.skipped),
            tuple(self.in_folders),
        )


def list_folder(root: Path, *, pack: bool = False) -> Listing:
    """List a folder submission recursively (debris skipped), in sorted order.

    Args:
        root: the folder.
        pack: list files that are not predictions as left out, instead of as errors.
    """
    builder = _ListingBuilder(pack)
    for path in walk_files(root):
        builder.n_files += 1
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            builder.problems.append(
                Problem(
                    "warning",
                    name,
                    "symbolic link: the file it points to is read (and packed as a regular file)",
                )
            )
        builder.add(name, path)
    return builder.freeze()


def list_zip(path: Path, limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS) -> Listing:
    """List a zip submission: its safety problems and the entries safe to read.

    Entries with a safety error are reported and never read. When the archive as a whole breaks
    a cap (entry count, total size), no entry is read at all.
    """
    builder = _ListingBuilder(pack=False)
    try:
        safety = zipsafe.inspect_zip(path, limits)
    except SubmissionError as exc:
        message = _strip_location(str(exc), str(path))
        builder.problems.append(Problem("error", "", f"{message}; upload a .zip of the PRED files"))
        return builder.freeze()
    builder.problems += [Problem(p.severity, p.entry, p.message) for p in safety]  # type: ignore[arg-type]
    flagged = {p.entry for p in safety if p.severity == "error"}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    if "" in flagged:
        builder.n_files = len(infos)
        return builder.freeze()
    added: set[str] = set()
    for index, info in enumerate(infos):
        name = info.filename
        label = zipsafe.entry_label(name)
        if label in flagged:
            # Never read, but its id counts (once): "missing" would only repeat the safety error.
            if label not in added:
                added.add(label)
                builder.n_files += 1
                if PRED_PATTERN.match(PurePosixPath(name).name):
                    builder.add(label, None)
            continue
        if info.is_dir() or zipsafe.is_debris(name):
            continue
        builder.n_files += 1
        if "/" in name:
            builder.in_folders.append(name)
        builder.add(name, index)
    return builder.freeze()


# --- reading members in worker processes --------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _start_worker(options: CheckOptions) -> None:
    """Pool initializer: each process opens the zip once (parsing its directory is not free)."""
    _stop_worker()
    _WORKER["options"] = options
    if options.zip_path is not None:
        archive = zipfile.ZipFile(options.zip_path)
        _WORKER["archive"] = archive
        _WORKER["infos"] = archive.infolist()


def _stop_worker() -> None:
    archive = _WORKER.pop("archive", None)
    if archive is not None:
        archive.close()
    _WORKER.clear()


def _read_member(member: Member, options: CheckOptions) -> bytes:
    if member.source is None:
        raise ValueError(f"{member.name}: an unsafe entry is never read")
    if isinstance(member.source, int):
        info = _WORKER["infos"][member.source]
        return zipsafe.read_entry(_WORKER["archive"], info, options.limits)
    try:
        # A FIFO, socket or device (or a link to one) is refused unread: it could block or flood.
        with open_regular(member.source) as source:
            size = os.fstat(source.fileno()).st_size
            if size > options.limits.max_entry_bytes:
                raise SubmissionError(
                    f"{member.name}: {size} bytes, far larger than a prediction (cap "
                    f"{options.limits.max_entry_bytes})"
                )
            data = source.read(options.limits.max_entry_bytes + 1)
    except DataError as exc:
        raise SubmissionError(_strip_location(str(exc), str(member.source))) from exc
    except OSError as exc:
        raise SubmissionError(f"{member.name}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > options.limits.max_entry_bytes:
        raise SubmissionError(
            f"{member.name}: more than {options.limits.max_entry_bytes} bytes, far larger than a "
            "prediction"
        )
    return data


def check_member(member: Member, options: CheckOptions) -> MemberResult:
    """Check one member; with ``options.fix_dir``, re-encode it there when only its form is wrong."""
    if member.source is None:  # an unsafe zip entry, already reported
        return MemberResult(member, ())
    base = PurePosixPath(member.name).name
    name_blocking, name_form = name_findings(base)
    try:
        data = _read_member(member, options)
    except SubmissionError as exc:
        message = _strip_location(str(exc), member.name)
        return MemberResult(member, (Problem("error", member.name, message),))
    found = file_findings(
        data, member.name, expected_size=options.expected_size, strict=options.strict
    )
    form = name_form + found.form
    blocking = name_blocking + found.problems
    fixed = None
    content_valid = found.classes is not None and all(s != "error" for s, _ in blocking)
    if options.fix_dir is not None and form and content_valid:
        fixed = options.fix_dir / prediction_name(member.tile)
        write_prediction(fixed, found.classes)
        form = []  # repaired: the archive holds the official re-encoding
    problems = tuple(
        Problem(severity, member.name, message) for severity, message in form + blocking
    )
    return MemberResult(member, problems, fixed, found.value_range)


def _check_chunk(members: Sequence[Member]) -> list[MemberResult]:
    options = _WORKER["options"]
    return [check_member(member, options) for member in members]


def _pool_context() -> multiprocessing.context.BaseContext:
    # As scoring does: fork starts in milliseconds but is unsafe once threads exist.
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def check_members(
    members: Sequence[Member],
    options: CheckOptions,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> list[MemberResult]:
    """Check every member, in parallel when it pays; results keep the members' order.

    Args:
        members: the files to check.
        options: size, strictness, the zip to read from and the ``--fix`` folder.
        workers: worker processes; default all usable cores.
        progress: called with (done, total) after each chunk.
        total: the total reported to ``progress`` (default ``len(members)``).
    """
    if not members:
        return []
    workers = max(1, workers or default_workers())
    total = len(members) if total is None else total
    # Small chunks keep progress live and the load balanced; 8 per worker is plenty.
    size = max(1, min(128, math.ceil(len(members) / (workers * 8))))
    chunks = [members[i : i + size] for i in range(0, len(members), size)]
    results: list[MemberResult] = []

    def collect(chunk_results: list[MemberResult]) -> None:
        results.extend(chunk_results)
        if progress is not None:
            progress(len(results), total)

    if workers == 1 or len(chunks) <= 1:
        _start_worker(options)
        try:
            for chunk in chunks:
                collect(_check_chunk(chunk))
        finally:
            _stop_worker()
        return results
    with _pool_context().Pool(
        processes=min(workers, len(chunks)), initializer=_start_worker, initargs=(options,)
    ) as pool:
        for chunk_results in pool.imap(_check_chunk, chunks):
            collect(chunk_results)
    return results


# --- whole-submission checks --------------------------------------------------------------------


def _ids(tiles: Sequence[int]) -> str:
    return summarize([format_id(t) for t in tiles])


def id_problems(members: Sequence[Member], expected: frozenset | None) -> list[Problem]:
    """Duplicate ids, and missing or extra ids against the expected set."""
    by_tile: dict[int, list[str]] = {}
    for member in members:
        by_tile.setdefault(member.tile, []).append(member.name)
    problems = [
        Problem(
            "error",
            "",
            f"id {format_id(tile)} occurs in {len(names)} files ({', '.join(names)}); keep "
            "exactly one file per id",
        )
        for tile, names in sorted(by_tile.items())
        if len(names) > 1
    ]
    if expected is None:
        return problems
    missing = sorted(expected - by_tile.keys())
    extra = sorted(by_tile.keys() - expected)
    if missing:
        problems.append(
            Problem(
                "error",
                "",
                f"missing predictions for {len(missing):,} of {len(expected):,} expected ids: "
                f"{_ids(missing)}; write one PRED_<id>.tif per test image",
            )
        )
    if extra:
        problems.append(
            Problem(
                "error",
                "",
                f"{len(extra):,} predictions have ids outside the expected set: {_ids(extra)}; "
                "remove them (predictions of training or validation patches?)",
            )
        )
    return problems


def layout_problem(in_folders: Sequence[str]) -> list[Problem]:
    """One warning when zip entries sit inside folders instead of at the archive root."""
    if not in_folders:
        return []
    folders = sorted({name.split("/", 1)[0] + "/" for name in in_folders})
    return [
        Problem(
            "warning",
            "",
            f"{len(in_folders):,} files sit inside folders ({summarize(folders, 3)}), not at the "
            "zip root; the official platform does not unwrap folders: zip the files, not their "
            "folder (flair-kit pack writes a flat zip)",
        )
    ]


def _no_prediction_problem(listing: Listing) -> list[Problem]:
    if listing.members or any(p.severity == "error" and p.where == "" for p in listing.problems):
        return []
    what = "the submission is empty" if listing.n_files == 0 else "no PRED_<id>.tif file found"
    return [
        Problem(
            "error",
            "",
            f"{what} (searched recursively); name each prediction PRED_<6-digit id>.tif after "
            "its image IMG_<id>.tif",
        )
    ]


def submission_problems(listing: Listing, expected: frozenset[int] | None) -> list[Problem]:
    """The whole-submission problems of a listing: safety, emptiness, layout, then ids.

    Id checks are skipped when the submission as a whole is already in error (an unreadable zip,
    a broken cap, no prediction at all): every id would be "missing", which only repeats it.
    """
    problems = list(listing.problems) + _no_prediction_problem(listing)
    problems += layout_problem(listing.in_folders)
    if not any(p.severity == "error" and p.where == "" for p in problems):
        problems += id_problems(listing.members, expected)
    return problems


ONE_BASED_RULE = (
    "no pixel of class 0 (building) in any file while every value lies in 1..{top}: the values "
    "look 1-based (raw labels 1..13, or argmax + 1?); class 0 covers 3-9% of every FLAIR test set, "
    "so a real submission always has some. Predictions must be class indices 0..12: subtract 1"
)


def one_based_problem(ranges: Sequence[tuple[int, int]], *, strict: bool) -> list[Problem]:
    """The whole-submission check for a 1-based submission (the trap that scores about 0.006).

    The heuristic, over every file together: no pixel is 0, every value lies in 1..13, and at
    least two distinct values occur (a constant mask is warned about on its own). A 0-based
    model that never predicts "building" on a whole test set does not exist in practice; on a
    tiny hand-made subset it may, which is why this is a warning (an error under ``strict``).

    >>> one_based_problem([(1, 12), (3, 7)], strict=False)[0].severity
    'warning'
    >>> one_based_problem([(0, 12), (3, 7)], strict=True)
    []
    """
    if not ranges:
        return []
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    if low < 1 or high > NUM_CLASSES or low == high:
        return []
    return [
        Problem(
            "error" if strict else "warning",
            "",
            f"{ONE_BASED_RULE.format(top=high)} ({len(ranges):,} files examined)",
        )
    ]


def member_problems(results: Sequence[MemberResult], *, strict: bool) -> list[Problem]:
    """Every member's own problems, then the checks over all members (1-based values)."""
    problems = [problem for result in results for problem in result.problems]
    ranges = [r.value_range for r in results if r.value_range is not None]
    return problems + one_based_problem(ranges, strict=strict)


def validate_submission(
    path: Path,
    *,
    expect: str | Path | None = None,
    strict: bool = False,
    progress: ProgressCallback | None = None,
    expected_size: int = PATCH_SIZE,
    workers: int | None = None,
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS,
) -> ValidationReport:
    """Check a submission zip or folder and collect every problem.

    Args:
        path: a ``.zip`` (any other file is read as a zip and reported if it is not one) or a
            folder of PRED files, searched recursively.
        expect: the expected id set (see :func:`starting_kit.expect.expected_ids`); None skips
            the missing/extra id checks.
        strict: values outside 0..12 are errors instead of warnings.
        progress: called with (files done, files total).
        expected_size: the required width and height of every mask (512 for FLAIR).
        workers: worker processes; default all usable cores.
        limits: the zip safety caps.

    Returns:
        The report; ``report.ok`` is False when any error was found.

    Raises:
        MissingFileError: ``path`` does not exist, or ``expect`` names no file or folder.
        DataError, ConfigError: ``expect`` cannot be read.
    """
    path = Path(path)
    expected = expected_ids(expect) if expect is not None else None
    if path.is_dir():
        listing = list_folder(path)
        options = CheckOptions(expected_size, strict, limits=limits)
    elif path.exists():
        listing = list_zip(path, limits)
        options = CheckOptions(expected_size, strict, zip_path=path, limits=limits)
    else:
        raise MissingFileError(
            f"{path}: not found; expected a submission .zip or a folder of PRED files"
        )
    results = check_members(listing.members, options, workers=workers, progress=progress)
    problems = submission_problems(listing, expected)
    problems += member_problems(results, strict=strict)
    return ValidationReport(
        sorted_problems(problems),
        listing.n_files,
        tuple(sorted({m.tile for m in listing.members})),
        None if expected is None else len(expected),
    )
