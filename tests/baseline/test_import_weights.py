"""``baseline import-weights``: readers, family detection, refusals, FLAIR-INC layouts, end to end.

IGN's Lightning checkpoints are plain dicts (epoch, global_step, pytorch-lightning_version,
state_dict, loops), so they are built here without Lightning, from IGN's exact key lists
(``tests/data/ign/*-keys.txt``). FLAIR-INC files could not be downloaded: they are built from our
own smp models with the layouts the spec lists (``model.seg_model.``, ``seg_model.``, bare keys).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
smp = pytest.importorskip("segmentation_models_pytorch")

import rasterio
from affine import Affine
from typer.testing import CliRunner

from baseline.checkpoint import load_checkpoint, model_payload, save_checkpoint
from baseline.config import ModelConfig, TrainConfig
from baseline.contract import FLAIR_INC_15_INACTIVE, flair_inc_statistics
from baseline.inference import load_declared
from baseline.model import build_model
from baseline.weights import flair_inc
from baseline.weights.flair_inc import infer_arch, infer_encoder
from baseline.weights.importer import detect_family, import_weights
from baseline.weights.layout import ImportOptions, shapes_of
from baseline.weights.readers import read_source
from scoring.errors import ConfigError, DataError, OutputExistsError
from starting_kit.cli import app
from tests.baseline.ign_oracle import key_list, load_oracle, unet_weights

IGN_15_ACTIVE = [j for j in range(19) if j not in FLAIR_INC_15_INACTIVE]


def invoke(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def predict_cli(checkpoint: Path, data: Path, output: Path, *options: object) -> Any:
    """``flair-kit baseline predict`` on the CPU."""
    return invoke(
        "baseline", "predict", "--checkpoint", checkpoint, "--data", data, "--output", output,
        "--device", "cpu", *options,
    )  # fmt: skip


def key_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """IGN's key list as key -> shape, in the checkpoint's order (``ign_oracle.key_list``)."""
    return dict(key_list(name))


def filled(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> OrderedDict[str, Any]:
    """Deterministic tensors of the given shapes (BatchNorm statistics kept sensible)."""
    gen = torch.Generator().manual_seed(seed)
    out: OrderedDict[str, Any] = OrderedDict()
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0, dtype=torch.int64)
        elif key.endswith("running_var"):
            out[key] = torch.ones(shape)
        elif key == "criterion.weight":
            out[key] = torch.tensor([1.0] * (shape[0] - 1) + [0.0])
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.05
    return out


def lightning(state_dict: OrderedDict[str, Any], epoch: int = 76) -> dict[str, Any]:
    """A checkpoint exactly as IGN's training saves it (PL 1.9.5, weights only)."""
    return {
        "epoch": epoch,
        "global_step": 1,
        "pytorch-lightning_version": "1.9.5",
        "state_dict": state_dict,
        "loops": {k: {} for k in ("fit_loop", "validate_loop", "test_loop", "predict_loop")},
    }


def smp_state(arch: str, encoder: str, bands: int, logits: int, seed: int = 0) -> dict[str, Any]:
    torch.manual_seed(seed)
    net = smp.create_model(
        arch, encoder_name=encoder, encoder_weights=None, in_channels=bands, classes=logits
    )
    return net.eval().state_dict()


def inc_file(
    path: Path,
    state: dict[str, Any],
    *,
    prefix: str = "model.seg_model.",
    active: list[int] | None = None,
    logits: int = 19,
) -> Path:
    """A FLAIR-INC file with the spec's layouts: Lightning .ckpt, .pth or .safetensors."""
    tensors = OrderedDict((prefix + k, v) for k, v in state.items())
    if active is not None:
        weight = torch.zeros(logits)
        weight[active] = 1.0
        tensors["criterion.weight"] = weight
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    elif path.suffix == ".ckpt":
        torch.save(lightning(tensors), path)
    else:
        torch.save(tensors, path)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy") / "flair1"
    result = invoke("toy-data", root, "--size", "32", "--train", "1", "--test", "3")
    assert result.exit_code == 0, result.output
    return root


# --- readers -------------------------------------------------------------------------------


def test_readers_unwrap_lightning_pth_and_safetensors(tmp_path: Path) -> None:
    state = OrderedDict(
        [("model.seg_model.encoder.w", torch.ones(2)), ("criterion.weight", torch.ones(13))]
    )
    torch.save(lightning(state, epoch=3), tmp_path / "a.ckpt")
    source = read_source(tmp_path / "a.ckpt")
    assert list(source.tensors) == ["seg_model.encoder.w"] and source.epoch == 3
    assert list(source.criterion) == ["criterion.weight"]
    torch.save({"encoder.w": torch.ones(2)}, tmp_path / "b.pth")
    assert list(read_source(tmp_path / "b.pth").tensors) == ["encoder.w"]
    from safetensors.torch import save_file

    save_file({"encoder.w": torch.ones(2)}, str(tmp_path / "c.safetensors"))
    assert list(read_source(tmp_path / "c.safetensors").tensors) == ["encoder.w"]


