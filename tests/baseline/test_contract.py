"""The model contract: declaration, crosswalks, input checks, and how the predictor applies it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

import rasterio
from affine import Affine

from baseline.checkpoint import implied_contract, payload_contract
from baseline.config import DataConfig, ModelConfig, TrainConfig
from baseline.contract import (
    FLAIR_BANDS,
    FLAIR_INC_15_INACTIVE,
    ModelContract,
    challenge_contract,
    contract_from_dict,
    contract_to_dict,
    first_classes,
    flair19_classes,
    flair_inc_statistics,
    parse_bands,
)
from baseline.data import InputCheck, read_image
from baseline.inference import DeclaredModel, declared_model
from scoring.classes import CLASS_NAMES, RAW_CLASSES
from scoring.errors import ConfigError, DataError


def inc_contract(active: list[int], bands: tuple[str, ...] = FLAIR_BANDS) -> ModelContract:
    mean, std = flair_inc_statistics(bands)
    return ModelContract(
        bands=bands, normalisation="mean-std", mean=mean, std=std, **flair19_classes(active)
    )


def write_raster(
    path: Path,
    bands: int = 5,
    *,
    pixel: float = 0.2,
    crs: str | None = "EPSG:2154",
    dtype: str = "uint8",
) -> Path:
    profile = {
        "driver": "GTiff",
        "width": 8,
        "height": 8,
        "count": bands,
        "dtype": dtype,
    }
    if crs is not None:
        origin = (651234.4, 6862101.6) if crs == "EPSG:2154" else (2.35, 48.85)
        profile |= {"crs": crs, "transform": Affine(pixel, 0, origin[0], 0, -pixel, origin[1])}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((bands, 8, 8), dtype=dtype))
    return path


def test_round_trip_keeps_every_field() -> None:
    contract = replace(
        inc_contract(list(range(12))),
        resolution_m=0.5,
        metadata_encoding="official",
        variant="smp unet/resnet34",
        provenance={"source": "a.pth", "sha256": "ab"},
    )
    assert contract_from_dict(contract_to_dict(contract), "x") == contract


def test_unknown_normalisation_is_refused_not_guessed() -> None:
    stored = contract_to_dict(challenge_contract(FLAIR_BANDS, variant="v"))
    stored["normalisation"] = "percentile-2-98"
    with pytest.raises(
        ConfigError, match=r"x: normalisation 'percentile-2-98' is unknown .*refused rather than"
    ):
        contract_from_dict(stored, "x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bands": ["R", "SWIR"]}, r"declared bands \['R', 'SWIR'\]"),
        ({"std": [1.0, 0.0, 1.0, 1.0, 1.0]}, r"std .*expected values > 0"),
        ({"mean": [1.0]}, r"mean-std needs one mean and one std per band \(5\)"),
        ({"crosswalk": [0] * 18 + [13]}, r"crosswalk value 13; expected challenge classes 0..12"),
        ({"crosswalk": [0]}, r"19 classes but 1 crosswalk entries"),
    ],
)
def test_malformed_contracts_name_what_is_wrong(change: dict, message: str) -> None:
    stored = contract_to_dict(inc_contract(list(range(19)))) | change
    with pytest.raises(ConfigError, match=message):
        contract_from_dict(stored, "x")


def test_a_checkpoint_without_contract_keeps_its_pipeline() -> None:
    cfg = TrainConfig(data=DataConfig(bands=(4, 1, 2)), model=ModelConfig(use_metadata=True))
    contract = payload_contract({"classes": list(CLASS_NAMES)}, cfg, Path("old.pt"))
    assert contract == implied_contract(cfg)
    assert contract.bands == ("NIR", "R", "G") and contract.flair_indices == (4, 1, 2)
    assert contract.normalisation == "unit" and contract.is_challenge
    assert contract.resolution_m == 0.2 and contract.metadata_encoding == "corrected"
    net = torch.nn.Conv2d(3, 13, 1)
    assert declared_model(net, contract, challenge=True) is net  # exactly the old network
    assert declared_model(net, contract, challenge=False) is net


def test_stored_bands_must_agree_with_the_configuration() -> None:
    cfg = TrainConfig(data=DataConfig(bands=(1, 2, 3)))
    payload = {"contract": contract_to_dict(challenge_contract(("R", "G", "B", "NIR"), variant=""))}
    with pytest.raises(DataError, match=r"declares bands R-G-B-NIR .* reads \(1, 2, 3\)"):
        payload_contract(payload, cfg, Path("c.pt"))


def test_flair_inc_crosswalk_follows_the_spec_table() -> None:
    table = flair19_classes([j for j in range(19) if j not in FLAIR_INC_15_INACTIVE])
    assert table["classes"] == tuple(c.name for c in RAW_CLASSES)
    # logits 0..11 are the challenge classes, 12 swimming pool .. 18 other all become 'other'
    assert table["crosswalk"] == (*range(12), *[12] * 7)
    assert table["inactive"] == (14, 15, 16, 18)
    assert table["ambiguous"] == ()
    twelve = flair19_classes(list(range(12)))
    assert twelve["inactive"] == tuple(range(12, 19))
    assert "no class of the model maps to challenge class 13 'other'" in twelve["ambiguous"][0]
    assert first_classes(12)["crosswalk"] == tuple(range(12))


def test_parse_bands() -> None:
    assert parse_bands("R,G,B,I,E") == FLAIR_BANDS
    with pytest.raises(ConfigError, match=r"--bands 'R,R': expected distinct band names"):
        parse_bands("R,R")
    with pytest.raises(ConfigError, match=r"--bands 'SWIR'"):
        parse_bands("SWIR")


def check_raster_file(contract: ModelContract, path: Path) -> None:
    """The check every patch gets when predict's reader opens it."""
    read_image(path, contract.flair_indices, InputCheck(contract))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_input_checks_say_what_is_wrong_and_how_to_fix(tmp_path: Path) -> None:
    rgbie = challenge_contract(FLAIR_BANDS, variant="v")
    check_raster_file(rgbie, write_raster(tmp_path / "ok.tif"))
    check_raster_file(rgbie, write_raster(tmp_path / "plain.tif", crs=None))  # a bare patch
    with pytest.raises(
        ConfigError,
        match=r"rgb.tif: the raster has 3 band\(s\) but the model reads 5 bands \(1, 2, 3, 4, 5\)"
        r" of a FLAIR raster \(R-G-B-NIR-ELEV\).*gdalbuildvrt -separate",
    ):
        check_raster_file(rgbie, write_raster(tmp_path / "rgb.tif", bands=3))
    with pytest.raises(
        DataError,
        match=r"coarse.tif: pixels are 0.5 m but the model was trained at 0.2 m.*"
        r"gdalwarp -tr 0.2 0.2",
    ):
        check_raster_file(rgbie, write_raster(tmp_path / "coarse.tif", pixel=0.5))
    check_raster_file(rgbie, write_raster(tmp_path / "close.tif", pixel=0.21))  # within 10 %
    with pytest.raises(
        DataError, match=r"deg.tif: the raster's CRS EPSG:4326 is in degrees.*gdalwarp -t_srs"
    ):
        check_raster_file(rgbie, write_raster(tmp_path / "deg.tif", pixel=2e-6, crs="EPSG:4326"))
    with pytest.raises(DataError, match=r"f.tif: raster dtype is float32; expected uint8"):
        check_raster_file(rgbie, write_raster(tmp_path / "f.tif", dtype="float32"))
    # A NIR-R-G model reads bands 4, 1, 2 of a 5-band FLAIR raster: 5 bands are needed, 3 are not.
    nrg = challenge_contract(("NIR", "R", "G"), variant="v")
    assert nrg.flair_indices == (4, 1, 2)
    check_raster_file(nrg, tmp_path / "ok.tif")
    with pytest.raises(ConfigError, match=r"reads 3 bands \(4, 1, 2\) of a FLAIR raster"):
        check_raster_file(nrg, tmp_path / "rgb.tif")


