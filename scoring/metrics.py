"""The official FLAIR metric as pure numpy functions (no I/O).

Policy, identical to the challenge scorer (IGN's ``generate_miou``):

- rows are truth, columns prediction; labels 0..12 (12 = 'other');
- a pixel whose truth or prediction lies outside 0..12 is dropped from the matrix, as
  ``sklearn.metrics.confusion_matrix(labels=range(13))`` drops it;
- IoU_k = M[k,k] / (rowsum_k + colsum_k - M[k,k]); NaN where 0/0 (class absent from both);
- mIoU = NaN-aware mean of IoU over classes 0..11: 'other' stays in the matrix (its pixels are
  false positives of what they are predicted as) but is excluded from the mean.

The scorer never builds per-pixel index arrays: each pixel becomes one byte, a code of
(truth class or raw 0, prediction class or dropped), and one histogram of those 196 codes gives the
confusion matrix, the dropped pixels and the raw-0 truth pixels exactly (:func:`pair_histogram`,
:func:`fold_pair_histogram`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from scoring.classes import NUM_CLASSES, NUM_SCORED_CLASSES, TRUTH_LUT

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Byte value used for prediction pixels that the official scorer drops.
DROPPED_CODE = 255


def confusion_matrix(
    truth: NDArray[np.integer], pred: NDArray[np.integer], *, num_classes: int = NUM_CLASSES
) -> NDArray[np.int64]:
    """Count (truth, prediction) pairs of class indices into a ``num_classes`` square matrix.

    Pixels whose truth or prediction is outside ``[0, num_classes)`` are dropped, exactly as
    ``sklearn.metrics.confusion_matrix(truth, pred, labels=range(num_classes))`` drops them.

    Args:
        truth: class indices (any integer dtype), any shape.
        pred: class indices, same shape as ``truth``.
        num_classes: size of the matrix.

    Returns:
        int64 matrix, rows = truth, columns = prediction.

    Raises:
        ValueError: the shapes differ.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), num_classes=2).tolist()
    [[1, 0], [1, 1]]
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth has shape {truth.shape} but prediction has shape {pred.shape}")
    keep = (truth >= 0) & (truth < num_classes) & (pred >= 0) & (pred < num_classes)
    codes = truth[keep].astype(np.int64) * num_classes + pred[keep].astype(np.int64)
    counts = np.bincount(codes, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def truth_to_index(raw: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Map raw uint8 label values to the 13 challenge classes as the official scorer does.

    1..12 -> 0..11; 13..19 -> 12; 0 (wrapped to 255 by ``uint8 - 1``) -> 12.

    >>> truth_to_index(np.array([0, 1, 12, 13, 19], dtype=np.uint8)).tolist()
    [12, 0, 11, 12, 12]
    """
    if raw.dtype != np.uint8:
        raise TypeError(f"raw labels must be uint8, got {raw.dtype}")
    return TRUTH_LUT[raw]


def prediction_to_codes(pred: NDArray[Any]) -> NDArray[np.uint8]:
    """Turn a decoded prediction of any numeric dtype into bytes, marking dropped pixels 255.

    Values 0..12 are kept; every other value (13..255, negatives, 256 and above in wider dtypes) is
    dropped by the official scorer, so it becomes :data:`DROPPED_CODE`. Integral floats count as
    their integer value, as sklearn treats them.

    Raises:
        ValueError: a float prediction holds non-integral or non-finite values (sklearn refuses
            such 'continuous' targets too).

    >>> prediction_to_codes(np.array([0, 12, 13, -1, 300])).tolist()
    [0, 12, 255, 255, 255]
    """
    if pred.dtype == np.uint8:
        return pred
    if pred.dtype == np.bool_:
        return pred.astype(np.uint8)
    if np.issubdtype(pred.dtype, np.floating):
        finite = np.isfinite(pred)
        if not finite.all() or not np.array_equal(pred, np.floor(pred)):
            raise ValueError("prediction holds non-integer float values")
    elif not np.issubdtype(pred.dtype, np.integer):
        raise ValueError(f"prediction has non-numeric dtype {pred.dtype}")
    in_range = (pred >= 0) & (pred < NUM_CLASSES)
    return np.where(in_range, pred, DROPPED_CODE).astype(np.uint8)


#: Side of the code table the scorer counts into: rows are truth classes 0..12 plus row 13 for a
#: raw 0 (kept apart only to be counted; it folds into 'other'), columns are prediction classes
#: 0..12 plus column 13 for the values the official scorer drops. 14 x 14 = 196 codes fit a byte.
CODE_SIDE = NUM_CLASSES + 1
RAW_ZERO_ROW = NUM_CLASSES
DROPPED_COLUMN = NUM_CLASSES


def _truth_code_lut() -> np.ndarray:
    lut = (TRUTH_LUT.astype(np.uint16) * CODE_SIDE).astype(np.uint8)
    lut[0] = RAW_ZERO_ROW * CODE_SIDE
    return lut


def _pred_code_lut() -> np.ndarray:
    lut = np.full(256, DROPPED_COLUMN, dtype=np.uint8)
    lut[:NUM_CLASSES] = np.arange(NUM_CLASSES, dtype=np.uint8)
    return lut


#: Raw truth byte -> row offset of its code (class * 14; raw 0 -> 13 * 14).
TRUTH_CODE_LUT: np.ndarray = _truth_code_lut()
#: Prediction byte -> column of its code (0..12 kept, anything else 13 = dropped).
PRED_CODE_LUT: np.ndarray = _pred_code_lut()
for _lut in (TRUTH_CODE_LUT, PRED_CODE_LUT):
    _lut.setflags(write=False)


def pair_histogram(
    raw_truth: NDArray[np.uint8], pred_codes: NDArray[np.uint8]
) -> NDArray[np.int64]:
    """Count the pixels of one pair per (truth code, prediction code): 196 int64 counts.

    Both inputs are uint8 arrays of the same shape: raw truth bytes and prediction bytes (see
    :func:`prediction_to_codes`). The code of a pixel is ``TRUTH_CODE_LUT[t] + PRED_CODE_LUT[p]``,
    which fits a byte, so one ``np.bincount`` counts everything the report needs.

    Raises:
        ValueError: the shapes differ.
    """
    if raw_truth.shape != pred_codes.shape:
        raise ValueError(
            f"truth has shape {raw_truth.shape} but prediction has shape {pred_codes.shape}"
        )
    codes = TRUTH_CODE_LUT[raw_truth]
    codes += PRED_CODE_LUT[pred_codes]
    return np.bincount(codes.ravel(), minlength=256)[: CODE_SIDE * CODE_SIDE].astype(np.int64)


class Tally(NamedTuple):
    """What the metric needs from a set of patches, folded from a code histogram."""

    confusion: NDArray[np.int64]
    dropped_pixels: int
    raw_zero_truth_pixels: int


def fold_pair_histogram(histogram: NDArray[np.int64]) -> Tally:
    """Fold 196 code counts into the official 13x13 confusion matrix and the side counts.

    The raw-0 row joins 'other' (the official ``uint8 - 1`` wraps it to 255, then clips to 12);
    the dropped column leaves the matrix, as sklearn's ``labels=`` filter drops those pixels.
    """
    table = np.asarray(histogram, dtype=np.int64).reshape(CODE_SIDE, CODE_SIDE)
    confusion = fold_histograms(histogram)
    return Tally(confusion, int(table[:, DROPPED_COLUMN].sum()), int(table[RAW_ZERO_ROW].sum()))


def fold_histograms(histograms: NDArray[Any]) -> NDArray[Any]:
    """Fold code histograms (``(..., 196)``) into confusion matrices (``(..., 13, 13)``).

    The confusion part of :func:`fold_pair_histogram`, over any number of histograms at once
    (every patch of a submission, every bootstrap replicate); the dtype is kept.

    >>> fold_histograms(np.ones((2, CODE_SIDE * CODE_SIDE), dtype=np.int64)).shape
    (2, 13, 13)
    """
    histograms = np.asarray(histograms)
    table = histograms.reshape(*histograms.shape[:-1], CODE_SIDE, CODE_SIDE)
    confusion: NDArray[Any] = table[..., :NUM_CLASSES, :NUM_CLASSES].copy()
    confusion[..., NUM_CLASSES - 1, :] += table[..., RAW_ZERO_ROW, :NUM_CLASSES]
    return confusion


def mean_iou_scores(
    confusions: NDArray[Any], *, num_scored: int = NUM_SCORED_CLASSES
) -> NDArray[np.float64]:
    """:func:`mean_iou_score` of a stack of confusion matrices (``(..., 13, 13)`` -> ``(...)``).

    Vectorised for bootstraps and per-patch scores; the matrices may hold integral floats (a
    weighted sum of counts), which give the same IoUs as their integers. NaN where every scored
    class is absent.

    >>> mean_iou_scores(np.array([[[2, 1, 0], [0, 0, 0], [0, 0, 5]]]), num_scored=2).tolist()
    [0.3333333333333333]
    """
    return mean_of_ious(ious_per_class(confusions), num_scored=num_scored)


def mean_of_ious(
    ious: NDArray[np.float64], *, num_scored: int = NUM_SCORED_CLASSES
) -> NDArray[np.float64]:
    """The official mean over the last axis: the non-NaN IoUs of the first ``num_scored`` classes."""
    scored = ious[..., :num_scored]
    present = np.logical_not(np.isnan(scored)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(present > 0, np.nansum(scored, axis=-1) / present, np.nan)


def ious_per_class(confusions: NDArray[Any]) -> NDArray[np.float64]:
    """:func:`iou_per_class` of a stack of confusion matrices (``(..., C, C)`` -> ``(..., C)``)."""
    diag = np.diagonal(confusions, axis1=-2, axis2=-1)
    return ious_from_sums(diag, confusions.sum(-1), confusions.sum(-2))


def ious_from_sums(
    diag: NDArray[Any], row_sums: NDArray[Any], column_sums: NDArray[Any]
) -> NDArray[np.float64]:
    """IoU of each class from what it needs of a confusion matrix: its diagonal, row and column
    sums (all three are sums of counts, so a bootstrap can weight them directly).

    >>> ious_from_sums(np.array([2, 0]), np.array([3, 0]), np.array([2, 1])).tolist()
    [0.6666666666666666, 0.0]
    """
    return _safe_ratio(diag, column_sums + row_sums - diag)


def _safe_ratio(
    numerator: NDArray[np.int64], denominator: NDArray[np.int64]
) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def iou_per_class(confusion: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per-class intersection over union; NaN for a class absent from both truth and prediction.

    >>> iou_per_class(np.array([[2, 1], [0, 0]])).tolist()
    [0.6666666666666666, 0.0]
    """
    diag = np.diag(confusion)
    return _safe_ratio(diag, confusion.sum(0) + confusion.sum(1) - diag)


def mean_iou_score(confusion: NDArray[np.int64], *, num_scored: int = NUM_SCORED_CLASSES) -> float:
    """Mean IoU over the first ``num_scored`` classes, skipping NaN classes (the official mIoU).

    Computed with the same numpy reductions as the official scorer (``nansum`` over the slice
    divided by the count of non-NaN entries), so the float is bit-identical. NaN when every scored
    class is absent.

    >>> mean_iou_score(np.array([[2, 1, 0], [0, 0, 0], [0, 0, 5]]), num_scored=2)
    0.3333333333333333
    """
    ious = iou_per_class(confusion)[:num_scored]
    present = np.logical_not(np.isnan(ious)).sum()
    if present == 0:
        return float("nan")
    return float(np.nansum(ious) / present)


def precision_per_class(confusion: NDArray[np.int64]) -> NDArray[np.float64]:
    """diag / column sum; NaN for a class never predicted."""
    return _safe_ratio(np.diag(confusion), confusion.sum(0))


def recall_per_class(confusion: NDArray[np.int64]) -> NDArray[np.float64]:
    """diag / row sum; NaN for a class absent from the truth."""
    return _safe_ratio(np.diag(confusion), confusion.sum(1))


def f1_per_class(confusion: NDArray[np.int64]) -> NDArray[np.float64]:
    """2 diag / (row sum + column sum): the harmonic mean of precision and recall.

    Written this way it is 0, not NaN, for a class that is present but never hit, and NaN only
    for a class absent from both truth and prediction.
    """
    diag = np.diag(confusion)
    return _safe_ratio(2 * diag, confusion.sum(0) + confusion.sum(1))


def overall_accuracy(confusion: NDArray[np.int64]) -> float:
    """Trace over total of the full matrix ('other' included); NaN for an empty matrix."""
    total = int(confusion.sum())
    return float(np.trace(confusion) / total) if total else float("nan")
