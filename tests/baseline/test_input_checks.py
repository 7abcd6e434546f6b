"""Input checks of predict, map and the zone context against the model (issue 13, item 5).

Every patch is checked (not only the first), failed downloads are told from weights files by their
first bytes, and IGN's row-tiled metadata models refuse inputs of the wrong size up front with the
fix that applies to the command.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

import rasterio
from affine import Affine
from typer.testing import CliRunner

from baseline.checkpoint import imported_payload, save_checkpoint
from baseline.config import DataConfig, ModelConfig, TrainConfig
from baseline.contract import FLAIR_BANDS, challenge_contract
from baseline.inference import build_declared
from baseline.mapping import map_raster, map_rasters
from baseline.model import row_tiling_fits
from baseline.predict import predict
from baseline.weights.importer import import_weights
from baseline.weights.readers import read_source, weights_kind
from scoring.errors import ConfigError, DataError
from starting_kit.cli import app

from .conftest import make_flair_tree
from .ign_oracle import key_list, zeros_like_list

#: The last test patch of a default tree (15 training patches, then 16..21): read last.
LAST = "IMG_000021.tif"


def invoke(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _tiny(tiny_model) -> None:
    """Prediction rebuilds the tiny network."""


def rewrite(
    path: Path, *, bands: int = 5, pixel: float = 0.2, crs: str = "EPSG:2154", size: int = 32
) -> None:
    """Replace a patch by one with another band count, pixel size or CRS."""
    origin = (900000.0, 6300000.0) if crs == "EPSG:2154" else (2.35, 48.85)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((bands, size, size), 90, np.uint8))


def later_patch(root: Path) -> Path:
    return next((root / "flair_1_aerial_test").rglob(LAST))


# --- finding 1: every patch is checked, in the patch and the zone context -------------------


@pytest.mark.parametrize("context", ["patch", "zone"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pixel": 0.5}, r"pixels are 0\.5 m but the model was trained at 0\.2 m"),
        ({"crs": "EPSG:4326", "pixel": 2e-6}, r"CRS EPSG:4326 is in degrees"),
        ({"bands": 3}, r"has 3 band\(s\) but the model reads 5 bands \(1, 2, 3, 4, 5\)"),
    ],
)
def test_a_later_patch_that_does_not_fit_is_refused(
    checkpoint: Path, make_tree, tmp_path: Path, context: str, change: dict, message: str
) -> None:
    root = make_tree("data", metadata=False)
    bad = later_patch(root)
    rewrite(bad, **change)
    out = tmp_path / "pred"
    with pytest.raises((ConfigError, DataError), match=message) as caught:
        predict(checkpoint, root, out, num_workers=0, context=context)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith(str(bad)) and "set data.bands" not in text
    assert not out.exists()  # all or nothing


def test_predict_cli_refuses_a_later_patch_in_one_line(
    checkpoint: Path, make_tree, tmp_path: Path
) -> None:
    root = make_tree("data", metadata=False)
    rewrite(later_patch(root), pixel=0.5)
    result = invoke(
        "baseline", "predict", "--checkpoint", checkpoint, "--data", root,
        "--output", tmp_path / "pred", "--device", "cpu", "--workers", "0",
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and LAST in lines[0]
    assert "gdalwarp -tr 0.2 0.2" in lines[0]
    assert not (tmp_path / "pred").exists()


# --- finding 2: failed downloads ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"<!DOCTYPE html>\n<html><body>Not Found</body></html>", "an HTML page"),
        (b"  <html lang='en'><head>", "an HTML page"),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 97842373\n",
            "a git-LFS pointer",
        ),
    ],
)
@pytest.mark.parametrize("suffix", [".pth", ".ckpt", ".safetensors"])
def test_a_failed_download_is_named_with_its_fix(
    tmp_path: Path, content: bytes, kind: str, suffix: str
) -> None:
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        read_source(path)
    text = str(caught.value)
    assert f"not a weights file: it looks like {kind}" in text
    assert "download the file itself again" in text and "git lfs pull" in text
    assert "execute" not in text and "\n" not in text


def test_random_bytes_are_not_called_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "random.pth"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes())
    with pytest.raises(DataError, match=r"not a weights file: its first bytes") as caught:
        read_source(path)
    assert "execute" not in str(caught.value)
    # A torch pickle cut short is damaged, not code.
    truncated = tmp_path / "cut.pth"
    torch.save({"w": torch.ones(3)}, truncated, _use_new_zipfile_serialization=False)
    truncated.write_bytes(truncated.read_bytes()[:20])
    with pytest.raises(DataError, match=r"not a readable torch file") as caught:
        read_source(truncated)
    assert "execute" not in str(caught.value)


def test_pickled_code_is_still_refused_as_code(tmp_path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pth")
    with pytest.raises(DataError, match=r"needs to execute pickled code"):
        read_source(tmp_path / "model.pth")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(DataError, match=r"needs to execute pickled code"):
        read_source(tmp_path / "old.pth")


def test_weights_kinds_by_magic_bytes(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.save({"w": torch.ones(1)}, tmp_path / "new.pth")
    torch.save({"w": torch.ones(1)}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    save_file({"w": torch.ones(1)}, str(tmp_path / "w.safetensors"))
    kinds = [
        weights_kind((tmp_path / name).read_bytes()[:64])
        for name in ("new.pth", "old.pth", "w.safetensors")
    ]
    assert kinds == ["torch-zip", "pickle", "safetensors"]
    assert weights_kind(b"garbage") is None


def test_import_weights_cli_names_an_html_page(tmp_path: Path) -> None:
    page = tmp_path / "model.pth"
    page.write_bytes(b"<!doctype html><title>404</title>")
    result = invoke("baseline", "import-weights", page, "--output", tmp_path / "out.pt")
    assert result.exit_code == 1
    assert "it looks like an HTML page" in result.output
    assert not (tmp_path / "out.pt").exists()


# --- finding 3: IGN's row-tiled metadata models and small inputs ------------------------------


def ign_metadata_checkpoint(path: Path) -> Path:
    """A small ``model.variant: ign`` U-Net with IGN's FLAIR #1 metadata fusion (row tiling)."""
    cfg = TrainConfig(
        name="ign-meta",
        data=DataConfig(bands=(1, 2, 3, 4, 5)),
        model=ModelConfig(
            encoder="resnet18",
            decoder_channels=(16, 16, 8, 8, 8),
            use_metadata=True,
            metadata_encoding="official",
            variant="ign",
        ),
    )
    contract = replace(
        challenge_contract(FLAIR_BANDS, variant="test ign metadata"), metadata_encoding="official"
    )
    network = build_declared(cfg, contract)
    save_checkpoint(path, imported_payload(network.state_dict(), cfg, contract))
    return path