def test_declared_model_normalises_exactly_like_ign(tmp_path: Path) -> None:
    seen: list[torch.Tensor] = []

    class Probe(torch.nn.Module):
        uses_metadata = False
        output_stride = 1

        def forward(self, image: torch.Tensor, metadata: object = None) -> torch.Tensor:
            seen.append(image)
            return torch.zeros(image.shape[0], 19, *image.shape[2:])

    contract = inc_contract(list(range(19)), bands=("R", "G", "B"))
    model = declared_model(Probe(), contract, challenge=False)
    values = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    model(values.float() / 255.0)  # what the readers give
    mean = np.array([105.08, 110.87, 101.82])[:, None, None]
    std = np.array([52.17, 45.38, 44.0])[:, None, None]
    ign = ((values[0].numpy().astype(np.float64) - mean) / std).astype(np.float32)
    assert np.array_equal(seen[0][0].numpy(), ign)  # bit for bit


def test_declared_model_masks_and_crosswalks() -> None:
    logits = torch.zeros(1, 19, 1, 3)
    logits[0, 14, 0, 0] = 9.0  # 'clear cut' is deactivated: never predicted
    logits[0, 3, 0, 0] = 1.0  # bare soil
    logits[0, 17, 0, 1] = 5.0  # greenhouse -> other
    logits[0, 1, 0, 2] = 2.0  # pervious surface

    class Fixed(torch.nn.Module):
        uses_metadata = False
        output_stride = 1

        def forward(self, image: torch.Tensor, metadata: object = None) -> torch.Tensor:
            return logits

    contract = replace(inc_contract(list(range(19))), inactive=FLAIR_INC_15_INACTIVE)
    own = declared_model(Fixed(), contract, challenge=False)
    challenge = declared_model(Fixed(), contract, challenge=True)
    assert isinstance(own, DeclaredModel) and isinstance(challenge, DeclaredModel)
    image = torch.zeros(1, 5, 1, 3)
    assert own(image).argmax(1).flatten().tolist() == [3, 17, 1]
    assert torch.isneginf(own(image)[0, 14]).all()
    out = challenge(image)
    assert out.shape == (1, 13, 1, 3)
    # Each challenge class scores the probability of its most probable model class...
    crosswalk = torch.tensor(contract.crosswalk)
    best = torch.zeros(1, 13, 1, 3).index_reduce_(1, crosswalk, own(image).softmax(1), "amax")
    assert torch.allclose(out.exp(), best, atol=1e-6)
    # ... so the answer is the model's own argmax relabelled (bare soil stays bare soil although
    # swimming pool + snow + greenhouse, all 'other', are together more probable: 3 x e^0 > e^1).
    relabelled = crosswalk[own(image).argmax(1).flatten()].tolist()
    assert out.argmax(1).flatten().tolist() == relabelled == [3, 12, 1]
