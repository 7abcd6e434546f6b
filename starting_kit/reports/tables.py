"""A scoring report's tables as pandas DataFrames (``scoring`` itself stays free of pandas)."""

from __future__ import annotations

import pandas as pd

from scoring.report import ScoreReport


def per_class_frame(report: ScoreReport) -> pd.DataFrame:
    """Per-class IoU, precision, recall, F1 and pixel counts, one row per class (index: name).

    NaN where a value is undefined (a class absent from both truth and prediction).
    """
    frame: pd.DataFrame = pd.DataFrame(
        [
            {
                "class": c.name,
                "iou": c.iou,
                "precision": c.precision,
                "recall": c.recall,
                "f1": c.f1,
                "truth_pixels": c.truth_pixels,
                "predicted_pixels": c.predicted_pixels,
                "scored": c.scored,
            }
            for c in report.per_class
        ]
    ).set_index("class")
    return frame


def per_domain_frame(report: ScoreReport) -> pd.DataFrame:
    """mIoU and patch count of each domain (empty when the truth has no domain layout)."""
    frame: pd.DataFrame = pd.DataFrame(
        [{"domain": d.domain, "n_patches": d.n_patches, "miou": d.miou} for d in report.per_domain],
        columns=["domain", "n_patches", "miou"],
    ).set_index("domain")
    return frame
