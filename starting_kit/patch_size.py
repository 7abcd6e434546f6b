"""The patch size a submission must have, taken from the ``--expect`` folder when there is one.

FLAIR patches are 512 pixels; toy data (the demo's, ``toy-data --size``) is smaller. When
``validate`` or ``pack`` is given ``--expect FOLDER`` of test images (or reference masks) and no
``--size``, the masks must have the size of that folder's patches, so the demo's submission
validates against its own test folder without the user knowing its patch size. Only the header
of one file is read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from scoring.errors import DataError
from scoring.masks import PATCH_SIZE, require_regular
from scoring.tiles import index_tiles
from starting_kit.expect import check_expect_source

#: FLAIR's patch side, pixels: the size without ``--size`` or an ``--expect`` folder.
FLAIR_PATCH_SIZE = PATCH_SIZE


def expected_patch_size(expect: str | Path | None, size: int | None = None) -> int:
    """The width and height every PRED mask must have.

    Args:
        expect: the ``--expect`` source: a built-in name, a csv or a folder (or None).
        size: an explicit ``--size``, which always wins.

    Returns:
        ``size`` if given; else the side of the first (lowest id) ``IMG_<id>.tif``, or without
        images ``MSK_<id>.tif``, under an ``expect`` folder; else 512.

    Raises:
        DataError: that file cannot be read, or is not square (both sides named).
    """
    if size is not None:
        return size
    if expect is not None:
        check_expect_source(expect)
    if expect is None or not Path(expect).is_dir():
        return FLAIR_PATCH_SIZE
    for kind in ("image", "mask"):
        found = index_tiles(Path(expect), kind).by_id
        if not found:
            continue
        first = found[min(found)]
        # GDAL would block forever on a FIFO named IMG_<id>.tif: refuse special files unread.
        require_regular(first, "patch")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(first) as src:
                    width, height = src.width, src.height
        except RasterioIOError as exc:
            raise DataError(
                f"{first}: not a readable raster ({exc}); the --expect folder's patches give the "
                "expected mask size: repair the file or pass --size"
            ) from None
        if width != height:
            raise DataError(
                f"{first}: the --expect folder's patches are {width}x{height} pixels, expected "
                "square patches; pass --size"
            )
        return int(width)  # rasterio ships no types
    return FLAIR_PATCH_SIZE
