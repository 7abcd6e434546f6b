"""A faithful re-implementation of IGN's challenge scorer (``generate_miou``), for parity tests.

Written from the specification in shared/docs/formats.md sections 10.1 and 14.1, not copied: sort both
file lists by the numeric id, read each pair with Pillow, ``uint8(truth) - 1`` (wrapping 0 to 255),
clip values above 12 to 12, ``sklearn.metrics.confusion_matrix(labels=range(13))`` per patch, sum,
IoU = diag / (colsum + rowsum - diag), mIoU = nansum(IoU[:-1]) / count of non-NaN IoU[:-1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix


def official_patch_matrix(truth_raw: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The official per-patch step on already-decoded arrays."""
    target = np.asarray(truth_raw).astype(np.uint8) - np.uint8(1)
    target[target > 12] = 12
    return sklearn_confusion_matrix(
        target.ravel(), np.asarray(pred).ravel(), labels=list(range(13))
    )


def official_miou(matrix: np.ndarray) -> tuple[float, np.ndarray]:
    """The official reduction of a summed 13x13 matrix."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ious = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
        miou = np.nansum(ious[:-1]) / (np.logical_not(np.isnan(ious[:-1]))).sum()
    return float(miou), ious[:-1]


def _numeric_key(path: Path) -> int:
    return int(str(path).split("_")[-1][:-4])


def official_score_folders(pred_dir: Path, truth_dir: Path) -> tuple[float, np.ndarray]:
    """The official per-patch loop over two folders (positional pairing after the numeric sort)."""
    truths: list[Path] = sorted(truth_dir.rglob("MSK*.tif"), key=_numeric_key)
    preds: list[Path] = sorted(pred_dir.rglob("PRED*.tif"), key=_numeric_key)
    matrices = []
    for truth, pred in zip(truths, preds):
        matrices.append(
            official_patch_matrix(np.array(Image.open(truth)), np.array(Image.open(pred)))
        )
    return official_miou(np.sum(matrices, axis=0))[0], np.sum(matrices, axis=0)
