"""CodaLab-exact FLAIR scoring: confusion matrix and mIoU over the 12 scored classes.

Standard library, numpy and Pillow only, Python >= 3.9, so that this package also runs unchanged
as the CodaLab / Codabench scoring program (``python -m scoring INPUT OUTPUT``).
"""

from scoring.classes import CLASS_NAMES, NUM_CLASSES, NUM_SCORED_CLASSES, OTHER_INDEX
from scoring.errors import DataError, FlairKitError, MissingFileError, SubmissionError
from scoring.evaluate import pair_predictions, score_folders
from scoring.metrics import (
    confusion_matrix,
    f1_per_class,
    iou_per_class,
    mean_iou_score,
    overall_accuracy,
    precision_per_class,
    recall_per_class,
)
from scoring.report import ScoreReport

__all__ = [
    "CLASS_NAMES",
    "NUM_CLASSES",
    "NUM_SCORED_CLASSES",
    "OTHER_INDEX",
    "DataError",
    "FlairKitError",
    "MissingFileError",
    "ScoreReport",
    "SubmissionError",
    "confusion_matrix",
    "f1_per_class",
    "iou_per_class",
    "mean_iou_score",
    "overall_accuracy",
    "pair_predictions",
    "precision_per_class",
    "recall_per_class",
    "score_folders",
]
