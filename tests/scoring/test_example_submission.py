"""The example in submissions/: its expected scores hold and its generator reproduces it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.evaluate import score_folders

EXAMPLE = Path(__file__).resolve().parents[2] / "submissions" / "example"
#: IGN's files the generator reads, vendored in the repository (tests/data/ign/README.md).
IGN_FILES = Path(__file__).resolve().parents[1] / "data" / "ign"


def test_example_scores_match_the_written_expectation() -> None:
    expected = json.loads((EXAMPLE / "expected_scores.json").read_text())
    report = score_folders(EXAMPLE / "submission.zip", EXAMPLE / "reference", workers=1)
    assert report.to_dict() == expected
    assert round(report.miou, 5) == 0.44888
    assert report.n_patches == 8 and len(report.per_domain) == 7


def test_zip_and_folder_agree() -> None:
    from_zip = score_folders(EXAMPLE / "submission.zip", EXAMPLE / "reference", workers=1)
    from_folder = score_folders(EXAMPLE / "predictions", EXAMPLE / "reference", workers=1)
    assert from_zip.to_dict() == from_folder.to_dict()


def test_generator_reproduces_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_example", EXAMPLE.parent / "make_example.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "EXAMPLE", tmp_path / "example")
    assert module.main(["--reference-dir", str(IGN_FILES)]) == 0
    for path in sorted(EXAMPLE.rglob("*")):
        if path.is_file():
            regenerated = tmp_path / "example" / path.relative_to(EXAMPLE)
            assert regenerated.read_bytes() == path.read_bytes(), path
