"""IGN's FLAIR #1 challenge checkpoints (ign-models.md 1.5 and 3.1).

``model.seg_model.*``: the smp U-Net/ResNet34, 5 bands (R, G, B, NIR, elevation), 13 classes,
inputs ``/ 255``; with metadata also ``model.enc.enc_mlp.*`` (IGN's MLP, whose 16 values are added
along the height of the deepest feature map). ``criterion.weight`` is the loss's class weights.

Without metadata the network is flair-kit's own U-Net: ``seg_model.`` becomes ``net.`` (278
tensors). With metadata, IGN's exact fusion comes from :mod:`baseline.ign_layout`
(``flair1_from_ign``), reached through :func:`ign_converter`.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from types import ModuleType

from baseline.config import DataConfig, ModelConfig, TrainConfig
from baseline.contract import FLAIR_BANDS, FLAIR_RESOLUTION_M, challenge_contract
from baseline.weights.layout import Imported, ImportOptions, Shapes, strip_prefix, with_prefix
from baseline.weights.readers import Source
from scoring.classes import NUM_CLASSES
from scoring.errors import ConfigError

NAME = "ign-flair1"
#: The metadata MLP's key prefix in IGN's FLAIR #1 model.
METADATA_PREFIX = "enc."
HEAD = "seg_model.segmentation_head.0.weight"


def detect(shapes: Shapes) -> bool:
    """``seg_model.*`` (and ``enc.*``) keys with a 13-logit head."""
    head = shapes.get(HEAD)
    return (
        head is not None
        and head[0] == NUM_CLASSES
        and all(k.startswith(("seg_model.", METADATA_PREFIX)) for k in shapes)
    )


def ign_converter(family: str, converter: str) -> ModuleType:
    """The module holding IGN's exact-variant converters, imported when first needed.

    Raises:
        ConfigError: this flair-kit does not have them yet (the family and what is missing named).
    """
    try:
        ign_layout = importlib.import_module("baseline.ign_layout")
    except ImportError:
        raise ConfigError(
            f"{family}: these weights need IGN's exact model variant ({converter} in "
            "baseline.ign_layout), which this flair-kit does not include yet; import them with "
            "a flair-kit that has it"
        ) from None
    return ign_layout


def convert(source: Source, options: ImportOptions) -> Imported:
    """An IGN FLAIR #1 checkpoint as a flair-kit checkpoint.

    Raises:
        ConfigError: metadata weights without :mod:`baseline.ign_layout`, or ``--bands`` other
            than the five FLAIR bands.
    """
    if options.bands is not None and options.bands != FLAIR_BANDS:
        raise ConfigError(
            f"{source.path}: IGN's FLAIR #1 models read the five FLAIR bands in order; omit --bands"
        )
    if options.normalisation == "flair-inc":
        raise ConfigError(
            f"{source.path}: IGN's FLAIR #1 models take inputs / 255; omit --normalisation"
        )
    tensors = source.tensors
    if any(key.startswith(METADATA_PREFIX) for key in tensors):
        converted, model_cfg = ign_converter(
            "IGN FLAIR #1 with metadata", "flair1_from_ign"
        ).flair1_from_ign(tensors)
        metadata = model_cfg.metadata_encoding if model_cfg.use_metadata else None
        variant = "IGN FLAIR #1 U-Net/ResNet34 with metadata fusion"
    else:
        converted = with_prefix(strip_prefix(tensors, "seg_model."), "net.")
        model_cfg, metadata = ModelConfig(), None
        variant = "IGN FLAIR #1 U-Net/ResNet34 (smp)"
    contract = replace(
        challenge_contract(FLAIR_BANDS, variant=variant),
        metadata_encoding=metadata,
        resolution_m=options.resolution_m or FLAIR_RESOLUTION_M,
    )
    config = TrainConfig(
        name=source.path.stem, data=DataConfig(bands=contract.flair_indices), model=model_cfg
    )
    return Imported(converted, config, contract)
