"""Large-area mapping and zone context: tile grid, blending, raster output, patch cut-back.

The networks are stand-ins with known properties (style.md 8): a constant model (zero weights, a
bias), a pointwise model (1x1 convolution) and a translation-equivariant one (a fixed 3x3
convolution). With them the blended sliding-window result has exact, provable answers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from baseline.blending import (
    DEFAULT_STRIP_WIDTH,
    axis_weights,
    blend,
    blend_strips,
    estimate_accumulator_bytes,
    make_grid,
    plan_strips,
    tile_starts,
    tile_weights,
    weighted_span,
)
from baseline.checkpoint import model_payload, save_checkpoint
from baseline.config import config_from_dict, with_overrides
from baseline.geotiff import colour_table
from baseline.inference import predict_scores
from baseline.mapping import map_metadata, map_raster
from baseline.model import FlairSegmenter, MetadataMLP, build_model
from baseline.predict import predict
from baseline.zone_context import Placed, build_mosaics, tile_metadata_lookup
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_CLASSES, colour_rgb
from scoring.errors import ConfigError, DataError, MissingFileError, OutputExistsError
from starting_kit.cli import app
from starting_kit.discovery import discover_tree
from starting_kit.predictions import write_prediction

from .conftest import TEST_CONFIG, write_geotiff

# ---------------------------------------------------------------------------------------------
# Stand-in models and checkpoints


def stand_in_net(kind: str, in_channels: int = 5, seed: int = 0) -> nn.Conv2d:
    """constant: zero weights and a bias favouring class 4; pointwise: 1x1; conv3: 3x3, zero pad."""
    kernel = 3 if kind == "conv3" else 1
    torch.manual_seed(seed)
    conv = nn.Conv2d(in_channels, NUM_CLASSES, kernel, padding=kernel // 2)
    with torch.no_grad():
        if kind == "constant":
            conv.weight.zero_()
            conv.bias.copy_(torch.linspace(-1.0, 1.0, NUM_CLASSES).roll(5))
        else:
            conv.weight.mul_(8.0)  # spread the logits so that argmax ties cannot occur
    return conv


class MetadataStandIn(nn.Module):
    """Pointwise logits plus a per-sample offset computed from the 45 metadata values."""

    uses_metadata = True
    output_stride = 1

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = stand_in_net("pointwise", in_channels)
        self.meta = nn.Linear(45, NUM_CLASSES)
        with torch.no_grad():
            self.meta.weight.mul_(20.0)

    def forward(self, image: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        assert metadata is not None and metadata.shape == (image.shape[0], 45)
        return self.conv(image) + self.meta(metadata)[:, :, None, None]


def builder(kind: str) -> Callable[..., nn.Module]:
    """A replacement for :func:`baseline.model.build_model` building the stand-in."""

    def build(arch, encoder, in_channels, num_classes, encoder_weights="none", **options):
        if kind == "metadata":
            return MetadataStandIn(in_channels)
        mlp = MetadataMLP(13) if options.get("use_metadata") else None
        return FlairSegmenter(stand_in_net(kind, in_channels), mlp)

    return build


@pytest.fixture
def make_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``make_checkpoint(kind, use_metadata=False)``: a checkpoint of a stand-in model."""
    import baseline.inference

    def factory(kind: str, *, use_metadata: bool = False) -> Path:
        build = builder(kind)
        monkeypatch.setattr(baseline.inference, "build_model", build)
        cfg = with_overrides(
            config_from_dict(yaml.safe_load(TEST_CONFIG)), **{"model.use_metadata": use_metadata}
        )
        model = build("unet", "x", 5, NUM_CLASSES, use_metadata=use_metadata)
        path = tmp_path / f"{kind}{'-meta' if use_metadata else ''}.pt"
        save_checkpoint(path, model_payload(model.state_dict(), cfg, epoch=1))
        return path

    return factory


def full_image_probabilities(kind: str, image: np.ndarray) -> np.ndarray:
    """The stand-in applied to a whole (C, H, W) uint8 image at once: (K, H, W) softmax."""
    net = stand_in_net(kind, image.shape[0])
    with torch.inference_mode():
        logits = net(torch.from_numpy(image[None].astype(np.float32) / 255.0))
    return logits.softmax(dim=1)[0].numpy()


def random_image(height: int, width: int, bands: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (bands, height, width), dtype=np.uint8)


def scorer_of(kind: str) -> Callable:
    net = stand_in_net(kind)
    return lambda images, metadata: net(images).softmax(dim=1)


class Collect:
    """A sink that assembles the rows it receives and checks they come once, in order."""

    def __init__(self, height: int, width: int) -> None:
        self.probs = np.full((NUM_CLASSES, height, width), np.nan, np.float32)
        self.covered = np.zeros((height, width), bool)
        self.next_row = 0

    def __call__(self, y0: int, probs: np.ndarray, covered: np.ndarray) -> None:
        assert y0 == self.next_row, "rows must arrive top to bottom, each once"
        self.probs[:, y0 : y0 + probs.shape[1]] = probs
        self.covered[y0 : y0 + probs.shape[1]] = covered
        self.next_row = y0 + probs.shape[1]


