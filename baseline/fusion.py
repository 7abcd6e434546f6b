"""U-T&T: the aerial U-Net fused with a U-TAE over the Sentinel-2 series (FLAIR #2 baseline).

From the published architecture (formats.md section 7.2). Let F be the last U-TAE decoder map
(B, D, s, s) and ``f`` the aerial patch's footprint in Sentinel-2 pixels (10 for 512 px at 0.2 m:
10.24 S2 pixels, rounded as IGN does):

1. cropped path: the f x f centre of F, a 1x1 convolution to each U-Net encoder stage's channel
   count, bilinearly resized to that stage's size;
2. pooled path: the spatial mean of F **per sample** (IGN averages batch element 0 and gives that
   vector to the whole batch, so its predictions depend on the batch), a 3-layer MLP (widths stepping
   linearly, Dropout 0.3 and ReLU between layers) to each stage's channel count, broadcast;
3. both are added to the U-Net encoder features of stages 1..5, and the U-Net decoder and head give
   the logits. Stage 0 is the input image, which smp's decoder ignores: IGN's stage-0 projections
   have no effect, so they are only built in IGN's layout, frozen and never run;
4. auxiliary head: the f x f centre of F, a 1x1 convolution to the classes, nearest-upsampled to the
   aerial size (the order of these two steps does not change the result).

Modality dropout (``drop_utae_modality``) zeroes the fused features of randomly chosen samples
during training only; IGN draws it for the whole batch and also applies it at inference.

Model variants (``model.variant``): ``ign`` builds IGN's layout (ign-models.md 2.6): pooled-MLP
widths with IGN's truncated steps (:data:`WidthRule` ``truncated``), the stage-0 layers, U-TAE's
``out_conv``, L-TAE's per-pixel output norm and IGN's FLAIR #2 metadata MLP; ``flair-kit`` keeps
rounded widths, no dead layers, a map-wide output norm and the projected metadata MLP.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from baseline.model import FlairSegmenter, MetadataFusion, build_model
from baseline.sentinel import NUM_S2_BANDS
from baseline.utae import UTAE
from scoring.classes import CLASS_NAMES, NUM_CLASSES, OTHER_INDEX

if TYPE_CHECKING:
    from baseline.config import TrainConfig

#: Aerial and Sentinel-2 pixel sizes, metres.
AERIAL_PIXEL_M = 0.2
S2_PIXEL_M = 10.0
#: Dropout of the pooled-path MLPs.
POOLED_DROPOUT = 0.3


def footprint_pixels(aerial_size: int, s2_size: int) -> int:
    """Side, in Sentinel-2 pixels, of the crop under an aerial patch of ``aerial_size`` pixels.

    >>> footprint_pixels(512, 40), footprint_pixels(64, 16), footprint_pixels(4096, 40)
    (10, 1, 40)
    """
    return min(s2_size, max(1, round(aerial_size * AERIAL_PIXEL_M / S2_PIXEL_M)))


def centre_crop(features: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size`` x ``size`` centre of (B, C, s, s): rows s/2 - size//2 ... (IGN: 15..24 of 40)."""
    start = features.shape[-1] // 2 - size // 2
    return features[..., start : start + size, start : start + size]


#: Hidden widths of the pooled-path MLPs: ``rounded`` (flair-kit) or IGN's ``truncated`` steps.
WidthRule = Literal["rounded", "truncated"]
#: Widths of IGN's unused U-TAE head (``out_conv`` in flair-2-config.yml).
IGN_OUT_CONV = (32, NUM_CLASSES)


