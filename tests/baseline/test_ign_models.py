"""The ``ign`` model variant against IGN's own numbers (tests/data/ign/, outputs of IGN's code).

IGN's checkpoints are rebuilt from the oracles' weights in IGN's key layout, converted with
:mod:`baseline.ign_layout`, loaded strictly, and run on the oracles' inputs; intermediates are
read with forward hooks on the real forward pass. Tolerances are the reference README's:
1e-4 on U-TAE / L-TAE, 2e-5 on fusion, metadata MLP, decoder inputs and logits, argmax exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

from baseline.checkpoint import load_checkpoint
from baseline.config import (
    ModelConfig,
    TrainConfig,
    config_from_dict,
    load_config,
    with_overrides,
)
from baseline.fusion import UTTSegmenter, build_network, centre_crop
from baseline.ign_layout import (
    flair1_from_ign,
    flair1_to_ign,
    flair2_from_ign,
    flair2_to_ign,
    unet_io,
)
from baseline.metadata import encode_metadata
from baseline.model import FlairSegmenter, build_model
from baseline.utae import aggregate_with_attention
from scoring.errors import ConfigError
from scoring.evaluate import score_folders
from tests.baseline.ign_oracle import (
    IGN_DATA,
    deterministic_tensor,
    key_list,
    load_oracle,
    unet_weights,
    zeros_like_list,
)

UTAE_TOL = {"atol": 1e-4, "rtol": 1e-4}
FUSION_TOL = {"atol": 2e-5, "rtol": 1e-4}
LOGIT_TOL = {"atol": 2e-5, "rtol": 0.0}


def close(ours: torch.Tensor, ign: torch.Tensor, tol: dict[str, float], what: str) -> None:
    assert ours.shape == ign.shape, (what, ours.shape, ign.shape)
    gap = (ours - ign).abs().max().item()
    assert torch.allclose(ours, ign, **tol), f"{what}: max |ours - IGN| = {gap:.3g}"


def sub8(x: torch.Tensor) -> torch.Tensor:
    return x[..., ::8, ::8]


def crop(x: torch.Tensor) -> torch.Tensor:
    return x[..., 240:272, 240:272]


@contextmanager
def captured(modules: dict[str, nn.Module]) -> Iterator[dict[str, Any]]:
    """Record each module's (inputs, output) of the forward passes run inside the block."""
    seen: dict[str, Any] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, args, out, name=name: seen.__setitem__(name, (args, out))
        )
        for name, module in modules.items()
    ]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


# -- FLAIR #1 with metadata ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def flair1() -> dict[str, Any]:
    oracle = load_oracle("flair1-meta-oracle.pt")
    keys = key_list("flair1-unet-meta-keys.txt")
    state = unet_weights("model.seg_model.", keys)
    state.update({f"model.enc.{k}": v for k, v in oracle["state_dict"]["enc"].items()})
    state["criterion.weight"] = torch.tensor([1.0] * 12 + [0.0])
    ours, model_cfg = flair1_from_ign(state)
    model = build_network(TrainConfig(model=model_cfg), 5, "none")
    model.load_state_dict(ours)
    return {"oracle": oracle, "model": model.eval(), "config": model_cfg, "state": ours}


def test_the_unet_weight_rule_rebuilds_the_oracles_unet(flair1: dict[str, Any]) -> None:
    checks = flair1["oracle"]["seg_model_check"]
    state = flair1["state"]
    assert len(checks) == 278 - 46  # every float tensor of the smp U-Net (counters excluded)
    for key, total in checks.items():
        assert state[f"net.{key}"].double().sum().item() == pytest.approx(total, abs=1e-9), key


