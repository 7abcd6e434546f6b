"""U-TAE: a U-Net over Sentinel-2 time series with L-TAE temporal attention (Garnot & Landrieu 2021).

Written from the published architecture (formats.md sections 7.1 and 14.4), not from its code.
Default widths are the FLAIR #2 baseline's; shapes for a (B, T, 10, 40, 40) input:

============================  ===============================================
stage                         tensor
============================  ===============================================
input                         (B, T, 10, 40, 40) + day offsets (B, T) + mask (B, T)
in_conv (shared over time)    (B, T, 64, 40, 40)
down 1 / 2 / 3                (B, T, 64, 20, 20) / (B, T, 128, 10, 10) / (B, T, 128, 5, 5)
L-TAE                         (B, 128, 5, 5); attention (heads, B, T, 5, 5)
up 1 / 2 / 3 (skips pooled    (B, 128, 10, 10) / (B, 64, 20, 20) / (B, 64, 40, 40)
by the attention)
============================  ===============================================

Padding: every function takes the boolean ``date_mask`` (True on real dates). The per-date encoder
only runs on real dates, the input normalisation of L-TAE takes its statistics over real dates,
and the attention gives padded dates a weight of exactly 0, so a series padded with any number of
extra dates gives the same output. Nothing ever compares values to zero (IGN's U-TAE treats an
all-zero acquisition as padding). Everything that depends on one sample only depends on that
sample: the prediction of a sample does not depend on the batch it is in (in eval mode).

U-TAE's own classification head (``out_conv``) is only built for IGN's layout (``out_conv``
widths given): U-T&T computes and discards it, so it is never run here and its weights are frozen
(they only exist so that IGN's checkpoints load strictly).

Output normalisation of L-TAE (:data:`OutNorm`): ``map`` (flair-kit) takes each GroupNorm's
statistics over its channel group and the whole h x w map of a sample; ``pixel`` (IGN's, the
upstream U-TAE's) over the channel group of each pixel alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

#: Period of the sinusoidal positional encoding of the day offsets (L-TAE's T).
POSITIONAL_PERIOD = 1000.0
#: Groups of the GroupNorm of the per-date encoder (``encoder_norm: group``).
ENCODER_GROUPS = 4

#: Extent of the statistics of L-TAE's output GroupNorm (see the module docstring).
OutNorm = Literal["map", "pixel"]


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class ConvLayers(nn.Module):
    """3x3 convolutions, each followed by a normalisation and ReLU."""

    def __init__(
        self,
        widths: Sequence[int],
        norm: str = "group",
        padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "reflect",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for d_in, d_out in pairwise(widths):
            layers += [
                nn.Conv2d(d_in, d_out, 3, padding=1, padding_mode=padding_mode),
                _group_norm(d_out, ENCODER_GROUPS) if norm == "group" else nn.BatchNorm2d(d_out),
                nn.ReLU(),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layers."""
        return self.layers(x)


class DownBlock(nn.Module):
    """Strided 4x4 convolution (halves the size), a 3x3 convolution and a residual 3x3 one."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(d_in, d_in, 4, stride=2, padding=1, padding_mode="reflect"),
            _group_norm(d_in, ENCODER_GROUPS),
            nn.ReLU(),
        )
        self.conv1 = ConvLayers([d_in, d_out])
        self.conv2 = ConvLayers([d_out, d_out])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d_in, h, w) -> (N, d_out, h/2, w/2)."""
        out = self.conv1(self.down(x))
        return out + self.conv2(out)


