"""Quicklooks of class maps: a small PNG of each map with a legend, beside its GeoTIFF.

``flair-kit baseline map --quicklook`` writes ``NAME.quicklook.png`` beside ``NAME.tif``: the map
decimated (nearest neighbour, so every pixel keeps a real class) until its longest side is at most
``--quicklook-size`` pixels, coloured with the map's own class colours, and a legend of the
classes present. The drawing (:func:`quicklook_png`) takes the class array, names and colours, so
it serves any class list; the file shell (:func:`write_quicklook`) reads them from the GeoTIFF's
``CLASS_NAMES`` / ``CLASS_COLOURS`` tags, which ``map`` writes with every output.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from baseline.areas import quiet_gdal
from scoring.atomic import atomic_write_bytes
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, colour_rgb
from scoring.errors import ConfigError, DataError
from scoring.masks import require_regular

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Default longest side of a quicklook, pixels.
QUICKLOOK_SIDE = 1024
#: Smallest ``--quicklook-size`` accepted: below it the legend dwarfs the map.
MIN_QUICKLOOK_SIDE = 16
#: Colour of pixels whose value is not a class of the map (none in maps the kit writes).
UNKNOWN_COLOUR = (128, 128, 128)
SUFFIX = ".quicklook.png"


def quicklook_path(map_path: Path) -> Path:
    """``NAME.quicklook.png`` beside ``NAME.tif``.

    >>> quicklook_path(Path("maps/zone_a.tif")).as_posix()
    'maps/zone_a.quicklook.png'
    """
    return map_path.with_name(map_path.stem + SUFFIX)


def quicklook_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """The decimated size: the longest side at most ``max_side``, the aspect kept, never upscaled.

    >>> quicklook_shape(20000, 10000, 1024), quicklook_shape(300, 200, 1024)
    ((1024, 512), (300, 200))
    """
    factor = max(1.0, max(height, width) / max_side)
    return max(1, math.ceil(height / factor - 1e-9)), max(1, math.ceil(width / factor - 1e-9))


def colour_classes(classes: NDArray[np.integer], colours: Sequence[str]) -> NDArray[np.uint8]:
    """RGB image of a class array; values that are no class are grey.

    >>> colour_classes(np.array([[0, 1, 9]]), ["#ff0000", "#0000ff"]).tolist()
    [[[255, 0, 0], [0, 0, 255], [128, 128, 128]]]
    """
    lut = np.array([colour_rgb(c) for c in colours] + [UNKNOWN_COLOUR], dtype=np.uint8)
    index = np.where((classes >= 0) & (classes < len(colours)), classes, len(colours))
    return lut[index]


def quicklook_png(
    classes: NDArray[np.integer], names: Sequence[str], colours: Sequence[str]
) -> bytes:
    """The class map drawn pixel for pixel, with a legend of the classes present (PNG bytes).

    Args:
        classes: 2-D class indices (already decimated to the quicklook's size).
        names, colours: the map's classes, index order (``#rrggbb`` colours).

    Raises:
        ConfigError: names and colours of different lengths, or a class array that is not 2-D.
    """
    if len(names) != len(colours):
        raise ConfigError(f"{len(names)} class names but {len(colours)} colours; give one each")
    if classes.ndim != 2:
        raise ConfigError(f"a class map has 2 dimensions; got shape {classes.shape}")
    from matplotlib.patches import Patch

    from starting_kit.figures import figure_png, new_figure

    present = [int(k) for k in np.unique(classes) if 0 <= k < len(names)]
    height, width = classes.shape
    dpi = 100
    row = 20  # legend pixels per class at 9 pt
    legend_width = 40 + 8 * max([len(f"{k} {names[k]}") for k in present] or [8])
    figure_height = max(height, row * len(present) + 20)
    figure = new_figure((width + legend_width) / dpi, figure_height / dpi, dpi=dpi)
    # figimage puts the pixels 1:1 (no resampling), top-left aligned.
    figure.figimage(colour_classes(classes, colours), xo=0, yo=figure_height - height)
    handles = [
        Patch(facecolor=colours[k], edgecolor="#555555", label=f"{k} {names[k]}") for k in present
    ]
    if handles:
        figure.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=((width + 4) / (width + legend_width), 1.0),
            fontsize=9,
            frameon=False,
            handlelength=1.2,
            borderaxespad=0.3,
        )
    return figure_png(figure)


def read_map_classes(path: Path, max_side: int) -> tuple[NDArray[np.int64], list[str], list[str]]:
    """A map's class array decimated to ``max_side`` and its classes' names and colours.

    A class map is read with nearest-neighbour decimation (GDAL uses the overviews of a COG); a
    probability map's bands are read the same way and the most probable class is taken. Names
    and colours come from the file's tags, else from the nomenclature.

    Raises:
        DataError: the file is not a regular file (refused unread) or not readable as a raster.
    """
    require_regular(path, "map")
    try:
        # a damaged map may have lost its georeferencing: the error below says what to do
        with warnings.catch_warnings(), quiet_gdal():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                shape = quicklook_shape(src.height, src.width, max_side)
                bands = src.read(out_shape=(src.count, *shape), resampling=Resampling.nearest)
                tags = src.tags()
    except rasterio.errors.RasterioIOError as exc:
        raise DataError(
            f"{path}: cannot read the map for its quicklook ({exc}); delete the damaged map and "
            "map again (a folder run remakes only the missing maps), or pass --overwrite"
        ) from None
    names = json.loads(tags["CLASS_NAMES"]) if "CLASS_NAMES" in tags else list(CLASS_NAMES)
    colours = json.loads(tags["CLASS_COLOURS"]) if "CLASS_COLOURS" in tags else list(CLASS_COLOURS)
    classes = bands[0] if len(bands) == 1 else bands.argmax(axis=0)
    return classes.astype(np.int64), names, colours


def write_quicklook(map_path: Path, max_side: int = QUICKLOOK_SIDE) -> Path:
    """Write the quicklook of a map GeoTIFF beside it, atomically.

    Returns:
        The PNG written (:func:`quicklook_path`).

    Raises:
        ConfigError: ``max_side`` below :data:`MIN_QUICKLOOK_SIDE`.
        DataError: the map cannot be read.
    """
    check_quicklook_side(max_side)
    classes, names, colours = read_map_classes(map_path, max_side)
    target = quicklook_path(map_path)
    atomic_write_bytes(target, quicklook_png(classes, names, colours))
    return target


def check_quicklook_side(max_side: int) -> None:
    """Refuse a quicklook size too small to show anything (before any mapping starts).

    Raises:
        ConfigError: naming the value and the minimum.
    """
    if max_side < MIN_QUICKLOOK_SIDE:
        raise ConfigError(
            f"quicklook size is {max_side} px; expected at least {MIN_QUICKLOOK_SIDE} "
            f"(default {QUICKLOOK_SIDE})"
        )
