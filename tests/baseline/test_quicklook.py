"""map --quicklook: a small PNG of each class map, with a legend of the classes present."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from baseline.mapping import map_raster, map_rasters
from baseline.quicklook import (
    colour_classes,
    quicklook_png,
    quicklook_shape,
    read_map_classes,
    write_quicklook,
)
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, colour_rgb
from scoring.errors import ConfigError
from starting_kit.cli import app

from .test_areas import OPTIONS, write_tiles
from .test_mapping import make_checkpoint, random_image, write_raster  # noqa: F401 (a fixture)


def rgb(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def colours_in(image: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in px) for px in image.reshape(-1, 3)}


def test_shape_keeps_the_aspect_and_never_upscales() -> None:
    assert quicklook_shape(5000, 2000, 1024) == (1024, 410)
    assert quicklook_shape(1024, 1024, 1024) == (1024, 1024)
    assert quicklook_shape(3, 100000, 1024) == (1, 1024)
    assert quicklook_shape(40, 30, 1024) == (40, 30)


def test_the_map_is_drawn_pixel_for_pixel_with_a_legend_of_the_present_classes() -> None:
    classes = np.zeros((120, 80), np.int64)
    classes[:, 40:] = 4  # building, impervious surface and water only
    classes[100:, :10] = 2
    image = rgb(quicklook_png(classes, CLASS_NAMES, CLASS_COLOURS))
    assert image.shape[0] == 120 and image.shape[1] > 80  # the legend sits to the right
    assert (image[:, :80] == colour_classes(classes, CLASS_COLOURS)).all()  # no resampling
    short = rgb(quicklook_png(classes[:30], CLASS_NAMES, CLASS_COLOURS))
    assert short.shape[0] > 30  # a map lower than its legend: the canvas grows, map at the top
    assert (short[:30, :80] == colour_classes(classes[:30], CLASS_COLOURS)).all()
    legend = colours_in(image[:, 82:])
    for k in (0, 2, 4):
        assert colour_rgb(CLASS_COLOURS[k]) in legend
    for k in (1, 5, 6, 9):  # absent classes get no legend entry
        assert colour_rgb(CLASS_COLOURS[k]) not in legend


def test_any_class_list_works() -> None:
    """The drawing takes the map's own classes (another model's list, not the nomenclature)."""
    names, colours = ["sea", "land", "cloud"], ["#0000ff", "#00ff00", "#fafafa"]
    classes = np.array([[0, 1], [2, 7]])
    image = rgb(quicklook_png(classes, names, colours))
    assert image.shape[0] >= 2 * 20  # a tall enough canvas for a three-entry legend
    assert tuple(image[0, 0]) == (0, 0, 255) and tuple(image[1, 1]) == (128, 128, 128)
    legend = colours_in(image[:, 4:])
    assert {(0, 0, 255), (0, 255, 0), (250, 250, 250)} <= legend
    with pytest.raises(ConfigError, match=r"3 class names but 2 colours"):
        quicklook_png(classes, names, colours[:2])


def test_map_quicklook_beside_the_geotiff(make_checkpoint, tmp_path: Path) -> None:  # noqa: F811
    raster = write_raster(tmp_path / "in.tif", random_image(150, 100))
    result = map_raster(
        make_checkpoint("pointwise"),
        raster,
        tmp_path / "zone.tif",
        tile=32,
        device="cpu",
        amp="off",
        quicklook=64,
    )
    assert result.quicklook == tmp_path / "zone.quicklook.png"
    with rasterio.open(tmp_path / "zone.tif") as out:
        full = out.read(1)
    image = np.asarray(Image.open(result.quicklook).convert("RGB"))
    # 150x100 decimated to 64x43 (nearest: the pixels are real classes of the map)
    decimated, names, colours = read_map_classes(tmp_path / "zone.tif", 64)
    assert decimated.shape == (64, 43) and names == list(CLASS_NAMES)
    assert set(np.unique(decimated)) <= set(np.unique(full))
    assert (image[:64, :43] == colour_classes(decimated, colours)).all()
    assert not list(tmp_path.glob(".*partial"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.tif",
        "pointwise.pt",
        "zone.quicklook.png",
        "zone.tif",
    ]


def test_probability_maps_draw_their_most_probable_class(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    checkpoint = make_checkpoint("pointwise")
    options = {"tile": 32, "device": "cpu", "amp": "off"}
    map_raster(checkpoint, raster, tmp_path / "c.tif", **options)
    map_raster(checkpoint, raster, tmp_path / "p.tif", output="probabilities", **options)
    classes, _, _ = read_map_classes(tmp_path / "c.tif", 1024)
    from_probabilities, _, _ = read_map_classes(tmp_path / "p.tif", 1024)
    assert (classes == from_probabilities).mean() > 0.95  # up to ties of rounded uint8 values
    write_quicklook(tmp_path / "p.tif", 32)
    assert (tmp_path / "p.quicklook.png").is_file()


def test_one_quicklook_per_output_and_a_rerun_draws_the_missing(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    checkpoint = make_checkpoint("pointwise")
    write_tiles(tmp_path / "tiles", random_image(70, 90, seed=3))
    maps = tmp_path / "maps"
    map_rasters(checkpoint, tmp_path / "tiles", maps, quicklook=32, **OPTIONS)
    stems = ["tile_00", "tile_01", "tile_10", "tile_11"]
    assert sorted(p.name for p in maps.glob("*.quicklook.png")) == [
        f"{s}.quicklook.png" for s in stems
    ]
    (maps / "tile_01.quicklook.png").unlink()  # killed between the map and its picture
    again = map_rasters(checkpoint, tmp_path / "tiles", maps, quicklook=32, **OPTIONS)
    assert again.skipped == 4 and (maps / "tile_01.quicklook.png").is_file()


def test_cli_quicklook_options(make_checkpoint, tmp_path: Path) -> None:  # noqa: F811
    raster = write_raster(tmp_path / "in.tif", random_image(50, 70))
    base = ["baseline", "map", "--checkpoint", str(make_checkpoint("pointwise"))]
    base += ["--raster", str(raster), "--tile", "32", "--device", "cpu"]
    done = CliRunner().invoke(
        app, [*base, "--output", str(tmp_path / "m.tif"), "--quicklook", "--quicklook-size", "35"]
    )
    assert done.exit_code == 0, done.output
    assert f"quicklook: {tmp_path / 'm.quicklook.png'}" in done.stdout
    decimated, _, colours = read_map_classes(tmp_path / "m.tif", 35)
    assert decimated.shape == (25, 35)  # 50x70 -> 25x35; the legend adds its own column
    image = np.asarray(Image.open(tmp_path / "m.quicklook.png").convert("RGB"))
    assert (image[:25, :35] == colour_classes(decimated, colours)).all()
    plain = CliRunner().invoke(app, [*base, "--output", str(tmp_path / "n.tif")])
    assert plain.exit_code == 0 and not (tmp_path / "n.quicklook.png").exists()
    small = CliRunner().invoke(
        app, [*base, "--output", str(tmp_path / "o.tif"), "--quicklook", "--quicklook-size", "4"]
    )
    assert small.exit_code == 2 and not (tmp_path / "o.tif").exists()
    with pytest.raises(ConfigError, match=r"quicklook size is 8 px; expected at least 16"):
        map_raster(make_checkpoint("pointwise"), raster, tmp_path / "q.tif", quicklook=8)


def test_a_damaged_or_special_map_is_one_clear_error(tmp_path: Path) -> None:
    import os
    import warnings

    from affine import Affine

    from scoring.errors import DataError

    profile = {
        "driver": "GTiff",
        "height": 40,
        "width": 50,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, 0.0, 0.0, -0.2, 0.0),
        "tiled": True,
        "compress": "deflate",
    }
    damaged = tmp_path / "m.tif"
    with rasterio.open(damaged, "w", **profile) as dst:
        dst.write(np.zeros((1, 40, 50), dtype=np.uint8))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # lost its tags
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=r"m.tif: cannot read the map .*delete the damaged map"):
            write_quicklook(damaged, 32)
    assert [w.category.__name__ for w in caught] == []  # the error alone says what happened
    os.mkfifo(tmp_path / "f.tif")  # opening it would block forever
    with pytest.raises(DataError, match=r"f.tif: is a FIFO \(named pipe\), not a regular file"):
        write_quicklook(tmp_path / "f.tif", 32)
    assert not list(tmp_path.glob("*.png"))