def test_pickled_code_is_refused_in_one_line(tmp_path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pth")  # the whole module: needs code
    with pytest.raises(DataError) as caught:
        read_source(tmp_path / "model.pth")
    message = str(caught.value)
    assert "needs to execute pickled code to load" in message and "never runs code" in message
    assert "\n" not in message


def test_other_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(DataError, match=r"unknown weights file type '.onnx'"):
        read_source(tmp_path / "w.onnx")
    torch.save({"epoch": 1, "notes": "x"}, tmp_path / "n.ckpt")
    with pytest.raises(DataError, match=r"not a state dict .*keys \['epoch', 'notes'\]"):
        read_source(tmp_path / "n.ckpt")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"not a readable .safetensors file"):
        read_source(tmp_path / "bad.safetensors")


# --- detection and refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "family"),
    [
        ("flair1-unet-keys.txt", "ign-flair1"),
        ("flair1-unet-meta-keys.txt", "ign-flair1"),
        ("flair2-utt-keys.txt", "ign-flair2"),
    ],
)
def test_ign_layouts_are_detected_from_their_key_lists(keys: str, family: str) -> None:
    shapes = {k.removeprefix("model."): s for k, s in key_shapes(keys).items()}
    shapes = {k: s for k, s in shapes.items() if not k.startswith("criterion.")}
    assert detect_family(shapes, Path(keys)) == family


def test_smp_layouts_are_flair_inc() -> None:
    shapes = shapes_of(smp_state("unet", "resnet18", 3, 19))
    assert detect_family(shapes, Path("x")) == "flair-inc"
    assert detect_family({f"seg_model.{k}": s for k, s in shapes.items()}, Path("x")) == (
        "flair-inc"
    )


def test_a_bare_13_logit_unet_is_igns_challenge_network(tmp_path: Path) -> None:
    # IGN's later loaders strip ``model.seg_model.``: the bare file of a FLAIR #1 challenge model
    # must keep the challenge's inputs (/ 255), not get FLAIR-INC's mean/std.
    state = smp_state("unet", "resnet34", 5, 13)
    assert detect_family(shapes_of(state), Path("x")) == "ign-flair1"
    deeplab = smp_state("deeplabv3", "resnet18", 5, 13)
    assert detect_family(shapes_of(deeplab), Path("x")) == "flair-inc"  # not IGN's U-Net
    # ... and a 13-logit smp model does not say whether it takes x / 255 or FLAIR-INC's mean/std.
    with pytest.raises(ConfigError, match=r"input normalisation .*pass --normalisation"):
        import_weights(inc_file(tmp_path / "d.pth", deeplab, prefix=""), tmp_path / "d.pt")
    unit = ImportOptions(normalisation="unit")
    made = import_weights(
        inc_file(tmp_path / "d.pth", deeplab, prefix=""), tmp_path / "d.pt", options=unit
    )
    assert made.contract.normalisation == "unit"
    path = inc_file(tmp_path / "weights.pth", state, prefix="")
    result = import_weights(path, tmp_path / "o.pt")
    assert result.family == "ign-flair1" and result.contract.normalisation == "unit"
    assert result.contract.is_challenge


def test_unknown_layout_prints_the_first_keys_and_shapes(tmp_path: Path) -> None:
    torch.save(
        {"backbone.stem.weight": torch.zeros(8, 3, 3, 3), "head.bias": torch.zeros(7)},
        tmp_path / "odd.pth",
    )
    with pytest.raises(ConfigError) as caught:
        import_weights(tmp_path / "odd.pth", tmp_path / "out.pt")
    message = str(caught.value)
    assert "unknown weights layout (2 tensors; first: backbone.stem.weight [8, 3, 3, 3]" in message
    assert "head.bias [7]" in message and "pass --from" in message and "report" in message
    assert not (tmp_path / "out.pt").exists()


