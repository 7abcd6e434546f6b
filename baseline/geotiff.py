"""GeoTIFF output of maps: profile, block-aligned writers, colour table, COG, read-back check.

What :func:`baseline.mapping.map_raster` writes: a tiled, DEFLATE-compressed GeoTIFF
(Cloud-Optimized with ``cog``) with the input's CRS and transform, either the class map (uint8,
the nomenclature's colour table, class names in the metadata) or one uint8 band per class holding
``round(255 * probability)``.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.shutil import copy as raster_copy
from rasterio.windows import Window

from baseline.contract import ModelContract, check_raster_input
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, colour_rgb
from scoring.errors import ConfigError, DataError

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Rows and columns of the output GeoTIFF's internal tiles.
BLOCK = 256


def probabilities_to_uint8(probs: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Scale probabilities in [0, 1] to 0..255 (rounded).

    >>> probabilities_to_uint8(np.array([0.0, 0.5, 1.0], np.float32)).tolist()
    [0, 128, 255]
    """
    return np.clip(np.rint(probs * 255.0), 0, 255).astype(np.uint8)


def colour_table(colours: Sequence[str] = CLASS_COLOURS) -> dict[int, tuple[int, int, int, int]]:
    """Class colours (the challenge's by default) as a GDAL colour table (index -> RGBA)."""
    return {index: (*colour_rgb(colour), 255) for index, colour in enumerate(colours)}


class BlockWriter:
    """Buffers finished rows until a whole band of output blocks can be written.

    GDAL compresses a tiled GeoTIFF block by block; writing rows that cut blocks would make it
    re-read and re-compress half-written blocks. Rows are therefore grouped into bands of
    :data:`BLOCK` rows (the last band may be shorter).
    """

    def __init__(self, dst: Any, output: str, x0: int = 0) -> None:
        self.dst = dst
        self.output = output
        self.x0 = x0
        self.pending: list[NDArray[np.uint8]] = []
        self.pending_rows = 0
        self.next_row = 0

    def __call__(self, y0: int, probs: NDArray[np.float32], covered: NDArray[np.bool_]) -> None:
        if self.output == "classes":
            values = probs.argmax(axis=0).astype(np.uint8)[None]
        else:
            values = probabilities_to_uint8(probs)
        self.pending.append(values)
        self.pending_rows += values.shape[1]
        if self.pending_rows >= BLOCK:
            self._write(whole_blocks=True)

    def _write(self, *, whole_blocks: bool) -> None:
        if not self.pending:
            return
        rows = np.concatenate(self.pending, axis=1)
        n = (rows.shape[1] // BLOCK) * BLOCK if whole_blocks else rows.shape[1]
        if n:
            window = Window(self.x0, self.next_row, rows.shape[2], n)
            self.dst.write(rows[:, :n], window=window)
            self.next_row += n
        rest = rows[:, n:]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_rows = rest.shape[1]

    def close(self) -> None:
        """Write the rows still buffered."""
        self._write(whole_blocks=False)


class StripWriter:
    """The :data:`baseline.blending.BlockSink` of :func:`baseline.blending.blend_strips`: one :class:`BlockWriter` per strip.

    Blocks of the output that straddle a strip border are written in two parts, one per strip;
    GDAL reads such a block back and rewrites it, which costs little beside the inference.
    """

    def __init__(self, dst: Any, output: str) -> None:
        self.dst = dst
        self.output = output
        self.current: BlockWriter | None = None

    def __call__(
        self, y0: int, x0: int, probs: NDArray[np.float32], covered: NDArray[np.bool_]
    ) -> None:
        if self.current is None or self.current.x0 != x0:
            self.close()
            self.current = BlockWriter(self.dst, self.output, x0)
        self.current(y0, probs, covered)

    def close(self) -> None:
        """Write the rows of the current strip still buffered."""
        if self.current is not None:
            self.current.close()


def check_raster(src: Any, path: Path, contract: ModelContract) -> None:
    """Refuse a raster map cannot write on its grid or the model cannot read.

    Raises:
        DataError: no CRS or geotransform (how to add them named); see
            :func:`baseline.contract.check_raster_input` for the model's input checks.
        ConfigError: see :func:`baseline.contract.check_raster_input`.
    """
    missing = [
        what
        for what, absent in (
            ("no CRS", src.crs is None),
            ("no geotransform", src.transform.is_identity),
        )
        if absent
    ]
    if missing:
        raise DataError(
            f"{path}: the raster is not georeferenced ({' and '.join(missing)}); map writes a "
            "GeoTIFF on the input's grid and needs a CRS and a geotransform: add them (e.g. "
            "gdal_translate -a_srs EPSG:2154 -a_ullr ULX ULY LRX LRY in.tif out.tif, or gdalwarp "
            "for ground control points) and map the result"
        )
    check_raster_input(contract, src, path)


def read_window(src: Any, path: Path, bands: Sequence[int], window: Window) -> NDArray[np.uint8]:
    """Read ``bands`` of one window; a damaged block is a :class:`DataError` naming the window.

    Raises:
        DataError: GDAL cannot decode the window (corrupt or truncated strips or tiles).
    """
    try:
        return src.read(indexes=list(bands), window=window)
    except RasterioError as exc:
        row, col = int(window.row_off), int(window.col_off)
        raise DataError(
            f"{path}: cannot read the window of rows {row}..{row + int(window.height) - 1}, "
            f"columns {col}..{col + int(window.width) - 1} ({exc.__cause__ or exc}); the raster "
            "is damaged or truncated: check it with gdalinfo -checksum and copy or export it again"
        ) from None


def output_profile(
    src_profile: dict[str, Any], *, count: int, compress: str = "deflate"
) -> dict[str, Any]:
    """A tiled, compressed uint8 GeoTIFF profile with the source's size, CRS and transform."""
    return {
        "driver": "GTiff",
        "width": src_profile["width"],
        "height": src_profile["height"],
        "count": count,
        "dtype": "uint8",
        "crs": src_profile.get("crs"),
        "transform": src_profile["transform"],
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": compress,
        "nodata": None,
        "BIGTIFF": "IF_SAFER",
    }


def describe_output(
    dst: Any,
    output: str,
    classes: Sequence[str] = CLASS_NAMES,
    colours: Sequence[str] = CLASS_COLOURS,
) -> None:
    """Colour table, class names and band descriptions of the output (challenge classes by
    default, or a model's own ``classes`` and ``colours``)."""
    dst.update_tags(
        CLASS_NAMES=json.dumps(list(classes)),
        CLASS_COLOURS=json.dumps(list(colours)),
        FLAIR_OUTPUT=output,
    )
    if output == "classes":
        dst.write_colormap(1, colour_table(colours))
        dst.set_band_description(
            1, f"class index 0..{len(classes) - 1} (" + ", ".join(classes) + ")"
        )
        dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(classes)})
    else:
        dst.update_tags(SCALE="probability = value / 255")
        for index, name in enumerate(classes, start=1):
            dst.set_band_description(index, f"P({name}) x 255")


