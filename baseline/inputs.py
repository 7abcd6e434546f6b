"""Input discovery of training and prediction: which patches a run reads.

Training takes a dataset root in the official layout or an official path csv
(:func:`discover_training_data`); prediction takes the test split of a dataset root, an image
folder or a path csv (:func:`discover_inputs`), and FLAIR #2 models the test split of a root with
its Sentinel-2 files (:func:`flair2_test_inputs`). The finding itself is
:mod:`starting_kit.discovery`'s; this module maps the baseline's options onto it.
"""

from __future__ import annotations

from pathlib import Path

from baseline.config import DataConfig
from scoring.errors import ConfigError, DataError, MissingFileError, summarize
from starting_kit.choices import DATASETS, Dataset
from starting_kit.discovery import (
    SPLIT_FOLDERS,
    Sample,
    discover_csv,
    discover_tree,
    find_metadata,
    find_split,
)


def resolve_path(value: str, what: str) -> Path:
    """A configured path, user-expanded, that must exist.

    Raises:
        MissingFileError: nothing at ``value`` (``what`` names it).
    """
    path = Path(value).expanduser()
    if not path.exists():
        raise MissingFileError(f"{path}: {what} not found")
    return path


def discover_training_data(
    data: DataConfig, *, with_metadata: bool, dataset: Dataset = "flair1"
) -> list[Sample]:
    """Find the training pool: a dataset root in the official layout or an official path csv.

    FLAIR #2 (``dataset="flair2"``) takes a dataset root only: the Sentinel-2 triplets and the
    centroid JSON are found next to the aerial folders.

    Raises:
        ConfigError: no data configured, or a folder that is not a dataset root.
        MissingFileError, DataError: from discovery.
    """
    if data.train is None:
        raise ConfigError(
            "no training data: pass --data DATASET_ROOT (or a path csv), or set data.train"
        )
    source = resolve_path(data.train, "training data")
    if dataset == "flair2":
        if not source.is_dir():
            raise ConfigError(
                f"{source}: FLAIR #2 training takes the dataset root (flair_aerial_train/, "
                "flair_labels_train/, flair_sen_train/, flair-2_centroids_sp_to_patch.json), not a "
                "path csv"
            )
        if with_metadata and data.metadata is not None:
            raise ConfigError(
                "FLAIR #2 reads the aerial metadata JSON found at the dataset root; remove "
                "data.metadata (--metadata)"
            )
        samples = find_split(source, "train", dataset="flair2")
        if with_metadata and any(s.metadata is None for s in samples):
            raise ConfigError(
                f"{source}: model.use_metadata is true but the dataset root has no aerial metadata "
                "JSON (flair_aerial_metadata.json) covering every patch"
            )
        return samples
    metadata = metadata_path(data, source if source.is_dir() else None) if with_metadata else None
    if source.is_file():
        root = Path(data.csv_root) if data.csv_root else None
        samples = discover_csv(source, root=root, metadata=metadata)
        unlabelled = [s.name for s in samples if s.mask is None]
        if unlabelled:
            raise DataError(
                f"{source}: {len(unlabelled)} rows have no mask column ({summarize(unlabelled)}); "
                "training lists need image_path,mask_path rows"
            )
        return samples
    folders = SPLIT_FOLDERS[("flair1", "train")]
    images = source / folders.images
    if not images.is_dir():
        raise ConfigError(
            f"{source}: not a FLAIR dataset root (no {folders.images}/ folder); pass the folder "
            f"holding {folders.images}/ and {folders.masks}/, or an official path csv "
            "(make a toy dataset with `flair-kit toy-data DIR`)"
        )
    return discover_tree(
        images, masks=source / folders.masks, metadata=metadata, require_masks=True
    )


def metadata_path(data: DataConfig, root: Path | None) -> Path:
    """The aerial metadata JSON of a run: ``data.metadata``, else the one found at ``root``.

    Raises:
        MissingFileError: ``data.metadata`` does not exist.
        ConfigError: none configured and none found.
    """
    if data.metadata is not None:
        return resolve_path(data.metadata, "aerial metadata JSON")
    found = find_metadata(root) if root is not None else None
    if found is None:
        raise ConfigError(
            "model.use_metadata is true but no aerial metadata JSON was found; set data.metadata "
            "(or --metadata) to flair-1_metadata_aerial.json"
        )
    return found


def prediction_source(data: Path, dataset: Dataset = "flair1") -> Path:
    """What a run predicts: the test image folder of a dataset root, else ``data`` itself.

    A dataset root holds ``flair_1_aerial_test/`` or ``flair_2_aerial_test/``; the folder of the
    checkpoint's own dataset is preferred, then the other one (a FLAIR #1 model predicts the FLAIR
    #2 test patches of a FLAIR #2 root, never its train patches). Any other folder is an image
    folder, and a csv is a path list.

    Raises:
        DataError: ``data`` is a dataset root with training images but no test images.
    """
    if not data.is_dir():
        return data
    order = (dataset, *(other for other in DATASETS if other != dataset))
    for name in order:
        folder = data / SPLIT_FOLDERS[(name, "test")].images
        if folder.is_dir():
            return folder
    train = data / SPLIT_FOLDERS[("flair1", "train")].images
    if train.is_dir():
        tests = " or ".join(f"{SPLIT_FOLDERS[(n, 'test')].images}/" for n in DATASETS)
        raise DataError(
            f"{data}: a dataset root with training images but no test images (no {tests}); "
            f"predict a root that holds its test split, or pass an image folder itself "
            f"(for example --data {train}) to predict other patches"
        )
    return data


def discover_inputs(
    data: Path,
    *,
    metadata: Path | None = None,
    csv_root: Path | None = None,
    dataset: Dataset = "flair1",
) -> list[Sample]:
    """Find the patches to predict: a path csv, the test split of a dataset root
    (:func:`prediction_source`) or an image folder (``<DOMAIN>/<ZONE>/img/IMG_<id>.tif``, searched
    recursively).

    Raises:
        MissingFileError: ``data`` does not exist.
        DataError: no image found, a dataset root without test images (and discovery's errors).
    """
    if not data.exists():
        raise MissingFileError(f"{data}: not found; expected a folder of test images or a path csv")
    if data.is_file():
        return discover_csv(data, root=csv_root, metadata=metadata)
    return discover_tree(prediction_source(data, dataset), metadata=metadata)


def flair2_test_inputs(data: Path, context: str = "patch") -> list[Sample]:
    """The FLAIR #2 test patches of a dataset root, with their Sentinel-2 files and centroids.

    Raises:
        ConfigError: ``data`` is not a folder, or a ``zone`` context was asked for.
        MissingFileError, DataError: see :func:`starting_kit.discovery.find_split`.
    """
    if context != "patch":
        raise ConfigError(
            f"context {context!r} is not available for FLAIR #2 models; predict with --context patch"
        )
    if not data.is_dir():
        raise ConfigError(
            f"{data}: a FLAIR #2 model predicts a dataset root (flair_2_aerial_test/, "
            "flair_2_sen_test/, flair-2_centroids_sp_to_patch.json); not a path csv or a file"
        )
    return find_split(data, "test", dataset="flair2")
