"""IGN's FLAIR #1 challenge checkpoints (ign-models.md 1.5 and 3.1).

``model.seg_model.*``: the smp U-Net/ResNet34, 5 bands (R, G, B, NIR, elevation), 13 classes,
inputs ``/ 255``; with metadata also ``model.enc.enc_mlp.*`` (IGN's MLP, whose 16 values are added
along the height of the deepest feature map). ``criterion.weight`` is the loss's class weights.

Without metadata the network is flair-kit's own U-Net: ``seg_model.`` becomes ``net.`` (278
tensors). With metadata, IGN's exact fusion is the ``ign`` variant's; both go through
:func:`baseline.ign_layout.flair1_from_ign`.
"""

from __future__ import annotations

from dataclasses import replace

from baseline.config import DataConfig, TrainConfig
from baseline.contract import FLAIR_BANDS, FLAIR_RESOLUTION_M, challenge_contract
from baseline.ign_layout import flair1_from_ign
from baseline.weights.flair_inc import SMP_PARTS
from baseline.weights.layout import Imported, ImportOptions, Shapes
from baseline.weights.readers import Source
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError

NAME = "ign-flair1"
#: The metadata MLP's key prefix in IGN's FLAIR #1 model.
METADATA_PREFIX = "enc."


def detect(shapes: Shapes) -> bool:
    """A U-Net with a 13-logit head: ``seg_model.*`` (and ``enc.*``) keys, or the same smp keys
    bare, as IGN's later loaders strip them. 13 logits are the challenge's classes, so a bare file
    is IGN's challenge network (inputs ``/ 255``), never FLAIR-INC's (12 or 19 logits, mean/std
    inputs); ``--from flair-inc`` says otherwise."""
    bare = {k.removeprefix("seg_model."): shape for k, shape in shapes.items()}
    head = bare.get("segmentation_head.0.weight")
    return (
        head is not None
        and head[0] == NUM_CLASSES
        and any(k.startswith("decoder.blocks.") for k in bare)
        and all(k.startswith((*SMP_PARTS, METADATA_PREFIX)) for k in bare)
    )


def refuse_fixed_options(source: Source, options: ImportOptions, challenge: str) -> None:
    """IGN's challenge models fix their bands (the five FLAIR bands, in order) and their aerial
    normalisation (``/ 255``): options that say otherwise are refused, not applied.

    Raises:
        ConfigError: ``--bands`` other than the FLAIR bands, or ``--normalisation flair-inc``.
    """
    if options.bands is not None and options.bands != FLAIR_BANDS:
        raise ConfigError(
            f"{source.path}: IGN's {challenge} models read the five FLAIR bands in order; "
            "omit --bands"
        )
    if options.normalisation == "flair-inc":
        raise ConfigError(
            f"{source.path}: IGN's {challenge} models take aerial inputs / 255; omit --normalisation"
        )


def convert(source: Source, options: ImportOptions) -> Imported:
    """An IGN FLAIR #1 checkpoint as a flair-kit checkpoint.

    Raises:
        ConfigError: keys IGN's layout does not have, or ``--bands`` other than the five FLAIR
            bands.
    """
    refuse_fixed_options(source, options, "FLAIR #1")
    # One conversion for both layouts: without metadata IGN's network is our U-Net exactly
    # (``seg_model.`` -> ``net.``); with it, IGN's fusion is the ``ign`` variant's.
    converted, model_cfg = flair1_from_ign(source.tensors)
    metadata = model_cfg.metadata_encoding if model_cfg.use_metadata else None
    variant = "IGN FLAIR #1 U-Net/ResNet34" + (" with metadata fusion" if metadata else " (smp)")
    contract = replace(
        challenge_contract(FLAIR_BANDS, variant=variant),
        metadata_encoding=metadata,
        resolution_m=options.resolution_m or FLAIR_RESOLUTION_M,
    )
    config = TrainConfig(
        name=source.path.stem, data=DataConfig(bands=contract.flair_indices), model=model_cfg
    )
    return Imported(converted, config, contract)
