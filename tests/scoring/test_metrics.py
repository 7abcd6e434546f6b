"""The metric's pure functions: parity with the official sklearn-based scorer, hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scoring import metrics
from scoring.classes import CLASS_NAMES, NUM_CLASSES, TRUTH_LUT
from tests.scoring.official import official_miou, official_patch_matrix

# Raw truth values: mostly the nomenclature 1..19, sometimes the forbidden 0, rarely anything else.
raw_truth_values = st.one_of(
    st.integers(1, 19), st.integers(1, 19), st.just(0), st.integers(0, 255)
)
# Predictions: mostly classes 0..12, sometimes what a buggy writer produces (13, 255, 1-based 13).
pred_values = st.one_of(st.integers(0, 12), st.integers(0, 12), st.integers(0, 255))
shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))


def our_patch(truth_raw: np.ndarray, pred: np.ndarray) -> metrics.Tally:
    histogram = metrics.pair_histogram(truth_raw, metrics.prediction_to_codes(pred))
    return metrics.fold_pair_histogram(histogram)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), shape=shapes)
def test_uint8_parity_with_official_sklearn_scorer(data: st.DataObject, shape: tuple) -> None:
    truth = data.draw(arrays(np.uint8, shape, elements=raw_truth_values))
    pred = data.draw(arrays(np.uint8, shape, elements=pred_values))
    tally = our_patch(truth, pred)
    assert np.array_equal(tally.confusion, official_patch_matrix(truth, pred))
    assert tally.dropped_pixels == int((pred > 12).sum())
    assert tally.raw_zero_truth_pixels == int((truth == 0).sum())


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    shape=shapes,
    dtype=st.sampled_from([np.int16, np.int32, np.uint16, np.int64, np.float32, np.float64]),
)
def test_wider_prediction_dtypes_parity(data: st.DataObject, shape: tuple, dtype: type) -> None:
    truth = data.draw(arrays(np.uint8, shape, elements=raw_truth_values))
    # Negative values, values above 255 (which must not wrap onto a class), integral floats.
    pred = data.draw(arrays(np.int64, shape, elements=st.integers(-300, 600))).astype(dtype)
    if np.issubdtype(dtype, np.unsignedinteger):
        pred = np.abs(pred.astype(np.int64)).astype(dtype)
    tally = our_patch(truth, pred)
    assert np.array_equal(tally.confusion, official_patch_matrix(truth, pred))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n_patches=st.integers(1, 5))
def test_miou_bit_identical_over_patches(data: st.DataObject, n_patches: int) -> None:
    official_total = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    ours_total = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for _ in range(n_patches):
        shape = data.draw(shapes)
        truth = data.draw(arrays(np.uint8, shape, elements=raw_truth_values))
        pred = data.draw(arrays(np.uint8, shape, elements=pred_values))
        official_total += official_patch_matrix(truth, pred)
        ours_total += our_patch(truth, pred).confusion
    expected, expected_ious = official_miou(official_total)
    got = metrics.mean_iou_score(ours_total)
    # Bit-identical: same float, NaN included.
    assert (math.isnan(expected) and math.isnan(got)) or expected == got
    np.testing.assert_array_equal(metrics.iou_per_class(ours_total)[:12], expected_ious)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), shape=shapes)
def test_confusion_matrix_matches_sklearn_labels_semantics(
    data: st.DataObject, shape: tuple
) -> None:
    from sklearn.metrics import confusion_matrix as sk

    truth = data.draw(arrays(np.int64, shape, elements=st.integers(-2, 15)))
    pred = data.draw(arrays(np.int64, shape, elements=st.integers(-2, 15)))
    # sklearn refuses a truth with no value among the labels; the official scorer never meets
    # that case because its uint8 truth always maps into 0..12.
    assume(np.isin(truth, np.arange(NUM_CLASSES)).any())
    expected = sk(truth.ravel(), pred.ravel(), labels=list(range(NUM_CLASSES)))
    assert np.array_equal(metrics.confusion_matrix(truth, pred), expected)


def test_truth_lut_is_the_official_mapping_for_every_byte() -> None:
    raw = np.arange(256, dtype=np.uint8)
    official = raw - np.uint8(1)
    official[official > 12] = 12
    assert np.array_equal(TRUTH_LUT[raw], official)
    assert metrics.truth_to_index(np.array([0, 1, 12, 13, 19], np.uint8)).tolist() == [
        12,
        0,
        11,
        12,
        12,
    ]


def test_truth_to_index_refuses_other_dtypes() -> None:
    with pytest.raises(TypeError, match="raw labels must be uint8, got int32"):
        metrics.truth_to_index(np.array([1], dtype=np.int32))


def test_hand_computed_three_classes() -> None:
    # truth:  0 0 1 1 2 ; pred: 0 1 1 1 0
    cm = metrics.confusion_matrix(
        np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), num_classes=3
    )
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    iou = metrics.iou_per_class(cm)
    assert iou.tolist() == [1 / 3, 2 / 3, 0.0]
    assert metrics.mean_iou_score(cm, num_scored=2) == pytest.approx(0.5)
    precision = metrics.precision_per_class(cm)
    assert precision[:2].tolist() == [0.5, 2 / 3] and math.isnan(precision[2])  # 2 never predicted
    assert metrics.recall_per_class(cm).tolist() == [0.5, 1.0, 0.0]
    assert metrics.f1_per_class(cm).tolist() == pytest.approx([0.5, 0.8, 0.0])
    assert metrics.overall_accuracy(cm) == pytest.approx(3 / 5)


def test_perfect_prediction_scores_one() -> None:
    truth = np.arange(12).repeat(3)
    cm = metrics.confusion_matrix(truth, truth)
    assert metrics.mean_iou_score(cm) == 1.0


def test_other_is_in_the_matrix_but_not_in_the_mean() -> None:
    # Truth 'other' predicted as building: a false positive that lowers building's IoU.
    truth = np.array([0, 0, 12, 12])
    pred = np.array([0, 0, 0, 0])
    cm = metrics.confusion_matrix(truth, pred)
    assert metrics.iou_per_class(cm)[0] == 0.5
    assert metrics.mean_iou_score(cm) == 0.5  # only class 0 is present among 0..11
    # Predicting 'other' for a building is a false negative of building.
    cm = metrics.confusion_matrix(np.array([0, 0]), np.array([0, 12]))
    assert metrics.iou_per_class(cm)[0] == 0.5


def test_nan_for_absent_classes_and_all_absent() -> None:
    cm = metrics.confusion_matrix(np.array([3, 3]), np.array([3, 3]))
    iou = metrics.iou_per_class(cm)
    assert iou[3] == 1.0
    assert np.isnan(iou[[0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12]]).all()
    assert metrics.mean_iou_score(cm) == 1.0  # a NaN-aware mean, not a division by 12
    only_other = metrics.confusion_matrix(np.array([12]), np.array([12]))
    assert math.isnan(metrics.mean_iou_score(only_other))
    assert math.isnan(metrics.overall_accuracy(np.zeros((13, 13), dtype=np.int64)))


def test_class_absent_from_truth_only_scores_zero() -> None:
    cm = metrics.confusion_matrix(np.array([0, 0]), np.array([0, 1]))
    assert metrics.iou_per_class(cm)[1] == 0.0
    assert math.isnan(metrics.recall_per_class(cm)[1])
    assert metrics.precision_per_class(cm)[1] == 0.0


def test_accumulation_equals_concatenation(rng: np.random.Generator) -> None:
    a_t, b_t = rng.integers(0, 20, (2, 32, 32), dtype=np.uint8)
    a_p, b_p = rng.integers(0, 16, (2, 32, 32), dtype=np.uint8)
    separate = metrics.fold_pair_histogram(
        metrics.pair_histogram(a_t, a_p) + metrics.pair_histogram(b_t, b_p)
    )
    together = metrics.fold_pair_histogram(
        metrics.pair_histogram(np.concatenate([a_t, b_t]), np.concatenate([a_p, b_p]))
    )
    assert np.array_equal(separate.confusion, together.confusion)
    assert separate.dropped_pixels == together.dropped_pixels


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match=r"truth has shape \(2,\) but prediction has shape \(3,\)"):
        metrics.confusion_matrix(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="truth has shape"):
        metrics.pair_histogram(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


@pytest.mark.parametrize("bad", [np.array([1.5]), np.array([np.nan]), np.array([np.inf])])
def test_non_integer_float_predictions_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="non-integer float values"):
        metrics.prediction_to_codes(bad)


def test_non_numeric_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="non-numeric dtype"):
        metrics.prediction_to_codes(np.array(["a"]))


def test_bool_predictions_count_as_0_and_1() -> None:
    assert metrics.prediction_to_codes(np.array([True, False])).tolist() == [1, 0]


def test_nomenclature_is_thirteen_classes_with_other_last() -> None:
    assert len(CLASS_NAMES) == NUM_CLASSES == 13
    assert CLASS_NAMES[0] == "building" and CLASS_NAMES[11] == "plowed land"
    assert CLASS_NAMES[12] == "other"
