"""Read reference masks and predicted masks with Pillow, the official scorer's decoder.

Every failure becomes a :class:`~scoring.errors.DataError` or
:class:`~scoring.errors.SubmissionError` naming the file, what was found, what was expected and
how to fix it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
from PIL import Image

from scoring.errors import DataError, SubmissionError

if TYPE_CHECKING:
    from numpy.typing import NDArray

# A 512x512 mask is 262,144 pixels; real files never come close to Pillow's bomb threshold, but a
# hostile one may: refuse anything above 64 Mpx instead of trying to allocate it.
MAX_PIXELS = 64 * 1024 * 1024

PRED_FORMAT_HINT = (
    "write each prediction as a 2-D uint8 array of class indices 0..12, "
    "e.g. PIL.Image.fromarray(pred.astype('uint8')).save(path, compression='tiff_lzw')"
)


def load_image(source: Union[Path, BinaryIO]) -> Image.Image:
    """Open and decode an image with Pillow; the pixels stay in memory, the file is closed.

    Raises:
        DataError: Pillow cannot decode the file (truncated, not an image, unsupported layout), or
            it is far larger than a FLAIR patch (a decompression bomb).
    """
    path = getattr(source, "name", source)
    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF in truncated files; the error below says it better.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(
                        f"{path}: image is {width}x{height}, far larger than a FLAIR patch; "
                        "expected a 512x512 mask"
                    )
                image.load()
                return image
    except DataError:
        raise
    except Exception as exc:  # Pillow signals bad files with many exception types.
        reason = str(exc) or type(exc).__name__
        raise DataError(f"{path}: cannot be decoded by Pillow ({reason}); expected a TIFF mask") from exc


def decode_image(source: Union[Path, BinaryIO]) -> NDArray:
    """Decode an image file with Pillow into a numpy array (H, W) or (H, W, bands).

    Raises:
        DataError: see :func:`load_image`.
    """
    return np.asarray(load_image(source))


def check_reference_mask(array: NDArray, path: Path) -> NDArray[np.uint8]:
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


def check_prediction(array: NDArray, path: Path) -> NDArray:
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


def load_prediction(path: Path) -> Image.Image:
    """:func:`load_image` for a participant's file: a decoding failure is the submission's fault.

    Raises:
        SubmissionError: the file is undecodable.
    """
    try:
        return load_image(path)
    except DataError as exc:
        raise SubmissionError(f"{exc}; {PRED_FORMAT_HINT}") from exc


def read_reference_mask(path: Path) -> NDArray[np.uint8]:
    """Read a reference mask ``MSK_<id>.tif``: one band, uint8, raw values of the nomenclature.

    Raises:
        DataError: the file is undecodable, multi-band or not uint8.
    """
    return check_reference_mask(decode_image(path), path)


def read_prediction(path: Path) -> NDArray:
    """Read a predicted mask ``PRED_<id>.tif`` as decoded, without any value change.

    Raises:
        SubmissionError: the file is undecodable or has more than one band.
    """
    return check_prediction(np.asarray(load_prediction(path)), path)