def test_flair1_metadata_variant_reproduces_ign(flair1: dict[str, Any]) -> None:
    oracle, model = flair1["oracle"], flair1["model"]
    assert flair1["config"] == ModelConfig(
        use_metadata=True, metadata_encoding="official", variant="ign"
    )
    assert isinstance(model, FlairSegmenter) and model.metadata_mlp is not None
    images = oracle["inputs"]["img_uint8"].float() / 255
    metadata = oracle["inputs"]["mtd"]
    out = oracle["outputs"]
    mlp = model.metadata_mlp.mlp
    with torch.no_grad():
        close(mlp[0](metadata), out["mlp_linear1"], FUSION_TOL, "mlp_linear1")
        close(mlp[:3](metadata), out["mlp_hidden1"], FUSION_TOL, "mlp_hidden1")
        close(mlp[:6](metadata), out["mlp_hidden2"], FUSION_TOL, "mlp_hidden2")
        close(mlp(metadata), out["mlp_out"], FUSION_TOL, "mlp_out")
        with captured({"encoder": model.net.encoder, "decoder": model.net.decoder}) as seen:
            logits = model(images, metadata)
        plain = model.net(images)  # the same weights without metadata: smp's forward
    close(seen["encoder"][1][-1], out["enc_last_before"], FUSION_TOL, "enc_last_before")
    close(seen["decoder"][0][0][-1], out["enc_last_after"], FUSION_TOL, "enc_last_after")
    close(sub8(logits), out["logits_sub8"], LOGIT_TOL, "logits_sub8")
    close(crop(logits), out["logits_crop"], LOGIT_TOL, "logits_crop")
    assert torch.equal(logits.argmax(dim=1).to(torch.uint8), out["logits_argmax"])
    close(sub8(plain), out["logits_nometa_sub8"], LOGIT_TOL, "logits_nometa_sub8")


def test_ign_metadata_encoding_is_the_official_one() -> None:
    oracle = load_oracle("flair1-meta-oracle.pt")
    entries = json.loads((IGN_DATA / "flair1_TOY_metadata.json").read_text(encoding="utf-8"))
    for row, name in enumerate(oracle["inputs"]["mtd_ids"]):
        ours = torch.from_numpy(encode_metadata(entries[name], "official", name=name))
        assert torch.allclose(ours, oracle["inputs"]["mtd"][row], atol=1e-7), name


def test_ign_metadata_tiling_needs_16_rows(flair1: dict[str, Any]) -> None:
    model = build_model(
        "unet", "resnet18", 5, 13, use_metadata=True, metadata_fusion="ign-flair1"
    ).eval()
    with (
        torch.no_grad(),
        pytest.raises(ConfigError, match=r"gives 2 rows; the model takes 512x512-pixel"),
    ):
        model(torch.rand(1, 5, 64, 64), torch.rand(1, 45))


# -- FLAIR #2 U-T&T ------------------------------------------------------------------------------


def utt_ign_state(oracle: dict[str, Any], *, metadata: bool = True) -> dict[str, torch.Tensor]:
    """An IGN U-T&T checkpoint ``state_dict`` holding the oracle's weights."""
    keys = key_list("flair2-utt-keys.txt")
    state = unet_weights("model.arch_vhr.", keys)
    for part, weights in oracle["state_dict"].items():
        if part != "mtd_mlp" or metadata:
            state.update({f"model.{part}.{k}": v for k, v in weights.items()})
    state["criterion.0.weight"] = torch.tensor([1.0] * 12 + [0.0])
    state["criterion.1.weight"] = torch.tensor([1.0] * 11 + [0.0, 0.0])
    return state


def utt_model(state: dict[str, torch.Tensor]) -> UTTSegmenter:
    ours, model_cfg, sentinel = flair2_from_ign(state)
    model = build_network(
        TrainConfig(dataset="flair2", model=model_cfg, sentinel=sentinel), 5, "none"
    )
    assert isinstance(model, UTTSegmenter)
    model.load_state_dict(ours)  # strict: IGN's dead layers included
    return model.eval()


@pytest.fixture(scope="module")
def utt() -> dict[str, Any]:
    oracle = load_oracle("utt-oracle.pt")
    return {"oracle": oracle, "model": utt_model(utt_ign_state(oracle))}


def utt_inputs(oracle: dict[str, Any], case: str) -> tuple[torch.Tensor, ...]:
    given = oracle["inputs"]
    images = given["aerial_uint8"].float() / 255
    series, dates, mask = given["s2"], given["dates"], given["date_mask"]
    if case == "A":
        return images[:1], given["mtd"][:1], series[:1], dates[:1], mask[:1]
    if case == "C":
        return images[1:], given["mtd"][1:], series[1:, :4], dates[1:, :4], mask[1:, :4]
    return images, given["mtd"], series, dates, mask


