"""Read reference masks and predicted masks with Pillow, the official scorer's decoder.

Every failure becomes a :class:`~scoring.errors.DataError` or
:class:`~scoring.errors.SubmissionError` naming the file, what was found, what was expected and
how to fix it.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from PIL import Image

from scoring.errors import DataError, MissingFileError, SubmissionError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Width and height of a FLAIR patch (every reference mask and prediction of the challenges).
PATCH_SIZE = 512

# A 512x512 mask is 262,144 pixels; real files never come close to Pillow's bomb threshold, but a
# hostile one may: refuse anything above 64 Mpx instead of trying to allocate it.
MAX_PIXELS = 64 * 1024 * 1024
#: Most bytes an image may take once decoded (its header is read first): 16 MiB is 64 times a
#: 512x512 uint8 mask and keeps a hostile 9 KB file declaring 8192x8192 complex pixels from
#: costing gigabytes. A larger expected size raises the budget to what that size needs.
MAX_DECODED_BYTES = 16 * 1024 * 1024
#: Bytes per pixel Pillow allocates for each mode (RGB and friends use 4 bytes per pixel).
_MODE_BYTES = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 4,
    "PA": 4,
    "La": 4,
    "I;16": 2,
    "I;16L": 2,
    "I;16B": 2,
    "I;16N": 2,
    "I": 4,
    "F": 4,
}

PRED_FORMAT_HINT = (
    "write each prediction as a 2-D uint8 array of class indices 0..12, "
    "e.g. PIL.Image.fromarray(pred.astype('uint8')).save(path, compression='tiff_lzw')"
)

Size = tuple[int, int]


def decode_budget(expected_size: Size | None = None) -> int:
    """Bytes an image may take once decoded: :data:`MAX_DECODED_BYTES`, or more for a large
    expected size (4 bytes per expected pixel).

    >>> decode_budget() == MAX_DECODED_BYTES, decode_budget((8192, 8192)) // 2**20
    (True, 256)
    """
    if expected_size is None:
        return MAX_DECODED_BYTES
    return max(MAX_DECODED_BYTES, 4 * expected_size[0] * expected_size[1])


def open_regular(path: Path, expected: str = "a TIFF file") -> BinaryIO:
    """Open a file for binary reading only if it is a regular file (symbolic links followed).

    A FIFO, socket or device is refused before it is opened, and the open itself never blocks
    (``O_NONBLOCK``), so a FIFO named ``PRED_<id>.tif`` or a link to ``/dev/zero`` cannot hang or
    flood the reader.

    ``expected`` names what the file should be, for the message (``"a TIFF file"``).

    Raises:
        DataError: the path is not a regular file, or cannot be opened (the message says why).
    """
    try:
        kind = special_file_kind(os.stat(path).st_mode)
        if kind is None:
            handle = open(path, "rb", opener=_open_nonblocking)  # noqa: SIM115 (returned open)
            kind = special_file_kind(os.fstat(handle.fileno()).st_mode)  # it may have changed since
            if kind is None:
                return handle
            handle.close()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    raise DataError(
        f"{path}: is a {kind}, not a regular file; expected {expected} (refused unread)"
    )


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def special_file_kind(mode: int) -> str | None:
    """Name the kind of a non-regular file from its ``st_mode`` (None for a regular file).

    >>> special_file_kind(stat.S_IFIFO), special_file_kind(stat.S_IFREG) is None
    ('FIFO (named pipe)', True)
    """
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


def absent_or_kind(path: Path) -> str:
    """Why ``path`` is not the file or folder asked for: ``not found``, or what it is instead.

    >>> absent_or_kind(Path("/no/such/path")), absent_or_kind(Path("/"))
    ('not found', 'is a folder')
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return f"is a {special_file_kind(mode) or 'file'}"


def require_regular(path: Path, what: str) -> None:
    """Refuse, unread, an input that is missing or not a regular file (symbolic links followed).

    ``what`` names the file expected (``"raster"``), for the message.

    Raises:
        MissingFileError: nothing at ``path``.
        DataError: a folder, FIFO, socket or device there (what it is named).
    """
    state = absent_or_kind(path)
    if state == "is a file":
        return
    if state == "not found":
        raise MissingFileError(f"{path}: {what} not found")
    raise DataError(
        f"{path}: {state}, not a regular file; expected a {what} file (refused unread): "
        "remove it or give the path of a file"
    )


def decoded_bytes(image: Image.Image) -> int:
    """Bytes Pillow will allocate to decode an opened (not yet loaded) image, from its header."""
    width, height = image.size
    per_pixel = _MODE_BYTES.get(image.mode, 4 * max(1, len(image.getbands())))
    return width * height * per_pixel


class OversizeImageError(DataError):
    """An image's header declares more pixels than the decode budget (nothing was decoded)."""


def check_header(image: Image.Image, path: object, expected_size: Size | None = None) -> None:
    """Refuse an opened image whose header declares more pixels than decoding may cost.

    Only the header has been read: width, height, bands and sample format (Pillow's mode). Nothing
    is decoded, so a 9 KB file declaring 8192x8192 float pixels costs nothing.

    Raises:
        DataError: the declared image would take more than :func:`decode_budget` bytes.
    """
    width, height = image.size
    check_declared_size(path, (width, height), decoded_bytes(image), image.mode, expected_size)


