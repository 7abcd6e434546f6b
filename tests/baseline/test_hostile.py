"""Hostile inputs to the baseline commands: one clear line, exit 1, nothing partial (issue 11).

predict is all or nothing and predicts the test split of a dataset root; map refuses models and
rasters it cannot use, pads rasters of any size and names a damaged window; a checkpoint that is
corrupt or not the kit's is one line; the help text keeps every word; --output names the main
product of every command, and the demo's zip validates with the command the demo prints.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import rasterio
import torch
import typer
import yaml
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from torch import nn
from typer.testing import CliRunner, Result

import baseline.demo as demo_module
from baseline.checkpoint import model_payload, save_checkpoint
from baseline.config import config_from_dict
from baseline.data import image_to_float32
from baseline.model import FlairSegmenter
from scoring.classes import NUM_CLASSES
from scoring.tiles import index_tiles
from starting_kit.cli import app
from tests.hostile.test_inputs import no_hang  # noqa: F401 (a fixture: fail, never hang)

from .conftest import TEST_CONFIG, build_tiny_model, make_flair_tree
from .test_utt import UTT_CONFIG


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result: Result, *pieces: str) -> str:
    """Exit 1, one ``error:`` line on stderr holding every piece, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Warning" not in result.stderr
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


def assert_nothing_beside(folder: Path, *expected: str) -> None:
    """``folder`` holds exactly the named entries: no scratch folder, no partial file."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


def truncate(path: Path, keep: int = 300) -> Path:
    """Keep the header of a GeoTIFF and lose its pixels, as an interrupted copy does."""
    path.write_bytes(path.read_bytes()[:keep])
    return path


# ---------------------------------------------------------------------------------------------
# baseline predict


@pytest.fixture
def tiny_checkpoint(tiny_model, tmp_path: Path) -> Path:
    """An untrained tiny-network checkpoint (prediction rebuilds the tiny network)."""
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    model = build_tiny_model("unet", "resnet18", 5, NUM_CLASSES)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model_payload(model.state_dict(), cfg, epoch=1))
    return path


def predict_cli(checkpoint: Path, data: Path, output: Path, *extra: object) -> Result:
    return invoke(
        "baseline", "predict", "--checkpoint", checkpoint, "--data", data, "--output", output,
        "--device", "cpu", "--amp", "off", "--batch-size", "2", *extra,
    )  # fmt: skip


@pytest.mark.parametrize("workers", [0, 2])
def test_predict_with_an_unreadable_input_writes_nothing(
    tiny_checkpoint: Path, tmp_path: Path, workers: int
) -> None:
    root = make_flair_tree(tmp_path / "data", per_zone=4)
    images = sorted((root / "flair_1_aerial_test").rglob("IMG_*.tif"))
    bad = truncate(images[5])  # in the third batch: two batches were written before
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred", "--workers", workers)
    assert_one_line_error(result, f"{bad}: not a readable GeoTIFF", "damaged or truncated")
    assert "DataLoader worker" not in result.stderr
    assert_nothing_beside(work)


def test_a_failed_overwrite_keeps_the_previous_predictions(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    root = make_flair_tree(tmp_path / "data")
    out = tmp_path / "work" / "pred"
    assert predict_cli(tiny_checkpoint, root, out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    truncate(max((root / "flair_1_aerial_test").rglob("IMG_*.tif")))
    result = predict_cli(tiny_checkpoint, root, out, "--overwrite")
    assert_one_line_error(result, "not a readable GeoTIFF")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert_nothing_beside(tmp_path / "work", "pred")


def test_overwrite_leaves_exactly_this_runs_predictions(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    root = make_flair_tree(tmp_path / "data")
    out = tmp_path / "pred"
    (out / "old").mkdir(parents=True)
    (out / "PRED_999999.tif").write_bytes(b"an earlier run")
    (out / "old" / "PRED_999998.tif").write_bytes(b"an earlier run")
    (out / "notes.txt").write_text("mine")
    result = predict_cli(tiny_checkpoint, root, out, "--overwrite", "--pack", tmp_path / "s.zip")
    assert result.exit_code == 0, result.output
    test_ids = set(index_tiles(root / "flair_1_aerial_test", "image").by_id)
    assert set(index_tiles(out, "pred").by_id) == test_ids
    assert (out / "notes.txt").read_text() == "mine"


def test_scratch_folders_of_killed_runs_are_removed(tiny_checkpoint: Path, tmp_path: Path) -> None:
    root = make_flair_tree(tmp_path / "data")
    work = tmp_path / "work"
    stale = work / ".pred.flair-kit-999999999-0123abcd.partial"  # no such process
    stale.mkdir(parents=True)
    (stale / "PRED_000001.tif").write_bytes(b"half")
    assert predict_cli(tiny_checkpoint, root, work / "pred").exit_code == 0
    assert_nothing_beside(work, "pred")


def as_flair2_root(root: Path) -> Path:
    """Rename a FLAIR #1 tree's test folders to the FLAIR #2 names."""
    (root / "flair_1_aerial_test").rename(root / "flair_2_aerial_test")
    (root / "flair_1_labels_test").rename(root / "flair_2_labels_test")
    return root