def test_utt_case_a_entry_by_entry(utt: dict[str, Any]) -> None:
    oracle, model = utt["oracle"], utt["model"]
    ign = oracle["cases"]["A"]
    images, metadata, series, dates, mask = utt_inputs(oracle, "A")
    ltae, net = model.utae.ltae, model.aerial.net
    watched: dict[str, nn.Module] = {
        "in_conv": ltae.in_conv,
        "positional": ltae.positional,
        "mlp": ltae.mlp,
        "out_norm": ltae.out_norm,
        "ltae": ltae,
        "utae": model.utae,
        "encoder": net.encoder,
        "decoder": net.decoder,
        "metadata": model.aerial.metadata_mlp,
        "aux": model.aux_head,
    }
    watched.update({f"cropped{i}": m for i, m in enumerate(model.cropped, start=1)})
    watched.update({f"pooled{i}": m for i, m in enumerate(model.pooled, start=1)})
    with torch.no_grad():
        skips = model.utae.encode(series, mask)
        maps = model.utae.maps(series, dates, mask)
        with captured(watched) as seen:
            logits, aux = model(images, metadata, series, dates, mask, with_aux=True)
        out_conv = model.utae.out_conv(maps[-1])
        fusion_crop = seen["cropped1"][0][0]
        cropped0 = model.cropped_stage0(fusion_crop)
        pooled0 = model.pooled_stage0(seen["pooled1"][0][0])
    b, t = series.shape[:2]
    # U-TAE encoder (stages 0 and 1: date 0, as stored).
    close(skips[0][:, 0], ign["enc.stage0_date0"], UTAE_TOL, "enc.stage0_date0")
    close(skips[1][:, 0], ign["enc.stage1_date0"], UTAE_TOL, "enc.stage1_date0")
    close(skips[2], ign["enc.stage2"], UTAE_TOL, "enc.stage2")
    close(skips[3], ign["enc.stage3"], UTAE_TOL, "enc.stage3")
    # L-TAE, step by step (N = pixels in (b, row, col) order, as IGN's).
    normed, projected = seen["in_conv"][0][0], seen["in_conv"][1]
    close(normed.reshape(b, 25, t, -1), ign["ltae.in_norm_out"], UTAE_TOL, "ltae.in_norm_out")
    close(projected.reshape(b, 25, t, -1), ign["ltae.inconv_out"], UTAE_TOL, "ltae.inconv_out")
    close(seen["positional"][1], ign["ltae.pos_enc"], UTAE_TOL, "ltae.pos_enc")
    heads = ign["ltae.heads_out"].permute(1, 2, 0, 3).reshape(b, 25, -1)  # head-major concat
    close(seen["mlp"][0][0].reshape(b, 25, -1), heads, UTAE_TOL, "ltae.heads_out")
    close(seen["mlp"][1].reshape(b, 25, -1), ign["ltae.mlp_out"], UTAE_TOL, "ltae.mlp_out")
    close(seen["out_norm"][1].reshape(b, 25, -1), ign["ltae.out_norm_out"], UTAE_TOL, "out_norm")
    ltae_out, attention = seen["ltae"][1]
    close(ltae_out, ign["ltae.out"], UTAE_TOL, "ltae.out")
    close(attention, ign["ltae.att"], UTAE_TOL, "ltae.att")
    # U-TAE decoder: aggregated skips, maps, F, and the (unused) out_conv head.
    for level, (skip, stored) in enumerate(zip(reversed(skips[:-1]), ign["agg"], strict=True)):
        close(aggregate_with_attention(skip, attention), stored, UTAE_TOL, f"agg[{level}]")
    for level, (ours, stored) in enumerate(zip(maps, ign["utae.maps"], strict=True)):
        close(ours, stored, UTAE_TOL, f"utae.maps[{level}]")
    close(seen["utae"][1], ign["utae.maps"][-1], UTAE_TOL, "F")
    close(out_conv, ign["utae.out_conv"], UTAE_TOL, "utae.out_conv")
    # Fusion: crop, cropped convolutions and pooled MLPs of stages 0..5.
    close(fusion_crop, ign["fusion.crop"], FUSION_TOL, "fusion.crop")
    close(centre_crop(maps[-1], 10), ign["fusion.crop"], FUSION_TOL, "centre_crop")
    cropped = [cropped0] + [seen[f"cropped{i}"][1] for i in range(1, 6)]
    pooled = [pooled0[0]] + [seen[f"pooled{i}"][1][0] for i in range(1, 6)]
    for stage in range(6):
        close(cropped[stage], ign["fusion.cropped_conv"][stage], FUSION_TOL, f"cropped {stage}")
        close(pooled[stage], ign["fusion.pooled_mlp"][stage], FUSION_TOL, f"pooled {stage}")
    close(seen["pooled1"][0][0][0], ign["fusion.pooled_in"], FUSION_TOL, "fusion.pooled_in")
    # Aerial side: encoder, metadata MLP, decoder inputs and output, logits.
    close(seen["encoder"][1][-1], ign["unet.enc_last_before_mtd"], FUSION_TOL, "enc_last")
    close(seen["metadata"][1], ign["mtd_mlp.out"], FUSION_TOL, "mtd_mlp.out")
    decoder_in = seen["decoder"][0][0]
    close(decoder_in[5], ign["decoder_in.stage5"], FUSION_TOL, "decoder_in.stage5")
    for stage in range(1, 5):
        stored = ign["decoder_in.stage1to4_sub8"][stage - 1]
        close(sub8(decoder_in[stage]), stored, FUSION_TOL, f"decoder_in.stage{stage}")
    close(sub8(seen["decoder"][1]), ign["decoder_out_sub8"], LOGIT_TOL, "decoder_out_sub8")
    close(sub8(logits), ign["logits_sub8"], LOGIT_TOL, "logits_sub8")
    close(crop(logits), ign["logits_crop"], LOGIT_TOL, "logits_crop")
    assert torch.equal(logits.argmax(dim=1).to(torch.uint8), ign["logits_argmax"])
    close(seen["aux"][0][0], ign["aux_crop_in"], FUSION_TOL, "aux_crop_in")
    close(sub8(aux), ign["aux_logits_sub8"], LOGIT_TOL, "aux_logits_sub8")


