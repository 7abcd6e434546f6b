"""Mapping many rasters: inputs, seamless grids of tiles, shards, manifest, resume, torchrun."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch.distributed as dist
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from baseline.areas import (
    MANIFEST,
    Footprint,
    Job,
    MosaicReader,
    list_rasters,
    place_rasters,
    plan_shards,
    read_footprint,
)
from baseline.checkpoint import model_payload, save_checkpoint
from baseline.config import config_from_dict
from baseline.fusion import build_network
from baseline.mapping import map_raster, map_rasters
from baseline.model import build_model
from scoring.errors import ConfigError, DataError, MissingFileError
from starting_kit.cli import app

from .conftest import TEST_CONFIG, write_geotiff
from .test_mapping import make_checkpoint, random_image  # noqa: F401 (a fixture)

X0, Y0, PIXEL = 651000.0, 6862000.0, 0.2
#: Row and column cuts of the test mosaic into 2x2 tiles of unequal sizes.
ROWS, COLS = (0, 35, 70), (0, 40, 90)
OPTIONS = {"tile": 32, "overlap": 8, "device": "cpu", "amp": "off"}


def write_tiles(folder: Path, mosaic: np.ndarray) -> list[Path]:
    """Cut ``mosaic`` into the 2x2 GeoTIFF tiles of one grid, as orthophotos are delivered."""
    paths = []
    for r in range(2):
        for c in range(2):
            part = mosaic[:, ROWS[r] : ROWS[r + 1], COLS[c] : COLS[c + 1]]
            x, y = X0 + COLS[c] * PIXEL, Y0 - ROWS[r] * PIXEL
            paths.append(write_geotiff(folder / f"tile_{r}{c}.tif", part, x, y))
    return paths


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.mark.parametrize("margin", [2, 0])
def test_adjacent_tiles_equal_the_map_of_their_mosaic(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
    margin: int,
) -> None:
    # A 3x3 convolution sees across tile edges. Mapped with its neighbours' context, every tile
    # equals the map of the whole mosaic cut at its edges, exactly, even with margin 0 (where
    # the blending itself leaves tile-border artefacts: the same ones in both).
    checkpoint = make_checkpoint("conv3")
    mosaic = random_image(70, 90, seed=5)
    tiles = write_tiles(tmp_path / "tiles", mosaic)
    whole = write_geotiff(tmp_path / "mosaic.tif", mosaic, X0, Y0)
    options = {**OPTIONS, "margin": margin, "output": "probabilities"}
    map_raster(checkpoint, whole, tmp_path / "mosaic_map.tif", **options)
    result = map_rasters(checkpoint, tmp_path / "tiles", tmp_path / "maps", **options)
    assert (result.inputs, result.rasters, result.skipped, result.mosaics) == (4, 4, 0, 1)
    assert result.pixels == 70 * 90
    assert result.km2 == pytest.approx(70 * 90 * PIXEL**2 / 1e6)
    reference = read(tmp_path / "mosaic_map.tif")
    alone_differs = 0
    for r in range(2):
        for c in range(2):
            out = tmp_path / "maps" / f"tile_{r}{c}.tif"
            cut = reference[:, ROWS[r] : ROWS[r + 1], COLS[c] : COLS[c + 1]]
            np.testing.assert_array_equal(read(out), cut)
            with rasterio.open(out) as dst, rasterio.open(tiles[2 * r + c]) as src:
                assert dst.transform == src.transform and dst.crs == src.crs
            alone = tmp_path / f"alone_{r}{c}.tif"
            map_raster(checkpoint, tiles[2 * r + c], alone, **options)
            alone_differs += int((read(alone) != cut).sum())
    assert alone_differs > 0, "without context the tile edges differ: the test has teeth"


def test_a_lone_raster_maps_as_map_raster_does(make_checkpoint, tmp_path: Path) -> None:  # noqa: F811
    checkpoint = make_checkpoint("conv3")
    folder = tmp_path / "in"
    write_geotiff(folder / "a.tif", random_image(45, 37, seed=2), X0, Y0)
    write_geotiff(folder / "far.tif", random_image(20, 30, seed=3), X0 + 1000.0, Y0)
    list_file = tmp_path / "list.txt"
    list_file.write_text("# two rasters far apart\nin/a.tif\n\nin/far.tif\n", encoding="utf-8")
    result = map_rasters(checkpoint, list_file, tmp_path / "maps", margin=2, **OPTIONS)
    assert (result.rasters, result.mosaics) == (2, 0)
    for name in ("a", "far"):
        map_raster(
            checkpoint, folder / f"{name}.tif", tmp_path / f"{name}.tif", margin=2, **OPTIONS
        )
        np.testing.assert_array_equal(
            read(tmp_path / "maps" / f"{name}.tif"), read(tmp_path / f"{name}.tif")
        )


def footprint(name: str, row: int, col: int, height: int, width: int) -> Footprint:
    return Footprint(
        Path(name), "EPSG:2154", (PIXEL, 0.0, X0 + col * PIXEL, 0.0, -PIXEL, Y0 - row * PIXEL),
        height, width,
    )  # fmt: skip


def test_rasters_are_grouped_into_grids_of_touching_tiles() -> None:
    mosaics = place_rasters(
        [
            footprint("a", 0, 0, 10, 10),
            footprint("b", 0, 10, 10, 10),  # touches a
            footprint("c", 10, 20, 5, 5),  # touches b by a corner
            footprint("far", 100, 100, 10, 10),
            footprint("overlaps", 105, 105, 10, 10),  # overlaps far: both mapped alone
            Footprint(Path("other-crs"), "EPSG:4326", (PIXEL, 0, X0, 0, -PIXEL, Y0), 4, 4),
            Footprint(Path("off-grid"), "EPSG:2154", (PIXEL, 0, X0 + 0.05, 0, -PIXEL, Y0), 4, 4),
        ]
    )
    groups = sorted(sorted(m.footprint.path.name for m in mosaic.members) for mosaic in mosaics)
    assert groups == [["a", "b", "c"], ["far"], ["off-grid"], ["other-crs"], ["overlaps"]]
    (grid,) = [m for m in mosaics if len(m.members) == 3]
    assert (grid.height, grid.width) == (15, 25)
    assert {(m.footprint.path.name, m.row, m.col) for m in grid.members} == {
        ("a", 0, 0),
        ("b", 0, 10),
        ("c", 10, 20),
    }


@settings(max_examples=100, deadline=None)
@given(
    pixels=st.lists(st.integers(1, 10_000), min_size=0, max_size=40),
    world_size=st.integers(1, 9),
)
def test_shards_are_disjoint_complete_and_balanced(pixels: list[int], world_size: int) -> None:
    jobs = [Job(0, i, p, f"r{i:03d}.tif") for i, p in enumerate(pixels)]
    shards = plan_shards(jobs, world_size)
    assert len(shards) == world_size
    names = [j.name for shard in shards for j in shard]
    assert sorted(names) == sorted(j.name for j in jobs)  # complete, each once
    loads = [sum(j.pixels for j in shard) for shard in shards]
    if jobs:
        # greedy largest-first: no rank exceeds the lightest by more than the largest job
        assert max(loads) - min(loads) <= max(pixels)
    assert plan_shards(list(reversed(jobs)), world_size) == shards  # same plan on every rank


def test_a_rerun_resumes_and_the_manifest_guards_the_folder(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    checkpoint = make_checkpoint("pointwise")
    write_tiles(tmp_path / "tiles", random_image(70, 90, seed=9))
    maps = tmp_path / "maps"
    first = map_rasters(checkpoint, tmp_path / "tiles", maps, **OPTIONS)
    assert first.rasters == 4 and (maps / MANIFEST).is_file()
    before = {p.name: p.read_bytes() for p in maps.glob("*.tif")}

    # A killed run: one output missing, a stale temporary of a dead process beside it.
    (maps / "tile_10.tif").unlink()
    stale = maps / ".tile_10.tif.flair-kit-999999999-0123abcd.partial"
    stale.write_bytes(b"half a GeoTIFF")
    again = map_rasters(checkpoint, tmp_path / "tiles", maps, **OPTIONS)
    assert (again.rasters, again.skipped, again.pixels) == (1, 3, 35 * 40)
    assert not stale.exists()
    assert {p.name: p.read_bytes() for p in maps.glob("*.tif")} == before
    assert sorted(p.name for p in maps.iterdir()) == sorted([*before, MANIFEST])

    done = map_rasters(checkpoint, tmp_path / "tiles", maps, **OPTIONS)
    assert (done.rasters, done.skipped) == (0, 4)
    with pytest.raises(ConfigError, match=r"maps: mapped with another checkpoint or options .*"
                       r"tile 32 there, 64 now.*--overwrite"):  # fmt: skip
        map_rasters(checkpoint, tmp_path / "tiles", maps, **{**OPTIONS, "tile": 64})
    other = make_checkpoint("conv3")
    with pytest.raises(
        ConfigError, match=r"checkpoint_sha256 [0-9a-f]{64} there, [0-9a-f]{64} now"
    ):
        map_rasters(other, tmp_path / "tiles", maps, **OPTIONS)
    replaced = map_rasters(other, tmp_path / "tiles", maps, overwrite=True, **OPTIONS)
    assert (replaced.rasters, replaced.skipped) == (4, 0)
    assert map_rasters(other, tmp_path / "tiles", maps, **OPTIONS).skipped == 4


def test_the_manifest_names_differences_in_words_both_ways(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    checkpoint = make_checkpoint("pointwise")
    write_tiles(tmp_path / "tiles", random_image(70, 90, seed=5))
    maps = tmp_path / "maps"
    map_rasters(checkpoint, tmp_path / "tiles", maps, challenge_classes=True, **OPTIONS)
    # recorded only with --challenge-classes: a rerun without it would mix two class lists
    with pytest.raises(ConfigError) as refused:
        map_rasters(checkpoint, tmp_path / "tiles", maps, **{**OPTIONS, "tta": True})
    message = str(refused.value)
    assert "tta off there, on now" in message
    assert "the challenge classes there, the model's own classes now" in message
    assert "None" not in message and "'" not in message.replace("model's", "")
    other = tmp_path / "other"
    map_rasters(checkpoint, tmp_path / "tiles", other, **OPTIONS)
    with pytest.raises(ConfigError, match="the model's own classes there, the challenge classes"):
        map_rasters(checkpoint, tmp_path / "tiles", other, challenge_classes=True, **OPTIONS)


def test_input_errors(make_checkpoint, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_geotiff(tmp_path / "a" / "x.tif", random_image(8, 8), X0, Y0)
    write_geotiff(tmp_path / "b" / "x.tif", random_image(8, 8), X0 + 100.0, Y0)
    with pytest.raises(DataError, match=r"x.tif and .*x.tif: two inputs named x; .*rename one"):
        list_rasters(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text("a/x.tif\nmissing.tif\n", encoding="utf-8")
    with pytest.raises(MissingFileError, match=r"list.txt, line 2: .*missing.tif not found"):
        list_rasters(listing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no raster \(.tif"):
        list_rasters(tmp_path / "empty")
    assert read_footprint(tmp_path / "a" / "x.tif").pixels == 64
    checkpoint = make_checkpoint("pointwise")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"file: is a file; .*--output folder"):
        map_rasters(checkpoint, tmp_path / "a", tmp_path / "file", **OPTIONS)
    write_geotiff(tmp_path / "rgb" / "c.tif", random_image(8, 8, bands=3), X0, Y0)
    with pytest.raises(ConfigError, match=r"c.tif: the raster has 3 band\(s\)"):
        map_rasters(checkpoint, tmp_path / "rgb", tmp_path / "o", **OPTIONS)
    assert not (tmp_path / "o").exists(), "every input is checked before anything is written"


def test_cli_maps_a_folder_and_refuses_one_raster_under_torchrun(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoint = make_checkpoint("pointwise")
    write_tiles(tmp_path / "tiles", random_image(70, 90, seed=4))
    base = ["baseline", "map", "--checkpoint", str(checkpoint), "--tile", "32", "--device", "cpu"]
    result = CliRunner().invoke(
        app, [*base, "--raster", str(tmp_path / "tiles"), "--output", str(tmp_path / "maps")]
    )
    assert result.exit_code == 0, result.output
    assert "mapped 4 of 4 raster(s) (0 already done), 6300 px, 0.000252 km2" in result.stdout
    assert "1 mosaic(s) of adjacent tiles" in result.stdout
    monkeypatch.setenv("WORLD_SIZE", "2")
    one = CliRunner().invoke(
        app, [*base, "--raster", str(tmp_path / "tiles" / "tile_00.tif"), "--output", "x.tif"]
    )
    assert one.exit_code == 1 and "one raster is mapped by one process" in one.stderr


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")
def test_two_processes_share_the_rasters_and_a_killed_run_resumes(tmp_path: Path) -> None:
    # A real (tiny, untrained) U-Net: the processes load the checkpoint themselves.
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    model = build_network(cfg, 5, "none", build_aerial=build_model)
    checkpoint = tmp_path / "best.pt"
    save_checkpoint(checkpoint, model_payload(model.state_dict(), cfg, epoch=1))
    tiles = tmp_path / "tiles"
    write_tiles(tiles, random_image(70, 90, seed=6))
    for i, size in enumerate((40, 24, 16)):
        write_geotiff(tiles / f"lone_{i}.tif", random_image(size, size, seed=i), X0 + 1e4 * (i + 1))
    maps = tmp_path / "maps"
    args = ["baseline", "map", "--checkpoint", str(checkpoint), "--raster", str(tiles),
            "--output", str(maps), "--tile", "32", "--device", "cpu", "--amp", "off"]  # fmt: skip
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*entry: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*torchrun, *entry, *args], capture_output=True, text=True, timeout=300, env=env,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    first = run("-m", "starting_kit")
    # Complete (every raster has its map) and disjoint (the ranks' counts sum to the inputs).
    assert sorted(p.name for p in maps.glob("*.tif")) == sorted(
        f"{p.stem}.tif" for p in tiles.iterdir()
    )
    assert first.stdout.count(" raster(s) (") == 1, "only rank 0 reports"
    assert "mapped 7 of 7 raster(s) (0 already done)" in first.stdout
    assert "2 process(es)" in first.stdout
    reference = {p.name: read(p) for p in maps.glob("*.tif")}

    # A killed run: two maps missing, a stale temporary left; resumed through the console script.
    for name in ("tile_01.tif", "lone_0.tif"):
        (maps / name).unlink()
    (maps / ".lone_0.tif.flair-kit-999999999-0123abcd.partial").write_bytes(b"partial")
    script = shutil.which("flair-kit", path=str(Path(sys.executable).parent)) or "flair-kit"
    second = run(script)
    assert "mapped 2 of 7 raster(s) (5 already done)" in second.stdout
    assert sorted(p.name for p in maps.iterdir()) == sorted([*reference, MANIFEST])
    for name, values in reference.items():
        np.testing.assert_array_equal(read(maps / name), values)


def write_vrt(path: Path, tiles: list[Path], width: int, height: int) -> Path:
    """A GDAL VRT mosaic of the 2x2 test tiles (what gdalbuildvrt writes, by hand)."""
    bands = []
    for band in range(1, 6):
        sources = []
        for index, tile in enumerate(tiles):
            r, c = divmod(index, 2)
            h, w = ROWS[r + 1] - ROWS[r], COLS[c + 1] - COLS[c]
            sources.append(
                f"<SimpleSource><SourceFilename relativeToVRT='0'>{tile}</SourceFilename>"
                f"<SourceBand>{band}</SourceBand>"
                f"<SrcRect xOff='0' yOff='0' xSize='{w}' ySize='{h}'/>"
                f"<DstRect xOff='{COLS[c]}' yOff='{ROWS[r]}' xSize='{w}' ySize='{h}'/>"
                "</SimpleSource>"
            )
        bands.append(
            f"<VRTRasterBand dataType='Byte' band='{band}'>{''.join(sources)}</VRTRasterBand>"
        )
    path.write_text(
        f"<VRTDataset rasterXSize='{width}' rasterYSize='{height}'><SRS>EPSG:2154</SRS>"
        f"<GeoTransform>{X0}, {PIXEL}, 0, {Y0}, 0, {-PIXEL}</GeoTransform>"
        f"{''.join(bands)}</VRTDataset>",
        encoding="utf-8",
    )
    return path


def test_a_vrt_is_one_raster_and_the_reader_crosses_tile_edges(
    make_checkpoint,  # noqa: F811
    tmp_path: Path,
) -> None:
    mosaic = random_image(70, 90, seed=8)
    tiles = write_tiles(tmp_path / "tiles", mosaic)
    (mosaic_of_tiles,) = place_rasters([read_footprint(p) for p in tiles])
    reader = MosaicReader(mosaic_of_tiles, (1, 2, 3, 4, 5))
    for y, x, h, w in [(30, 35, 10, 10), (0, 0, 70, 90), (69, 89, 1, 1), (10, 41, 50, 3)]:
        np.testing.assert_array_equal(reader(y, x, h, w), mosaic[:, y : y + h, x : x + w])
    reader.close()
    vrt = write_vrt(tmp_path / "area.vrt", tiles, 90, 70)
    listing = tmp_path / "inputs.txt"
    listing.write_text("area.vrt\n", encoding="utf-8")
    checkpoint = make_checkpoint("conv3")
    result = map_rasters(checkpoint, listing, tmp_path / "maps", margin=2, **OPTIONS)
    assert (result.inputs, result.rasters, result.pixels) == (1, 1, 70 * 90)
    assert sorted(p.name for p in (tmp_path / "maps").glob("*.tif")) == ["area.tif"]
    map_rasters(checkpoint, tmp_path / "tiles", tmp_path / "tile_maps", margin=2, **OPTIONS)
    whole = read(tmp_path / "maps" / "area.tif")
    for r in range(2):
        for c in range(2):
            np.testing.assert_array_equal(
                read(tmp_path / "tile_maps" / f"tile_{r}{c}.tif"),
                whole[:, ROWS[r] : ROWS[r + 1], COLS[c] : COLS[c + 1]],
            )
    with pytest.raises(ConfigError, match=r"maps.tif: --output names the folder of the maps"):
        map_rasters(checkpoint, listing, tmp_path / "maps.tif", **OPTIONS)
    assert vrt.exists()
