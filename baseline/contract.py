"""A model's input and output contract: what a checkpoint declares and every command enforces.

Each flair-kit checkpoint carries (or, when written by an earlier flair-kit, implies) a
:class:`ModelContract`:

- ``bands``: the bands the network takes, in its input order, named after the FLAIR bands
  (``R``, ``G``, ``B``, ``NIR``, ``ELEV``); a model on a subset or another order of the five FLAIR
  bands (RGB, RGBI, NIR-R-G) gets them picked from 5-band FLAIR rasters automatically;
- ``normalisation``: a named, known scheme (:data:`NORMALISATIONS`): ``unit`` (``x / 255``, IGN's
  challenge models and every model flair-kit trains) or ``mean-std`` (``(x - mean) / std`` per
  band, with the declared values, computed in float64 then float32 like IGN's FLAIR-INC
  pipeline). Any other name is refused, never guessed;
- ``classes``: the model's own classes in logit order, with colours; ``inactive`` logits
  (deactivated during training, e.g. four of FLAIR-INC's 19) are never predicted;
- ``crosswalk``: the challenge class (0..12) of each model class, and ``ambiguous``: notes on
  the mappings that are not one-to-one facts;
- ``resolution_m`` (ground pixel size), ``metadata_encoding`` (None: no metadata fusion),
  ``variant`` (the architecture) and ``provenance`` (source file, sha256, importer).

:func:`check_raster_input` is the one input check of ``predict``, ``map`` and the zone context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_CLASSES, OTHER_INDEX, RAW_CLASSES
from scoring.errors import ConfigError, DataError

#: The five FLAIR aerial bands, in the order of the FLAIR rasters (1-based index = position + 1).
FLAIR_BANDS: tuple[str, ...] = ("R", "G", "B", "NIR", "ELEV")
#: What each band name means, for messages.
BAND_MEANINGS = {"R": "red", "G": "green", "B": "blue", "NIR": "near infrared", "ELEV": "elevation"}
#: Names of the known normalisation schemes.
NORMALISATIONS = ("unit", "mean-std")
#: IGN's FLAIR-INC per-band statistics on 0..255 values (ign-models.md 4.1), by band name.
FLAIR_INC_MEAN = {"R": 105.08, "G": 110.87, "B": 101.82, "NIR": 106.38, "ELEV": 53.26}
FLAIR_INC_STD = {"R": 52.17, "G": 45.38, "B": 44.0, "NIR": 39.69, "ELEV": 79.3}
#: Ground pixel size of FLAIR's aerial patches, metres.
FLAIR_RESOLUTION_M = 0.2
#: Relative tolerance on the ground pixel size.
RESOLUTION_TOLERANCE = 0.10
#: FLAIR-INC's 19 logits in the FLAIR order that were deactivated in the 15-class models
#: (clear cut, mixed, ligneous, other).
FLAIR_INC_15_INACTIVE = (14, 15, 16, 18)
#: The crosswalk note of a model that predicts no class of the challenge's 'other'.
NO_OTHER = (
    "no class of the model maps to challenge class 13 'other': its pixels get one of the 12 "
    "land-cover classes"
)


@dataclass(frozen=True)
class ModelContract:
    """What a model takes and gives (see the module docstring)."""

    bands: tuple[str, ...]
    normalisation: str
    classes: tuple[str, ...]
    colours: tuple[str, ...]
    crosswalk: tuple[int, ...]
    inactive: tuple[int, ...] = ()
    ambiguous: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resolution_m: float = FLAIR_RESOLUTION_M
    metadata_encoding: str | None = None
    variant: str = ""
    provenance: Mapping[str, str] = field(default_factory=dict)
    sentinel: Mapping[str, Any] | None = None

    @property
    def imported(self) -> bool:
        """Weights made elsewhere (``import-weights``), not by flair-kit's training."""
        return "family" in self.provenance

    @property
    def flair_indices(self) -> tuple[int, ...]:
        """The 1-based band indices of the declared bands in a 5-band FLAIR raster."""
        return tuple(FLAIR_BANDS.index(name) + 1 for name in self.bands)

    @property
    def is_challenge(self) -> bool:
        """Whether the model's own classes are the 13 challenge classes, in order."""
        return self.classes == CLASS_NAMES and self.crosswalk == tuple(range(NUM_CLASSES))