@pytest.fixture(scope="module")
def ign_meta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ign_metadata_checkpoint(tmp_path_factory.mktemp("ign") / "meta.pt")


def test_row_tiling_sizes() -> None:
    assert row_tiling_fits(512, 512) and row_tiling_fits(481, 512)
    assert not row_tiling_fits(96, 96) and not row_tiling_fits(512, 480)
    assert not row_tiling_fits(544, 512)


@pytest.mark.parametrize("context", ["patch", "zone"])
def test_predict_names_the_patch_size_and_512_px_patches(
    ign_meta: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: str
) -> None:
    import baseline.inference
    from baseline.model import build_model

    monkeypatch.setattr(baseline.inference, "build_model", build_model)  # the real U-Net
    root = make_flair_tree(tmp_path / "data")  # 32-pixel patches, with metadata
    with pytest.raises(ConfigError) as caught:
        predict(ign_meta, root, tmp_path / "pred", num_workers=0, context=context)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "the patch is 32x32 px" in text and "IGN's row tiling" in text
    assert "predict 512x512-px patches" in text and "--tile" not in text
    assert not (tmp_path / "pred").exists()


#: One entry of a FLAIR aerial metadata JSON, for ``map --metadata``.
METADATA_ENTRY = {
    "patch_centroid_x": 651285.6,
    "patch_centroid_y": 6862050.4,
    "patch_centroid_z": 120.5,
    "date": "2021-05-12",
    "time": "12h30",
    "camera": "UCE-M3-f120-s07",
}


def georeferenced(path: Path, size: int) -> Path:
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 5,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, 651234.4, 0.0, -0.2, 6862101.6),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((5, size, size), 60, np.uint8))
    return path