def pooled_widths(d_in: int, d_out: int, rule: WidthRule = "rounded") -> list[int]:
    """The 4 widths of a pooled-path MLP from ``d_in`` to ``d_out``.

    ``rounded`` steps linearly, rounding; ``truncated`` is IGN's: steps of floor(|d_out - d_in| / 3),
    and 2 * d_in for both hidden layers when d_out equals d_in.

    >>> pooled_widths(64, 512), pooled_widths(64, 512, "truncated")
    ([64, 213, 363, 512], [64, 213, 362, 512])
    >>> pooled_widths(64, 64, "truncated"), pooled_widths(64, 5, "truncated")
    ([64, 128, 128, 64], [64, 45, 26, 5])
    """
    if rule == "rounded":
        return [round(d_in + (d_out - d_in) * k / 3) for k in range(4)]
    if d_out == d_in:
        return [d_in, 2 * d_in, 2 * d_in, d_out]
    step = (abs(d_out - d_in) // 3) * (1 if d_out > d_in else -1)
    return [d_in, d_in + step, d_in + 2 * step, d_out]


def pooled_mlp(d_in: int, d_out: int, rule: WidthRule = "rounded") -> nn.Sequential:
    """3 linear layers from ``d_in`` to ``d_out`` (:func:`pooled_widths`), Dropout and ReLU between."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(pooled_widths(d_in, d_out, rule))):
        layers.append(nn.Linear(a, b))
        if i < 2:
            layers += [nn.Dropout(POOLED_DROPOUT), nn.ReLU()]
    return nn.Sequential(*layers)


def utae_class_weights(values: tuple[float, ...] | None) -> torch.Tensor:
    """Per-class weights of the U-TAE loss (default: 1, and 0 for 'plowed land' and 'other')."""
    if values is not None:
        return torch.tensor(values, dtype=torch.float32)
    weights = torch.ones(NUM_CLASSES, dtype=torch.float32)
    weights[CLASS_NAMES.index("plowed land")] = 0.0
    weights[OTHER_INDEX] = 0.0
    return weights


class UTTSegmenter(nn.Module):
    """U-T&T: ``forward(image, metadata, sentinel, dates, date_mask, with_aux=False)``.

    Inputs: aerial images (B, C, H, W), metadata (B, 45) or None, Sentinel-2 series
    (B, T, 10, s, s), day offsets (B, T), and the boolean mask (B, T) of real dates. Returns the
    U-Net logits (B, 13, H, W), and with ``with_aux`` also the U-TAE logits (B, 13, H, W).
    """

    #: The training and prediction loops pass the Sentinel-2 batch to models that say so.
    uses_sentinel = True

    def __init__(
        self,
        aerial: FlairSegmenter,
        utae: UTAE,
        drop_utae_modality: float = 0.0,
        *,
        widths: WidthRule = "rounded",
        stage0: bool = False,
    ):
        """``widths``: the pooled MLPs' rule; ``stage0``: build IGN's dead stage-0 layers."""
        super().__init__()
        self.aerial = aerial
        self.utae = utae
        self.drop_utae_modality = drop_utae_modality
        channels = [int(c) for c in aerial.net.encoder.out_channels]
        width = utae.out_channels
        self.cropped = nn.ModuleList(nn.Conv2d(width, c, 1) for c in channels[1:])
        self.pooled = nn.ModuleList(pooled_mlp(width, c, widths) for c in channels[1:])
        self.aux_head = nn.Conv2d(width, NUM_CLASSES, 1)
        if stage0:
            # IGN adds these to the input image, which the decoder discards: never run, frozen.
            self.cropped_stage0 = nn.Conv2d(width, channels[0], 1)
            self.pooled_stage0 = pooled_mlp(width, channels[0], widths)
            self.cropped_stage0.requires_grad_(False)
            self.pooled_stage0.requires_grad_(False)

    @property
    def uses_metadata(self) -> bool:
        """Whether forward needs the (B, 45) metadata tensor."""
        return self.aerial.uses_metadata

    @property
    def output_stride(self) -> int:
        """Height and width of the aerial input must be multiples of this."""
        return self.aerial.output_stride

    def forward(
        self,
        image: torch.Tensor,
        metadata: torch.Tensor | None,
        sentinel: torch.Tensor,
        dates: torch.Tensor,
        date_mask: torch.Tensor,
        *,
        with_aux: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """U-Net logits (and U-TAE logits with ``with_aux``); see the class docstring."""
        net = self.aerial.net
        net.check_input_shape(image)
        features = self.aerial.add_metadata(list(net.encoder(image)), metadata)
        series = self.utae(sentinel.to(features[-1].dtype), dates, date_mask)
        crop = centre_crop(series, footprint_pixels(image.shape[-1], series.shape[-1]))
        summary = series.mean(dim=(-2, -1))  # per sample: (B, D)
        keep = None
        if self.training and self.drop_utae_modality > 0:
            keep = torch.rand(image.shape[0], device=image.device) >= self.drop_utae_modality
            keep = keep.to(features[-1].dtype)[:, None, None, None]
        for i, (project, mlp) in enumerate(zip(self.cropped, self.pooled, strict=True), start=1):
            size = features[i].shape[-2:]
            added = F.interpolate(project(crop), size=size, mode="bilinear", align_corners=False)
            added = added + mlp(summary)[:, :, None, None]
            if keep is not None:
                added = added * keep
            features[i] = features[i] + added.to(features[i].dtype)
        logits = net.segmentation_head(net.decoder(features))
        if not with_aux:
            return logits
        aux = F.interpolate(self.aux_head(crop), size=image.shape[-2:], mode="nearest")
        return logits, aux


#: Any network the baseline trains and predicts with: the aerial model, or U-T&T.
Segmenter = FlairSegmenter | UTTSegmenter


def build_network(
    cfg: TrainConfig,
    in_channels: int,
    encoder_weights: str,
    *,
    build_aerial: Callable[..., Any] = build_model,
) -> Segmenter:
    """The network a configuration describes: the aerial model, or U-T&T for FLAIR #2 + Sentinel.

    ``build_aerial`` has the signature of :func:`baseline.model.build_model` (tests pass a tiny one).

    Raises:
        ConfigError, MissingFileError: see :func:`baseline.model.build_model`.
    """
    ign = cfg.model.variant == "ign"
    aerial = build_aerial(
        cfg.model.arch,
        cfg.model.encoder,
        in_channels,
        NUM_CLASSES,
        encoder_weights,
        decoder_channels=cfg.model.decoder_channels,
        use_metadata=cfg.model.use_metadata,
        metadata_fusion=metadata_fusion(cfg),
    )
    if not uses_sentinel(cfg):
        return aerial
    sen = cfg.sentinel
    utae = UTAE(
        NUM_S2_BANDS,
        sen.encoder_widths,
        sen.decoder_widths,
        n_head=sen.n_head,
        d_model=sen.d_model,
        d_k=sen.d_k,
        out_norm="pixel" if ign else "map",
        out_conv=IGN_OUT_CONV if ign else None,
    )
    return UTTSegmenter(
        aerial,
        utae,
        sen.drop_utae_modality,
        widths="truncated" if ign else "rounded",
        stage0=ign,
    )


def metadata_fusion(cfg: TrainConfig) -> MetadataFusion:
    """The metadata branch of a configuration: projected (flair-kit) or IGN's FLAIR #1 / #2 MLP.

    IGN's U-Net alone on FLAIR #2 data (``sentinel.enabled: false``) is its FLAIR #1 network.
    """
    if cfg.model.variant != "ign":
        return "projected"
    return "ign-flair2" if uses_sentinel(cfg) else "ign-flair1"


def row_tiled(cfg: TrainConfig) -> bool:
    """Whether the model adds its metadata with IGN's row tiling, which takes 512-pixel inputs
    only (:func:`baseline.model.row_tiling_fits`)."""
    return cfg.model.use_metadata and metadata_fusion(cfg) != "projected"


def uses_sentinel(cfg: TrainConfig) -> bool:
    """Whether the configuration trains U-T&T (FLAIR #2 with the Sentinel-2 branch enabled)."""
    return cfg.dataset == "flair2" and cfg.sentinel.enabled