def band_names(indices: Sequence[int], where: str = "data.bands") -> tuple[str, ...]:
    """The FLAIR band names of 1-based indices.

    >>> band_names((4, 1, 2))
    ('NIR', 'R', 'G')

    Raises:
        ConfigError: an index outside 1..5.
    """
    wrong = [i for i in indices if not 1 <= i <= len(FLAIR_BANDS)]
    if wrong:
        raise ConfigError(
            f"{where}: band index {wrong[0]} is not a FLAIR band; expected 1..5 "
            f"({', '.join(f'{i + 1} {b}' for i, b in enumerate(FLAIR_BANDS))})"
        )
    return tuple(FLAIR_BANDS[i - 1] for i in indices)


def parse_bands(text: str, where: str = "--bands") -> tuple[str, ...]:
    """Band names from ``R,G,B`` or ``NIR,R,G`` (case-insensitive; ``E`` or ``ELEVATION`` = ELEV).

    >>> parse_bands("nir, r, g")
    ('NIR', 'R', 'G')

    Raises:
        ConfigError: an unknown or repeated name.
    """
    aliases = {"E": "ELEV", "ELEVATION": "ELEV", "I": "NIR", "IR": "NIR"}
    names = [aliases.get(p.strip().upper(), p.strip().upper()) for p in text.split(",")]
    unknown = [n for n in names if n not in FLAIR_BANDS]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(
            f"{where} {text!r}: expected distinct band names among {', '.join(FLAIR_BANDS)} in "
            "the model's input order, e.g. R,G,B or NIR,R,G"
        )
    return tuple(names)


def challenge_contract(
    bands: Sequence[str], *, variant: str, provenance: Mapping[str, str] | None = None
) -> ModelContract:
    """A model of the 13 challenge classes on ``/255`` inputs (IGN's challenge models, ours)."""
    return ModelContract(
        bands=tuple(bands),
        normalisation="unit",
        classes=CLASS_NAMES,
        colours=CLASS_COLOURS,
        crosswalk=tuple(range(NUM_CLASSES)),
        variant=variant,
        provenance=dict(provenance or {}),
    )


def flair19_classes(active: Sequence[int]) -> dict[str, Any]:
    """Classes, colours, crosswalk and notes of a 19-logit head in the FLAIR order.

    Logit j is raw class j + 1. Logits 0..11 are challenge classes 0..11; the raw classes 13..19
    were merged into 'other' by the challenge, so logits 12..18 map to 'other' (12). Logits not in
    ``active`` are masked.
    """
    inactive = tuple(j for j in range(len(RAW_CLASSES)) if j not in set(active))
    notes = []
    if all(j in inactive for j in range(OTHER_INDEX, len(RAW_CLASSES))):
        notes.append(NO_OTHER)
    return {
        "classes": tuple(c.name for c in RAW_CLASSES),
        "colours": tuple(c.colour for c in RAW_CLASSES),
        "crosswalk": tuple(min(j, OTHER_INDEX) for j in range(len(RAW_CLASSES))),
        "inactive": inactive,
        "ambiguous": tuple(notes),
    }


def first_classes(count: int) -> dict[str, Any]:
    """Classes and crosswalk of a head with the first ``count`` (12) FLAIR classes, no 'other'."""
    return {
        "classes": tuple(c.name for c in RAW_CLASSES[:count]),
        "colours": tuple(c.colour for c in RAW_CLASSES[:count]),
        "crosswalk": tuple(range(count)),
        "inactive": (),
        "ambiguous": (NO_OTHER,),
    }