def test_utt_case_c_unpadded_sample(utt: dict[str, Any]) -> None:
    oracle, model = utt["oracle"], utt["model"]
    ign = oracle["cases"]["C"]
    images, metadata, series, dates, mask = utt_inputs(oracle, "C")
    with torch.no_grad():
        with captured({"ltae": model.utae.ltae, "pooled": model.pooled[0]}) as seen:
            logits = model(images, metadata, series, dates, mask)
        maps = model.utae.maps(series, dates, mask)
    close(maps[-1], ign["utae.maps"], UTAE_TOL, "F")
    close(seen["ltae"][1][0], ign["ltae.out"], UTAE_TOL, "ltae.out")
    close(seen["ltae"][1][1], ign["ltae.att"], UTAE_TOL, "ltae.att")
    close(seen["pooled"][0][0][0], ign["fusion.pooled_in"], FUSION_TOL, "fusion.pooled_in")
    close(sub8(logits), ign["logits_sub8"], LOGIT_TOL, "logits_sub8")
    close(crop(logits), ign["logits_crop"], LOGIT_TOL, "logits_crop")


def test_utt_case_b_is_bug_free(utt: dict[str, Any]) -> None:
    """A padded batch of both samples: sample 0 gives case A, sample 1 case C (IGN's does not)."""
    oracle, model = utt["oracle"], utt["model"]
    cases = oracle["cases"]
    with torch.no_grad():
        logits = model(*utt_inputs(oracle, "B"))
    close(sub8(logits[:1]), cases["A"]["logits_sub8"], LOGIT_TOL, "B sample 0 vs A")
    close(sub8(logits[1:]), cases["C"]["logits_sub8"], LOGIT_TOL, "B sample 1 vs C")
    # IGN's own batch result for sample 1 differs (batch-0 pooling and padded statistics).
    assert (cases["B"]["logits_sub8"][1:] - cases["C"]["logits_sub8"]).abs().max() > 1e-4