def test_flair_hub_is_refused_by_name(tmp_path: Path) -> None:
    torch.save(
        {
            "encoders.aerial.layers.0.blocks.0.attn.relative_position_bias_table": torch.zeros(4),
            "main_decoders.AERIAL_LABEL-COSIA.seg_model.segmentation_head.0.weight": torch.zeros(
                19, 8, 1, 1
            ),
        },
        tmp_path / "FLAIR-HUB_LC-A_swinbase-upernet.pth",
    )
    result = invoke(
        "baseline",
        "import-weights",
        tmp_path / "FLAIR-HUB_LC-A_swinbase-upernet.pth",
        "--output",
        tmp_path / "o.pt",
    )
    assert result.exit_code == 1
    assert "FLAIR-HUB architectures (Swin, ConvNeXtV2, UPerNet) are not supported yet" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_missing_facts_name_their_option(tmp_path: Path) -> None:
    state = smp_state("unet", "resnet18", 3, 19)
    unnamed = inc_file(tmp_path / "weights.pth", state)  # no loss weights, no '15cl'
    with pytest.raises(ConfigError, match=r"which of the 19 logits were trained.*pass --classes"):
        import_weights(unnamed, tmp_path / "o.pt")
    two = inc_file(tmp_path / "two_15cl.pth", smp_state("unet", "resnet18", 2, 19))
    with pytest.raises(ConfigError, match=r"which bands its 2 inputs are; pass --bands"):
        import_weights(two, tmp_path / "o.pt")
    fpn = inc_file(tmp_path / "fpn_15cl.pth", smp_state("fpn", "resnet18", 3, 19))
    with pytest.raises(ConfigError, match=r"its smp architecture; pass --arch"):
        import_weights(fpn, tmp_path / "o.pt")
    imported = import_weights(fpn, tmp_path / "o.pt", options=ImportOptions(arch="fpn"))
    assert imported.contract.variant.startswith("smp fpn/resnet18")
    with pytest.raises(OutputExistsError, match=r"o.pt: exists; pass --overwrite"):
        import_weights(fpn, tmp_path / "o.pt", options=ImportOptions(arch="fpn"))
    result = invoke("baseline", "import-weights", unnamed, "--output", tmp_path / "c.pt")
    assert result.exit_code == 1 and "pass --classes" in result.stderr


@pytest.mark.parametrize(
    ("keys", "challenge"),
    [("flair1-unet-keys.txt", "FLAIR #1"), ("flair2-utt-keys.txt", "FLAIR #2")],
)
def test_ign_challenge_models_refuse_options_that_their_inputs_fix(
    tmp_path: Path, keys: str, challenge: str
) -> None:
    ckpt = tmp_path / "ckpt-epoch=00-val_loss=1.00.ckpt"
    torch.save(lightning(filled(key_shapes(keys))), ckpt)
    rgb = ImportOptions(bands=("R", "G", "B"))
    with pytest.raises(ConfigError, match=rf"IGN's {challenge} models read the five FLAIR bands"):
        import_weights(ckpt, tmp_path / "o.pt", options=rgb)
    inc = ImportOptions(normalisation="flair-inc")
    with pytest.raises(ConfigError, match=rf"IGN's {challenge} models take aerial inputs / 255"):
        import_weights(ckpt, tmp_path / "o.pt", options=inc)
    assert not (tmp_path / "o.pt").exists()


def test_weights_that_do_not_fit_name_the_unmatched_keys(tmp_path: Path) -> None:
    state = smp_state("unet", "resnet18", 5, 19)
    del state["decoder.blocks.4.conv2.0.weight"]
    state["decoder.extra.weight"] = torch.zeros(3, 3)
    path = inc_file(tmp_path / "damaged_15cl.pth", state)
    with pytest.raises(ConfigError) as caught:
        import_weights(path, tmp_path / "o.pt")
    message = str(caught.value)
    assert "do not fit a smp unet/resnet18, 5 bands, 19 logits" in message
    assert "net.decoder.extra.weight [3, 3]" in message
    assert "missing: net.decoder.blocks.4.conv2.0.weight [16, 16, 3, 3]" in message