def flair_inc_statistics(bands: Sequence[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """IGN's FLAIR-INC means and standard deviations of ``bands``, in their order."""
    return tuple(FLAIR_INC_MEAN[b] for b in bands), tuple(FLAIR_INC_STD[b] for b in bands)


def contract_to_dict(contract: ModelContract) -> dict[str, Any]:
    """Plain values (lists, str, float) for the checkpoint payload."""
    return {
        "bands": list(contract.bands),
        "normalisation": contract.normalisation,
        "mean": None if contract.mean is None else list(contract.mean),
        "std": None if contract.std is None else list(contract.std),
        "classes": list(contract.classes),
        "colours": list(contract.colours),
        "crosswalk": list(contract.crosswalk),
        "inactive": list(contract.inactive),
        "ambiguous": list(contract.ambiguous),
        "resolution_m": contract.resolution_m,
        "metadata_encoding": contract.metadata_encoding,
        "variant": contract.variant,
        "provenance": dict(contract.provenance),
        "sentinel": None if contract.sentinel is None else dict(contract.sentinel),
    }


def _values(raw: Any, key: str, where: str) -> tuple[float, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(v, (int, float)) for v in raw):
        raise DataError(f"{where}: contract.{key} is {raw!r}; expected a list of numbers")
    return tuple(float(v) for v in raw)


def _sentinel(raw: Any, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DataError(f"{where}: contract.sentinel is {raw!r}; expected a dict or null")
    return {str(k): v for k, v in raw.items()}


def contract_from_dict(raw: Any, where: str) -> ModelContract:
    """Read and check a stored contract.

    Raises:
        DataError: a missing or malformed entry (key and value named).
        ConfigError: an unknown normalisation, or values that do not fit the bands or classes.
    """
    if not isinstance(raw, dict):
        raise DataError(f"{where}: the contract is a {type(raw).__name__}; expected a dict")
    missing = [k for k in ("bands", "normalisation", "classes", "crosswalk") if k not in raw]
    if missing:
        raise DataError(f"{where}: the contract lacks {', '.join(missing)}; import the file again")
    classes = tuple(str(c) for c in raw["classes"])
    contract = ModelContract(
        bands=tuple(str(b) for b in raw["bands"]),
        normalisation=str(raw["normalisation"]),
        mean=_values(raw.get("mean"), "mean", where),
        std=_values(raw.get("std"), "std", where),
        classes=classes,
        colours=tuple(str(c) for c in raw.get("colours") or ["#000000"] * len(classes)),
        crosswalk=tuple(int(i) for i in raw["crosswalk"]),
        inactive=tuple(int(i) for i in raw.get("inactive", [])),
        ambiguous=tuple(str(n) for n in raw.get("ambiguous", [])),
        resolution_m=float(raw.get("resolution_m", FLAIR_RESOLUTION_M)),
        metadata_encoding=raw.get("metadata_encoding"),
        variant=str(raw.get("variant", "")),
        provenance={str(k): str(v) for k, v in dict(raw.get("provenance") or {}).items()},
        sentinel=_sentinel(raw.get("sentinel"), where),
    )
    check_contract(contract, where)
    return contract


def check_contract(contract: ModelContract, where: str) -> None:
    """Refuse a contract that cannot be applied as declared.

    Raises:
        ConfigError: unknown band names or normalisation, statistics that do not fit the bands,
            a crosswalk of another length than the classes or outside 0..12 (all named).
    """
    unknown = [b for b in contract.bands if b not in FLAIR_BANDS]
    if unknown or not contract.bands:
        raise ConfigError(
            f"{where}: declared bands {list(contract.bands)}; expected names among "
            f"{', '.join(FLAIR_BANDS)}"
        )
    if contract.normalisation not in NORMALISATIONS:
        raise ConfigError(
            f"{where}: normalisation {contract.normalisation!r} is unknown to this flair-kit "
            f"(known: {', '.join(NORMALISATIONS)}); it is refused rather than guessed: import the "
            "weights again with --normalisation, or use the flair-kit version that wrote it"
        )
    if contract.normalisation == "mean-std":
        n = len(contract.bands)
        if (
            contract.mean is None
            or contract.std is None
            or not len(contract.mean) == len(contract.std) == n
        ):
            raise ConfigError(
                f"{where}: normalisation mean-std needs one mean and one std per band ({n}); got "
                f"mean {contract.mean} and std {contract.std}"
            )
        if not all(s > 0 and math.isfinite(s) for s in contract.std):
            raise ConfigError(f"{where}: normalisation std {contract.std}; expected values > 0")
    if len(contract.crosswalk) != len(contract.classes) or len(contract.colours) != len(
        contract.classes
    ):
        raise ConfigError(
            f"{where}: {len(contract.classes)} classes but {len(contract.crosswalk)} crosswalk "
            f"entries and {len(contract.colours)} colours; expected one of each per class"
        )
    outside = [c for c in contract.crosswalk if not 0 <= c < NUM_CLASSES]
    if outside:
        raise ConfigError(
            f"{where}: crosswalk value {outside[0]}; expected challenge classes 0..{OTHER_INDEX}"
        )
    if not set(contract.inactive) < set(range(len(contract.classes))):
        raise ConfigError(
            f"{where}: inactive logits {list(contract.inactive)}; expected some (not all) of "
            f"0..{len(contract.classes) - 1}"
        )


def check_raster_input(contract: ModelContract, src: Any, path: Path | str) -> None:
    """Check one raster against the contract: band count, dtype, pixel size, CRS.

    ``src`` is an open rasterio dataset (``count``, ``dtypes``, ``crs``, ``transform``). Pixel
    size and CRS are checked when the raster is georeferenced; ``map`` refuses one that is not
    before calling this, patches without georeferencing are predicted as they are.

    Raises:
        ConfigError: too few bands for the declared ones (a 3-band raster for a 5-band model).
        DataError: not uint8, a pixel size more than 10 % off the declared one, a CRS in
            degrees or another non-metre unit; each message says how to fix the raster.
    """
    needed = max(contract.flair_indices)
    if src.count < needed:
        indices = contract.flair_indices
        raise ConfigError(
            f"{path}: the raster has {src.count} band(s) but the model reads {len(indices)} "
            f"bands {indices} of a FLAIR raster ({'-'.join(contract.bands)}); give a raster "
            f"whose bands 1..{needed} are {', '.join(FLAIR_BANDS[:needed])} in that order "
            "(stack missing bands with gdalbuildvrt -separate), or a model made for the bands "
            "you have"
        )
    if src.dtypes[0] != "uint8":
        raise DataError(
            f"{path}: raster dtype is {src.dtypes[0]}; expected uint8 bands like FLAIR's "
            "(rescale to 0..255 first, e.g. gdal_translate -ot Byte -scale)"
        )
    if src.crs is None or src.transform.is_identity:
        return
    if not src.crs.is_projected:
        raise DataError(
            f"{path}: the raster's CRS {src.crs.to_string()} is in degrees; the model needs a "
            "projected CRS in metres: reproject it, e.g. gdalwarp -t_srs EPSG:2154 (Lambert-93) "
            f"-tr {contract.resolution_m:g} {contract.resolution_m:g} in.tif out.tif"
        )
    unit, factor = src.crs.linear_units_factor
    a, b, _, d, e, _ = tuple(src.transform)[:6]
    size_m = math.sqrt(abs(a * e - b * d)) * factor
    if factor != 1.0 and unit.lower() not in ("metre", "meter", "m"):
        raise DataError(
            f"{path}: the raster's CRS is in {unit}; the model needs a projected CRS in metres: "
            "reproject it, e.g. gdalwarp -t_srs EPSG:2154 in.tif out.tif"
        )
    if abs(size_m - contract.resolution_m) > RESOLUTION_TOLERANCE * contract.resolution_m:
        raise DataError(
            f"{path}: pixels are {size_m:.3g} m but the model was trained at "
            f"{contract.resolution_m:g} m (within 10 %); resample the raster: gdalwarp -tr "
            f"{contract.resolution_m:g} {contract.resolution_m:g} -r bilinear in.tif out.tif"
        )