def make_cog(scratch: Path, target: Path, compress: str) -> None:
    """Add overviews to ``scratch`` and copy it to ``target`` with GDAL's COG driver."""
    with rasterio.Env() as env:
        if "COG" not in env.drivers():
            raise ConfigError(
                f"the installed GDAL ({rasterio.__gdal_version__}) has no COG driver; upgrade "
                "rasterio (GDAL >= 3.1) or omit --cog"
            )
    with rasterio.open(scratch, "r+") as dst:
        factors = []
        size = max(dst.width, dst.height)
        factor = 2
        while size / factor >= BLOCK:
            factors.append(factor)
            factor *= 2
        if factors:
            resampling = Resampling.nearest if dst.count == 1 else Resampling.average
            dst.build_overviews(factors, resampling)
    raster_copy(
        scratch, target, driver="COG", compress=compress, blocksize=BLOCK, BIGTIFF="IF_SAFER"
    )


def check_written(scratch: Path, out: Path) -> None:
    """Read a just-written raster back, block by block, before it is published as ``out``.

    GDAL caches blocks and flushes them when the dataset closes; a flush that fails there (a full
    disk) is printed by libtiff but raises nothing, so the file could look written while truncated.

    Raises:
        OSError: the file is incomplete (``ENOSPC`` when its disk is full, else ``EIO``), naming
            ``out``.
    """
    try:
        with rasterio.open(scratch) as check:
            for _, window in check.block_windows(1):
                check.read(window=window)
    except (RasterioIOError, rasterio.errors.RasterioError) as exc:
        try:
            stats = os.statvfs(scratch.parent)
            full = stats.f_bavail * stats.f_frsize < 1 << 20
        except OSError:
            full = False
        code = errno.ENOSPC if full else errno.EIO
        strerror = f"{os.strerror(code)}; the raster was not written completely"
        raise OSError(code, strerror, str(out)) from exc
