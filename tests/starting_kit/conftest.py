"""Fixtures for the starting-kit tests: tiny generated files in the real layouts.

Submission fixtures (issue 4) build small official-format predictions and the hostile corpus of
``tests/starting_kit/corpus.py``; IGN's real example submission is used where it is present.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.starting_kit.corpus import (
    CORPUS_IDS,
    HostileCase,
    good_files,
    hostile_submissions,
    write_reference,
)

#: IGN's real files, vendored in the repository (tests/data/ign/README.md).
IGN_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ign"


@pytest.fixture(scope="session")
def ign_example_submission() -> Path:
    """IGN's official FLAIR #1 example submission zip (50 real PRED files)."""
    return IGN_REFERENCE / "flair1_example_submission_TOY.zip"


@pytest.fixture(scope="session")
def ign_example_folder(
    ign_example_submission: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The example submission extracted into a folder (treat as read-only)."""
    folder = tmp_path_factory.mktemp("ign-example") / "predictions"
    with zipfile.ZipFile(ign_example_submission) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="session")
def hostile_cases(tmp_path_factory: pytest.TempPathFactory) -> list[HostileCase]:
    """Every case of the hostile corpus, built once per session."""
    return hostile_submissions(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def corpus_reference(tmp_path: Path) -> Path:
    """Reference masks MSK_<id>.tif for the corpus ids: the --expect folder of submission tests."""
    return write_reference(tmp_path / "reference")


@pytest.fixture
def good_prediction_folder(tmp_path: Path) -> Path:
    """A complete, valid folder of corpus predictions (official format, CORPUS_SIZE pixels)."""
    folder = tmp_path / "predictions"
    folder.mkdir()
    for name, data in good_files(tmp_path).items():
        (folder / name).write_bytes(data)
    assert len(list(folder.iterdir())) == len(CORPUS_IDS)
    return folder


# --- Toy datasets and discovery (issue 3) ----------------------------------------------------
# Small generated sets in the official layout, shared read-only by tests/starting_kit/
# test_toydata.py and test_discovery.py; tests that modify a tree work on `toy_tree_copy`.

#: Patch size and counts of the shared toy sets: small, yet every class occurs in each split.
TOY_SIZE = 64
TOY_TRAIN, TOY_TEST = 24, 12


@pytest.fixture(scope="session")
def toy_flair1(tmp_path_factory: pytest.TempPathFactory):
    """A FLAIR #1 toy dataset: 24 train (6 in validation domains) + 12 test patches of 64 px."""
    from starting_kit.toydata import generate_toy_dataset

    return generate_toy_dataset(
        tmp_path_factory.mktemp("toy-flair1") / "data",
        dataset="flair1",
        size=TOY_SIZE,
        n_train=TOY_TRAIN,
        n_test=TOY_TEST,
    )


@pytest.fixture(scope="session")
def toy_flair2(tmp_path_factory: pytest.TempPathFactory):
    """A FLAIR #2 toy dataset: 8 train + 4 test patches of 64 px with their Sentinel-2 zones."""
    from starting_kit.toydata import generate_toy_dataset

    return generate_toy_dataset(
        tmp_path_factory.mktemp("toy-flair2") / "data",
        dataset="flair2",
        size=TOY_SIZE,
        n_train=8,
        n_test=4,
    )


@pytest.fixture
def toy_tree_copy(toy_flair2, tmp_path: Path) -> Path:
    """A private copy of the FLAIR #2 toy dataset root, for tests that break it."""
    import shutil

    return Path(shutil.copytree(toy_flair2.root, tmp_path / "data"))