def test_a_flair1_model_on_a_flair2_root_predicts_its_test_split(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    root = as_flair2_root(make_flair_tree(tmp_path / "data"))
    out, archive = tmp_path / "pred", tmp_path / "s.zip"
    result = predict_cli(tiny_checkpoint, root, out, "--pack", archive)
    assert result.exit_code == 0, result.output
    test_ids = set(index_tiles(root / "flair_2_aerial_test", "image").by_id)
    train_ids = set(index_tiles(root / "flair_aerial_train", "image").by_id)
    assert set(index_tiles(out, "pred").by_id) == test_ids and not test_ids & train_ids
    assert f"predicted {len(test_ids)} tiles" in result.stdout
    checked = invoke("validate", archive, "--expect", root / "flair_2_aerial_test")
    assert checked.exit_code == 0, checked.output


def test_a_dataset_root_without_test_images_is_refused(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    root = make_flair_tree(tmp_path / "data")
    shutil.rmtree(root / "flair_1_aerial_test")
    result = predict_cli(tiny_checkpoint, root, tmp_path / "pred")
    assert_one_line_error(
        result, "training images but no test images", f"--data {root / 'flair_aerial_train'}"
    )
    assert not (tmp_path / "pred").exists()


def _unblock_later(fifo: Path, seconds: float) -> threading.Thread:
    """Open the FIFO's writing end after ``seconds``: a reader blocked on it gets EOF, so a test of
    a command that wrongly opens the FIFO fails instead of hanging."""

    def writer() -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("workers", [0, 2])
def test_a_fifo_in_place_of_a_test_image_is_refused_unread(
    tiny_checkpoint: Path, tmp_path: Path, workers: int
) -> None:
    root = make_flair_tree(tmp_path / "data")
    image = sorted((root / "flair_1_aerial_test").rglob("IMG_*.tif"))[2]
    image.unlink()
    os.mkfifo(image)
    _unblock_later(image, 20)
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred", "--workers", workers)
    assert_one_line_error(result, f"{image}: is a FIFO (named pipe)", "refused unread")
    assert_nothing_beside(work)


_READ_A_FIFO = """
import sys
from pathlib import Path

import baseline.data
from scoring.atomic import Terminated, scratch_directory, sigterm_raises

# The FIFO appeared after the check (a race): GDAL blocks in open() until SIGTERM interrupts it,
# and then calls back into Python to log the failure.
baseline.data.require_regular = lambda path, what: None
with sigterm_raises():
    try:
        with scratch_directory(Path(sys.argv[2])):
            print("reading", flush=True)
            baseline.data.read_image(Path(sys.argv[1]), (1, 2, 3))
    except Terminated:
        print("terminated", flush=True)
        raise
"""


def test_sigterm_inside_gdal_still_removes_the_scratch_folder(tmp_path: Path) -> None:
    fifo = tmp_path / "IMG_000001.tif"
    os.mkfifo(fifo)
    work = tmp_path / "work"
    work.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", _READ_A_FIFO, str(fifo), str(work / "pred")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "reading\n"
        time.sleep(1.0)  # inside GDAL's blocking open()
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    assert out == "terminated\n", err
    assert_nothing_beside(work)


_SLOW_PREDICT = """
import sys
import time

import baseline.data
import baseline.inference
from tests.baseline.conftest import build_tiny_model

baseline.inference.build_model = build_tiny_model
read_image = baseline.data.read_image


def slow_read(*args, **kwargs):
    time.sleep(0.3)  # a slow disk: the run is still reading when SIGTERM comes
    return read_image(*args, **kwargs)


baseline.data.read_image = slow_read
sys.argv = ["flair-kit", *sys.argv[1:]]
from starting_kit.cli import main

main()
"""


def test_sigterm_to_the_process_group_with_readers_is_one_line_and_leaves_nothing(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    root = make_flair_tree(tmp_path / "data", per_zone=8)
    work = tmp_path / "work"
    work.mkdir()
    args = ["baseline", "predict", "--checkpoint", tiny_checkpoint, "--data", root,
            "--output", work / "pred", "--device", "cpu", "--amp", "off", "--workers", "2",
            "--batch-size", "2"]  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_PREDICT, *map(str, args)],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(work.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the readers are running
        os.killpg(child.pid, signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1] == "terminated (SIGTERM)", err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert_nothing_beside(work)


@pytest.mark.parametrize("which", ["first", "later"])
def test_a_header_declaring_a_huge_patch_is_refused_before_reading(
    tiny_checkpoint: Path, tmp_path: Path, which: str
) -> None:
    root = make_flair_tree(tmp_path / "data")
    images = sorted((root / "flair_1_aerial_test").rglob("IMG_*.tif"))
    image = images[0 if which == "first" else 3]
    profile = dict(rasterio.open(image).profile, width=100000, height=100000, tiled=True)
    profile.update(blockxsize=256, blockysize=256, compress="lzw", sparse_ok=True)
    rasterio.open(image, "w", **profile).close()  # no pixel written: a small file
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred")
    expected = "512x512" if which == "first" else "32x32"
    assert_one_line_error(result, f"{image}: header declares 100000x100000", expected)
    assert_nothing_beside(work)


def test_patches_of_mixed_sizes_name_the_odd_one(tiny_checkpoint: Path, tmp_path: Path) -> None:
    root = make_flair_tree(tmp_path / "data")
    images = sorted((root / "flair_1_aerial_test").rglob("IMG_*.tif"))
    profile = dict(rasterio.open(images[4]).profile, width=33, height=33)
    with rasterio.open(images[4], "w", **profile) as dst:
        dst.write(np.zeros((5, 33, 33), np.uint8))
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred", "--pack", work / "s.zip")
    assert_one_line_error(
        result, f"{images[4]}: header declares 33x33 px", "are 32x32", str(images[0])
    )
    assert_nothing_beside(work)


@pytest.mark.parametrize("entry", ["folder", "link to a folder"])
def test_a_folder_named_like_a_test_image_is_an_error_not_a_skip(
    tiny_checkpoint: Path, tmp_path: Path, entry: str
) -> None:
    root = make_flair_tree(tmp_path / "data")
    image = sorted((root / "flair_1_aerial_test").rglob("IMG_*.tif"))[1]
    image.unlink()
    if entry == "folder":
        image.mkdir()
    else:
        (tmp_path / "elsewhere").mkdir()
        image.symlink_to(tmp_path / "elsewhere")
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred", "--pack", work / "s.zip")
    assert_one_line_error(result, f"{image}: is a folder named like a test image")
    assert_nothing_beside(work)


def test_the_zip_is_validated_against_the_ids_predicted(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import baseline.predict
    import starting_kit.expect

    root = make_flair_tree(tmp_path / "data")
    first = min(index_tiles(root / "flair_1_aerial_test", "image").by_id)
    read: list[object] = []
    monkeypatch.setattr(starting_kit.expect, "folder_ids", lambda path: read.append(path))
    publish = baseline.predict._publish

    def publish_one_short(scratch: Path, out: Path) -> None:
        (scratch / f"PRED_{first:06d}.tif").unlink()  # a PRED file lost on the way
        publish(scratch, out)

    monkeypatch.setattr(baseline.predict, "_publish", publish_one_short)
    work = tmp_path / "work"
    work.mkdir()
    result = predict_cli(tiny_checkpoint, root, work / "pred", "--pack", work / "s.zip")
    assert_one_line_error(result, "not packed", f"{first:06d}")
    assert not (work / "s.zip").exists() and read == []


# ---------------------------------------------------------------------------------------------
# baseline map


class Stride32:
    """Stands for an smp encoder: input sides must be multiples of 32."""

    output_stride = 32


class StridedPointwise(nn.Module):
    """A 1x1 convolution that, like a U-Net, only accepts sides that are multiples of 32."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(in_channels, NUM_CLASSES, 1)
        with torch.no_grad():
            self.conv.weight.mul_(8.0)
        self.encoder = Stride32()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] % 32 or image.shape[-2] % 32:
            raise AssertionError(f"unpadded input {tuple(image.shape)}")
        return self.conv(image)


@pytest.fixture
def strided_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import baseline.inference

    def build(
        arch: str, encoder: str, in_channels: int, num_classes: int, *a: Any, **k: Any
    ) -> nn.Module:
        return FlairSegmenter(StridedPointwise(in_channels))

    monkeypatch.setattr(baseline.inference, "build_model", build)
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    path = tmp_path / "strided.pt"
    save_checkpoint(
        path, model_payload(build("unet", "x", 5, NUM_CLASSES).state_dict(), cfg, epoch=1)
    )
    return path


def write_raster(
    path: Path,
    image: np.ndarray,
    *,
    crs: str | None = "EPSG:2154",
    transform: bool = True,
    **extra: Any,
) -> Path:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": image.shape[1],
        "width": image.shape[2],
        "count": image.shape[0],
        "dtype": "uint8",
        **extra,
    }
    if crs is not None:
        profile["crs"] = crs
    if transform:
        profile["transform"] = Affine(0.2, 0.0, 651234.4, 0.0, -0.2, 6862101.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the plain rasters on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(image)
    return path


def random_image(height: int, width: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (5, height, width), dtype=np.uint8)


def map_cli(checkpoint: Path, raster: Path, output: Path, *extra: object) -> Result:
    return invoke(
        "baseline", "map", "--checkpoint", checkpoint, "--raster", raster, "--output", output,
        "--device", "cpu", "--amp", "off", *extra,
    )  # fmt: skip


@pytest.mark.parametrize(("height", "width"), [(16, 40), (1, 40), (16, 16), (1, 1), (31, 3)])
def test_map_pads_rasters_of_any_size(
    strided_checkpoint: Path, tmp_path: Path, height: int, width: int
) -> None:
    image = random_image(height, width)
    raster = write_raster(tmp_path / "small.tif", image)
    result = map_cli(strided_checkpoint, raster, tmp_path / "map.tif")
    assert result.exit_code == 0, result.output
    net = StridedPointwise(5)
    with torch.no_grad():
        expected = net.conv(torch.from_numpy(image_to_float32(image))[None])[0].argmax(0).numpy()
    with rasterio.open(tmp_path / "map.tif") as out:
        assert out.shape == (height, width)
        assert (out.read(1) == expected).all()


def test_map_pads_a_16_pixel_raster_for_a_real_unet(tmp_path: Path) -> None:
    from baseline.model import build_model

    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    model = build_model(
        "unet", "resnet18", 5, NUM_CLASSES, "none", decoder_channels=(16, 16, 8, 8, 8)
    )
    checkpoint = tmp_path / "unet.pt"
    save_checkpoint(checkpoint, model_payload(model.state_dict(), cfg, epoch=1))
    raster = write_raster(tmp_path / "small.tif", random_image(16, 40))
    result = map_cli(checkpoint, raster, tmp_path / "map.tif")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "map.tif") as out:
        assert out.shape == (16, 40)


def test_map_refuses_a_utt_checkpoint_in_one_line(tmp_path: Path) -> None:
    cfg = config_from_dict(yaml.safe_load(UTT_CONFIG))
    checkpoint = tmp_path / "utt.pt"
    save_checkpoint(checkpoint, model_payload({}, cfg, epoch=1))  # refused before any weight
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    result = map_cli(checkpoint, raster, tmp_path / "map.tif")
    assert_one_line_error(result, f"{checkpoint}: a FLAIR #2 U-T&T model", "aerial-only model")
    assert_nothing_beside(tmp_path, "utt.pt", "in.tif")


@pytest.mark.parametrize(
    ("crs", "transform", "missing"),
    [
        (None, False, "no CRS and no geotransform"),
        (None, True, "no CRS"),
        ("EPSG:2154", False, "no geotransform"),
    ],
)
def test_map_refuses_a_raster_without_georeferencing(
    strided_checkpoint: Path, tmp_path: Path, crs: str | None, transform: bool, missing: str
) -> None:
    raster = write_raster(
        tmp_path / "plain.tif", random_image(40, 40), crs=crs, transform=transform
    )
    result = map_cli(strided_checkpoint, raster, tmp_path / "map.tif")
    line = assert_one_line_error(
        result, f"{raster}: the raster is not georeferenced", "gdal_translate"
    )
    assert f"({missing})" in line
    assert_nothing_beside(tmp_path, "strided.pt", "plain.tif")


def test_map_names_the_window_of_a_damaged_block(strided_checkpoint: Path, tmp_path: Path) -> None:
    raster = write_raster(
        tmp_path / "in.tif",
        random_image(96, 96),
        tiled=True,
        blockxsize=16,
        blockysize=16,
        compress="deflate",
    )
    data = bytearray(raster.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = b"\xab" * 2000  # blocks in the middle of the file
    raster.write_bytes(bytes(data))
    result = map_cli(strided_checkpoint, raster, tmp_path / "map.tif", "--tile", "32")
    line = assert_one_line_error(
        result, f"{raster}: cannot read the window of rows", "damaged or truncated"
    )
    assert re.search(r"rows \d+\.\.\d+, columns \d+\.\.\d+", line)
    assert_nothing_beside(tmp_path, "strided.pt", "in.tif")


def test_map_never_writes_over_its_inputs(strided_checkpoint: Path, tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    kept = {p: p.read_bytes() for p in (raster, strided_checkpoint)}
    (tmp_path / "link.tif").symlink_to(raster)
    for target in (raster, strided_checkpoint, tmp_path / "link.tif"):
        result = map_cli(strided_checkpoint, raster, target, "--overwrite", "--tile", "32")
        assert_one_line_error(result, ": --output would overwrite this input")
    # folder mode: the maps' folder is the rasters' folder, or lies inside it
    rasters = tmp_path / "rasters"
    rasters.mkdir()
    write_raster(rasters / "a.tif", random_image(40, 40))
    for target in (rasters, rasters / "maps"):
        result = map_cli(strided_checkpoint, rasters, target, "--overwrite", "--tile", "32")
        assert_one_line_error(result, "--output would", f"{rasters}")
    assert sorted(p.name for p in rasters.iterdir()) == ["a.tif"]
    # a listed raster, or the checkpoint, stands where a map of the folder goes
    maps = tmp_path / "maps"
    maps.mkdir()
    listed = write_raster(maps / "b.tif", random_image(40, 40))
    shutil.copy(strided_checkpoint, maps / "a.tif")
    kept.update({p: p.read_bytes() for p in (listed, maps / "a.tif")})
    (tmp_path / "list.txt").write_text("rasters/a.tif\n", encoding="utf-8")
    (tmp_path / "both.txt").write_text("maps/b.tif\n", encoding="utf-8")
    for listing, checkpoint, name in (
        (tmp_path / "both.txt", strided_checkpoint, "b.tif"),
        (tmp_path / "list.txt", maps / "a.tif", "a.tif"),
    ):
        result = map_cli(checkpoint, listing, maps, "--overwrite", "--tile", "32")
        assert_one_line_error(result, f"{maps / name}: --output would overwrite this input")
    assert {p: p.read_bytes() for p in kept} == kept
    assert sorted(p.name for p in maps.iterdir()) == ["a.tif", "b.tif"]


@pytest.mark.usefixtures("no_hang")
@pytest.mark.parametrize("where", ["raster", "list", "in-folder", "list-line"])
def test_map_refuses_a_fifo_unread(strided_checkpoint: Path, tmp_path: Path, where: str) -> None:
    fifo = tmp_path / ("list.txt" if where == "list" else "f.tif")
    source = fifo
    if where == "in-folder":
        fifo = tmp_path / "rasters" / "f.tif"
        source = fifo.parent
        source.mkdir()
        write_raster(source / "a.tif", random_image(40, 40))
    os.mkfifo(fifo)
    if where == "list-line":
        source = tmp_path / "list.txt"
        source.write_text("# one FIFO\nf.tif\n", encoding="utf-8")
    output = tmp_path / ("m.tif" if where == "raster" else "maps")
    result = map_cli(strided_checkpoint, source, output, "--tile", "32")
    line = assert_one_line_error(result, f"{fifo}", "is a FIFO (named pipe)")
    if where == "list-line":
        assert f"{source}, line 2: " in line
    assert not output.exists()


def test_map_list_lines_say_what_they_name_and_where_decoding_fails(
    strided_checkpoint: Path, tmp_path: Path
) -> None:
    write_raster(tmp_path / "a.tif", random_image(40, 40))
    (tmp_path / "dir.tif").mkdir()
    listing = tmp_path / "list.txt"
    listing.write_text("a.tif\ndir.tif\n", encoding="utf-8")
    result = map_cli(strided_checkpoint, listing, tmp_path / "maps", "--tile", "32")
    assert_one_line_error(result, f"{listing}, line 2: {tmp_path / 'dir.tif'} is a folder")
    listing.write_bytes(b"a.tif\n\xff\xfe.tif\n")
    result = map_cli(strided_checkpoint, listing, tmp_path / "maps", "--tile", "32")
    assert_one_line_error(result, f"{listing}, line 2: not UTF-8 text", "one path a line")
    assert not (tmp_path / "maps").exists()


def map_folder(checkpoint: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two rasters in ``rasters/`` mapped into ``maps/``."""
    rasters = tmp_path / "rasters"
    rasters.mkdir()
    write_raster(rasters / "a.tif", random_image(40, 40))
    write_raster(rasters / "b.tif", random_image(30, 50, seed=2))
    maps = tmp_path / "maps"
    assert map_cli(checkpoint, rasters, maps, "--tile", "32").exit_code == 0
    return rasters, maps


@pytest.mark.parametrize("kind", ["folder", "fifo"])
@pytest.mark.parametrize("quicklook", [False, True], ids=["resume", "quicklook"])
@pytest.mark.usefixtures("no_hang")
def test_map_resume_counts_only_a_regular_file_as_a_finished_map(
    strided_checkpoint: Path, tmp_path: Path, kind: str, quicklook: bool
) -> None:
    rasters, maps = map_folder(strided_checkpoint, tmp_path)
    (maps / "b.tif").unlink()
    if kind == "folder":
        (maps / "b.tif").mkdir()
    else:
        os.mkfifo(maps / "b.tif")
    extra = ["--quicklook"] if quicklook else []
    result = map_cli(strided_checkpoint, rasters, maps, "--tile", "32", *extra)
    what = "is a folder" if kind == "folder" else "is a FIFO (named pipe)"
    assert_one_line_error(result, f"{maps / 'b.tif'}: {what} where this map goes", "remove it")
    assert not list(maps.glob("*.png"))


def test_map_manifest_that_is_not_an_object(strided_checkpoint: Path, tmp_path: Path) -> None:
    rasters, maps = map_folder(strided_checkpoint, tmp_path)
    (maps / "flair-map.json").write_text("[1]", encoding="utf-8")
    result = map_cli(strided_checkpoint, rasters, maps, "--tile", "32")
    assert_one_line_error(result, "flair-map.json: not a map manifest (a JSON list", "--overwrite")
    again = map_cli(strided_checkpoint, rasters, maps, "--tile", "32", "--overwrite")
    assert again.exit_code == 0, again.output


def test_map_damaged_inputs_and_maps_say_how_to_fix(
    strided_checkpoint: Path, tmp_path: Path
) -> None:
    (tmp_path / "junk.tif").write_text("not a raster", encoding="utf-8")
    result = map_cli(strided_checkpoint, tmp_path / "junk.tif", tmp_path / "m.tif")
    assert_one_line_error(result, "junk.tif: not a readable raster", "replace the damaged file")
    rasters, maps = map_folder(strided_checkpoint, tmp_path)
    truncate(maps / "b.tif", 200)
    result = map_cli(strided_checkpoint, rasters, maps, "--tile", "32", "--quicklook")
    assert_one_line_error(
        result, f"{maps / 'b.tif'}: cannot read the map for its quicklook", "delete the damaged map"
    )


# ---------------------------------------------------------------------------------------------
# checkpoints that are corrupt or not the kit's


class Whole(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)


def write_bad_checkpoint(kind: str, path: Path, good: Path) -> Path:
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "json":
        path.write_text('{"model": {}}')
    elif kind == "pickle":
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    elif kind == "whole-model":
        torch.save(Whole(), path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "damaged-fields":
        torch.save(
            {
                "model": [],
                "config": "x",
                "classes": 5,
                "flair_kit_version": "0",
                "format": 1,
                "epoch": 1,
            },
            path,
        )
    return path


BAD_CHECKPOINTS = (
    "truncated",
    "json",
    "pickle",
    "whole-model",
    "tensor",
    "empty",
    "damaged-fields",
)


@pytest.mark.parametrize("kind", BAD_CHECKPOINTS)
@pytest.mark.parametrize("command", ["map", "predict"])
def test_a_bad_checkpoint_is_one_line(
    tiny_checkpoint: Path, flair_root: Path, tmp_path: Path, kind: str, command: str
) -> None:
    bad = write_bad_checkpoint(kind, tmp_path / f"{kind}.pt", tiny_checkpoint)
    if command == "map":
        raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
        result = map_cli(bad, raster, tmp_path / "out" / "map.tif")
    else:
        result = predict_cli(bad, flair_root, tmp_path / "out" / "pred")
    line = assert_one_line_error(result, f"{bad}: ", "flair-kit baseline train")
    assert "weights_only" not in line
    assert "not a flair-kit checkpoint" in line or "a damaged flair-kit checkpoint" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# help texts and option names


def all_commands() -> list[tuple[list[str], click.Command]]:
    root = typer.main.get_command(app)
    found: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], root)
    return found


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("path", "command"), all_commands(), ids=lambda v: "-".join(v) if isinstance(v, list) else ""
)
def test_help_keeps_every_word(path: list[str], command: Any) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    shown = squash(result.stdout)
    # Without any whitespace: click may wrap a line after a hyphen ("flair-kit-" / "demo").
    compact = "".join(result.stdout.split())
    for param in command.params:
        text = getattr(param, "help", None)
        if text and not getattr(param, "hidden", False):
            assert "".join(text.split()) in compact, (path, param.name, text)
    assert " ." not in shown.replace(" ...", ""), shown  # a lost bracketed word leaves " ."


def test_help_shows_the_bracketed_texts_that_were_lost() -> None:
    assert "Worker processes [default: all cores]." in squash(invoke("score", "--help").stdout)
    predict_help = squash(invoke("baseline", "predict", "--help").stdout)
    assert "must equal the checkpoint's [checkpoint's]." in predict_help
    assert "[0 on CPU, 5/8 of the cores on a GPU]" in predict_help


def test_every_main_product_is_named_by_output() -> None:
    for path in (
        ["pack"],
        ["bundle"],
        ["demo"],
        ["baseline", "train"],
        ["baseline", "predict"],
        ["baseline", "map"],
    ):
        assert "--output" in invoke(*path, "--help").stdout, path
    hidden = {
        "baseline map": "--out",
        "baseline predict": "--out",
        "baseline train": "--out",
        "demo": "--workdir",
    }
    for command, alias in hidden.items():
        assert not re.search(rf"{alias}\b(?!put)", invoke(*command.split(), "--help").stdout), (
            command
        )


@pytest.mark.parametrize("product", ["classes", "probabilities"])
def test_map_output_given_a_product_points_to_product(
    strided_checkpoint: Path, tmp_path: Path, product: str
) -> None:
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    result = map_cli(strided_checkpoint, raster, product)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--product {product}" in result.stderr
    assert not (tmp_path / product).exists()


def test_older_option_names_still_work(strided_checkpoint: Path, tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "in.tif", random_image(40, 40))
    result = invoke(
        "baseline", "map", "--checkpoint", strided_checkpoint, "--raster", raster, "--out", tmp_path / "m.tif",
        "--product", "probabilities", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "m.tif") as out:
        assert out.count == NUM_CLASSES
    both = invoke(
        "baseline", "map", "--checkpoint", strided_checkpoint, "--raster", raster, "--out", tmp_path / "a.tif",
        "--output", tmp_path / "b.tif",
    )  # fmt: skip
    assert both.exit_code == 2 and "give --output only" in both.stderr
    missing = invoke("baseline", "predict", "--checkpoint", strided_checkpoint, "--data", tmp_path)
    assert missing.exit_code == 2 and "'--output'" in missing.stderr


# ---------------------------------------------------------------------------------------------
# the demo's zip and validate


def test_the_demo_prints_a_validate_command_that_passes(
    tiny_model, test_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_module, "DEMO_PATCH_SIZE", 32)
    monkeypatch.setattr(demo_module, "DEMO_CONFIG", str(test_config))
    demo = invoke("demo", "--output", tmp_path / "demo", "--device", "cpu")
    assert demo.exit_code == 0, demo.output
    lines = [line.strip() for line in demo.stdout.splitlines()]
    command = shlex.split(lines[lines.index("check the zip again with:") + 1])
    assert command[:2] == ["flair-kit", "validate"] and "--size" not in command
    checked = invoke(*command[1:])
    assert checked.exit_code == 0, checked.output
    # Without --expect the FLAIR size (512) applies and the 32-pixel masks are refused.
    assert invoke("validate", tmp_path / "demo" / "submission.zip").exit_code == 1
    # An explicit --size always wins over the --expect folder's.
    assert invoke(*command[1:], "--size", "512").exit_code == 1


def test_pack_takes_the_size_from_the_expect_folder(tmp_path: Path) -> None:
    from starting_kit.predictions import write_prediction

    root = make_flair_tree(tmp_path / "data", size=32)
    preds = tmp_path / "pred"
    preds.mkdir()
    for tile in index_tiles(root / "flair_1_aerial_test", "image").by_id:
        write_prediction(preds / f"PRED_{tile:06d}.tif", np.zeros((32, 32), np.uint8))
    packed = invoke(
        "pack", preds, "--output", tmp_path / "s.zip", "--expect", root / "flair_1_aerial_test"
    )
    assert packed.exit_code == 0, packed.output
    refused = invoke("pack", preds, "--output", tmp_path / "t.zip")
    assert refused.exit_code == 1 and not (tmp_path / "t.zip").exists()


# ---------------------------------------------------------------------------------------------
# baseline train


def test_train_with_an_unreadable_image_in_a_worker_is_one_line(
    tiny_model, test_config: Path, tmp_path: Path
) -> None:
    root = make_flair_tree(tmp_path / "data")
    bad = truncate(max((root / "flair_aerial_train").rglob("IMG_*.tif")))
    result = invoke(
        "baseline", "train", "--config", test_config, "--data", root, "--output", tmp_path / "run",
        "--epochs", "1", "--workers", "2", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()  # the run's header line, then the error
    assert lines[-1].startswith(f"error: {bad}: not a readable GeoTIFF")
    assert len([line for line in lines if line.startswith("error")]) == 1
    assert "DataLoader worker" not in result.stderr