def test_map_names_the_raster_and_tile_sizes_before_building_the_model(
    ign_meta: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import baseline.inference

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network must not be built for an input it cannot take")

    monkeypatch.setattr(baseline.inference, "build_declared", never)
    (tmp_path / "rasters").mkdir()
    small = georeferenced(tmp_path / "rasters" / "small.tif", 96)
    with pytest.raises(ConfigError) as caught:
        map_raster(ign_meta, small, tmp_path / "map.tif")
    text = str(caught.value)
    assert "the raster is 96x96 px, so with --tile 512 its tiles are 96x96 px" in text
    assert "map a raster of at least 512x512 px with --tile 512" in text
    with pytest.raises(ConfigError, match=r"--tile 256, .*IGN's row tiling"):
        map_rasters(ign_meta, tmp_path / "rasters", tmp_path / "maps", tile=256)
    # A folder's rasters are placed into mosaics once the model is loaded (rank 0 plans), and
    # each mosaic is checked before any inference.
    from baseline.model import build_model

    monkeypatch.undo()
    monkeypatch.setattr(baseline.inference, "build_model", build_model)  # the real U-Net
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(METADATA_ENTRY), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"small.tif: the raster is 96x96 px"):
        map_rasters(ign_meta, tmp_path / "rasters", tmp_path / "maps", metadata=entry)
    assert not (tmp_path / "map.tif").exists() and not (tmp_path / "maps").exists()


def test_map_cli_gives_the_fix_in_one_line(ign_meta: Path, tmp_path: Path) -> None:
    small = georeferenced(tmp_path / "small.tif", 96)
    result = invoke(
        "baseline", "map", "--checkpoint", ign_meta, "--raster", small,
        "--output", tmp_path / "map.tif", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "small.tif: the raster is 96x96 px" in lines[0]
    assert "with --tile 512" in lines[0]


# --- finding 4: a forced family's refusal names the file, the keys as in it, and --from auto ----


def ign_checkpoint(path: Path, keys: str) -> Path:
    """A Lightning-style checkpoint (a plain dict) of zeros in one of IGN's key layouts."""
    state = zeros_like_list(key_list(keys))
    torch.save({"epoch": 3, "global_step": 9, "state_dict": state}, path)
    return path


@pytest.mark.parametrize(
    ("keys", "forced", "family", "first_key"),
    [
        ("flair1-unet-keys.txt", "ign-flair2", "an IGN FLAIR #2 checkpoint", "model.seg_model."),
        ("flair2-utt-keys.txt", "ign-flair1", "an IGN FLAIR #1 checkpoint", "model.arch_"),
    ],
)
def test_a_forced_family_refusal_names_the_file_and_suggests_auto(
    tmp_path: Path, keys: str, forced: str, family: str, first_key: str
) -> None:
    ckpt = ign_checkpoint(tmp_path / "igns.ckpt", keys)
    result = invoke(
        "baseline", "import-weights", ckpt, "--output", tmp_path / "out.pt", "--from", forced
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {ckpt}: ") and "match no known layer: " in lines[0]
    # The keys as the file has them (Lightning's ``model.`` included), in the one formatter's
    # style (``key [shape]``, then how many more).
    shown = lines[0].split("match no known layer: ", 1)[1]
    assert shown.startswith(first_key) and "more)" in shown
    assert f"if igns.ckpt is not {family}, try --from auto" in lines[0]
    assert not (tmp_path / "out.pt").exists()


def test_a_detected_family_refusal_has_no_from_hint(tmp_path: Path) -> None:
    # One stray key in an otherwise IGN FLAIR #1 layout: detected (auto), then refused.
    state = zeros_like_list(key_list("flair1-unet-keys.txt"))
    state["model.enc.extra.w"] = torch.zeros(3)
    torch.save({"epoch": 1, "state_dict": state}, tmp_path / "odd.ckpt")
    with pytest.raises(ConfigError) as caught:
        import_weights(tmp_path / "odd.ckpt", tmp_path / "out.pt")
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'odd.ckpt'}: IGN FLAIR #1 weights: 1 key(s) match")
    assert "model.enc.extra.w [3]" in text and "--from auto" not in text