def check_declared_size(
    path: object,
    size: Size,
    need: int,
    layout: str,
    expected_size: Size | None = None,
    *,
    expected: str = "uint8",
    kind: str = "a FLAIR mask",
) -> None:
    """Refuse an image whose header (read by any library) declares more than decoding may cost.

    Args:
        path: the file, for the message.
        size: (width, height) declared.
        need: bytes the decoded image would take.
        layout: the declared bands and sample format (Pillow's mode, or e.g. ``3 bands of uint8``).
        expected_size: (width, height) expected; it sets the budget (:func:`decode_budget`).
        expected: the expected sample format, for the message.
        kind: what the file should be, for the message.

    Raises:
        OversizeImageError: more than :data:`MAX_PIXELS` pixels or the decode budget.
    """
    width, height = size
    if width * height > MAX_PIXELS or need > decode_budget(expected_size):
        shape = "x".join(map(str, expected_size)) if expected_size else "512x512"
        raise OversizeImageError(
            f"{path}: header declares {width}x{height} pixels of mode {layout} "
            f"({need / 2**20:.0f} MiB once decoded), far larger than {kind}; "
            f"expected {shape} {expected} (refused before decoding)"
        )


class ImageSizeMismatch(DataError):
    """An image's header declares another size than the one required (nothing was decoded)."""

    def __init__(self, message: str, size: Size, expected: Size) -> None:
        super().__init__(message)
        self.size = size
        self.expected = expected


def load_image(
    source: Path | BinaryIO,
    *,
    expected_size: Size | None = None,
    require_size: bool = False,
    label: object = None,
) -> Image.Image:
    """Open and decode an image with Pillow; the pixels stay in memory, the file is closed.

    The header is checked first (:func:`check_header`), and a path must be a regular file
    (:func:`open_regular`), so no hostile file costs more than the decode budget.

    Args:
        source: a path, or an open binary file.
        expected_size: (width, height) the image should have; it sets the decode budget.
        require_size: refuse another size from the header (:class:`ImageSizeMismatch`).
        label: the name to show in messages (default the path, or the file's ``name``).

    Raises:
        DataError: not a regular file, Pillow cannot decode the file (truncated, not an image,
            unsupported layout), or it declares far more pixels than a FLAIR patch.
    """
    path = label if label is not None else getattr(source, "name", source)
    handle = open_regular(source) if isinstance(source, (str, os.PathLike)) else source
    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF in truncated files; the error below says it better.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                if require_size and expected_size is not None and image.size != expected_size:
                    raise ImageSizeMismatch(
                        f"{path}: image is {image.size[0]}x{image.size[1]}; expected "
                        f"{expected_size[0]}x{expected_size[1]}",
                        image.size,
                        expected_size,
                    )
                check_header(image, path, expected_size)
                image.load()
                # Typed here: Pillow's __enter__ returns Self, which is Any for Python < 3.11.
                decoded: Image.Image = image
                return decoded
    except DataError:
        raise
    except Exception as exc:  # Pillow signals bad files with many exception types.
        reason = str(exc) or type(exc).__name__
        raise DataError(
            f"{path}: cannot be decoded by Pillow ({reason}); expected a TIFF mask"
        ) from exc
    finally:
        if handle is not source:
            handle.close()


def decode_image(source: Path | BinaryIO, *, expected_size: Size | None = None) -> NDArray[Any]:
    """Decode an image file with Pillow into a numpy array (H, W) or (H, W, bands).

    Args:
        source: a path or an open binary file.
        expected_size: (width, height) expected; it sets the decode budget.

    Raises:
        DataError: see :func:`load_image`.
    """
    return np.asarray(load_image(source, expected_size=expected_size))


def check_reference_mask(array: NDArray[Any], path: Path) -> NDArray[np.uint8]:
    """Accept a decoded reference mask only if it is one band of uint8 raw labels.

    Raises:
        DataError: multi-band or not uint8.
    """
    if array.ndim != 2:
        raise DataError(
            f"{path}: reference mask has shape {array.shape}; expected a single band (H, W)"
        )
    if array.dtype != np.uint8:
        raise DataError(
            f"{path}: reference mask has dtype {array.dtype}; expected uint8 raw labels 1..19"
        )
    return array


def check_prediction(array: NDArray[Any], path: Path) -> NDArray[Any]:
    """Accept a decoded prediction only if it has one band (values are judged by the metric).

    Raises:
        SubmissionError: several bands.
    """
    if array.ndim != 2:
        raise SubmissionError(
            f"{path}: prediction has shape {array.shape} (several bands); expected one band; "
            f"{PRED_FORMAT_HINT}"
        )
    return array


def load_prediction(
    path: Path, *, expected_size: Size | None = None, reference: str = "its reference mask"
) -> Image.Image:
    """:func:`load_image` for a participant's file: a decoding failure is the submission's fault.

    Args:
        path: the prediction.
        expected_size: (width, height) of its reference mask; another size is refused from the
            header, before any pixel is decoded.
        reference: how messages name the reference mask.

    Raises:
        SubmissionError: the file is undecodable, of another size, or not a regular file.
    """
    try:
        return load_image(path, expected_size=expected_size, require_size=expected_size is not None)
    except ImageSizeMismatch as exc:
        raise SubmissionError(
            f"{path}: prediction is {exc.size[0]}x{exc.size[1]} but reference {reference} is "
            f"{exc.expected[0]}x{exc.expected[1]}; predict at the reference size"
        ) from exc
    except DataError as exc:
        raise SubmissionError(f"{exc}; {PRED_FORMAT_HINT}") from exc


def read_reference_mask(path: Path) -> NDArray[np.uint8]:
    """Read a reference mask ``MSK_<id>.tif``: one band, uint8, raw values of the nomenclature.

    Raises:
        DataError: the file is undecodable, multi-band or not uint8.
    """
    return check_reference_mask(decode_image(path), path)


def read_prediction(path: Path) -> NDArray[Any]:
    """Read a predicted mask ``PRED_<id>.tif`` as decoded, without any value change.

    Raises:
        SubmissionError: the file is undecodable or has more than one band.
    """
    return check_prediction(np.asarray(load_prediction(path)), path)