# --- FLAIR-INC layouts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "encoder", "bands", "logits", "name", "prefix", "active"),
    [
        (
            "unet",
            "resnet34",
            5,
            19,
            "FLAIR-INC_rgbie_15cl_resnet34-unet.ckpt",
            "model.seg_model.",
            IGN_15_ACTIVE,
        ),
        (
            "deeplabv3",
            "resnet34",
            3,
            19,
            "FLAIR-INC_rgb_15cl_resnet34-deeplabv3_weights.pth",
            "seg_model.",
            None,
        ),
        ("unet", "mit_b0", 4, 12, "rgbi_12cl_mit.safetensors", "", None),
    ],
)
def test_flair_inc_layouts_import_and_predict_like_ign(
    tmp_path: Path,
    arch: str,
    encoder: str,
    bands: int,
    logits: int,
    name: str,
    prefix: str,
    active: list[int] | None,
) -> None:
    state = smp_state(arch, encoder, bands, logits, seed=bands)
    source = inc_file(tmp_path / name, state, prefix=prefix, active=active, logits=logits)
    result = import_weights(source, tmp_path / "model.pt")
    contract = result.contract
    assert result.family == "flair-inc" and contract.variant.startswith(f"smp {arch}/{encoder}")
    assert contract.bands == ("R", "G", "B", "NIR", "ELEV")[:bands]
    assert contract.normalisation == "mean-std"
    assert (contract.mean, contract.std) == flair_inc_statistics(contract.bands)
    assert contract.provenance["source"] == name and len(contract.provenance["sha256"]) == 64
    expected_inactive = () if logits == 12 else FLAIR_INC_15_INACTIVE
    assert contract.inactive == expected_inactive
    stored = load_checkpoint(tmp_path / "model.pt")
    assert stored["format"] == 2 and stored["contract"]["inactive"] == list(expected_inactive)

    # What IGN's pipeline gives: (x - mean) / std in float64, the smp model, argmax.
    reference = smp.create_model(
        arch, encoder_name=encoder, encoder_weights=None, in_channels=bands, classes=logits
    ).eval()
    reference.load_state_dict(state)
    image = torch.randint(0, 256, (1, bands, 32, 32), dtype=torch.uint8)
    mean = torch.tensor(contract.mean, dtype=torch.float64)[None, :, None, None]
    std = torch.tensor(contract.std, dtype=torch.float64)[None, :, None, None]
    with torch.no_grad():
        ign = reference(((image.double() - mean) / std).float())
        own, _, _ = load_declared(tmp_path / "model.pt", challenge=False)
        mine = own(image.float() / 255.0)
        challenge, _, _ = load_declared(tmp_path / "model.pt")
        mapped = challenge(image.float() / 255.0)
    ign[:, list(expected_inactive)] = float("-inf")
    assert torch.equal(mine, ign)
    crosswalk = torch.tensor(contract.crosswalk)
    assert mapped.shape[1] == 13  # IGN's argmax, relabelled to the challenge classes
    assert torch.equal(mapped.argmax(1), crosswalk[ign.argmax(1)])


def test_old_deeplabv3_decoder_names_are_renamed(tmp_path: Path) -> None:
    state = smp_state("deeplabv3", "resnet18", 3, 19)
    renames = {
        "decoder.aspp.": "decoder.0.",
        "decoder.conv.": "decoder.1.",
        "decoder.bn.": "decoder.2.",
    }
    old = OrderedDict()
    for key, value in state.items():
        for new, former in renames.items():
            if key.startswith(new):
                key = former + key[len(new) :]
        old[key] = value
    path = inc_file(tmp_path / "rgb_15cl_deeplab.pth", old, prefix="")
    assert import_weights(path, tmp_path / "o.pt").tensors == len(state)


def test_deeplabv3_names_follow_the_installed_smp() -> None:
    # Under an smp that still names the decoder by position, a file saved by a later smp is
    # renamed the other way: the names always become the installed smp's.
    newer = {"decoder.aspp.0.convs.0.0.weight": torch.ones(1), "decoder.bn.bias": torch.ones(1)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            flair_inc,
            "installed_deeplab_names",
            lambda: {
                "decoder.aspp.": "decoder.0.",
                "decoder.conv.": "decoder.1.",
                "decoder.bn.": "decoder.2.",
            },
        )
        assert set(flair_inc.renamed(newer)) == {"decoder.0.0.convs.0.0.weight", "decoder.2.bias"}
    assert flair_inc.renamed(newer) == newer  # smp 0.6 (installed here) uses these names


def mit_shapes(depths: tuple[int, ...], width: int) -> dict[str, tuple[int, ...]]:
    """The keys that tell a MiT encoder: first patch embedding and blocks per stage."""
    shapes = {"encoder.patch_embed1.proj.weight": (width, 3, 7, 7)}
    for stage, depth in enumerate(depths, start=1):
        for block in range(depth):
            shapes[f"encoder.block{stage}.{block}.norm1.weight"] = (width,)
    return shapes | {"decoder.blocks.0.conv1.0.weight": (256, 832, 3, 3)}


@pytest.mark.parametrize(
    ("depths", "width", "encoder"),
    [((3, 6, 40, 3), 64, "mit_b5"), ((2, 2, 2, 2), 32, "mit_b0"), ((3, 4, 18, 3), 64, "mit_b3")],
)
def test_mit_encoders_are_told_by_their_depths(depths: tuple, width: int, encoder: str) -> None:
    shapes = mit_shapes(depths, width)
    assert (infer_arch(shapes), infer_encoder(shapes)) == ("unet", encoder)


@pytest.mark.slow
def test_mit_b5_is_recognised_from_smps_own_shapes() -> None:
    # Built once, only for its key shapes: MiT-B5 has 85 M parameters (about 40 s on 2 cores).
    shapes = shapes_of(smp_state("unet", "mit_b5", 3, 19))
    assert (infer_arch(shapes), infer_encoder(shapes)) == ("unet", "mit_b5")


# --- end to end ----------------------------------------------------------------------------