class UpBlock(nn.Module):
    """Transposed convolution (doubles the size), 1x1-convolved skip, concatenation, residual 3x3."""

    def __init__(self, d_in: int, d_out: int, d_skip: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(d_in, d_out, 4, stride=2, padding=1),
            nn.BatchNorm2d(d_out),
            nn.ReLU(),
        )
        self.skip_conv = nn.Sequential(
            nn.Conv2d(d_skip, d_skip, 1), nn.BatchNorm2d(d_skip), nn.ReLU()
        )
        self.conv1 = ConvLayers([d_out + d_skip, d_out], norm="batch")
        self.conv2 = ConvLayers([d_out, d_out], norm="batch")

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """(B, d_in, h, w) and a skip (B, d_skip, 2h, 2w) -> (B, d_out, 2h, 2w)."""
        out = torch.cat([self.up(x), self.skip_conv(skip)], dim=1)
        out = self.conv1(out)
        return out + self.conv2(out)


def masked_group_norm(
    x: torch.Tensor, mask: torch.Tensor, norm: nn.GroupNorm, eps: float = 1e-5
) -> torch.Tensor:
    """GroupNorm of (N, T, C) sequences with statistics over the real dates only.

    Args:
        x: (N, T, C) values.
        mask: (N, T) bool, True on real dates.
        norm: supplies the number of groups and the affine weight and bias.
    """
    n, t, c = x.shape
    groups = norm.num_groups
    grouped = x.reshape(n, t, groups, c // groups)
    weight = mask.to(x.dtype)[:, :, None, None]
    count = weight.sum(dim=1, keepdim=True).clamp_min(1.0) * (c // groups)
    mean = (grouped * weight).sum(dim=(1, 3), keepdim=True) / count
    var = (((grouped - mean) ** 2) * weight).sum(dim=(1, 3), keepdim=True) / count
    normed = ((grouped - mean) / torch.sqrt(var + eps)).reshape(n, t, c)
    return normed * norm.weight + norm.bias


class PositionalEncoding(nn.Module):
    """Sinusoidal encoding of day offsets, ``d`` values repeated for each of ``repeat`` heads."""

    inverse_periods: torch.Tensor

    def __init__(self, d: int, repeat: int, period: float = POSITIONAL_PERIOD) -> None:
        super().__init__()
        exponents = 2 * (torch.arange(d) // 2) / d
        # A buffer, so that .to(device) moves it with the model (and it is saved with it).
        self.register_buffer("inverse_periods", period ** (-exponents.double()).float())
        self.repeat = repeat

    def forward(self, days: torch.Tensor) -> torch.Tensor:
        """(N, T) day offsets -> (N, T, d * repeat)."""
        angles = days[..., None].float() * self.inverse_periods
        encoding = torch.where(
            torch.arange(angles.shape[-1], device=days.device) % 2 == 0,
            torch.sin(angles),
            torch.cos(angles),
        )
        return encoding.repeat(1, 1, self.repeat)


class LTAE(nn.Module):
    """Lightweight Temporal Attention Encoder applied to every pixel of a (B, T, C, h, w) map.

    Input GroupNorm (masked), 1x1 projection to ``d_model``, positional encoding of the day
    offsets, ``n_head`` heads with a learned master query (keys of size ``d_k``, temperature
    sqrt(d_k), attention dropout 0.1; each head pools its own ``d_model / n_head`` channels), MLP
    ``d_model -> out_channels`` (Linear, BatchNorm, ReLU), dropout 0.2, output GroupNorm.
    """

    def __init__(
        self,
        in_channels: int,
        d_model: int,
        out_channels: int,
        n_head: int,
        d_k: int,
        *,
        dropout: float = 0.2,
        attention_dropout: float = 0.1,
        out_norm: OutNorm = "map",
    ) -> None:
        super().__init__()
        if d_model % n_head or in_channels % n_head or out_channels % n_head:
            raise ValueError(
                f"L-TAE widths (in {in_channels}, d_model {d_model}, out {out_channels}) must be "
                f"multiples of n_head {n_head}"
            )
        self.n_head, self.d_k = n_head, d_k
        self.in_norm = nn.GroupNorm(n_head, in_channels)
        self.in_conv = nn.Linear(in_channels, d_model)
        self.positional = PositionalEncoding(d_model // n_head, n_head)
        self.query = nn.Parameter(torch.randn(n_head, d_k) * math.sqrt(2.0 / d_k))
        self.key = nn.Linear(d_model, n_head * d_k)
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, out_channels), nn.BatchNorm1d(out_channels), nn.ReLU()
        )
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.GroupNorm(n_head, out_channels)
        self.out_norm_extent = out_norm

    def forward(
        self, x: torch.Tensor, days: torch.Tensor, date_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool the time axis.

        Args:
            x: (B, T, C, h, w) features.
            days: (B, T) day offsets.
            date_mask: (B, T) bool, True on real dates.

        Returns:
            (B, out_channels, h, w) and the attention (n_head, B, T, h, w), 0 on padded dates.
        """
        b, t, c, h, w = x.shape
        seq = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, c)
        mask = date_mask[:, None, None, :].expand(b, h, w, t).reshape(b * h * w, t)
        seq = masked_group_norm(seq, mask, self.in_norm)
        seq = self.in_conv(seq)
        position = self.positional(days)  # (B, T, d_model)
        seq = seq + position[:, None, None].expand(b, h, w, t, -1).reshape(b * h * w, t, -1)
        keys = self.key(seq).view(b * h * w, t, self.n_head, self.d_k)
        scores = torch.einsum("nthk,hk->nht", keys, self.query) / math.sqrt(self.d_k)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        attention = self.attention_dropout(torch.softmax(scores, dim=-1))  # (N, heads, T)
        values = seq.view(b * h * w, t, self.n_head, -1)
        pooled = torch.einsum("nht,nthd->nhd", attention, values).reshape(b * h * w, -1)
        out = self.dropout(self.mlp(pooled))  # (N, out_channels), one row per pixel
        if self.out_norm_extent == "pixel":
            out = self.out_norm(out).view(b, h, w, -1).permute(0, 3, 1, 2)
        else:
            out = self.out_norm(out.view(b, h, w, -1).permute(0, 3, 1, 2))
        attention = attention.view(b, h, w, self.n_head, t).permute(3, 0, 4, 1, 2)
        return out, attention


def aggregate_with_attention(skip: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Pool a (B, T, C, h, w) skip over time with the (heads, B, T, h', w') attention (``att_group``).

    The attention is bilinearly resized to (h, w); the channels are split into one group per head
    and each group takes its head's weighted sum over time.
    """
    heads, b, t = attention.shape[:3]
    _, _, c, h, w = skip.shape
    if attention.shape[-2:] != (h, w):
        attention = F.interpolate(
            attention.reshape(heads * b, t, *attention.shape[-2:]),
            size=(h, w),
            mode="bilinear",
            align_corners=False,
        ).view(heads, b, t, h, w)
    groups = skip.view(b, t, heads, c // heads, h, w)
    pooled = torch.einsum("gbtyx,btgcyx->bgcyx", attention, groups)
    return pooled.reshape(b, c, h, w)


class UTAE(nn.Module):
    """U-TAE returning its last decoder map (B, decoder_widths[0], s, s).

    Args:
        in_channels: bands per date (10).
        encoder_widths: channels of the in_conv and of each down block (baseline 64, 64, 128, 128).
        decoder_widths: channels after each up block, same length (baseline 64, 64, 128, 128).
        n_head, d_model, d_k: L-TAE settings (baseline 16, 256, 4).
        out_norm: extent of L-TAE's output normalisation (``pixel`` for IGN's).
        out_conv: widths of IGN's unused U-TAE head (IGN: 32, 13), or None not to build it.
    """

    def __init__(
        self,
        in_channels: int = 10,
        encoder_widths: Sequence[int] = (64, 64, 128, 128),
        decoder_widths: Sequence[int] = (64, 64, 128, 128),
        n_head: int = 16,
        d_model: int = 256,
        d_k: int = 4,
        *,
        out_norm: OutNorm = "map",
        out_conv: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(encoder_widths) != len(decoder_widths) or len(encoder_widths) < 2:
            raise ValueError(
                f"encoder_widths {tuple(encoder_widths)} and decoder_widths "
                f"{tuple(decoder_widths)} need the same length, at least 2"
            )
        for width in encoder_widths[:-1]:
            if width % n_head:
                raise ValueError(
                    f"encoder width {width} is not a multiple of n_head {n_head} (the skips are "
                    "pooled in one channel group per head)"
                )
        self.in_conv = ConvLayers([in_channels, encoder_widths[0], encoder_widths[0]])
        self.down = nn.ModuleList(
            DownBlock(encoder_widths[i], encoder_widths[i + 1])
            for i in range(len(encoder_widths) - 1)
        )
        self.ltae = LTAE(
            encoder_widths[-1], d_model, decoder_widths[-1], n_head, d_k, out_norm=out_norm
        )
        self.up = nn.ModuleList(
            UpBlock(decoder_widths[i + 1], decoder_widths[i], encoder_widths[i])
            for i in reversed(range(len(decoder_widths) - 1))
        )
        if out_conv is not None:
            # IGN's head: never run (U-T&T discards its output), frozen, kept for loading.
            self.out_conv = ConvLayers([decoder_widths[0], *out_conv], norm="batch")
            self.out_conv.requires_grad_(False)
        self.out_channels = int(decoder_widths[0])
        self.downsampling = 2 ** (len(encoder_widths) - 1)

    def forward(
        self, series: torch.Tensor, days: torch.Tensor, date_mask: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, C, s, s) series, (B, T) day offsets, (B, T) mask -> (B, out_channels, s, s).

        Raises:
            ValueError: shapes that disagree, a size not divisible by the downsampling, or a sample
                without any real date.
        """
        return self.maps(series, days, date_mask)[-1]

    def maps(
        self, series: torch.Tensor, days: torch.Tensor, date_mask: torch.Tensor
    ) -> list[torch.Tensor]:
        """The decoder maps, coarsest first: L-TAE output, then each up block's (IGN's
        ``return_maps``); the last one is what :meth:`forward` returns. Errors as :meth:`forward`.
        """
        date_mask = self._check_inputs(series, days, date_mask)
        skips = self.encode(series, date_mask)
        out, attention = self.ltae(skips[-1], days, date_mask)
        maps = [out]
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=False):
            maps.append(block(maps[-1], aggregate_with_attention(skip, attention)))
        return maps

    def encode(self, series: torch.Tensor, date_mask: torch.Tensor) -> list[torch.Tensor]:
        """Per-date encoder maps (B, T, C, h, w) of in_conv and each down block; padded dates 0."""
        b, t = series.shape[:2]
        # The shared per-date encoder runs on the real dates only; padded dates stay at zero.
        real = series[date_mask]
        features = [self.in_conv(real)]
        for block in self.down:
            features.append(block(features[-1]))
        maps = []
        for feature in features:
            full = feature.new_zeros((b, t, *feature.shape[1:]))
            full[date_mask] = feature
            maps.append(full)
        return maps

    def _check_inputs(
        self, series: torch.Tensor, days: torch.Tensor, date_mask: torch.Tensor
    ) -> torch.Tensor:
        """The mask as bool, after checking the shapes (see :meth:`forward`)."""
        b, t = series.shape[:2]
        if days.shape != (b, t) or date_mask.shape != (b, t):
            raise ValueError(
                f"series {tuple(series.shape)} needs day offsets and a mask of shape {(b, t)}, "
                f"got {tuple(days.shape)} and {tuple(date_mask.shape)}"
            )
        minimum = 2 * self.downsampling  # the deepest map must be 2x2 for the reflect padding
        if any(n % self.downsampling or n < minimum for n in series.shape[-2:]):
            raise ValueError(
                f"Sentinel-2 patch {tuple(series.shape[-2:])} is not a multiple of "
                f"{self.downsampling} of at least {minimum}; set sentinel.patch_size accordingly"
            )
        date_mask = date_mask.to(torch.bool)
        if not bool(date_mask.any(dim=1).all()):
            raise ValueError("a sample has no real date in its mask; every series needs one")
        return date_mask
