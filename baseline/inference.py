"""Model inference: a checkpoint's network, batch prediction, D4 test-time augmentation, padding.

The one place where a trained model meets pixels; ``baseline predict``, ``baseline map`` and the
zone context all predict through it. Fast by construction: ``torch.inference_mode`` at the
callers, channels_last and autocast (bf16 where the hardware runs it natively, see
:mod:`baseline.runtime`) here.

Optional test-time augmentation (``tta``): the 8 symmetries of the square (D4); the softmax
probabilities of the 8 views are mapped back and averaged before the argmax.

The checkpoint's contract (:mod:`baseline.contract`) is applied here, once for every command:
the network is wrapped in a :class:`DeclaredModel` when its contract asks for more than what the
readers give (images ``/ 255`` and the 13 challenge classes): a declared normalisation, masked
logits, or the crosswalk from the model's own classes to the challenge classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from baseline.checkpoint import (
    check_bands,
    check_classes,
    checkpoint_config,
    load_checkpoint,
    load_model_state,
    payload_contract,
)
from baseline.config import TrainConfig
from baseline.contract import ModelContract
from baseline.fusion import Segmenter, build_network, uses_sentinel
from baseline.model import build_model
from baseline.runtime import autocast, resolve_amp
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError

#: The 8 elements of D4 as (quarter turns, left-right flip).
D4: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))


def d4_transform(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """Rotate the last two axes by quarter turns, then flip left-right."""
    x = torch.rot90(x, quarter_turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


def d4_inverse(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """Undo :func:`d4_transform`."""
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, -quarter_turns, dims=(-2, -1))


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad height and width up to a multiple of ``multiple``; return the original size.

    Reflection cannot add as many pixels as a side has or more (a 16-pixel side padded to 32),
    so it is applied in steps, each reflecting the already padded image; a 1-pixel side, which
    has nothing to reflect, is repeated. Any size from 1 pixel up is padded this way.

    >>> padded, height, width = pad_to_multiple(torch.arange(3.0).reshape(1, 1, 1, 3), 8)
    >>> tuple(padded.shape), height, width
    ((1, 1, 8, 8), 1, 3)
    >>> padded[0, 0, 0].tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0]
    """
    height, width = images.shape[-2:]
    for axis, missing in ((-2, (-height) % multiple), (-1, (-width) % multiple)):
        while missing:
            step = min(missing, images.shape[axis] - 1)
            mode = "reflect" if step else "replicate"
            step = step or missing
            pad = (0, step, 0, 0) if axis == -1 else (0, 0, 0, step)
            images = F.pad(images, pad, mode=mode)
            missing -= step
    return images, height, width


