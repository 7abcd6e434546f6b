"""The baseline's one definition of each choice, shared by its configuration and its CLI.

Imports nothing, so that configuration, runtime and command line (which must start without
torch) all use it. See :mod:`starting_kit.choices` for the dataset.
"""

from __future__ import annotations

from typing import Literal, get_args

#: Where the baseline runs: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = get_args(Device)
#: Mixed precision: ``auto`` (bf16 where native), ``off``, ``bf16`` or ``fp16`` (GPU only).
Amp = Literal["auto", "off", "bf16", "fp16"]
AMPS: tuple[Amp, ...] = get_args(Amp)
#: How test patches are predicted: alone, or inside their rebuilt zone (``--context``).
PredictContext = Literal["patch", "zone"]
CONTEXTS: tuple[PredictContext, ...] = get_args(PredictContext)
#: What ``baseline map`` writes: the class map, or one probability band per class.
MapProduct = Literal["classes", "probabilities"]
MAP_PRODUCTS: tuple[MapProduct, ...] = get_args(MapProduct)
#: Where ``baseline import-weights`` reads weights from (``--from``): detected, or a family.
WeightsSource = Literal["auto", "ign-flair1", "ign-flair2", "flair-inc"]
WEIGHTS_SOURCES: tuple[WeightsSource, ...] = get_args(WeightsSource)
#: The normalisations ``baseline import-weights`` can declare (``--normalisation``).
ImportNormalisation = Literal["flair-inc", "unit"]