def score(pred: Path, toy: Path) -> dict[str, Any]:
    result = invoke("score", pred, toy / "flair_1_labels_test", "--json", pred.parent / "s.json")
    assert result.exit_code == 0, result.output
    return json.loads((pred.parent / "s.json").read_text())


def test_ign_flair1_checkpoint_imports_predicts_and_scores(toy: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt-epoch=00-val_loss=9.33_flair1.ckpt"
    torch.save(lightning(filled(key_shapes("flair1-unet-keys.txt"))), ckpt)
    imported = invoke("baseline", "import-weights", ckpt, "--output", tmp_path / "ign.pt")
    assert imported.exit_code == 0, imported.output
    assert "imported ign-flair1 weights (278 tensors" in imported.stdout
    assert "bands R-G-B-NIR-ELEV (FLAIR bands (1, 2, 3, 4, 5)), normalisation unit" in (
        imported.stdout
    )
    contract = load_checkpoint(tmp_path / "ign.pt")["contract"]
    assert contract["provenance"]["family"] == "ign-flair1"
    assert contract["provenance"]["epoch"] == "76"
    predicted = predict_cli(tmp_path / "ign.pt", toy, tmp_path / "pred")
    assert predicted.exit_code == 0, predicted.output
    assert len(list((tmp_path / "pred").glob("PRED_*.tif"))) == 3
    assert 0.0 <= score(tmp_path / "pred", toy)["miou"] <= 1.0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_flair_inc_checkpoint_imports_predicts_and_scores(toy: Path, tmp_path: Path) -> None:
    state = smp_state("unet", "resnet18", 5, 19, seed=3)
    source = inc_file(
        tmp_path / "FLAIR-INC_rgbie_15cl_resnet18-unet_weights.pth", state, active=IGN_15_ACTIVE
    )
    imported = invoke("baseline", "import-weights", source, "-o", tmp_path / "inc.pt")
    assert imported.exit_code == 0, imported.output
    assert "classes: 15 active of 19 logits" in imported.stdout
    predicted = predict_cli(tmp_path / "inc.pt", toy, tmp_path / "pred", "--tta")
    assert predicted.exit_code == 0, predicted.output
    for pred in (tmp_path / "pred").glob("PRED_*.tif"):
        with rasterio.open(pred) as src:
            assert src.read(1).max() <= 12
    assert 0.0 <= score(tmp_path / "pred", toy)["miou"] <= 1.0


# --- map -------------------------------------------------------------------------------------


def write_raster(path: Path, bands: int = 5, size: int = 64) -> Path:
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0, 651234.4, 0, -0.2, 6862101.6),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.random.default_rng(0).integers(0, 256, (bands, size, size), dtype=np.uint8))
    return path


def test_map_writes_the_models_own_classes_or_the_challenges(tmp_path: Path) -> None:
    source = inc_file(tmp_path / "rgb_15cl.pth", smp_state("unet", "resnet18", 3, 19, seed=5))
    import_weights(source, tmp_path / "inc.pt")
    raster = write_raster(tmp_path / "area.tif")  # 5 FLAIR bands: R, G, B are picked
    common = [
        "--checkpoint",
        tmp_path / "inc.pt",
        "--raster",
        raster,
        "--tile",
        "32",
        "--device",
        "cpu",
    ]
    own = invoke("baseline", "map", *common, "--output", tmp_path / "own.tif")
    assert own.exit_code == 0, own.output
    with rasterio.open(tmp_path / "own.tif") as out:
        names = json.loads(out.tags()["CLASS_NAMES"])
        assert len(names) == 19 and names[17] == "greenhouse"
        assert out.colormap(1)[17][:3] == (0x99, 0x99, 0xFF)
        assert not np.isin(out.read(1), FLAIR_INC_15_INACTIVE).any()
    challenge = invoke(
        "baseline", "map", *common, "--output", tmp_path / "c.tif", "--challenge-classes"
    )
    assert challenge.exit_code == 0, challenge.output
    with rasterio.open(tmp_path / "c.tif") as out:
        assert json.loads(out.tags()["CLASS_NAMES"])[12] == "other"
        assert out.read(1).max() <= 12
    for name, extra in (("p.tif", []), ("pc.tif", ["--challenge-classes"])):
        made = invoke(
            "baseline",
            "map",
            *common,
            "--output",
            tmp_path / name,
            "--product",
            "probabilities",
            *extra,
        )
        assert made.exit_code == 0, made.output
    with rasterio.open(tmp_path / "p.tif") as own_p, rasterio.open(tmp_path / "pc.tif") as ch_p:
        assert (own_p.count, ch_p.count) == (19, 13)
        own_values = own_p.read().astype(float)
        challenge_values = ch_p.read().astype(float)
    crosswalk = np.array([*range(12), *[12] * 7])
    # Each challenge class scores its most probable model class, renormalised (uint8 rounding
    # apart), so the challenge argmax is the model's own, relabelled.
    ranked = np.sort(own_values, axis=0)
    clear = ranked[-1] - ranked[-2] > 4  # pixels whose own argmax survives uint8 rounding
    assert clear.mean() > 0.5
    relabelled = crosswalk[own_values.argmax(axis=0)]
    assert np.array_equal(challenge_values.argmax(axis=0)[clear], relabelled[clear])


