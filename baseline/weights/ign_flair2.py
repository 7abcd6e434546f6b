"""IGN's FLAIR #2 U-T&T checkpoints (ign-models.md 2 and 3.2).

``model.arch_vhr.*`` (the aerial smp U-Net), ``model.arch_hr.*`` (U-TAE with L-TAE), the two fusion
paths, the auxiliary head and, with ``aerial_metadata``, ``model.mtd_mlp.*``. Aerial inputs are
``/ 255``; the Sentinel-2 pipeline and IGN's exact variants (U-TAE's per-pixel norm, fusion widths,
metadata MLP) come from :mod:`baseline.ign_layout` (``flair2_from_ign``).
"""

from __future__ import annotations

from dataclasses import replace

from baseline.config import DataConfig, TrainConfig
from baseline.contract import FLAIR_BANDS, FLAIR_RESOLUTION_M, challenge_contract
from baseline.ign_layout import flair2_from_ign
from baseline.weights.ign_flair1 import refuse_fixed_options
from baseline.weights.layout import Imported, ImportOptions, Shapes
from baseline.weights.readers import Source

NAME = "ign-flair2"
#: Key prefixes only IGN's U-T&T model has.
MARKERS = ("arch_vhr.", "arch_hr.")


def detect(shapes: Shapes) -> bool:
    """Both the aerial U-Net (``arch_vhr.``) and U-TAE (``arch_hr.``) are present."""
    return all(any(k.startswith(marker) for k in shapes) for marker in MARKERS)


def convert(source: Source, options: ImportOptions) -> Imported:
    """An IGN FLAIR #2 U-T&T checkpoint as a flair-kit checkpoint.

    Raises:
        ConfigError: keys IGN's layout does not have, or options that IGN's model fixes.
    """
    refuse_fixed_options(source, options, "FLAIR #2")
    converted, model_cfg, sentinel_cfg = flair2_from_ign(source.tensors)
    contract = replace(
        challenge_contract(FLAIR_BANDS, variant="IGN FLAIR #2 U-T&T (U-Net + U-TAE)"),
        metadata_encoding=model_cfg.metadata_encoding if model_cfg.use_metadata else None,
        resolution_m=options.resolution_m or FLAIR_RESOLUTION_M,
    )
    config = TrainConfig(
        name=source.path.stem,
        dataset="flair2",
        data=DataConfig(bands=contract.flair_indices),
        model=model_cfg,
        sentinel=sentinel_cfg,
    )
    return Imported(converted, config, contract)
