"""The network: the real smp U-Net/ResNet34, metadata fusion at any size, encoder weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import baseline.model as model_module
from baseline.model import (
    FlairSegmenter,
    adapt_first_conv,
    build_model,
    check_imagenet_available,
    count_parameters,
)
from scoring.errors import ConfigError, DataError, MissingFileError


def test_real_unet_resnet34_forward() -> None:
    model = build_model("unet", "resnet34", 5, 13).eval()
    assert 24_000_000 < count_parameters(model) < 25_000_000  # about 24.4 M, as IGN's
    with torch.inference_mode():
        logits = model(torch.rand(2, 5, 64, 64))
    assert logits.shape == (2, 13, 64, 64)
    assert model.output_stride == 32


def test_other_smp_pairs_and_band_counts() -> None:
    model = build_model("fpn", "resnet18", 3, 13).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 13, 64, 64)


@pytest.mark.parametrize("size", [32, 64, 96])
def test_metadata_fusion_broadcasts_to_any_feature_size(size: int) -> None:
    torch.manual_seed(0)
    model = build_model(
        "unet", "resnet18", 5, 13, decoder_channels=(16, 16, 8, 8, 8), use_metadata=True
    ).eval()
    images = torch.rand(2, 5, size, size)
    with torch.inference_mode():
        first = model(images, torch.zeros(2, 45))
        second = model(images, torch.ones(2, 45))
    assert first.shape == (2, 13, size, size)
    assert not torch.allclose(first, second)  # the metadata reaches the output


def test_fused_model_needs_metadata() -> None:
    model = build_model(
        "unet", "resnet18", 5, 13, decoder_channels=(16, 16, 8, 8, 8), use_metadata=True
    )
    with pytest.raises(ValueError, match=r"pass a \(B, 45\) metadata tensor"):
        model(torch.rand(1, 5, 32, 32))


@pytest.mark.parametrize(
    ("arch", "encoder", "message"),
    [
        ("unetx", "resnet34", r"Wrong architecture type `unetx`"),
        ("unet", "resnet35", r"model: model.encoder is 'resnet35', which .* such as resnet18, "),
        ("unet", "tu-nosuch", r"model: model.encoder is 'tu-nosuch', which .* tu-<timm model"),
    ],
)
def test_unknown_architecture_or_encoder(arch: str, encoder: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(arch, encoder, 5, 13)


def test_decoder_channels_refused_by_an_architecture() -> None:
    with pytest.raises(ConfigError, match=r"architecture 'fpn' does not accept these options"):
        build_model("fpn", "resnet18", 5, 13, decoder_channels=(16, 16, 8, 8, 8))


def test_imagenet_offline_fails_fast_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(model_module, "imagenet_cached", lambda encoder: False)
    monkeypatch.setattr(model_module, "network_reachable", lambda: False)
    with pytest.raises(
        MissingFileError,
        match=r"ImageNet weights for encoder 'resnet34' .* cannot be reached .* --encoder-weights resnet34-imagenet.pt",
    ):
        build_model("unet", "resnet34", 5, 13, "imagenet")


def test_imagenet_refused_when_hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(model_module, "imagenet_cached", lambda encoder: False)
    with pytest.raises(
        MissingFileError, match=r"HF_HUB_OFFLINE is set; on a machine with internet access run"
    ):
        check_imagenet_available("resnet34", reachable=lambda: True)


def test_imagenet_cached_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(model_module, "imagenet_cached", lambda encoder: True)
    check_imagenet_available("resnet34", reachable=lambda: False)


def test_encoder_without_imagenet_weights() -> None:
    with pytest.raises(ConfigError, match=r"encoder 'resnext101_32x16d' has no 'imagenet' weights"):
        check_imagenet_available("resnext101_32x16d", reachable=lambda: True)


def test_network_probe_is_bounded() -> None:
    assert model_module.network_reachable(("localhost", 9), timeout=0.5) in (True, False)


def _encoder_file(
    tmp_path: Path, in_channels: int = 3, name: str = "resnet18"
) -> tuple[Path, dict]:
    from segmentation_models_pytorch.encoders import get_encoder

    torch.manual_seed(1)
    encoder = get_encoder(name, in_channels=in_channels, weights=None)
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    path = tmp_path / f"{name}.pt"
    torch.save({**state, "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, path)
    return path, state


def test_local_weights_adapt_a_three_band_first_conv(tmp_path: Path) -> None:
    path, state = _encoder_file(tmp_path)
    model = build_model("unet", "resnet18", 5, 13, str(path))
    loaded = model.net.encoder.state_dict()
    assert torch.equal(loaded["conv1.weight"], adapt_first_conv(state["conv1.weight"], 5))
    assert torch.equal(loaded["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    # smp's own rule: bands 4 and 5 reuse the R and G filters, everything scaled by 3/5.
    assert torch.allclose(loaded["conv1.weight"][:, 3], state["conv1.weight"][:, 0] * 0.6)


def test_local_weights_with_a_model_prefix_and_matching_bands(tmp_path: Path) -> None:
    _, state = _encoder_file(tmp_path, in_channels=5)
    path = tmp_path / "full.pt"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in state.items()}}, path)
    model = build_model("unet", "resnet18", 5, 13, str(path))
    assert torch.equal(model.net.encoder.state_dict()["conv1.weight"], state["conv1.weight"])


def test_local_weights_of_another_encoder(tmp_path: Path) -> None:
    path, _ = _encoder_file(tmp_path, name="resnet34")
    with pytest.raises(
        ConfigError, match=r"the weights do not match the encoder .* check model.encoder"
    ):
        build_model("unet", "resnet18", 5, 13, str(path))


def test_local_weights_with_a_wrong_shape(tmp_path: Path) -> None:
    _, state = _encoder_file(tmp_path)
    state["bn1.weight"] = torch.ones(32)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(
        ConfigError, match=r"weight 'bn1.weight' has shape \(32,\) but the encoder expects \(64,\)"
    ):
        build_model("unet", "resnet18", 5, 13, str(path))


def test_weights_file_problems(tmp_path: Path) -> None:
    with pytest.raises(
        MissingFileError, match=r"encoder weights file not found; expected 'none', 'imagenet'"
    ):
        build_model("unet", "resnet18", 5, 13, str(tmp_path / "absent.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(DataError, match=r"cannot read encoder weights"):
        build_model("unet", "resnet18", 5, 13, str(junk))
    listing = tmp_path / "list.pt"
    torch.save([1, 2], listing)
    with pytest.raises(DataError, match=r"expected a state dict \(name -> tensor\) of an encoder"):
        build_model("unet", "resnet18", 5, 13, str(listing))


def test_segmenter_without_metadata_is_the_smp_model() -> None:
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", 5, 13).eval()
    assert isinstance(model, FlairSegmenter) and not model.uses_metadata
    images = torch.rand(1, 5, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(images), model.net(images))