def test_map_with_a_metadata_model_needs_the_metadata(tmp_path: Path) -> None:
    cfg = TrainConfig(model=ModelConfig(encoder="resnet18", use_metadata=True))
    model = build_model("unet", "resnet18", 5, 13, use_metadata=True)
    checkpoint = tmp_path / "meta.pt"
    save_checkpoint(checkpoint, model_payload(model.state_dict(), cfg, epoch=0))
    raster = write_raster(tmp_path / "area.tif")
    common = [
        "--checkpoint",
        checkpoint,
        "--raster",
        raster,
        "--tile",
        "32",
        "--device",
        "cpu",
        "--output",
        tmp_path / "m.tif",
    ]
    refused = invoke("baseline", "map", *common)
    assert refused.exit_code == 1 and "pass --metadata ENTRY.json" in refused.stderr
    entry = {
        "patch_centroid_x": 651240.0,
        "patch_centroid_y": 6862095.0,
        "patch_centroid_z": 120.5,
        "date": "2021-06-12",
        "time": "10h30",
        "camera": "UCE-M3-f120-s06",
    }
    (tmp_path / "entry.json").write_text(json.dumps(entry))
    mapped = invoke("baseline", "map", *common, "--metadata", tmp_path / "entry.json")
    assert mapped.exit_code == 0, mapped.output
    (tmp_path / "two.json").write_text(json.dumps({"IMG_1": entry, "IMG_2": entry}))
    two = invoke("baseline", "map", *common, "--overwrite", "--metadata", tmp_path / "two.json")
    assert two.exit_code == 1 and "holds 2 metadata entries; a raster takes one" in two.stderr
    source = inc_file(tmp_path / "rgb_15cl.pth", smp_state("unet", "resnet18", 3, 19))
    import_weights(source, tmp_path / "inc.pt")
    extra = invoke(
        "baseline",
        "map",
        "--checkpoint",
        tmp_path / "inc.pt",
        "--raster",
        raster,
        "--tile",
        "32",
        "--output",
        tmp_path / "x.tif",
        "--metadata",
        tmp_path / "entry.json",
    )
    assert extra.exit_code == 1 and "--metadata is for models that fuse aerial metadata" in (
        extra.stderr
    )


def test_an_unknown_normalisation_is_refused_by_predict(toy: Path, tmp_path: Path) -> None:
    source = inc_file(tmp_path / "rgb_15cl.pth", smp_state("unet", "resnet18", 3, 19))
    import_weights(source, tmp_path / "inc.pt")
    payload = load_checkpoint(tmp_path / "inc.pt")
    payload["contract"]["normalisation"] = "hub-minmax"
    save_checkpoint(tmp_path / "future.pt", payload)
    result = predict_cli(tmp_path / "future.pt", toy, tmp_path / "pred")
    assert result.exit_code == 1
    assert "normalisation 'hub-minmax' is unknown" in result.stderr
    assert not (tmp_path / "pred").exists()


# --- IGN's exact variants ------------------------------------------------------------------


