"""Checks of one prediction file, pure functions of its name or bytes: no file system, no zip.

Names (:func:`name_findings`), the container and its compression (:func:`container_format`,
:func:`tiff_compression`), then the decoded array (:func:`array_findings`), decoded with Pillow
exactly as the official scorer decodes it (:func:`file_findings`).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from scoring.classes import NUM_CLASSES
from scoring.errors import DataError
from scoring.masks import PRED_FORMAT_HINT, OversizeImageError, decode_budget, decode_image
from scoring.tiles import OFFICIAL_PRED_PATTERN, PRED_PATTERN
from starting_kit.predictions import prediction_name
from starting_kit.validate.report import Severity

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
    #: (smallest, largest) of the values outside 0..12, for the message of a file ``--fix``
    #: cannot re-encode; None when every value is a class index.
    outside_range: tuple[int, int] | None = None


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
                    "full patch size (no crop, no resize); for a dataset of other patch sizes (toy "
                    "data) pass --expect DATASET_TEST_FOLDER (the size is read from it) or --size N"
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
    outside_range = None
    if low < 0 or high >= NUM_CLASSES:
        valid = False
        out_of_range = values[(values < 0) | (values >= NUM_CLASSES)]
        outside = out_of_range.size
        outside_range = (int(out_of_range.min()), int(out_of_range.max()))
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
    return ContentFindings(problems, form, array if valid else None, (low, high), outside_range)


def unrepairable_hint(outside_range: tuple[int, int] | None) -> str:
    """Why ``--fix`` left a file of the wrong form as it is (replaces :data:`FIX_HINT`).

    >>> unrepairable_hint((256, 268))
    'values 256..268 (outside 0..12) cannot be re-encoded as uint8; write class indices 0..12'
    """
    top = NUM_CLASSES - 1
    if outside_range is None:
        return "only a file of valid content can be re-encoded: fix the other problems of this file"
    low, high = outside_range
    values = f"value {low}" if low == high else f"values {low}..{high}"
    return (
        f"{values} (outside 0..{top}) cannot be re-encoded as uint8; write class indices 0..{top}"
    )


class _LabelledBuffer(io.BytesIO):
    """File bytes that print as their submission name, so decoder messages name the file."""

    def __init__(self, data: bytes, label: str) -> None:
        super().__init__(data)
        self.label = label

    def __str__(self) -> str:
        return self.label

    __repr__ = __str__


def strip_location(message: str, label: str) -> str:
    """Drop the ``label: `` a message starts with, where the caller names the file itself."""
    prefix = f"{label}: "
    return message.removeprefix(prefix)


def gdal_single_band(
    data: bytes, expected_size: tuple[int, int] | None = None
) -> np.ndarray | None:
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
                band: np.ndarray = dataset.read(1)  # typed here: rasterio ships no types
                return band
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
        array = decode_image(_LabelledBuffer(data, label), expected_size=size)
    except DataError as exc:
        reason = strip_location(str(exc), label)
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