def test_utt_without_metadata_is_the_a7308822_network(utt: dict[str, Any]) -> None:
    oracle = utt["oracle"]
    model = utt_model(utt_ign_state(oracle, metadata=False))
    assert not model.uses_metadata
    images, _, series, dates, mask = utt_inputs(oracle, "A")
    with torch.no_grad():
        logits = model(images, None, series, dates, mask)
    close(sub8(logits), oracle["cases"]["A_nomtd"]["logits_sub8"], LOGIT_TOL, "A_nomtd")
    close(crop(logits), oracle["cases"]["A_nomtd"]["logits_crop"], LOGIT_TOL, "A_nomtd crop")


def test_converters_round_trip_the_oracle_weights(utt: dict[str, Any]) -> None:
    state = utt_ign_state(utt["oracle"])
    ours = utt["model"].state_dict()
    back = flair2_to_ign(ours)
    assert back.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(back[key], value), key
    again, _, _ = flair2_from_ign(back)
    assert all(torch.equal(again[k], v) for k, v in ours.items())


# -- key lists and parameter counts --------------------------------------------------------------


def parameter_count(keys: list[tuple[str, tuple[int, ...]]]) -> int:
    """Parameters of a key list: every float tensor except criterion weights and BN statistics."""
    total = 0
    for key, shape in keys:
        if key.startswith("criterion.") or key.endswith(
            ("running_mean", "running_var", "num_batches_tracked")
        ):
            continue
        total += int(torch.Size(shape).numel())
    return total


@pytest.mark.parametrize(
    ("name", "use_metadata", "entries", "parameters"),
    [
        ("flair1-unet-keys.txt", False, 279, 24_444_381),
        ("flair1-unet-meta-keys.txt", True, 285, 24_449_933),
    ],
)
def test_flair1_key_lists(name: str, use_metadata: bool, entries: int, parameters: int) -> None:
    keys = key_list(name)
    structure = json.loads((IGN_DATA / "checkpoint-structure.json").read_text(encoding="utf-8"))
    listed = structure[f"flair1 legacy, use_metadata {use_metadata}"]
    assert len(keys) == entries == listed["state_dict_entries"]
    assert parameter_count(keys) == parameters == listed["model_parameters"]
    ours, model_cfg = flair1_from_ign(zeros_like_list(keys))
    assert model_cfg.use_metadata is use_metadata and model_cfg.variant == "ign"
    assert unet_io(ours) == (5, 13)
    cfg = TrainConfig(model=model_cfg)
    with torch.device("meta"):
        model = build_network(cfg, 5, "none")
    assert sum(p.numel() for p in model.parameters()) == parameters
    built = flair1_to_ign(model.state_dict())
    assert {k: tuple(v.shape) for k, v in built.items()} == dict(keys)


@pytest.mark.parametrize("use_metadata", [True, False])
def test_flair2_key_list(use_metadata: bool) -> None:
    keys = [
        (k, s) for k, s in key_list("flair2-utt-keys.txt") if use_metadata or "mtd_mlp" not in k
    ]
    structure = json.loads((IGN_DATA / "checkpoint-structure.json").read_text(encoding="utf-8"))
    listed = structure[f"flair2 U-T&T, aerial_metadata {use_metadata}"]
    assert len(keys) == listed["state_dict_entries"] == (494 if use_metadata else 488)
    assert parameter_count(keys) == listed["model_parameters"]
    _, model_cfg, sentinel = flair2_from_ign(zeros_like_list(keys))
    assert model_cfg.use_metadata is use_metadata
    assert sentinel == load_config("flair2-baseline").sentinel
    cfg = TrainConfig(dataset="flair2", model=model_cfg, sentinel=sentinel)
    with torch.device("meta"):
        model = build_network(cfg, 5, "none")
    assert sum(p.numel() for p in model.parameters()) == listed["model_parameters"]
    built = flair2_to_ign(model.state_dict())
    assert {k: tuple(v.shape) for k, v in built.items()} == dict(keys)