def predict_batch(
    model: Segmenter,
    images: torch.Tensor,
    metadata: torch.Tensor | None = None,
    *,
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    sentinel: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Class indices (B, H, W) uint8 for a batch of images (B, C, H, W) on the model's device.

    Sizes that are not multiples of the encoder's stride are reflect-padded and cropped back.
    U-T&T models also take ``sentinel``: the padded series, day offsets and date mask of the batch.
    """
    total = predict_scores(
        model,
        images,
        metadata,
        tta=tta,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        sentinel=sentinel,
    )
    return total.argmax(dim=1).to(torch.uint8)


def predict_scores(
    model: Segmenter,
    images: torch.Tensor,
    metadata: torch.Tensor | None = None,
    *,
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    probabilities: bool = False,
    sentinel: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Float32 class scores (B, 13, H, W): logits, or with ``tta`` the summed D4 softmaxes.

    With ``probabilities`` the result is always the mean softmax probability (of the 8 views with
    ``tta``), what :mod:`baseline.blending` blends. With ``sentinel`` (U-T&T), each D4 view turns
    the Sentinel-2 crop with the image.
    """
    padded, height, width = pad_to_multiple(images, max(model.output_stride, 1))
    views = D4 if tta else ((0, False),)
    total: torch.Tensor | None = None
    for quarter_turns, flip in views:
        view = d4_transform(padded, quarter_turns, flip)
        if channels_last:
            view = view.contiguous(memory_format=torch.channels_last)
        with autocast(images.device, amp_dtype):
            if sentinel is None:
                logits = model(view, metadata)
            else:
                series, dates, date_mask = sentinel
                series = d4_transform(series, quarter_turns, flip)
                logits = model(view, metadata, series, dates, date_mask)
        logits = d4_inverse(logits.float(), quarter_turns, flip)
        scores = logits.softmax(dim=1) if tta or probabilities else logits
        total = scores if total is None else total + scores
    assert total is not None
    if probabilities and len(views) > 1:
        total = total / len(views)
    return total[..., :height, :width]


class DeclaredModel(nn.Module):
    """A network behind its contract, called like the network itself.

    Inputs are the readers' ``uint8 / 255`` images. With a ``mean-std`` normalisation the 0..255
    values are recovered exactly (rounding) and normalised in float64, then cast back: IGN's
    FLAIR-INC pipeline bit for bit. Inactive logits are set to ``-inf`` (never predicted, zero
    probability). With ``challenge``, the model's classes are relabelled through the crosswalk:
    each of the 13 challenge classes scores the probability of its most probable model class
    (the output is its logarithm), so the argmax is the challenge class of the model's own argmax,
    as relabelling IGN's maps gives; TTA and blending average these scores, and ``map --product
    probabilities`` renormalises them. A challenge class no model class maps to scores 0 (``-inf``).
    Summing the probabilities of the merged classes instead would favour a class that merges many
    (FLAIR-INC's 'other' merges swimming pool, snow and greenhouse) whenever the model hesitates.
    """

    mean: torch.Tensor
    std: torch.Tensor
    inactive: torch.Tensor
    crosswalk: torch.Tensor

    def __init__(self, net: Segmenter, contract: ModelContract, *, challenge: bool) -> None:
        super().__init__()
        self.net = net
        self.normalise = contract.normalisation == "mean-std"
        mean = torch.tensor(contract.mean or (), dtype=torch.float64)
        std = torch.tensor(contract.std or (), dtype=torch.float64)
        self.register_buffer("mean", mean[None, :, None, None], persistent=False)
        self.register_buffer("std", std[None, :, None, None], persistent=False)
        inactive = torch.zeros(len(contract.classes), dtype=torch.bool)
        inactive[list(contract.inactive)] = True
        self.register_buffer("inactive", inactive[None, :, None, None], persistent=False)
        self.masked = bool(contract.inactive)
        self.regroup = challenge and not contract.is_challenge
        crosswalk = torch.tensor(contract.crosswalk, dtype=torch.int64)
        self.register_buffer("crosswalk", crosswalk[None, :, None, None], persistent=False)

    @property
    def uses_metadata(self) -> bool:
        """Whether the network needs the (B, 45) metadata tensor."""
        return bool(self.net.uses_metadata)

    @property
    def output_stride(self) -> int:
        """The network's: heights and widths must be multiples of it."""
        return int(self.net.output_stride)

    def forward(self, image: torch.Tensor, *rest: Any) -> torch.Tensor:
        """Logits of the model's classes (or of the 13 challenge classes) for ``/ 255`` images."""
        if self.normalise:
            values = torch.round(image.double() * 255.0)
            image = ((values - self.mean) / self.std).to(image.dtype)
        logits = self.net(image, *rest)
        if self.masked:
            logits = logits.masked_fill(self.inactive, float("-inf"))
        if self.regroup:
            probabilities = logits.float().softmax(dim=1)
            shape = (logits.shape[0], NUM_CLASSES, *logits.shape[2:])
            grouped = probabilities.new_zeros(shape)
            index = self.crosswalk.expand_as(probabilities)
            grouped.scatter_reduce_(1, index, probabilities, reduce="amax")
            logits = grouped.log()
        return logits


def inference_amp(choice: str, device: torch.device, contract: ModelContract) -> torch.dtype | None:
    """The autocast dtype to predict with: :func:`~baseline.runtime.resolve_amp`, except that
    ``auto`` runs imported weights (a contract with a provenance) in float32, the precision they
    were trained and published in, so that their predictions are their authors' own; bf16 moves
    the logits of IGN's FLAIR #1 oracle by about 2e-3 and flips about 0.1% of its pixels. Any
    explicit choice is obeyed.

    Raises:
        ConfigError: as :func:`~baseline.runtime.resolve_amp`.
    """
    if choice == "auto" and contract.imported:
        return None
    return resolve_amp(choice, device)


def declared_model(net: Segmenter, contract: ModelContract, *, challenge: bool) -> Segmenter:
    """``net`` behind its contract (:class:`DeclaredModel`), or ``net`` itself when the contract
    asks nothing more than the readers give (every checkpoint flair-kit trains)."""
    plain = contract.normalisation == "unit" and not contract.inactive
    if plain and (contract.is_challenge or not challenge):
        return net
    # It answers the Segmenter interface (uses_metadata, output_stride, forward).
    return cast(Segmenter, DeclaredModel(net, contract, challenge=challenge))


def build_declared(cfg: TrainConfig, contract: ModelContract) -> Segmenter:
    """The bare network of a configuration, with the contract's class count.

    Raises:
        ConfigError: a U-T&T model whose contract declares other than 13 classes.
    """
    count = len(contract.classes)
    if uses_sentinel(cfg) and count != NUM_CLASSES:
        raise ConfigError(
            f"a U-T&T model predicts the {NUM_CLASSES} challenge classes; its contract declares "
            f"{count}"
        )

    def aerial(arch: str, encoder: str, in_channels: int, _: int, *args: Any, **kw: Any) -> Any:
        return build_model(arch, encoder, in_channels, count, *args, **kw)

    # "none": the checkpoint holds every weight; never download anything here.
    return build_network(cfg, len(contract.bands), "none", build_aerial=aerial)


def load_declared(
    checkpoint: Path,
    *,
    challenge: bool = True,
    bands: Sequence[int] | None = None,
    check: Callable[[TrainConfig], None] | None = None,
) -> tuple[Segmenter, TrainConfig, ModelContract]:
    """Rebuild the network of a checkpoint behind its contract, refusing any mismatch.

    ``challenge``: the 13 challenge classes through the crosswalk (``predict``); otherwise the
    model's own classes (``map``'s default). ``check`` sees the stored configuration before the
    network is built and may refuse it (raise), so a model the caller cannot use costs no
    construction.

    Raises:
        MissingFileError, DataError: no such checkpoint, not a flair-kit checkpoint, or a
            malformed contract.
        ConfigError: other classes or bands than the checkpoint's, an unknown normalisation, or
            weights that do not fit the stored configuration (both values named).
    """
    payload = load_checkpoint(checkpoint)
    cfg = checkpoint_config(payload, checkpoint)
    contract = payload_contract(payload, cfg, checkpoint)
    check_classes(payload, checkpoint, contract)
    if check is not None:
        check(cfg)
    check_bands(cfg, checkpoint, tuple(bands) if bands is not None else None)
    model = build_declared(cfg, contract)
    load_model_state(model, payload["model"], checkpoint, cfg, len(contract.classes))
    return declared_model(model.eval(), contract, challenge=challenge).eval(), cfg, contract


def load_predictor(
    checkpoint: Path,
    *,
    bands: Sequence[int] | None = None,
    check: Callable[[TrainConfig], None] | None = None,
) -> tuple[Segmenter, TrainConfig]:
    """:func:`load_declared` predicting the 13 challenge classes, without the contract."""
    model, cfg, _ = load_declared(checkpoint, bands=bands, check=check)
    return model, cfg


def model_scorer(
    model: Segmenter, *, tta: bool = False, amp_dtype: torch.dtype | None = None
) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The blending engine's scorer for a model: its probabilities (D4-averaged with ``tta``)."""

    def scores(images: torch.Tensor, metadata: torch.Tensor | None) -> torch.Tensor:
        return predict_scores(
            model,
            images,
            metadata,
            tta=tta,
            amp_dtype=amp_dtype,
            probabilities=True,
        )

    return scores