def run_blend(image: np.ndarray, kind: str, tile: int, overlap: int, margin: int) -> Collect:
    _, height, width = image.shape
    sink = Collect(height, width)
    grid = make_grid(height, width, tile, overlap, margin)
    blend(
        grid,
        lambda y, x, h, w: image[:, y : y + h, x : x + w],
        scorer_of(kind),
        sink,
        batch_size=3,
        margin=margin,
    )
    assert sink.next_row == height
    return sink


# ---------------------------------------------------------------------------------------------
# Tile grid and weights


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(1, 600),
    tile=st.integers(1, 80),
    overlap_fraction=st.floats(0.0, 0.95),
)
def test_tiles_cover_every_pixel_and_stay_inside(
    length: int, tile: int, overlap_fraction: float
) -> None:
    overlap = min(int(tile * overlap_fraction), tile - 1)
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert list(starts) == sorted(set(starts))
    for a, b in pairwise(starts):
        assert b - a <= tile - overlap  # never a gap, never less overlap than asked
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + size] = True
    assert covered.all()


def test_tile_grid_errors() -> None:
    with pytest.raises(ConfigError, match="tile size is 0; expected at least 1"):
        tile_starts(10, 0, 0)
    with pytest.raises(ConfigError, match=r"overlap is 8 pixels for tiles of 8; expected 0 .. 7"):
        tile_starts(10, 8, 8)
    with pytest.raises(ConfigError, match=r"margin is 5 pixels with an overlap of 8.*--overlap 10"):
        make_grid(100, 100, 32, 8, 5)
    with pytest.raises(DataError, match="raster is 0x5 pixels"):
        make_grid(0, 5, 32, 8, 2)
    with pytest.raises(ConfigError, match=r"weight floor is 0.0"):
        axis_weights(8, floor=0.0)


def test_weight_window_is_smooth_zero_on_inner_margins_and_flat_on_raster_edges() -> None:
    inner = axis_weights(16, margin=2)
    assert (inner[:2] == 0).all() and (inner[-2:] == 0).all()
    assert np.allclose(inner, inner[::-1]) and inner.max() <= 1.0 and inner[2:-2].min() > 0
    edge = axis_weights(16, margin=2, open_start=False)
    assert (edge[:8] == 1.0).all() and (edge[-2:] == 0).all()
    alone = axis_weights(16, margin=2, open_start=False, open_end=False)
    assert (alone == 1.0).all()
    corner = tile_weights(0, 0, 16, 16, 40, 40, margin=2)
    assert corner[0, 0] == 1.0 and corner[-1, -1] == 0.0 and corner.shape == (16, 16)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(20, 300), tile=st.integers(8, 64), data=st.data())