def test_converter_errors_name_the_keys_and_shapes() -> None:
    keys = key_list("flair1-unet-keys.txt")
    state = zeros_like_list(keys)
    with pytest.raises(
        ConfigError, match=r"1 key\(s\) match no known layer: model\.extra\.w \[3\]"
    ):
        flair1_from_ign({**state, "model.extra.w": torch.zeros(3)})
    del state["model.seg_model.decoder.blocks.4.conv2.0.weight"]
    with pytest.raises(
        ConfigError, match=r"missing: net\.decoder\.blocks\.4\.conv2\.0\.weight \[16, 16, 3, 3\]"
    ):
        flair1_from_ign(state)
    projected = build_model("unet", "resnet18", 5, 13, use_metadata=True)
    with pytest.raises(ConfigError, match=r"metadata_mlp\.project\.weight \[512, 16\]"):
        flair1_to_ign(projected.state_dict())
    with pytest.raises(ConfigError, match=r"no network weights"):
        flair2_from_ign({"criterion.0.weight": torch.ones(13)})


def test_the_rule_matches_the_stored_sums() -> None:
    """The numpy rule alone (no oracle weights), for two tensors of the oracle's checks."""
    checks = load_oracle("utt-oracle.pt")["arch_vhr_check"]
    for key, shape in (
        ("encoder.conv1.weight", (64, 5, 7, 7)),
        ("decoder.blocks.4.conv2.1.running_var", (16,)),
    ):
        assert deterministic_tensor(key, shape).double().sum().item() == pytest.approx(
            checks[key], abs=1e-9
        )


# -- configurations ------------------------------------------------------------------------------


def test_variant_defaults_and_the_packaged_configurations() -> None:
    assert ModelConfig().variant == "flair-kit"
    # A configuration saved before the key existed (checkpoints, YAML) keeps our layers.
    assert config_from_dict({"model": {"arch": "unet"}}).model.variant == "flair-kit"
    one, two = load_config("flair1-baseline"), load_config("flair2-baseline")
    assert one.model.variant == two.model.variant == "ign"
    assert one.model.metadata_encoding == two.model.metadata_encoding == "official"
    assert two.model.use_metadata is False  # IGN's challenge-time config (a7308822)
    assert two.sentinel.scaling == "ign"
    for name in ("flair1-toy-cpu", "flair2-toy-cpu"):
        toy = load_config(name)
        assert toy.model.variant == "flair-kit" and toy.sentinel.scaling == "reflectance"
    with pytest.raises(
        ConfigError, match=r"model.variant: 'IGN' is not one of 'flair-kit' \| 'ign'"
    ):
        with_overrides(one, **{"model.variant": "IGN"})


def test_ign_dead_layers_are_frozen_and_change_nothing() -> None:
    cfg = with_overrides(
        config_from_dict(
            {
                "dataset": "flair2",
                "model": {"encoder": "resnet18", "decoder_channels": [16, 16, 8, 8, 8]},
                "sentinel": {
                    "patch_size": 16,
                    "encoder_widths": [8, 8, 16, 16],
                    "decoder_widths": [8, 8, 16, 16],
                    "n_head": 4,
                    "d_model": 16,
                    "d_k": 2,
                },
            }
        ),
        **{"model.variant": "ign"},
    )
    torch.manual_seed(0)
    model = build_network(cfg, 5, "none")
    assert isinstance(model, UTTSegmenter)
    dead = [model.utae.out_conv, model.cropped_stage0, model.pooled_stage0]
    assert all(not p.requires_grad for m in dead for p in m.parameters())
    image, series = torch.rand(2, 5, 64, 64), torch.rand(2, 3, 10, 16, 16)
    days, mask = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool)
    logits, aux = model(image, None, series, days, mask, with_aux=True)
    (logits.mean() + aux.mean()).backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)  # no unused parameter for DDP
    model.eval()
    with torch.no_grad():
        before = model(image, None, series, days, mask)
        for module in dead:
            for p in module.parameters():
                p.add_(1.0)
        assert torch.equal(model(image, None, series, days, mask), before)


