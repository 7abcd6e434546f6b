"""FLAIR-HUB (ign-models.md 4.2): recognised, and refused until flair-kit builds its networks.

FLAIR-HUB's models are multimodal, with Swin or ConvNeXtV2 encoders, UPerNet decoders and one
head per task (``main_decoders.<task>.*``); none of them is a FLAIR #1/#2 architecture, so their
weights fit no flair-kit network today. This module names them so that the refusal says so.
"""

from __future__ import annotations

from baseline.weights.layout import Imported, ImportOptions, Shapes, describe
from baseline.weights.readers import Source
from scoring.errors import ConfigError

NAME = "flair-hub"
#: Key fragments of FLAIR-HUB's networks: task heads, Swin attention, ConvNeXt(V2) stages and
#: GRN, UPerNet's pyramid pooling and FPN.
MARKERS = (
    "main_decoders.",
    "relative_position_bias_table",
    "downsample_layers.",
    ".grn.",
    "psp_modules.",
    "fpn_convs.",
    "lateral_convs.",
)
UNSUPPORTED = "FLAIR-HUB architectures (Swin, ConvNeXtV2, UPerNet) are not supported yet"


def detect(shapes: Shapes) -> bool:
    """Any key carries a FLAIR-HUB marker."""
    return any(marker in key for key in shapes for marker in MARKERS)


def convert(source: Source, options: ImportOptions) -> Imported:
    """Always refuses, naming what is not supported.

    Raises:
        ConfigError: always.
    """
    found = [k for k in source.tensors if any(m in k for m in MARKERS)]
    raise ConfigError(
        f"{source.path}: {UNSUPPORTED}; this file is a FLAIR-HUB model "
        f"({describe({k: tuple(source.tensors[k].shape) for k in found})}); use one of the "
        "FLAIR-INC models or IGN's FLAIR #1/#2 checkpoints"
    )