def ign_flair1_oracle_checkpoint(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """IGN's FLAIR #1 metadata oracle and its weights saved as IGN's training saves them."""
    oracle = load_oracle("flair1-meta-oracle.pt")
    state = OrderedDict(unet_weights("model.seg_model.", key_list("flair1-unet-meta-keys.txt")))
    state.update({f"model.enc.{k}": v for k, v in oracle["state_dict"]["enc"].items()})
    state["criterion.weight"] = torch.tensor([1.0] * 12 + [0.0])
    ckpt = tmp_path / "ckpt-epoch=00-val_loss=9.33_flair1_meta.ckpt"
    torch.save(lightning(state), ckpt)
    return oracle, ckpt


def test_imported_ign_flair1_metadata_checkpoint_gives_igns_own_logits(tmp_path: Path) -> None:
    # IGN's checkpoint of the FLAIR #1 oracle (IGN's weights, saved as IGN's training saves them),
    # through the command: the imported model must give the logits IGN's own class gave.
    oracle, ckpt = ign_flair1_oracle_checkpoint(tmp_path)
    imported = invoke("baseline", "import-weights", ckpt, "--output", tmp_path / "meta.pt")
    assert imported.exit_code == 0, imported.output
    contract = load_checkpoint(tmp_path / "meta.pt")["contract"]
    assert contract["metadata_encoding"] == "official"
    assert load_checkpoint(tmp_path / "meta.pt")["config"]["model"]["variant"] == "ign"
    model, _, _ = load_declared(tmp_path / "meta.pt", challenge=False)
    assert model.uses_metadata
    images = oracle["inputs"]["img_uint8"].float() / 255
    with torch.no_grad():
        logits = model(images, oracle["inputs"]["mtd"])
    expected = oracle["outputs"]["logits_crop"]
    assert (logits[..., 240:272, 240:272] - expected).abs().max().item() <= 2e-5
    assert torch.equal(logits.argmax(dim=1).to(torch.uint8), oracle["outputs"]["logits_argmax"])


def test_predict_with_an_imported_ign_checkpoint_writes_igns_own_classes(tmp_path: Path) -> None:
    # The whole command path (reader, metadata encoding, normalisation, precision, writer) on the
    # oracle's two patches: the PRED files must hold the argmax of IGN's own logits, pixel for pixel.
    oracle, ckpt = ign_flair1_oracle_checkpoint(tmp_path)
    assert invoke("baseline", "import-weights", ckpt, "--output", tmp_path / "m.pt").exit_code == 0
    images = oracle["inputs"]["img_uint8"].numpy()
    patches = (("IMG_000717", "D004_2021/Z8_NF"), ("IMG_003690", "D007_2020/Z5_NF"))
    for (name, zone), image in zip(patches, images, strict=True):
        folder = tmp_path / "data" / zone / "img"  # where the metadata JSON puts them
        folder.mkdir(parents=True)
        with rasterio.open(
            folder / f"{name}.tif", "w", driver="GTiff", width=512, height=512, count=5,
            dtype="uint8",
        ) as dst:  # fmt: skip
            dst.write(image)
    metadata = Path(__file__).resolve().parents[1] / "data" / "ign" / "flair1_TOY_metadata.json"
    predicted = predict_cli(
        tmp_path / "m.pt", tmp_path / "data", tmp_path / "pred", "--metadata", metadata
    )
    assert predicted.exit_code == 0, predicted.output
    assert "amp off" in predicted.output  # imported weights predict in float32 by default
    expected_classes = oracle["outputs"]["logits_argmax"].numpy()
    for name, expected in zip(("000717", "003690"), expected_classes, strict=True):
        with rasterio.open(tmp_path / "pred" / f"PRED_{name}.tif") as src:
            assert np.array_equal(src.read(1), expected), name


def test_ign_flair1_metadata_checkpoint_predicts_and_scores_toy_data(tmp_path: Path) -> None:
    # IGN adds the metadata along the deepest feature's 16 rows: 512-pixel patches, as in FLAIR.
    root = tmp_path / "flair1"
    made = invoke("toy-data", root, "--size", "512", "--train", "1", "--test", "2")
    assert made.exit_code == 0, made.output
    ckpt = tmp_path / "ckpt-epoch=00-val_loss=9.33_flair1_meta.ckpt"
    torch.save(lightning(filled(key_shapes("flair1-unet-meta-keys.txt"))), ckpt)
    imported = invoke("baseline", "import-weights", ckpt, "--output", tmp_path / "meta.pt")
    assert imported.exit_code == 0, imported.output
    # The dataset's metadata JSON is found in the toy root, as in an official download.
    predicted = predict_cli(tmp_path / "meta.pt", root, tmp_path / "pred")
    assert predicted.exit_code == 0, predicted.output
    assert len(list((tmp_path / "pred").glob("PRED_*.tif"))) == 2
    assert 0.0 <= score(tmp_path / "pred", root)["miou"] <= 1.0


def test_ign_utt_checkpoint_predicts_toy_flair2(tmp_path: Path) -> None:
    root = tmp_path / "flair2"
    made = invoke(
        "toy-data", root, "--dataset", "flair2", "--size", "64", "--train", "1", "--test", "2"
    )
    assert made.exit_code == 0, made.output
    # The published a7308822 configuration: no aerial metadata (no ``model.mtd_mlp.*``), so the
    # 64-pixel toy patches fit (IGN's metadata tiling needs 512-pixel ones).
    keys = {k: v for k, v in key_shapes("flair2-utt-keys.txt").items() if "mtd_mlp." not in k}
    ckpt = tmp_path / "ckpt-epoch=00-val_loss=12.60_flair2.ckpt"
    torch.save(lightning(filled(keys)), ckpt)
    imported = invoke("baseline", "import-weights", ckpt, "--output", tmp_path / "utt.pt")
    assert imported.exit_code == 0, imported.output
    # IGN's Sentinel-2 pipeline is declared and printed, not only configured.
    assert "Sentinel-2: scaling ign, patch_size 40, filter_clouds True" in imported.stdout
    payload = load_checkpoint(tmp_path / "utt.pt")
    assert payload["contract"]["sentinel"]["scaling"] == "ign"
    payload["config"]["sentinel"]["scaling"] = "reflectance"
    save_checkpoint(tmp_path / "tampered.pt", payload)
    refused = predict_cli(tmp_path / "tampered.pt", root, tmp_path / "refused")
    assert refused.exit_code == 1 and "Sentinel-2 pipeline" in refused.stderr
    assert not (tmp_path / "refused").exists()
    predicted = predict_cli(tmp_path / "utt.pt", root, tmp_path / "pred")
    assert predicted.exit_code == 0, predicted.output
    assert len(list((tmp_path / "pred").glob("PRED_*.tif"))) == 2
    scored = invoke(
        "score", tmp_path / "pred", root / "flair_2_labels_test", "--json", tmp_path / "s.json"
    )
    assert scored.exit_code == 0, scored.output
    assert 0.0 <= json.loads((tmp_path / "s.json").read_text())["miou"] <= 1.0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_zone_context_reads_the_declared_bands(toy: Path, tmp_path: Path) -> None:
    # An NIR-R-G model: bands 4, 1, 2 are picked from the 5-band toy patches.
    source = inc_file(tmp_path / "nrg_15cl.pth", smp_state("unet", "resnet18", 3, 19, seed=2))
    import_weights(source, tmp_path / "nrg.pt", options=ImportOptions(bands=("NIR", "R", "G")))
    assert load_checkpoint(tmp_path / "nrg.pt")["config"]["data"]["bands"] == [4, 1, 2]
    for context in ("patch", "zone"):
        result = predict_cli(tmp_path / "nrg.pt", toy, tmp_path / context, "--context", context)
        assert result.exit_code == 0, result.output
        assert len(list((tmp_path / context).glob("PRED_*.tif"))) == 3


# --- hostile paths and faults (review7-A 4, 5g, 8) -------------------------------------------


@pytest.fixture(scope="module")
def ign_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An IGN FLAIR #1 Lightning checkpoint (IGN's exact keys, deterministic tensors)."""
    path = tmp_path_factory.mktemp("ign") / "flair1.ckpt"
    torch.save(lightning(filled(key_shapes("flair1-unet-keys.txt"))), path)
    return path


def one_error_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    return line


def test_a_source_that_is_no_file_says_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "dir.ckpt").mkdir()
    os.mkfifo(tmp_path / "pipe.ckpt")  # opened, it would block forever without a writer
    os.symlink("loop2.ckpt", tmp_path / "loop1.ckpt")
    os.symlink("loop1.ckpt", tmp_path / "loop2.ckpt")
    for source, what in [
        (tmp_path / "dir.ckpt", "is a folder"),
        (tmp_path / "pipe.ckpt", "is a FIFO (named pipe)"),
        (tmp_path / "loop1.ckpt", "cannot be read (Too many levels of symbolic links)"),
        (Path("/dev/zero"), "is a character device"),
        (tmp_path / "absent.ckpt", "not found"),
    ]:
        line = one_error_line(
            invoke("baseline", "import-weights", source, "--output", tmp_path / "w.pt")
        )
        assert line == f"error: {source}: weights file {what}; give the .ckpt, .pth, .pt or " + (
            ".safetensors file itself"
        )
    assert not (tmp_path / "w.pt").exists()


