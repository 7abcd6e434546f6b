"""Write predicted masks in exactly the official submission format.

The challenge format, byte for byte what IGN's example submission holds: ``PRED_<6-digit id>.tif``,
a classic little-endian TIFF written by Pillow from a 2-D uint8 array of class indices 0..12, LZW
compressed, no GeoTIFF tags (:func:`write_prediction`); or the same name and values written by
rasterio with the input image's CRS and transform (:func:`write_georeferenced`). Files are written
to a temporary name and renamed, so an interrupted run never leaves a truncated prediction behind.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from scoring.atomic import atomic_path, atomic_write_bytes
from scoring.classes import NUM_CLASSES
from scoring.errors import DataError
from scoring.tiles import format_id


def prediction_name(tile: int) -> str:
    """The official file name of a tile's prediction.

    >>> prediction_name(61713)
    'PRED_061713.tif'
    """
    return f"PRED_{format_id(tile)}.tif"


def encode_prediction(classes: np.ndarray) -> Image.Image:
    """Check a class map and turn it into the Pillow image the official writer produced.

    Raises:
        DataError: not 2-D, or values outside 0..12.
    """
    array = np.asarray(classes)
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:-1])
    if array.ndim != 2:
        raise DataError(f"class map has shape {array.shape}; expected (H, W)")
    if array.size and (array.min() < 0 or array.max() >= NUM_CLASSES):
        raise DataError(
            f"class map holds values {int(array.min())}..{int(array.max())}; expected class "
            f"indices 0..{NUM_CLASSES - 1} (do not add 1: predictions are 0-based)"
        )
    return Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))


def write_prediction(path: Path, classes: np.ndarray) -> None:
    """Write one class map as an official ``PRED`` TIFF (Pillow, LZW, uint8, no geotags)."""
    image = encode_prediction(classes)
    # Encoded in memory, written by Python: a full disk is one clean OSError, never libtiff's
    # own lines on stderr, and the file appears whole or not at all.
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="tiff_lzw")
    atomic_write_bytes(path, buffer.getvalue())


def write_georeferenced(path: Path, classes: np.ndarray, source: Path) -> None:
    """Write a class map with the georeferencing of its input image (rasterio, LZW, uint8)."""
    # Imported here for start-up speed only: validate and pack write plain TIFFs and never need
    # rasterio's GDAL bindings.
    import rasterio

    image = encode_prediction(classes)  # the same checks as the official writer
    with rasterio.open(source) as src:
        profile = dict(src.profile)
    for key in ("photometric", "interleave", "blockxsize", "blockysize", "tiled"):
        profile.pop(key, None)
    profile.update(driver="GTiff", count=1, dtype="uint8", compress="lzw", nodata=None)
    with atomic_path(path) as scratch, rasterio.open(scratch, "w", **profile) as dst:
        dst.write(np.asarray(image, dtype=np.uint8), 1)