def test_ign_utt_trains_resumes_and_predicts(tmp_path: Path) -> None:
    """A tiny U-T&T in IGN's layout and pipeline through the CLI: train, resume, predict, pack."""
    from starting_kit.cli import app
    from starting_kit.toydata import generate_toy_dataset
    from tests.baseline.test_utt import UTT_CONFIG

    root = tmp_path / "data"
    generate_toy_dataset(root, dataset="flair2", seed=1, size=32, n_train=8, n_test=2)
    text = UTT_CONFIG.replace("  d_k: 2\n", "  d_k: 2\n  scaling: ign\n").replace(
        "  decoder_channels: [16, 16, 8, 8, 8]\n",
        "  decoder_channels: [16, 16, 8, 8, 8]\n  variant: ign\n",
    )
    config = tmp_path / "ign.yaml"
    config.write_text(text.replace("epochs: 2", "epochs: 1"), encoding="utf-8")
    run, runner = tmp_path / "run", CliRunner()
    common = ["baseline", "train", "--config", str(config), "--data", str(root)]
    trained = runner.invoke(app, [*common, "--output", str(run)])
    assert trained.exit_code == 0, trained.output
    resumed = runner.invoke(app, [*common, "--output", str(run), "--epochs", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    payload = load_checkpoint(run / "last.pt")
    assert payload["config"]["model"]["variant"] == "ign"
    assert payload["config"]["sentinel"]["scaling"] == "ign"
    assert {"utae.out_conv.layers.0.weight", "cropped_stage0.weight"} <= set(payload["model"])
    zip_path = tmp_path / "submission.zip"
    predicted = runner.invoke(
        app,
        ["baseline", "predict", "--checkpoint", str(run / "best.pt"), "--data", str(root),
         "--output", str(tmp_path / "pred"), "--pack", str(zip_path), "--device", "cpu"],
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    assert score_folders(zip_path, root / "flair_2_labels_test").n_patches == 2


def test_ign_flair1_trains_predicts_zones_and_maps(
    make_tree: Callable[..., Path], tmp_path: Path
) -> None:
    """FLAIR #1 in IGN's layout on tiny real networks: with metadata (512-pixel patches, IGN's
    row tiling) train, predict and predict by zone; without metadata, map a raster."""
    from baseline.mapping import map_raster
    from baseline.predict import predict
    from baseline.train import train
    from tests.baseline.conftest import TEST_CONFIG, write_geotiff

    root = make_tree(
        size=512,
        per_zone=1,
        train={"D004_2021": ("Z1_UU",), "D006_2020": ("Z1_NF",)},
        test={"D012_2019": ("Z1_UU",)},
    )
    base = config_from_dict(yaml.safe_load(TEST_CONFIG))
    overrides = {"data.train": root, "epochs": 1, "device": "cpu", "amp": "off", "batch_size": 1}
    ign = {"model.variant": "ign", "model.metadata_encoding": "official"}
    fused = with_overrides(
        base, **overrides, **ign, **{"model.use_metadata": True, "out": tmp_path / "meta"}
    )
    result = train(fused)
    state = load_checkpoint(result.best_checkpoint)["model"]
    assert "metadata_mlp.mlp.6.weight" in state and "metadata_mlp.project.weight" not in state
    plain = predict(result.best_checkpoint, root, tmp_path / "plain", device="cpu", amp="off")
    zone = predict(
        result.best_checkpoint, root, tmp_path / "zone", device="cpu", amp="off", context="zone"
    )
    assert plain.n_tiles == zone.n_tiles == 1
    assert sorted(p.name for p in (tmp_path / "zone").iterdir()) == ["PRED_000003.tif"]
    small = make_tree("small", per_zone=1)
    alone = train(
        with_overrides(
            base,
            **{**overrides, **ign, "data.train": small, "out": tmp_path / "u", "batch_size": 3},
        )
    )
    raster = write_geotiff(tmp_path / "area.tif", np.full((5, 80, 72), 90, np.uint8))
    mapped = map_raster(
        alone.best_checkpoint, raster, tmp_path / "classes.tif", tile=64, device="cpu", amp="off"
    )
    assert (mapped.width, mapped.height) == (72, 80) and mapped.out.is_file()