def test_an_output_under_a_file_or_onto_the_source_is_refused(
    ign_ckpt: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    line = one_error_line(
        invoke("baseline", "import-weights", ign_ckpt, "--output", tmp_path / "notes.txt" / "w.pt")
    )
    assert line.startswith(f"error: {tmp_path / 'notes.txt'}: a file stands where a folder is"), (
        line
    )
    os.symlink(ign_ckpt, tmp_path / "link.ckpt")
    line = one_error_line(
        invoke(
            "baseline",
            "import-weights",
            ign_ckpt,
            "--output",
            tmp_path / "link.ckpt",
            "--overwrite",
        )
    )
    assert (
        line
        == f"error: {ign_ckpt}: --output would overwrite this input; write the output elsewhere"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.ckpt", "notes.txt"]


def test_a_full_disk_while_importing_is_one_line_naming_the_output(
    checkpoint_disk_full: None, ign_ckpt: Path, tmp_path: Path
) -> None:
    line = one_error_line(
        invoke("baseline", "import-weights", ign_ckpt, "--output", tmp_path / "w.pt")
    )
    assert line == (
        f"error: {tmp_path / 'w.pt'}: the disk is full (No space left on device); free space on "
        "that disk or write somewhere else"
    )
    assert list(tmp_path.iterdir()) == []
