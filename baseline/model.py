"""The baseline network: any segmentation-models-pytorch (smp) model, with optional metadata fusion.

Default: smp ``Unet`` with a ``resnet34`` encoder, 5 input bands, 13 outputs (about 24.4 M
parameters). Architecture and encoder are separate options, so every smp pair works (``fpn`` with
``efficientnet-b0``, ``unetplusplus`` with ``resnext50_32x4d``...), never split out of one string.

Five bands and pretrained weights (read from smp's code, not from its docstring, which says "random
init"): the ImageNet encoders have 3-channel first convolutions. With ``encoder_weights=imagenet``,
smp's ``patch_first_conv`` builds the 5-channel kernel by reusing the RGB filters cyclically
(bands R, G, B, NIR, elevation get the filters of R, G, B, R, G) and multiplies it by 3/5 so the
activations keep their scale. With ``encoder_weights=none`` the first convolution is initialised at
random like the rest. A local weights file with a 3-channel first convolution is adapted the same
way (:func:`load_encoder_weights`).

Metadata fusion (``use_metadata``): the 45-value code of :mod:`baseline.metadata` goes through
IGN's MLP (45 -> 64 -> 32 -> 16) and is added to the deepest encoder feature. Three named ways
(:data:`MetadataFusion`):

- ``projected`` (model variant ``flair-kit``): IGN's FLAIR #1 MLP (Dropout 0.4 and ReLU after each
  layer), then a linear map to the channel count of the deepest feature, added per channel and
  broadcast over whatever height and width the encoder produced;
- ``ign-flair1`` (variant ``ign``, FLAIR #1): the same MLP without the linear map; value k is added
  to **row** k of every channel (IGN's tiling, ign-models.md 1.3), so the deepest feature must
  have 16 rows: 512-pixel inputs for a ResNet U-Net;
- ``ign-flair2`` (variant ``ign``, U-T&T): IGN's FLAIR #2 MLP (Dropout 0.5, no Dropout or ReLU
  after the last layer), tiled the same way (ign-models.md 2.7).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from baseline.metadata import METADATA_SIZE
from scoring.errors import ConfigError, DataError, MissingFileError

#: Hidden sizes of IGN's metadata MLP.
METADATA_HIDDEN = (64, 32, 16)
#: Dropout of IGN's FLAIR #1 metadata MLP.
METADATA_DROPOUT = 0.4
#: Dropout of IGN's FLAIR #2 metadata MLP (``mtd_encoding_mlp``).
FLAIR2_METADATA_DROPOUT = 0.5

#: How the metadata code reaches the deepest encoder feature (see the module docstring).
MetadataFusion = Literal["projected", "ign-flair1", "ign-flair2"]
#: Stride of the deepest feature of the U-Nets IGN's row tiling runs on (5 levels).
ROW_TILING_STRIDE = 32
#: The input side IGN's row tiling takes: one row of the deepest feature per metadata value.
ROW_TILING_SIDE = METADATA_HIDDEN[-1] * ROW_TILING_STRIDE


def row_tiling_fits(height: int, width: int) -> bool:
    """Whether a ``height x width`` input, padded up to the stride, gives the deepest feature
    the 16 rows IGN's row tiling needs. Both sides count: D4 TTA turns the tiles.

    >>> row_tiling_fits(512, 512), row_tiling_fits(500, 512), row_tiling_fits(96, 96)
    (True, True, False)
    """
    return all(
        -(-side // ROW_TILING_STRIDE) * ROW_TILING_STRIDE == ROW_TILING_SIDE
        for side in (height, width)
    )


def row_tiling_refusal(what: str, fix: str) -> ConfigError:
    """The up-front refusal of an input that IGN's row-tiled metadata model cannot take.

    ``what`` names the input and its actual size; ``fix`` is what applies to the command.
    """
    return ConfigError(
        f"{what}, but the model fuses metadata with IGN's row tiling (model.variant 'ign'), "
        f"which takes {ROW_TILING_SIDE}x{ROW_TILING_SIDE}-pixel inputs only: {fix}, or use a "
        "model without metadata or with model.variant 'flair-kit'"
    )


_HUB_HOST = ("huggingface.co", 443)


class MetadataMLP(nn.Module):
    """IGN's metadata MLP, followed by a projection to ``out_channels`` values unless it is None.

    Args:
        out_channels: channels of the feature the code is added to (``projected``), or None for
            IGN's row tiling.
        dropout: dropout after each linear layer (IGN: 0.4 for FLAIR #1, 0.5 for FLAIR #2).
        final_activation: Dropout and ReLU after the last linear layer too (IGN's FLAIR #1 MLP has
            them, its FLAIR #2 MLP does not). The layer indices stay 0, 3, 6 either way.
    """

    def __init__(
        self,
        out_channels: int | None,
        in_features: int = METADATA_SIZE,
        *,
        dropout: float = METADATA_DROPOUT,
        final_activation: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for index, hidden in enumerate(METADATA_HIDDEN):
            layers.append(nn.Linear(width, hidden))
            if final_activation or index < len(METADATA_HIDDEN) - 1:
                layers += [nn.Dropout(dropout), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*layers)
        self.project = nn.Linear(width, out_channels) if out_channels is not None else None

    def forward(self, metadata: torch.Tensor) -> torch.Tensor:
        """(B, 45) -> (B, out_channels), or the (B, 16) code without a projection."""
        code = self.mlp(metadata)
        return code if self.project is None else self.project(code)

    def offset(self, metadata: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        """What is added to ``feature`` (B, C, H, W): per channel, or IGN's value k on row k.

        Raises:
            ConfigError: row tiling and a feature whose height is not the code's width.
        """
        code = self(metadata.to(feature.dtype))
        if self.project is not None:
            return code[:, :, None, None]
        if feature.shape[-2] != code.shape[-1]:
            # A last resort: predict and map refuse such inputs before loading the model.
            raise ConfigError(
                f"model.variant 'ign' adds the {code.shape[-1]} metadata values to the "
                f"{code.shape[-1]} rows of the deepest encoder feature (IGN's tiling), but this "
                f"input gives {feature.shape[-2]} rows; the model takes "
                f"{ROW_TILING_SIDE}x{ROW_TILING_SIDE}-pixel inputs only"
            )
        return code[:, None, :, None]


def metadata_branch(fusion: MetadataFusion, channels: int) -> MetadataMLP:
    """The metadata MLP of a fusion kind, for a deepest feature of ``channels`` channels."""
    if fusion == "projected":
        return MetadataMLP(channels)
    if fusion == "ign-flair1":
        return MetadataMLP(None)
    if fusion == "ign-flair2":
        return MetadataMLP(None, dropout=FLAIR2_METADATA_DROPOUT, final_activation=False)
    raise ValueError(f"unknown metadata fusion {fusion!r}; expected one of {MetadataFusion}")


class FlairSegmenter(nn.Module):
    """An smp segmentation model with an optional metadata branch.

    ``forward(image, metadata=None)`` returns logits (B, classes, H, W). Without the metadata
    branch it is exactly the smp model.
    """

    def __init__(self, net: nn.Module, metadata_mlp: MetadataMLP | None = None) -> None:
        super().__init__()
        # smp's models are untyped: encoder, decoder and segmentation_head are reached by name.
        self.net: Any = net
        self.metadata_mlp = metadata_mlp

    @property
    def uses_metadata(self) -> bool:
        """Whether forward needs the (B, 45) metadata tensor."""
        return self.metadata_mlp is not None

    @property
    def output_stride(self) -> int:
        """Height and width must be multiples of this (32 for a U-Net with 5 levels)."""
        encoder = getattr(self.net, "encoder", None)
        return int(getattr(encoder, "output_stride", 1))

    def add_metadata(
        self, features: list[torch.Tensor], metadata: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """The encoder features with the metadata offset added to the deepest one (if fused)."""
        if self.metadata_mlp is None:
            return features
        metadata = self.require_metadata(metadata)
        deepest = features[-1]
        return [*features[:-1], deepest + self.metadata_mlp.offset(metadata, deepest)]

    @staticmethod
    def require_metadata(metadata: torch.Tensor | None) -> torch.Tensor:
        """``metadata`` if it is a (B, 45) tensor; a ValueError (a caller's bug) otherwise."""
        if metadata is None or metadata.shape[-1] != METADATA_SIZE:
            raise ValueError(
                "this model fuses aerial metadata: pass a (B, 45) metadata tensor with the images"
            )
        return metadata

    def forward(self, image: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, classes, H, W) for images (B, C, H, W) and, if fused, metadata (B, 45)."""
        if self.metadata_mlp is None:
            return self.net(image)
        self.require_metadata(metadata)
        self.net.check_input_shape(image)
        features = self.add_metadata(list(self.net.encoder(image)), metadata)
        return self.net.segmentation_head(self.net.decoder(features))


def network_reachable(host: tuple[str, int] = _HUB_HOST, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (DNS included)."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection(host, timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(outcome and outcome[0])


def _offline_flag() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _uses_proxy() -> bool:
    return any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))


def weights_hint(encoder: str) -> str:
    """How to provide ImageNet weights without network access."""
    return (
        'on a machine with internet access run: python -c "import segmentation_models_pytorch as '
        f"smp, torch; torch.save(smp.encoders.get_encoder('{encoder}', weights='imagenet')"
        f".state_dict(), '{encoder}-imagenet.pt')\" and pass --encoder-weights "
        f"{encoder}-imagenet.pt (or model.encoder_weights in the config); use "
        "--encoder-weights none to train from scratch"
    )


def imagenet_cached(encoder: str) -> bool:
    """Whether smp's ImageNet weights for ``encoder`` are already in the Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders.get(encoder, {}).get("pretrained_settings", {}).get("imagenet")
    if settings is None:
        return False
    found = try_to_load_from_cache(
        settings["repo_id"], "model.safetensors", revision=settings["revision"]
    )
    return isinstance(found, str)


def check_imagenet_available(
    encoder: str, *, reachable: Callable[[], bool] = network_reachable
) -> None:
    """Fail fast, before building anything, when ImageNet weights cannot be obtained.

    Passes when the weights are cached; otherwise refuses when ``HF_HUB_OFFLINE`` is set or the
    Hugging Face hub cannot be reached within a few seconds.

    Raises:
        ConfigError: the encoder has no ImageNet weights in smp.
        MissingFileError: the weights are not cached and cannot be downloaded; the message says how
            to provide a local file.
    """
    from segmentation_models_pytorch.encoders import encoders

    if not encoder.startswith("tu-"):
        known = encoders.get(encoder)
        if known is None:
            raise ConfigError(f"model.encoder {encoder!r} is not an smp encoder")
        if "imagenet" not in known["pretrained_settings"]:
            available = ", ".join(known["pretrained_settings"]) or "none"
            raise ConfigError(
                f"encoder {encoder!r} has no 'imagenet' weights in smp (available: {available}); "
                "use --encoder-weights none or a local weights file"
            )
        if imagenet_cached(encoder):
            return
    if _offline_flag():
        raise MissingFileError(
            f"ImageNet weights for encoder {encoder!r} are not in the local Hugging Face cache and "
            f"HF_HUB_OFFLINE is set; {weights_hint(encoder)}"
        )
    if not _uses_proxy() and not reachable():
        raise MissingFileError(
            f"ImageNet weights for encoder {encoder!r} are not in the local Hugging Face cache and "
            f"{_HUB_HOST[0]} cannot be reached (no network?); {weights_hint(encoder)}"
        )


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MissingFileError(
            f"{path}: encoder weights file not found; expected 'none', 'imagenet' or the path of "
            "an encoder state dict (.pt/.pth/.safetensors)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            content: Any = load_file(str(path), device="cpu")
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch/safetensors raise many types on a bad file
        raise DataError(
            f"{path}: cannot read encoder weights ({type(exc).__name__}: {exc})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(content, dict) and isinstance(content.get(key), dict):
            content = content[key]
    if not isinstance(content, dict) or not all(
        isinstance(v, torch.Tensor) for v in content.values()
    ):
        raise DataError(f"{path}: expected a state dict (name -> tensor) of an encoder")
    for prefix in ("net.encoder.", "encoder."):
        if content and all(k.startswith(prefix) for k in content):
            content = {k[len(prefix) :]: v for k, v in content.items()}
    return content


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """smp's rule for a pretrained 3-channel kernel and ``in_channels`` bands.

    Channels are reused cyclically (R, G, B, R, G, ...) and scaled by ``3 / in_channels``;
    a single band gets the sum of the three filters.

    >>> adapt_first_conv(torch.ones(1, 3, 1, 1), 5).flatten().tolist()
    [0.6000000238418579, 0.6000000238418579, 0.6000000238418579, 0.6000000238418579, 0.6000000238418579]
    """
    source = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    index = torch.arange(in_channels) % source
    return weight[:, index] * (source / in_channels)


def load_encoder_weights(encoder: nn.Module, path: Path, in_channels: int) -> None:
    """Load a local encoder state dict, adapting a 3-channel first convolution to the bands.

    Classifier keys (``fc.*``, ``classifier.*``, ``head.*``) of a full ImageNet network are ignored.

    Raises:
        MissingFileError, DataError: the file is missing or not a state dict.
        ConfigError: missing, unexpected or mis-shaped keys (named, with both shapes).
    """
    weights = _read_weights_file(path)
    expected = encoder.state_dict()
    ignored = ("fc.", "classifier.", "head.", "last_linear.")
    weights = {k: v for k, v in weights.items() if not k.startswith(ignored) or k in expected}
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ConfigError(
            f"{path}: the weights do not match the encoder ({len(missing)} missing key(s), e.g. "
            f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}); check "
            "model.encoder against the network the file was saved from"
        )
    for key, target in expected.items():
        tensor = weights[key]
        if tensor.shape == target.shape:
            continue
        adaptable = (
            tensor.ndim == 4
            and tensor.shape[0] == target.shape[0]
            and tensor.shape[2:] == target.shape[2:]
            and tensor.shape[1] == 3
            and target.shape[1] == in_channels
        )
        if not adaptable:
            raise ConfigError(
                f"{path}: weight {key!r} has shape {tuple(tensor.shape)} but the encoder expects "
                f"{tuple(target.shape)}"
            )
        weights[key] = adapt_first_conv(tensor, in_channels)
    encoder.load_state_dict(weights)


def _check_accepts(arch: str, option: str) -> None:
    """Refuse an option the architecture would silently swallow in its ``**kwargs``."""
    import inspect

    from segmentation_models_pytorch import MODEL_ARCHITECTURES_MAPPING

    model_class = MODEL_ARCHITECTURES_MAPPING.get(arch.lower())
    if model_class is not None and option not in inspect.signature(model_class.__init__).parameters:
        raise ConfigError(
            f"model: architecture {arch!r} does not accept these options ({option}); remove "
            f"model.{option} or use an architecture that has it (unet, unetplusplus...)"
        )


#: Encoders named when an unknown one is refused (smp knows 70 more).
COMMON_ENCODERS = ("resnet18", "resnet34", "resnet50", "efficientnet-b0", "mit_b2", "mit_b5")


def check_encoder_name(encoder: str, where: str = "model") -> None:
    """Refuse an encoder that neither smp nor (``tu-<name>``) timm knows, before building.

    Raises:
        ConfigError: ``where: model.encoder is ...`` with a few valid names and where to find all.
    """
    import segmentation_models_pytorch as smp

    known = smp.encoders.get_encoder_names()
    if encoder in known:
        return
    if encoder.startswith("tu-"):
        import timm

        if timm.is_model(encoder[3:]):
            return
    raise ConfigError(
        f"{where}: model.encoder is {encoder!r}, which segmentation-models-pytorch does not "
        f"know; set it to an smp encoder such as {', '.join(COMMON_ENCODERS)} ({len(known)} in "
        "all: python -c 'import segmentation_models_pytorch as smp; "
        "print(smp.encoders.get_encoder_names())') or tu-<timm model name>"
    )


def build_model(
    arch: str,
    encoder: str,
    in_channels: int,
    num_classes: int,
    encoder_weights: str = "none",
    *,
    decoder_channels: tuple[int, ...] | None = None,
    use_metadata: bool = False,
    metadata_fusion: MetadataFusion = "projected",
) -> FlairSegmenter:
    """Create the network.

    Args:
        arch: smp architecture name (``unet``...).
        encoder: smp encoder name (``resnet34``...).
        in_channels: number of input bands.
        num_classes: number of output classes (13 for FLAIR).
        encoder_weights: ``none``, ``imagenet`` or the path of a local encoder state dict.
        decoder_channels: decoder widths for architectures that take them (U-Net: 5 values).
        use_metadata: add the metadata branch.
        metadata_fusion: how the metadata branch is built and added (module docstring).

    Raises:
        ConfigError: unknown architecture or encoder, or incompatible options.
        MissingFileError: ImageNet weights unavailable offline, or a missing weights file.
    """
    import segmentation_models_pytorch as smp

    check_encoder_name(encoder)
    weights_path: Path | None = None
    smp_weights: Any = None
    if encoder_weights == "imagenet":
        check_imagenet_available(encoder)
        smp_weights = True if encoder.startswith("tu-") else "imagenet"
    elif encoder_weights != "none":
        weights_path = Path(encoder_weights)
        if not weights_path.is_file():
            raise MissingFileError(
                f"{encoder_weights}: encoder weights file not found; expected 'none', 'imagenet' "
                "or the path of an encoder state dict"
            )
    kwargs: dict[str, Any] = {}
    if decoder_channels is not None:
        kwargs["decoder_channels"] = list(decoder_channels)
        _check_accepts(arch, "decoder_channels")
    try:
        net = smp.create_model(
            arch,
            encoder_name=encoder,
            encoder_weights=smp_weights,
            in_channels=in_channels,
            classes=num_classes,
            **kwargs,
        )
    except KeyError as exc:
        raise ConfigError(f"model: {exc.args[0] if exc.args else exc}") from None
    except TypeError as exc:
        raise ConfigError(
            f"model: architecture {arch!r} does not accept these options ({exc})"
        ) from None
    except (OSError, RuntimeError) as exc:
        if smp_weights is None:
            raise
        raise MissingFileError(
            f"downloading ImageNet weights for encoder {encoder!r} failed ({exc}); "
            f"{weights_hint(encoder)}"
        ) from None
    if weights_path is not None:
        load_encoder_weights(net.encoder, weights_path, in_channels)
    channels = int(net.encoder.out_channels[-1])
    mlp = metadata_branch(metadata_fusion, channels) if use_metadata else None
    return FlairSegmenter(net, mlp)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
