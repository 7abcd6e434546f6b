"""Prediction: the official file format, georeferencing, packing, TTA, batching, mismatches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml
from PIL import Image

from baseline.checkpoint import load_checkpoint, save_checkpoint
from baseline.config import config_from_dict, with_overrides
from baseline.inference import D4, d4_inverse, d4_transform, pad_to_multiple, predict_batch
from baseline.model import FlairSegmenter, build_model
from baseline.predict import predict
from baseline.train import train
from scoring.errors import ConfigError, DataError, MissingFileError, OutputExistsError
from starting_kit.predictions import write_prediction
from starting_kit.submission import validate_submission

from .conftest import TEST_CONFIG, make_flair_tree

GEOTIFF_TAGS = (33550, 33922, 34264, 34735, 34736, 34737)


@pytest.fixture(autouse=True)
def _tiny(tiny_model) -> None:
    """Prediction rebuilds the tiny network too."""


def test_predictions_are_official_pred_files(
    checkpoint: Path, flair_root: Path, tmp_path: Path
) -> None:
    result = predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, batch_size=4)
    names = sorted(p.name for p in (tmp_path / "pred").iterdir())
    test_ids = sorted(p.name[4:10] for p in (flair_root / "flair_1_aerial_test").rglob("IMG_*.tif"))
    assert names == [f"PRED_{i}.tif" for i in test_ids]
    assert result.n_tiles == len(test_ids) and result.tiles_per_s > 0
    for path in (tmp_path / "pred").iterdir():
        with Image.open(path) as image:
            assert image.mode == "L" and image.size == (32, 32)
            assert image.info["compression"] == "tiff_lzw"
            assert not set(GEOTIFF_TAGS) & set(image.tag_v2)
            values = np.array(image)
        assert values.max() <= 12
        # Byte-identical to the official writer's output for the same class map.
        reference = tmp_path / "reference.tif"
        write_prediction(reference, values)
        assert path.read_bytes() == reference.read_bytes()


def test_georeferenced_predictions(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    predict(checkpoint, flair_root, tmp_path / "plain", num_workers=0, amp="off")
    predict(checkpoint, flair_root, tmp_path / "geo", num_workers=0, amp="off", georeferenced=True)
    for path in sorted((tmp_path / "geo").iterdir()):
        image = next((flair_root / "flair_1_aerial_test").rglob(path.name.replace("PRED", "IMG")))
        with rasterio.open(path) as pred, rasterio.open(image) as src:
            assert pred.crs == src.crs and pred.transform == src.transform
            assert (pred.count, pred.dtypes[0], pred.compression.value) == (1, "uint8", "LZW")
            values = pred.read(1)
        with Image.open(tmp_path / "plain" / path.name) as plain:
            assert np.array_equal(values, np.array(plain))


def test_pack_writes_a_valid_submission(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    zip_path = tmp_path / "submission.zip"
    result = predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, pack=zip_path)
    assert result.archive is not None and result.archive.n_files == result.n_tiles
    report = validate_submission(
        zip_path, expect=flair_root / "flair_1_aerial_test", expected_size=32
    )
    assert report.ok, report.errors


def test_batch_size_and_workers_do_not_change_the_predictions(
    checkpoint: Path, flair_root: Path, tmp_path: Path
) -> None:
    predict(checkpoint, flair_root, tmp_path / "one", batch_size=1, num_workers=0, amp="off")
    predict(checkpoint, flair_root, tmp_path / "many", batch_size=5, num_workers=1, amp="off")
    one = sorted((tmp_path / "one").iterdir())
    assert len(one) == 6  # nothing dropped: 6 test patches, batch 5
    for path in one:
        assert path.read_bytes() == (tmp_path / "many" / path.name).read_bytes()


def test_image_folder_and_csv_inputs(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    from starting_kit.pathlists import format_path_list

    predict(checkpoint, flair_root / "flair_1_aerial_test", tmp_path / "folder", num_workers=0)
    rows = [
        (f"../data/flair_1_aerial_test/{p.parts[-4]}/{p.parts[-3]}/img/{p.name}", "")
        for p in (flair_root / "flair_1_aerial_test").rglob("IMG_*.tif")
    ]
    listing = tmp_path / "test.csv"
    listing.write_text(format_path_list(rows).replace(",\r\n", "\r\n"), encoding="utf-8")
    predict(checkpoint, listing, tmp_path / "csv", num_workers=0, csv_root=flair_root)
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == sorted(
        p.name for p in (tmp_path / "csv").iterdir()
    )


def test_d4_round_trips() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    views = {d4_transform(x, k, flip).flatten().tolist().__repr__() for k, flip in D4}
    assert len(views) == 8
    for k, flip in D4:
        assert torch.equal(d4_inverse(d4_transform(x, k, flip), k, flip), x)


def test_tta_of_an_equivariant_model_changes_nothing() -> None:
    torch.manual_seed(0)
    model = FlairSegmenter(torch.nn.Conv2d(5, 13, 1)).eval()  # a 1x1 conv commutes with D4
    images = torch.rand(3, 5, 16, 16)
    with torch.inference_mode():
        plain = predict_batch(model, images)
        tta = predict_batch(model, images, tta=True)
    assert plain.dtype == torch.uint8 and plain.shape == (3, 16, 16)
    assert torch.equal(plain, tta)


def test_tta_prediction_run(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    result = predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, tta=True)
    assert result.tta and result.n_tiles == 6


def test_sizes_off_the_encoder_stride_are_padded_and_cropped() -> None:
    model = build_model("unet", "resnet18", 5, 13, decoder_channels=(16, 16, 8, 8, 8)).eval()
    padded, height, width = pad_to_multiple(torch.rand(1, 5, 40, 50), 32)
    assert padded.shape[-2:] == (64, 64) and (height, width) == (40, 50)
    with torch.inference_mode():
        assert predict_batch(model, torch.rand(2, 5, 40, 50)).shape == (2, 40, 50)


def test_bands_mismatch_names_both(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"trained on bands \(1, 2, 3, 4, 5\) but bands \(1, 2, 3\) were requested",
    ):
        predict(checkpoint, flair_root, tmp_path / "pred", bands=(1, 2, 3))


def test_images_with_too_few_bands(checkpoint: Path, make_tree, tmp_path: Path) -> None:
    three_bands = make_tree("rgb", bands=3)
    # The contract's input check refuses a patch as its reader opens it: nothing is written.
    with pytest.raises(
        ConfigError, match=r"has 3 band\(s\) but the model reads 5 bands \(1, 2, 3, 4, 5\)"
    ):
        predict(checkpoint, three_bands, tmp_path / "pred", num_workers=0)


def test_classes_mismatch_names_both(checkpoint: Path, tmp_path: Path, flair_root: Path) -> None:
    payload = load_checkpoint(checkpoint)
    payload["classes"] = payload["classes"][:12]
    changed = tmp_path / "twelve.pt"
    save_checkpoint(changed, payload)
    with pytest.raises(
        ConfigError, match=r"predicts 12 classes \['building'.* but FLAIR scores 13 classes"
    ):
        predict(changed, flair_root, tmp_path / "pred")


def test_weights_that_do_not_fit_the_stored_config(
    checkpoint: Path, tmp_path: Path, flair_root: Path
) -> None:
    payload = load_checkpoint(checkpoint)
    payload["config"]["data"]["bands"] = [1, 2, 3]
    changed = tmp_path / "three.pt"
    save_checkpoint(changed, payload)
    with pytest.raises(
        ConfigError,
        match=r"do not fit a unet/resnet18 with 3 bands \(1, 2, 3\) .*key\(s\) of the checkpoint do not fit: net\.body\.0\.weight \[8, 5, 3, 3\]",
    ):
        predict(changed, flair_root, tmp_path / "pred")


def test_not_a_checkpoint(tmp_path: Path, flair_root: Path) -> None:
    with pytest.raises(MissingFileError, match=r"checkpoint not found"):
        predict(tmp_path / "absent.pt", flair_root, tmp_path / "pred")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(DataError, match=r"not a readable checkpoint"):
        predict(junk, flair_root, tmp_path / "pred")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(DataError, match=r"not a flair-kit checkpoint \(missing model, config"):
        predict(other, flair_root, tmp_path / "pred")
    wrong_format = tmp_path / "format.pt"
    payload = {
        "model": {},
        "config": {},
        "classes": [],
        "flair_kit_version": "9",
        "format": 99,
        "epoch": 1,
    }
    torch.save(payload, wrong_format)
    with pytest.raises(DataError, match=r"checkpoint format 99 but this flair-kit reads format 1"):
        predict(wrong_format, flair_root, tmp_path / "pred")


def test_existing_outputs_are_kept(checkpoint: Path, flair_root: Path, tmp_path: Path) -> None:
    predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0, pack=tmp_path / "s.zip")
    with pytest.raises(OutputExistsError, match=r"already holds 6 PRED files; pass --overwrite"):
        predict(checkpoint, flair_root, tmp_path / "pred", num_workers=0)
    with pytest.raises(OutputExistsError, match=r"s.zip: exists; pass --overwrite"):
        predict(checkpoint, flair_root, tmp_path / "other", num_workers=0, pack=tmp_path / "s.zip")
    result = predict(
        checkpoint,
        flair_root,
        tmp_path / "pred",
        num_workers=0,
        pack=tmp_path / "s.zip",
        overwrite=True,
    )
    assert result.n_tiles == 6
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"exists and is not a folder"):
        predict(checkpoint, flair_root, tmp_path / "file")


def test_input_errors(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=r"absent: not found; expected a folder of test images or a path csv"
    ):
        predict(checkpoint, tmp_path / "absent", tmp_path / "pred")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no IMG_<id>.tif image found"):
        predict(checkpoint, tmp_path / "empty", tmp_path / "pred")
    with pytest.raises(ConfigError, match=r"batch size is 0; expected at least 1"):
        predict(checkpoint, tmp_path / "empty", tmp_path / "pred", batch_size=0)


def test_metadata_model_prediction(
    flair_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fused model finds the metadata JSON at the dataset root, or says how to give it."""
    import baseline.inference
    import baseline.train

    monkeypatch.setattr(baseline.train, "build_model", build_model)
    monkeypatch.setattr(baseline.inference, "build_model", build_model)
    cfg = with_overrides(
        config_from_dict(yaml.safe_load(TEST_CONFIG)),
        **{
            "data.train": flair_root,
            "out": tmp_path / "run",
            "epochs": 1,
            "model.use_metadata": True,
        },
    )
    best = train(cfg).best_checkpoint
    assert predict(best, flair_root, tmp_path / "pred", num_workers=0).n_tiles == 6
    bare = make_flair_tree(tmp_path / "bare", metadata=False)
    with pytest.raises(
        ConfigError, match=r"uses aerial metadata but no metadata JSON was given or found"
    ):
        predict(best, bare, tmp_path / "pred2", num_workers=0)