def test_every_pixel_gets_a_positive_weight(length: int, tile: int, data: st.DataObject) -> None:
    margin = data.draw(st.integers(0, (tile - 1) // 2))
    overlap = data.draw(st.integers(2 * margin, tile - 1))
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    total = np.zeros(length)
    for s in starts:
        total[s : s + size] += axis_weights(
            size, margin=margin, open_start=s > 0, open_end=s + size < length
        )
    assert total.min() > 0


# ---------------------------------------------------------------------------------------------
# Blending is seamless


def test_a_constant_model_gives_a_constant_map() -> None:
    image = random_image(77, 53)
    sink = run_blend(image, "constant", tile=32, overlap=8, margin=4)
    expected = full_image_probabilities("constant", image)[:, :1, :1]
    assert sink.covered.all()
    np.testing.assert_allclose(sink.probs, np.broadcast_to(expected, sink.probs.shape), atol=1e-6)


@pytest.mark.parametrize(("height", "width"), [(77, 53), (45, 101), (32, 32), (20, 70)])
def test_translation_equivariant_model_is_the_same_with_and_without_tiling(
    height: int, width: int
) -> None:
    # A 3x3 convolution sees its zero padding only on the outermost pixel of a tile; the margin
    # (2 >= 1 pixel) gives those pixels no weight inside the raster, and on the raster's edges
    # the tile's padding is the whole image's padding: the result equals the untiled one.
    image = random_image(height, width)
    sink = run_blend(image, "conv3", tile=32, overlap=8, margin=2)
    reference = full_image_probabilities("conv3", image)
    np.testing.assert_allclose(sink.probs, reference, atol=1e-5)
    assert (sink.probs.argmax(0) == reference.argmax(0)).all()


def test_without_a_margin_tile_borders_would_leak_into_the_map() -> None:
    # The check above has teeth: with no margin, padded tile borders contribute and differ.
    image = random_image(77, 53)
    sink = run_blend(image, "conv3", tile=32, overlap=8, margin=0)
    assert np.abs(sink.probs - full_image_probabilities("conv3", image)).max() > 1e-3


def test_accumulators_are_bounded_by_the_tile_rows() -> None:
    assert estimate_accumulator_bytes(100_000, 512) == 14 * 512 * 100_000 * 4
    assert estimate_accumulator_bytes(300, 512) == 14 * 300 * 300 * 4


# ---------------------------------------------------------------------------------------------
# Strips: memory bounded in the width too, same result


class CollectBlocks:
    """A :data:`BlockSink` assembling what it receives; every pixel must come exactly once."""

    def __init__(self, height: int, width: int) -> None:
        self.probs = np.full((NUM_CLASSES, height, width), np.nan, np.float32)
        self.covered = np.zeros((height, width), bool)
        self.times = np.zeros((height, width), int)
        self.strips: list[int] = []

    def __call__(self, y0: int, x0: int, probs: np.ndarray, covered: np.ndarray) -> None:
        if not self.strips or self.strips[-1] != x0:
            assert x0 not in self.strips, "strips must arrive one after the other"
            self.strips.append(x0)
        _, n, w = probs.shape
        self.probs[:, y0 : y0 + n, x0 : x0 + w] = probs
        self.covered[y0 : y0 + n, x0 : x0 + w] = covered
        self.times[y0 : y0 + n, x0 : x0 + w] += 1


def run_strips(
    image: np.ndarray,
    scores: Callable,
    *,
    tile: int,
    overlap: int,
    margin: int,
    strip_width: int,
    batch_size: int = 3,
) -> tuple[CollectBlocks, int]:
    _, height, width = image.shape
    sink = CollectBlocks(height, width)
    grid = make_grid(height, width, tile, overlap, margin)
    n_tiles = blend_strips(
        grid,
        lambda y, x, h, w: image[:, y : y + h, x : x + w],
        scores,
        sink,
        strip_width=strip_width,
        batch_size=batch_size,
        margin=margin,
    )
    assert (sink.times == 1).all(), "every pixel is written exactly once"
    assert sink.strips == sorted(sink.strips)
    return sink, n_tiles


def run_single_sweep(
    image: np.ndarray,
    scores: Callable,
    *,
    tile: int,
    overlap: int,
    margin: int,
    batch_size: int = 3,
) -> Collect:
    _, height, width = image.shape
    sink = Collect(height, width)
    grid = make_grid(height, width, tile, overlap, margin)
    blend(
        grid,
        lambda y, x, h, w: image[:, y : y + h, x : x + w],
        scores,
        sink,
        batch_size=batch_size,
        margin=margin,
    )
    return sink


@settings(max_examples=80, deadline=None)
@given(width=st.integers(1, 400), tile=st.integers(4, 64), data=st.data())
def test_strips_partition_the_columns_and_predict_every_weighted_tile(
    width: int, tile: int, data: st.DataObject
) -> None:
    margin = data.draw(st.integers(0, (tile - 1) // 2))
    overlap = data.draw(st.integers(2 * margin, tile - 1))
    strip_width = data.draw(st.integers(1, 500))
    grid = make_grid(8, width, tile, overlap, margin)
    strips = plan_strips(grid, strip_width, margin)
    assert strips[0].x0 == 0 and strips[-1].x1 == width
    assert all(a.x1 == b.x0 for a, b in pairwise(strips))
    for strip in strips:
        assert strip.x0 < strip.x1
        weighted = tuple(
            x
            for x in grid.cols
            if (span := weighted_span(x, grid.tile_w, width, margin))[0] < strip.x1
            and span[1] > strip.x0
        )
        assert strip.cols == weighted
        if strip.x1 - strip.x0 > strip_width:
            # wider than asked only when no border (a weighted part's start) fits in the strip
            borders = [weighted_span(x, grid.tile_w, width, margin)[0] for x in grid.cols[1:]]
            assert not [b for b in borders if strip.x0 < b <= strip.x0 + strip_width]
    predicted = sum(len(s.cols) for s in strips)
    if overlap == 2 * margin and all(d == tile - overlap for d in np.diff(grid.cols)):
        assert predicted == len(grid.cols), "abutting weighted parts: each tile once"
    else:
        # at most the tiles reaching across each border again
        assert predicted <= len(grid.cols) + (len(strips) - 1) * -(-tile // max(tile - overlap, 1))


@pytest.mark.parametrize("width", [4097, 9000, 12_345, 40_000, 40_100, 100_003])
def test_default_settings_predict_each_tile_once(width: int) -> None:
    # Defaults of map_raster: 512-pixel tiles, overlap 128, margin 64 (overlap == 2 * margin).
    grid = make_grid(512, width, 512, 128, 64)
    strips = plan_strips(grid, DEFAULT_STRIP_WIDTH, 64)
    assert len(strips) >= 2
    assert sum(len(s.cols) for s in strips) == len(grid.cols)
    assert max(s.x1 - s.x0 for s in strips) <= DEFAULT_STRIP_WIDTH
    assert max(s.cols[-1] + 512 - s.cols[0] for s in strips) <= DEFAULT_STRIP_WIDTH + 2 * 512


@pytest.mark.parametrize(
    ("height", "width", "overlap", "margin", "strip_width"),
    [(45, 230, 8, 4, 40), (77, 301, 12, 2, 50), (40, 150, 8, 4, 1), (33, 200, 16, 4, 64)],
)
def test_strips_give_the_single_sweep_result_with_the_3x3_model(
    height: int, width: int, overlap: int, margin: int, strip_width: int
) -> None:
    image = random_image(height, width, seed=3)
    grid = make_grid(height, width, 32, overlap, margin)
    assert len(plan_strips(grid, strip_width, margin)) >= 3, "several strips wide"
    # batch_size 1: each tile's probabilities come from the same call as in the single sweep,
    # so the sums are bit for bit the same (same tiles, same order of addition)
    strips, n_tiles = run_strips(
        image,
        scorer_of("conv3"),
        tile=32,
        overlap=overlap,
        margin=margin,
        strip_width=strip_width,
        batch_size=1,
    )
    single = run_single_sweep(
        image, scorer_of("conv3"), tile=32, overlap=overlap, margin=margin, batch_size=1
    )
    np.testing.assert_array_equal(strips.probs, single.probs)
    assert strips.covered.all()
    np.testing.assert_allclose(strips.probs, full_image_probabilities("conv3", image), atol=1e-5)
    assert n_tiles >= grid.n_tiles
    if overlap == 2 * margin:
        assert n_tiles <= grid.n_tiles + len(grid.rows)  # the shifted last column at most


def test_strips_give_the_single_sweep_result_with_a_real_network() -> None:
    # A random-weight U-Net (ResNet18 encoder) sees zero padding and a receptive field much
    # larger than a tile: its tiled map is not the untiled one, but strips must not change it.
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", 5, NUM_CLASSES, decoder_channels=(16, 16, 8, 8, 8))
    model.eval()

    def scores(images: torch.Tensor, metadata: torch.Tensor | None) -> torch.Tensor:
        return model(images).softmax(dim=1)

    image = random_image(40, 170, seed=5)
    strips, n_tiles = run_strips(
        image, scores, tile=32, overlap=8, margin=4, strip_width=30, batch_size=4
    )
    single = run_single_sweep(image, scores, tile=32, overlap=8, margin=4, batch_size=4)
    grid = make_grid(40, 170, 32, 8, 4)
    assert len(plan_strips(grid, 30, 4)) >= 4
    assert n_tiles <= grid.n_tiles + len(grid.rows)
    np.testing.assert_allclose(strips.probs, single.probs, rtol=0, atol=1e-6)
    assert np.abs(single.probs - 1 / NUM_CLASSES).max() > 1e-3  # the network is not trivial


def test_strip_accumulators_do_not_grow_with_the_width() -> None:
    narrow = estimate_accumulator_bytes(20_000, 512, strip_width=4096)
    assert narrow == estimate_accumulator_bytes(1_000_000, 512, strip_width=4096)
    assert narrow == 14 * 512 * (4096 + 2 * 512) * 4
    assert estimate_accumulator_bytes(300, 512, strip_width=4096) == 14 * 300 * 300 * 4


def test_strip_width_errors(make_checkpoint, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="strip width is 0 pixels; expected at least 1"):
        plan_strips(make_grid(10, 10, 4, 2, 1), 0)
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    with pytest.raises(ConfigError, match="strip width is -5 pixels; expected at least 1"):
        map_raster(make_checkpoint("pointwise"), raster, tmp_path / "o.tif", strip_width=-5)
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("output", ["classes", "probabilities"])
def test_map_in_narrow_strips_writes_the_same_file(
    make_checkpoint, tmp_path: Path, output: str
) -> None:
    image = random_image(150, 700, seed=7)
    raster = write_raster(tmp_path / "in.tif", image)
    checkpoint = make_checkpoint("conv3")
    options = {
        "tile": 64,
        "overlap": 16,
        "device": "cpu",
        "amp": "off",
        "output": output,
        "batch_size": 1,
    }
    wide = map_raster(checkpoint, raster, tmp_path / "wide.tif", **options)
    narrow = map_raster(checkpoint, raster, tmp_path / "narrow.tif", strip_width=100, **options)
    assert wide.n_tiles == narrow.n_tiles  # overlap 16 == 2 * margin 8: no tile twice
    with rasterio.open(tmp_path / "wide.tif") as a, rasterio.open(tmp_path / "narrow.tif") as b:
        assert a.profile == b.profile
        np.testing.assert_array_equal(a.read(), b.read())
    if output == "classes":
        with rasterio.open(tmp_path / "narrow.tif") as b:
            assert (b.read(1) == full_image_probabilities("conv3", image).argmax(0)).all()


def test_tta_probabilities_are_a_distribution() -> None:
    model = FlairSegmenter(stand_in_net("conv3"))
    images = torch.rand(2, 5, 16, 16)
    with torch.inference_mode():
        probs = predict_scores(model, images, tta=True, probabilities=True)
    assert probs.shape == (2, NUM_CLASSES, 16, 16)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2, 16, 16))


# ---------------------------------------------------------------------------------------------
# map_raster: output file


def write_raster(path: Path, image: np.ndarray, dtype: str = "uint8") -> Path:
    bands, height, width = image.shape
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": bands,
        "dtype": dtype,
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, 651234.4, 0.0, -0.2, 6862101.6),
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image.astype(dtype))
    return path


def test_map_class_output_is_georeferenced_tiled_compressed_with_colours(
    make_checkpoint, tmp_path: Path
) -> None:
    image = random_image(301, 277)  # odd sizes, larger than the tile grid
    raster = write_raster(tmp_path / "in.tif", image)
    result = map_raster(
        make_checkpoint("conv3"),
        raster,
        tmp_path / "map.tif",
        tile=64,
        overlap=16,
        device="cpu",
        amp="off",
    )
    assert (result.width, result.height) == (277, 301)
    assert result.n_tiles == len(tile_starts(301, 64, 16)) * len(tile_starts(277, 64, 16))
    assert result.tiles_per_s > 0
    with rasterio.open(raster) as src, rasterio.open(tmp_path / "map.tif") as out:
        assert out.crs == src.crs and out.transform == src.transform
        assert (out.width, out.height, out.count, out.dtypes[0]) == (277, 301, 1, "uint8")
        assert out.profile["tiled"] and out.block_shapes[0] == (256, 256)
        assert out.compression.value == "DEFLATE"
        colours = out.colormap(1)
        expected_colours = [colour_rgb(c) for c in CLASS_COLOURS]
        assert [colours[i][:3] for i in range(NUM_CLASSES)] == expected_colours
        assert yaml.safe_load(out.tags()["CLASS_NAMES"]) == list(CLASS_NAMES)
        assert out.tags(1)["CLASS_0"] == CLASS_NAMES[0]
        classes = out.read(1)
    expected = full_image_probabilities("conv3", image).argmax(0)
    assert (classes == expected).all()
    assert not list(tmp_path.glob(".*partial"))


def test_map_probability_output(make_checkpoint, tmp_path: Path) -> None:
    image = random_image(70, 90)
    raster = write_raster(tmp_path / "in.tif", image)
    map_raster(
        make_checkpoint("constant"),
        raster,
        tmp_path / "p.tif",
        tile=32,
        output="probabilities",
        device="cpu",
        amp="off",
    )
    expected = full_image_probabilities("constant", image)[:, 0, 0]
    with rasterio.open(tmp_path / "p.tif") as out:
        assert out.count == NUM_CLASSES and out.dtypes[0] == "uint8"
        assert out.descriptions[0] == f"P({CLASS_NAMES[0]}) x 255"
        values = out.read()
    for band, p in zip(values, expected, strict=False):
        assert (band == round(p * 255)).all()  # constant model: a constant map, band by band


def test_map_cog_has_overviews(make_checkpoint, tmp_path: Path) -> None:
    with rasterio.Env() as env:
        if "COG" not in env.drivers():
            pytest.skip("this GDAL has no COG driver")
    raster = write_raster(tmp_path / "in.tif", random_image(600, 530))
    result = map_raster(
        make_checkpoint("pointwise"), raster, tmp_path / "c.tif", tile=128, cog=True, device="cpu"
    )
    assert result.cog
    with rasterio.open(tmp_path / "c.tif") as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert out.overviews(1) and out.colormap(1)[1][:3] == colour_rgb(CLASS_COLOURS[1])
        assert out.transform == Affine(0.2, 0.0, 651234.4, 0.0, -0.2, 6862101.6)


def test_raster_smaller_than_a_tile(make_checkpoint, tmp_path: Path) -> None:
    image = random_image(19, 23)
    raster = write_raster(tmp_path / "in.tif", image)
    result = map_raster(
        make_checkpoint("conv3"), raster, tmp_path / "s.tif", device="cpu", amp="off"
    )
    assert result.n_tiles == 1
    with rasterio.open(tmp_path / "s.tif") as out:
        assert (out.read(1) == full_image_probabilities("conv3", image).argmax(0)).all()


def test_map_errors(make_checkpoint, tmp_path: Path) -> None:
    checkpoint = make_checkpoint("pointwise")
    three = write_raster(tmp_path / "rgb.tif", random_image(40, 40, bands=3))
    with pytest.raises(
        ConfigError, match=r"rgb.tif: the raster has 3 band\(s\) but .* 5 bands \(1, 2, 3, 4, 5\)"
    ):
        map_raster(checkpoint, three, tmp_path / "o.tif", tile=32, device="cpu")
    floats = write_raster(tmp_path / "f.tif", random_image(40, 40), dtype="float32")
    with pytest.raises(DataError, match=r"f.tif: raster dtype is float32; expected uint8"):
        map_raster(checkpoint, floats, tmp_path / "o.tif", tile=32, device="cpu")
    with pytest.raises(MissingFileError, match=r"nope.tif: raster not found"):
        map_raster(checkpoint, tmp_path / "nope.tif", tmp_path / "o.tif", device="cpu")
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(DataError, match=r"junk.tif: not a readable raster"):
        map_raster(checkpoint, tmp_path / "junk.tif", tmp_path / "o.tif", device="cpu")
    good = write_raster(tmp_path / "good.tif", random_image(40, 40))
    with pytest.raises(ConfigError, match="output is 'rgb'; expected one of classes, probab"):
        map_raster(checkpoint, good, tmp_path / "o.tif", output="rgb")
    with pytest.raises(ConfigError, match="batch size is 0"):
        map_raster(checkpoint, good, tmp_path / "o.tif", batch_size=0)
    (tmp_path / "exists.tif").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match=r"exists.tif: exists; pass --overwrite"):
        map_raster(checkpoint, good, tmp_path / "exists.tif")
    assert (tmp_path / "exists.tif").read_bytes() == b"keep"
    with pytest.raises(ConfigError, match="fuses per-patch aerial metadata"):
        map_raster(make_checkpoint("pointwise", use_metadata=True), good, tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists() and not list(tmp_path.glob(".*partial"))


def test_map_metadata_that_is_not_a_file_says_what_it_is(tmp_path: Path) -> None:
    import os

    with pytest.raises(MissingFileError, match=r"none.json: metadata JSON not found"):
        map_metadata(tmp_path / "none.json", "corrected")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(DataError, match=r"dir.json: is a folder, not a regular file"):
        map_metadata(tmp_path / "dir.json", "corrected")
    os.mkfifo(tmp_path / "pipe.json")  # reading it would block forever
    with pytest.raises(DataError, match=r"pipe.json: is a FIFO \(named pipe\)"):
        map_metadata(tmp_path / "pipe.json", "corrected")


def test_map_overwrite(make_checkpoint, tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    (tmp_path / "o.tif").write_bytes(b"old")
    map_raster(make_checkpoint("pointwise"), raster, tmp_path / "o.tif", tile=32, overwrite=True)
    with rasterio.open(tmp_path / "o.tif") as out:
        assert out.shape == (40, 40)


def test_colour_table_has_every_class() -> None:
    table = colour_table()
    assert sorted(table) == list(range(NUM_CLASSES)) and table[12] == (0, 0, 0, 255)


# ---------------------------------------------------------------------------------------------
# Zone context


def write_zone_tree(root: Path, size: int = 32) -> tuple[Path, dict[int, tuple[int, int]]]:
    """A test tree with one zone of 2x3 touching patches plus an isolated one, another zone of one.

    Returns the test image folder and each id's (row, col) in its mosaic.
    """
    images = root / "flair_1_aerial_test"
    step = size * 0.2
    x0, y0 = 843000.0, 6520000.0
    places: dict[int, tuple[int, int]] = {}
    tile = 70001
    for r in range(2):
        for c in range(3):
            image = random_image(size, size, seed=tile)
            path = images / "D012_2019" / "Z1_UU" / "img" / f"IMG_{tile:06d}.tif"
            write_geotiff(path, image, x0 + c * step, y0 - r * step)
            places[tile] = (r * size, c * size)
            tile += 1
    # Far from the others in the same zone (its own mosaic), and a patch of another zone.
    write_geotiff(
        images / "D012_2019" / "Z1_UU" / "img" / f"IMG_{tile:06d}.tif",
        random_image(size, size, seed=tile),
        x0 + 100.0,
        y0,
    )
    places[tile] = (0, 0)
    write_geotiff(
        images / "D022_2021" / "Z5_AF" / "img" / f"IMG_{tile + 1:06d}.tif",
        random_image(size, size, seed=tile + 1),
        x0,
        y0,
    )
    places[tile + 1] = (0, 0)
    return root, places


def test_mosaics_place_patches_by_georeferencing(tmp_path: Path) -> None:
    root, places = write_zone_tree(tmp_path / "data")
    mosaics = build_mosaics(discover_tree(root / "flair_1_aerial_test"))
    shapes = sorted((m.domain, m.zone, m.height, m.width, len(m.patches)) for m in mosaics)
    assert shapes == [
        ("D012_2019", "Z1_UU", 32, 32, 1),
        ("D012_2019", "Z1_UU", 64, 96, 6),
        ("D022_2021", "Z5_AF", 32, 32, 1),
    ]
    for mosaic in mosaics:
        for patch in mosaic.patches:
            assert (patch.row, patch.col) == places[patch.sample.tile]


def test_misaligned_patch_gets_its_own_mosaic(tmp_path: Path) -> None:
    root, _ = write_zone_tree(tmp_path / "data")
    zone = root / "flair_1_aerial_test" / "D012_2019" / "Z1_UU" / "img"
    x_off_grid = 843000.0 + 6.4 * 3 + 0.1  # half a pixel off the zone's grid
    write_geotiff(zone / "IMG_070100.tif", random_image(32, 32), x_off_grid, 6520000.0)
    mosaics = build_mosaics(discover_tree(root / "flair_1_aerial_test"))
    alone = [m for m in mosaics if any(p.sample.tile == 70100 for p in m.patches)]
    assert len(alone) == 1 and len(alone[0].patches) == 1
    assert sum(len(m.patches) for m in mosaics) == 9


def mosaic_image(root: Path) -> np.ndarray:
    """The 2x3 mosaic of the zone tree as one array."""
    mosaic = np.zeros((5, 64, 96), np.uint8)
    for path in sorted((root / "flair_1_aerial_test" / "D012_2019" / "Z1_UU" / "img").iterdir()):
        tile = int(path.stem[4:])
        if tile <= 70006:
            r, c = divmod(tile - 70001, 3)
            with rasterio.open(path) as src:
                mosaic[:, r * 32 : r * 32 + 32, c * 32 : c * 32 + 32] = src.read()
    return mosaic


def read_pred(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


def test_zone_context_of_a_pointwise_model_equals_plain_prediction(
    make_checkpoint, tmp_path: Path
) -> None:
    root, places = write_zone_tree(tmp_path / "data")
    checkpoint = make_checkpoint("pointwise")
    plain = predict(checkpoint, root, tmp_path / "plain", device="cpu", amp="off")
    zone = predict(checkpoint, root, tmp_path / "zone", device="cpu", amp="off", context="zone")
    assert plain.n_tiles == zone.n_tiles == len(places)
    names = sorted(p.name for p in (tmp_path / "zone").iterdir())
    assert names == sorted(f"PRED_{tile:06d}.tif" for tile in places)
    for name in names:
        values = read_pred(tmp_path / "zone" / name)
        assert (values == read_pred(tmp_path / "plain" / name)).all()
        reference = tmp_path / "reference.tif"
        write_prediction(reference, values)  # official format, byte for byte
        assert (tmp_path / "zone" / name).read_bytes() == reference.read_bytes()


def test_zone_context_predicts_each_patch_with_its_neighbours(
    make_checkpoint, tmp_path: Path
) -> None:
    # A 3x3 convolution over the rebuilt zone sees across patch borders: each PRED equals the
    # model applied to the whole mosaic and cut out, which differs from the patch alone.
    root, _ = write_zone_tree(tmp_path / "data")
    checkpoint = make_checkpoint("conv3")
    predict(checkpoint, root, tmp_path / "zone", device="cpu", amp="off", context="zone", tta=False)
    predict(checkpoint, root, tmp_path / "plain", device="cpu", amp="off")
    whole = full_image_probabilities("conv3", mosaic_image(root)).argmax(0)
    for lone in ("PRED_070007.tif", "PRED_070008.tif"):  # alone in their mosaics: as plain
        assert (read_pred(tmp_path / "zone" / lone) == read_pred(tmp_path / "plain" / lone)).all()
    differs = 0
    for tile in range(70001, 70007):
        r, c = divmod(tile - 70001, 3)
        zone = read_pred(tmp_path / "zone" / f"PRED_{tile:06d}.tif")
        assert (zone == whole[r * 32 : r * 32 + 32, c * 32 : c * 32 + 32]).all()
        differs += int((zone != read_pred(tmp_path / "plain" / f"PRED_{tile:06d}.tif")).sum())
    assert differs > 0


def test_zone_context_with_tta_and_georeferencing(make_checkpoint, tmp_path: Path) -> None:
    root, places = write_zone_tree(tmp_path / "data")
    predict(
        make_checkpoint("pointwise"),
        root,
        tmp_path / "geo",
        device="cpu",
        context="zone",
        tta=True,
        georeferenced=True,
        pack=tmp_path / "sub.zip",
    )
    for tile in places:
        image = next(root.rglob(f"IMG_{tile:06d}.tif"))
        pred = tmp_path / "geo" / f"PRED_{tile:06d}.tif"
        with rasterio.open(image) as src, rasterio.open(pred) as out:
            assert out.crs == src.crs and out.transform == src.transform
    assert (tmp_path / "sub.zip").is_file()


def test_metadata_of_a_tile_comes_from_the_patch_under_its_centre() -> None:
    from baseline.zone_context import Mosaic

    mosaic = Mosaic(
        "D1",
        "Z1",
        32,
        96,
        (Placed(None, 0, 0, 32, 32), Placed(None, 0, 64, 32, 32)),  # type: ignore[arg-type]
    )
    lookup = tile_metadata_lookup(mosaic, [np.zeros(3, np.float32), np.ones(3, np.float32)])
    assert lookup(0, 0, 32, 32)[0] == 0.0
    assert lookup(0, 60, 32, 32)[0] == 1.0  # centre at column 76: the second patch
    assert lookup(0, 30, 32, 10)[0] == 0.0  # centre at column 35, in the gap: nearest is the first


def write_metadata(root: Path, tiles) -> None:
    entries = {
        f"IMG_{tile:06d}": {
            "domain": "D022_2021" if tile == 70008 else "D012_2019",
            "zone": "Z5_AF" if tile == 70008 else "Z1_UU",
            "patch_centroid_x": 843000.0 + 10 * i,
            "patch_centroid_y": 6520000.0 - 5 * i,
            "patch_centroid_z": 100.0 + 97 * i,
            "date": f"2019-0{1 + i % 9}-1{i % 10}",
            "time": f"1{i % 10}h2{i % 10}",
            "camera": "UCE-M3-f120-s07" if i % 2 else "CAMERA#017",
        }
        for i, tile in enumerate(sorted(tiles))
    }
    (root / "flair-1_metadata_aerial.json").write_text(json.dumps(entries), encoding="utf-8")


def test_zone_context_with_a_metadata_model(make_checkpoint, tmp_path: Path) -> None:
    # Lone patches get their own metadata (batched like plain prediction: identical results);
    # in a mosaic each tile gets the metadata of the patch under its centre.
    root, places = write_zone_tree(tmp_path / "data")
    write_metadata(root, places)
    checkpoint = make_checkpoint("metadata", use_metadata=True)
    predict(checkpoint, root, tmp_path / "plain", device="cpu", amp="off")
    predict(checkpoint, root, tmp_path / "zone", device="cpu", amp="off", context="zone")
    for tile in (70007, 70008):  # the lone ones
        name = f"PRED_{tile:06d}.tif"
        assert (read_pred(tmp_path / "zone" / name) == read_pred(tmp_path / "plain" / name)).all()
    assert len(list((tmp_path / "zone").glob("PRED_*.tif"))) == len(places)


def test_zone_context_needs_metadata_for_every_patch(make_checkpoint, tmp_path: Path) -> None:
    from baseline.inference import load_predictor
    from baseline.zone_context import predict_zones

    root, places = write_zone_tree(tmp_path / "data")
    write_metadata(root, places)
    checkpoint = make_checkpoint("metadata", use_metadata=True)
    samples = [
        dataclasses.replace(s, metadata=None) if s.tile == 70002 else s
        for s in discover_tree(
            root / "flair_1_aerial_test", metadata=root / "flair-1_metadata_aerial.json"
        )
    ]
    model, _ = load_predictor(checkpoint)
    (tmp_path / "o").mkdir()
    with pytest.raises(DataError, match=r"IMG_070002: no aerial metadata entry; .*\(--metadata\)"):
        predict_zones(
            model, samples, tmp_path / "o", bands=(1, 2, 3, 4, 5), metadata_variant="corrected"
        )


def test_zone_context_errors(make_checkpoint, tmp_path: Path) -> None:
    root, _ = write_zone_tree(tmp_path / "data")
    with pytest.raises(ConfigError, match="context is 'area'; expected one of patch, zone"):
        predict(make_checkpoint("pointwise"), root, tmp_path / "o", context="area")


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_map_and_zone_context(make_checkpoint, tmp_path: Path) -> None:
    runner = CliRunner()
    checkpoint = make_checkpoint("pointwise")
    raster = write_raster(tmp_path / "in.tif", random_image(70, 50))
    result = runner.invoke(
        app,
        [
            "baseline",
            "map",
            "--checkpoint",
            str(checkpoint),
            "--raster",
            str(raster),
            "--output",
            str(tmp_path / "m.tif"),
            "--tile",
            "32",
            "--device",
            "cpu",
            "--product",
            "probabilities",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tiles/s" in result.stdout and "probabilities:" in result.stdout
    again = runner.invoke(
        app,
        [
            "baseline",
            "map",
            "--checkpoint",
            str(checkpoint),
            "--raster",
            str(raster),
            "--output",
            str(tmp_path / "m.tif"),
        ],
    )
    assert again.exit_code == 1 and "m.tif: exists; pass --overwrite" in again.stderr
    assert "Traceback" not in again.output
    rgb = write_raster(tmp_path / "rgb.tif", random_image(40, 40, bands=3))
    mismatch = runner.invoke(
        app,
        [
            "baseline",
            "map",
            "--checkpoint",
            str(checkpoint),
            "--raster",
            str(rgb),
            "--output",
            str(tmp_path / "x.tif"),
        ],
    )
    assert mismatch.exit_code == 1 and "3 band(s)" in mismatch.stderr
    assert "5 bands (1, 2, 3, 4, 5)" in mismatch.stderr
    bad_margin = runner.invoke(
        app,
        [
            "baseline",
            "map",
            "--checkpoint",
            str(checkpoint),
            "--raster",
            str(raster),
            "--output",
            str(tmp_path / "y.tif"),
            "--tile",
            "32",
            "--overlap",
            "4",
            "--margin",
            "3",
        ],
    )
    assert bad_margin.exit_code == 1 and "at least twice the margin" in bad_margin.stderr
    root, places = write_zone_tree(tmp_path / "data")
    zone = runner.invoke(
        app,
        [
            "baseline",
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(root),
            "--output",
            str(tmp_path / "zone"),
            "--context",
            "zone",
            "--device",
            "cpu",
        ],
    )
    assert zone.exit_code == 0, zone.output
    assert len(list((tmp_path / "zone").glob("PRED_*.tif"))) == len(places)
    usage = runner.invoke(
        app,
        [
            "baseline",
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(root),
            "--output",
            str(tmp_path / "z2"),
            "--context",
            "area",
        ],
    )
    assert usage.exit_code == 2
