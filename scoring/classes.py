"""The FLAIR nomenclature: the single source of truth for codes, names, colours and lookup tables.

Raw label files carry the full 19-value nomenclature (values 1..19). The challenges train and score
13 classes: raw values 1..12 become class indices 0..11, and raw values 13..19 all become index 12,
'other'. Only classes 0..11 enter the mean IoU; 'other' stays in the confusion matrix.

The official scorer computes ``uint8(mask) - 1`` and then clips values above 12 to 12, so a raw 0
wraps to 255 and also becomes 'other'. :data:`TRUTH_LUT` reproduces that mapping for every uint8
value; nothing in the kit ever shifts labels with ``mask - 1``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RawClass(NamedTuple):
    """One entry of the full 19-value nomenclature."""

    value: int
    name: str
    colour: str


RAW_CLASSES: tuple[RawClass, ...] = (
    RawClass(1, "building", "#db0e9a"),
    RawClass(2, "pervious surface", "#938e7b"),
    RawClass(3, "impervious surface", "#f80c00"),
    RawClass(4, "bare soil", "#a97101"),
    RawClass(5, "water", "#1553ae"),
    RawClass(6, "coniferous", "#194a26"),
    RawClass(7, "deciduous", "#46e483"),
    RawClass(8, "brushwood", "#f3a60d"),
    RawClass(9, "vineyard", "#660082"),
    RawClass(10, "herbaceous vegetation", "#55ff00"),
    RawClass(11, "agricultural land", "#fff30d"),
    RawClass(12, "plowed land", "#e4df7c"),
    RawClass(13, "swimming pool", "#3de6eb"),
    RawClass(14, "snow", "#ffffff"),
    RawClass(15, "clear cut", "#8ab3a0"),
    RawClass(16, "mixed", "#6b714f"),
    RawClass(17, "ligneous", "#c5dc42"),
    RawClass(18, "greenhouse", "#9999ff"),
    RawClass(19, "other", "#000000"),
)

#: Number of classes the challenges train and score (indices 0..12).
NUM_CLASSES = 13
#: Index of the merged 'other' class (raw values 13..19 and the wrapped raw 0).
OTHER_INDEX = 12
#: Number of classes that enter the mean IoU (indices 0..11).
NUM_SCORED_CLASSES = 12
#: Largest raw value of the full nomenclature.
MAX_RAW_VALUE = len(RAW_CLASSES)

#: Names of the 13 challenge classes, index order.
CLASS_NAMES: tuple[str, ...] = (
    *(c.name for c in RAW_CLASSES[:NUM_SCORED_CLASSES]),
    "other",
)
#: Display colours of the 13 challenge classes ('other' is black, as in IGN's display code).
CLASS_COLOURS: tuple[str, ...] = (
    *(c.colour for c in RAW_CLASSES[:NUM_SCORED_CLASSES]),
    "#000000",
)


def _truth_lut() -> np.ndarray:
    lut = np.full(256, OTHER_INDEX, dtype=np.uint8)
    lut[1 : NUM_SCORED_CLASSES + 1] = np.arange(NUM_SCORED_CLASSES, dtype=np.uint8)
    return lut


#: uint8 raw label value -> class index 0..12, exactly as the official scorer maps it
#: (``uint8(v) - 1`` wrapping 0 to 255, then values above 12 set to 12).
TRUTH_LUT: np.ndarray = _truth_lut()
TRUTH_LUT.setflags(write=False)


def colour_rgb(hex_colour: str) -> tuple[int, int, int]:
    """Turn ``'#rrggbb'`` into an ``(r, g, b)`` tuple of ints.

    >>> colour_rgb("#db0e9a")
    (219, 14, 154)
    """
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
