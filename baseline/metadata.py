"""The 45-value encoding of FLAIR aerial metadata (pure numpy, no torch).

The official FLAIR #1 and #2 baselines turn each entry of the aerial metadata JSON (centroid,
altitude, camera, date, time) into 45 floats that a small MLP adds to the deepest U-Net features.
Layout of the vector (formats.md section 4.3):

- 32 values: sinusoidal position code of ``patch_centroid_x / 1e8`` then ``patch_centroid_y / 1e8``
  (8 frequencies ``1e8 ** (-2 i / 16)``, sin and cos interleaved);
- 1 value: altitude ``patch_centroid_z / 3164.9099121094`` (the dataset's highest point; no clip);
- 2 values: camera one-hot, ``[1, 0]`` for a ``UCE`` camera, else ``[0, 1]``;
- 4 values: year one-hot over 2018, 2019, 2020, 2021;
- 6 values: month, day of month and time of day as sin/cos pairs, each rescaled to [0, 1].

Two variants of the month term exist, and both are named:

- ``"official"`` reproduces IGN's code: ``sin(2*pi*(month - 1/12))``. Operator precedence makes
  this a whole number of turns minus 1/12, so the pair is the same for every month (0.25,
  0.933013 after rescaling): the model never sees the month. Use it only to reproduce published
  numbers or load weights trained with it.
- ``"corrected"`` (the default) uses ``2*pi*(month - 1)/12``, which is what the code meant: January
  is angle 0 and each month advances by 30 degrees.

Every other term is identical in both variants. Unlike the original, a year outside 2018..2021
raises :class:`~scoring.errors.DataError` naming the tile and the year (the original fails with an
``UnboundLocalError``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scoring.errors import DataError
from scoring.masks import require_regular

#: Length of the encoded vector.
METADATA_SIZE = 45
#: The names of the two month encodings (see the module docstring).
METADATA_VARIANTS = ("corrected", "official")
#: Where the month pair (sin, cos) sits in the vector.
MONTH_SLICE = slice(39, 41)
#: Years the one-hot covers, in order.
METADATA_YEARS = (2018, 2019, 2020, 2021)
#: The altitude divisor of the original code: the highest ``patch_centroid_z`` of the dataset.
MAX_ALTITUDE = 3164.9099121094

MetadataVariant = Literal["corrected", "official"]

_POSITION_DIM = 16
_POSITION_BASE = 1e8
_DATE = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})$")
_TIME = re.compile(r"^(?P<hours>\d{1,2})h(?P<minutes>\d{2})$")
_FIELDS = ("patch_centroid_x", "patch_centroid_y", "patch_centroid_z", "date", "time", "camera")


def position_encoding(coordinate: float) -> np.ndarray:
    """Sinusoidal code of one Lambert-93 coordinate: 16 values, sin/cos interleaved.

    >>> [round(float(v), 6) for v in position_encoding(924009.6)[:4]]
    [0.00924, 0.999957, 0.000924, 1.0]
    """
    scaled = coordinate / _POSITION_BASE
    steps = np.arange(0, _POSITION_DIM, 2, dtype=np.float64)
    angles = scaled / _POSITION_BASE ** (steps / _POSITION_DIM)
    encoded = np.empty(_POSITION_DIM, dtype=np.float64)
    encoded[0::2] = np.sin(angles)
    encoded[1::2] = np.cos(angles)
    return encoded


def cyclic_pair(angle: float) -> tuple[float, float]:
    """``(sin, cos)`` of an angle, each rescaled from [-1, 1] to [0, 1] as the baseline does.

    >>> cyclic_pair(0.0)
    (0.5, 1.0)
    """
    return (math.sin(angle) + 1.0) / 2.0, (math.cos(angle) + 1.0) / 2.0


def month_angle(month: int, variant: MetadataVariant) -> float:
    """The month's angle in radians under the named variant.

    >>> month_angle(1, "corrected"), round(month_angle(4, "corrected"), 6)
    (0.0, 1.570796)
    >>> round(month_angle(1, "official"), 6) == round(month_angle(7, "official") - 12 * math.pi, 6)
    True
    """
    if variant == "official":
        # IGN's expression: 2*pi*(month - 1/12), a constant angle modulo 2*pi.
        return 2.0 * math.pi * (month - 1.0 / 12.0)
    if variant == "corrected":
        return 2.0 * math.pi * (month - 1) / 12.0
    raise ValueError(f"unknown metadata variant {variant!r}; expected one of {METADATA_VARIANTS}")


def _field(entry: Mapping[str, Any], key: str, name: str) -> Any:
    if key not in entry:
        raise DataError(
            f"{name}: metadata entry has no {key!r} field; expected the fields {', '.join(_FIELDS)} "
            "of the FLAIR aerial metadata JSON"
        )
    return entry[key]


def _number(entry: Mapping[str, Any], key: str, name: str) -> float:
    value = _field(entry, key, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{name}: metadata {key} is {value!r}; expected a number")
    return float(value)


def year_one_hot(year: int, name: str = "entry") -> list[float]:
    """One-hot of the acquisition year over 2018..2021.

    Raises:
        DataError: the year is outside 2018..2021.

    >>> year_one_hot(2020)
    [0.0, 0.0, 1.0, 0.0]
    """
    if year not in METADATA_YEARS:
        raise DataError(
            f"{name}: acquisition year {year} is outside {METADATA_YEARS[0]}..{METADATA_YEARS[-1]}, "
            "the years the baseline's metadata one-hot covers; train without metadata "
            "(use_metadata: false) for data from other years"
        )
    return [1.0 if year == known else 0.0 for known in METADATA_YEARS]


def encode_metadata(
    entry: Mapping[str, Any], variant: MetadataVariant = "corrected", *, name: str = "entry"
) -> np.ndarray:
    """Encode one metadata entry into the baseline's 45-float vector.

    Args:
        entry: one value of the metadata JSON (``patch_centroid_x`` .. ``camera``).
        variant: ``"corrected"`` (default) or ``"official"`` month term; see the module docstring.
        name: the tile's name (``IMG_000717``), used in error messages.

    Returns:
        float32 array of shape (45,).

    Raises:
        DataError: a field is missing or malformed, or the year is outside 2018..2021.
        ValueError: an unknown variant.
    """
    if variant not in METADATA_VARIANTS:
        raise ValueError(
            f"unknown metadata variant {variant!r}; expected one of {METADATA_VARIANTS}"
        )
    x = _number(entry, "patch_centroid_x", name)
    y = _number(entry, "patch_centroid_y", name)
    z = _number(entry, "patch_centroid_z", name)
    camera = str(_field(entry, "camera", name))
    date_text = str(_field(entry, "date", name))
    date = _DATE.match(date_text)
    if date is None:
        raise DataError(f"{name}: metadata date is {date_text!r}; expected 'YYYY-MM-DD'")
    time_text = str(_field(entry, "time", name))
    time = _TIME.match(time_text)
    if time is None:
        raise DataError(f"{name}: metadata time is {time_text!r}; expected 'HHhMM' such as '08h06'")
    month, day = int(date.group("month")), int(date.group("day"))
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise DataError(f"{name}: metadata date {date_text!r} is not a calendar date")
    seconds = int(time.group("hours")) * 3600 + int(time.group("minutes")) * 60

    values: list[float] = [*position_encoding(x), *position_encoding(y)]
    values.append(z / MAX_ALTITUDE)
    values.extend([1.0, 0.0] if "UCE" in camera else [0.0, 1.0])
    values.extend(year_one_hot(int(date.group("year")), name))
    values.extend(cyclic_pair(month_angle(month, variant)))
    values.extend(cyclic_pair(2.0 * math.pi * day / 31.0))
    values.extend(cyclic_pair(2.0 * math.pi * seconds / 86400.0))
    return np.asarray(values, dtype=np.float32)


def read_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """Read an aerial metadata JSON (``{"IMG_000717": {...}, ...}``).

    Raises:
        MissingFileError: the file does not exist.
        DataError: the file is not a JSON object of objects.
    """
    require_regular(path, "metadata JSON")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid JSON file ({exc})") from None
    if not isinstance(content, dict) or not all(isinstance(v, dict) for v in content.values()):
        raise DataError(
            f"{path}: expected a JSON object mapping IMG_<id> to metadata objects, as in "
            "flair-1_metadata_aerial.json"
        )
    return content
