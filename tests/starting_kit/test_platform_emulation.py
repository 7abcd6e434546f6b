"""The bundles' scoring program, run as CodaLab v1 and Codabench run it (see ``platforms.py``).

Every test builds real bundles with ``build_bundle``, hands a submission zip to an emulated compute
worker, and reads the scores back the way each site does. The numbers must equal the library's
(``score_folders``) after the site's own parsing and decimal storage.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from scoring.classes import NUM_SCORED_CLASSES
from scoring.evaluate import score_folders
from scoring.render import LEADERBOARD_KEYS
from scoring.report import ScoreReport
from starting_kit.bundle import build_bundle, describe
from starting_kit.bundle.archive import SCORING_COMMAND
from tests.starting_kit.platforms import (
    PlatformRun,
    codabench_command,
    codabench_read_scores,
    flat_zip,
    macos_zip,
    make_predictions,
    make_reference,
    python39,
    run_codabench,
    run_codalab,
    save_mask,
    store_decimal,
    v1_command,
    v1_read_scores,
    wrapped_zip,
    zip_files,
)

REFERENCE_FILES = Path(__file__).resolve().parents[1] / "data" / "ign"
EXAMPLE_ZIP = REFERENCE_FILES / "flair1_example_submission_TOY.zip"
TOY_IDS = [61713, 61714, 61715, 62613, 62614, 62615]

Runner = Callable[[Path, Path, Path], PlatformRun]
RUNNERS: dict[str, Runner] = {"codalab": run_codalab, "codabench": run_codabench}


@pytest.fixture(scope="module")
def py39() -> str:
    return python39()


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reference masks in the dataset layout, a valid prediction folder, and both bundles."""
    root = tmp_path_factory.mktemp("toy")
    reference = make_reference(root / "flair_1_labels_test", TOY_IDS)
    predictions = make_predictions(reference, root / "predictions")
    paths = {"reference": reference, "predictions": predictions}
    for platform in RUNNERS:
        paths[platform] = build_bundle(
            describe("flair1"), reference, root / f"{platform}.zip", platform=platform
        ).path
    return paths


def expected_scores(report: ScoreReport, platform: str) -> dict[str, Decimal]:
    """The library's numbers as each site ends up storing them.

    v1 parses the 6-decimal text of scores.txt; Codabench loads scores.json's floats. Both store a
    DecimalField with 10 decimals. A class absent from truth and predictions (NaN IoU) is shown as
    0, the scoring program's documented policy.
    """
    values = [report.miou] + [float(v) for v in report.iou[:NUM_SCORED_CLASSES]]
    values = [0.0 if math.isnan(v) else v for v in values]
    if platform == "codalab":
        values = [float(f"{v:.6f}") for v in values]
    return {key: store_decimal(v) for key, v in zip(LEADERBOARD_KEYS, values, strict=True)}


def assert_clean_success(run: PlatformRun, report: ScoreReport) -> None:
    assert run.failure is None, run.failure
    assert run.returncode == 0, run.stderr
    assert run.scores == expected_scores(report, run.platform)
    assert run.touched_outside_output == []
    assert not run.wrote_output_metadata
    written = {p.name for p in run.output_dir.iterdir()} - {"metadata"}  # metadata: the worker's
    assert written == {"scores.txt", "scores.json", "detailed_results.html"}
    page = (run.output_dir / "detailed_results.html").read_text(encoding="utf-8")
    # Rendered by the image's Python 3.9: class names on the matrix columns, the raw counts.
    assert '<th class="col" title="predicted building"><span>0 building</span></th>' in page
    assert "<h2>Confusion matrix, pixel counts</h2>" in page
    # The program prints each warning on stderr and puts them all in the page's box.
    warned = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert ('class="warn"' in page) == bool(warned)
    if warned:
        assert f"<h2>Warnings ({len(warned)})</h2>" in page


def assert_clean_failure(run: PlatformRun, message: str) -> None:
    """Exit 1, one stderr line with the reason, nothing written but by the platform itself."""
    assert run.returncode == 1, (run.returncode, run.failure, run.stderr)
    assert run.failure is not None
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("Invalid submission: "), lines[0]
    assert message in lines[0], lines[0]
    assert run.touched_outside_output == []
    assert not run.wrote_output_metadata
    left = (
        {p.name: p.stat().st_size for p in run.output_dir.iterdir()}
        if run.output_dir.exists()
        else {}
    )
    left.pop("metadata", None)  # the v1 worker's status, written after the program
    if run.platform == "codalab":
        assert left == {"detailed_results.html": 0}  # the worker's empty page, untouched
    else:
        assert left == {}


# -- the emulated image and command line ------------------------------------------------------


def test_emulated_image_is_python39_with_numpy_122_and_pillow_9(py39: str) -> None:
    result = subprocess.run(
        [
            py39,
            "-I",
            "-c",
            "import sys, numpy, PIL; print(sys.version_info[:2], numpy.__version__, PIL.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    version, numpy_version, pillow_version = result.stdout.rsplit(" ", 2)
    assert version.strip() == "(3, 9)"
    assert numpy_version.startswith("1.22.")
    assert pillow_version.strip().startswith("9.")


def test_emulated_image_cannot_import_the_project(py39: str, tmp_path: Path) -> None:
    """Isolated, the 3.9 interpreter sees no flair-kit install: only the vendored copy can run."""
    result = subprocess.run(
        [py39, "-I", "-c", "import scoring"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "No module named 'scoring'" in result.stderr


def test_v1_splits_the_command_on_single_spaces(tmp_path: Path) -> None:
    argv = v1_command(SCORING_COMMAND, tmp_path / "run", tmp_path / "shared")
    assert argv == [
        "python3",
        str(tmp_path / "run" / "program" / "score.py"),
        str(tmp_path / "run" / "input"),
        str(tmp_path / "run" / "output"),
    ]


def test_codabench_maps_the_command_into_app(tmp_path: Path) -> None:
    argv = codabench_command(SCORING_COMMAND, tmp_path / "app")
    assert argv == [
        "python3",
        str(tmp_path / "app" / "program" / "score.py"),
        str(tmp_path / "app" / "input"),
        str(tmp_path / "app" / "output"),
    ]


# -- valid submissions ------------------------------------------------------------------------

ZIPPERS = {"flat": flat_zip, "folder-wrapped": wrapped_zip, "macos": macos_zip}


@pytest.mark.parametrize("layout", sorted(ZIPPERS))
@pytest.mark.parametrize("platform", sorted(RUNNERS))
def test_valid_submission_scores_like_the_library(
    py39: str, toy: dict[str, Path], tmp_path: Path, platform: str, layout: str
) -> None:
    submission = ZIPPERS[layout](toy["predictions"], tmp_path / "submission.zip")
    run = RUNNERS[platform](toy[platform], submission, tmp_path / "sandbox")
    report = score_folders(submission, toy["reference"], workers=1)
    assert_clean_success(run, report)
    res = (run.root / "worker" / ("run" if platform == "codalab" else "app")).rglob("res")
    res_dir = next(p for p in res if p.is_dir())
    # What the scorer saw, as each platform stages it.
    if layout == "folder-wrapped":
        assert (res_dir / "predictions").is_dir()  # neither platform unwraps a plain folder
    if layout == "macos":
        assert (res_dir / "__MACOSX").is_dir()  # nor drops the AppleDouble debris
    assert (res_dir / "metadata").is_file() == (platform == "codabench")


@pytest.mark.parametrize("platform", sorted(RUNNERS))
def test_ign_example_submission_scores_like_the_library(
    py39: str, tmp_path_factory: pytest.TempPathFactory, platform: str
) -> None:
    """IGN's official example (50 LZW 512x512 predictions) against references derived from it."""
    root = tmp_path_factory.mktemp(f"example-{platform}")
    rng = np.random.default_rng(7)
    reference = root / "labels"
    with zipfile.ZipFile(EXAMPLE_ZIP) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("PRED_"))
        archive.extractall(root / "example", members=names)
    for name in names:
        from PIL import Image

        with Image.open(root / "example" / name) as image:
            pred = np.asarray(image)
        raw = pred.astype(np.uint8) + 1  # the predicted class as a raw label
        wrong = rng.random(pred.shape) < 0.25
        raw[wrong] = rng.integers(1, 20, size=int(wrong.sum()), dtype=np.uint8)
        save_mask(reference / name.replace("PRED_", "MSK_"), raw)
    bundle = build_bundle(
        describe("flair1"), reference, root / "bundle.zip", platform=platform
    ).path
    run = RUNNERS[platform](bundle, EXAMPLE_ZIP, root / "sandbox")
    report = score_folders(EXAMPLE_ZIP, reference, workers=1)
    assert report.n_patches == 50
    assert_clean_success(run, report)


# -- invalid submissions ----------------------------------------------------------------------


def _predictions(toy: dict[str, Path]) -> list[Path]:
    return sorted(toy["predictions"].glob("PRED_*.tif"))


def _missing_one(toy: dict[str, Path], target: Path) -> Path:
    return zip_files(target, [(p.name, p) for p in _predictions(toy)[1:]])


def _extra_one(toy: dict[str, Path], target: Path) -> Path:
    files = [(p.name, p) for p in _predictions(toy)]
    return zip_files(target, [*files, ("PRED_099999.tif", _predictions(toy)[0])])


def _wrong_size(toy: dict[str, Path], target: Path) -> Path:
    small = save_mask(
        target.parent / "small" / _predictions(toy)[0].name, np.zeros((8, 8), np.uint8)
    )
    return zip_files(target, [(small.name, small)] + [(p.name, p) for p in _predictions(toy)[1:]])


def _rgb(toy: dict[str, Path], target: Path) -> Path:
    from PIL import Image

    first = _predictions(toy)[0]
    rgb = target.parent / "rgb" / first.name
    rgb.parent.mkdir()
    Image.new("RGB", (48, 40)).save(rgb)
    return zip_files(target, [(rgb.name, rgb)] + [(p.name, p) for p in _predictions(toy)[1:]])


def _not_a_tiff(toy: dict[str, Path], target: Path) -> Path:
    files = [(p.name, p) for p in _predictions(toy)[1:]]
    return zip_files(target, files, {_predictions(toy)[0].name: b"this is not a TIFF"})


def _duplicate_id(toy: dict[str, Path], target: Path) -> Path:
    files = [(p.name, p) for p in _predictions(toy)]
    return zip_files(target, [*files, (f"again/{_predictions(toy)[0].name}", _predictions(toy)[0])])


def _no_prediction(toy: dict[str, Path], target: Path) -> Path:
    return zip_files(target, [], {"readme.txt": b"predictions to follow"})


INVALID = {
    "missing prediction": (_missing_one, "missing predictions for 1 of 6 ids"),
    "extra prediction": (_extra_one, "have no reference mask: 099999"),
    "wrong size": (_wrong_size, "prediction is 8x8 but reference"),
    "multi-band": (_rgb, "PRED_061713.tif"),
    "undecodable": (_not_a_tiff, "PRED_061713.tif"),
    "duplicate id": (_duplicate_id, "duplicate prediction ids: 061713"),
    "no prediction": (_no_prediction, "no PRED_<id>.tif file found"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
@pytest.mark.parametrize("platform", sorted(RUNNERS))
def test_invalid_submission_fails_with_one_line(
    py39: str, toy: dict[str, Path], tmp_path: Path, platform: str, case: str
) -> None:
    make, message = INVALID[case]
    submission = make(toy, tmp_path / "submission.zip")
    run = RUNNERS[platform](toy[platform], submission, tmp_path / "sandbox")
    assert_clean_failure(run, message)


# -- what the platforms do before the scorer runs ---------------------------------------------


def test_v1_lifts_a_sole_folder_holding_metadata(
    py39: str, toy: dict[str, Path], tmp_path: Path
) -> None:
    """v1's only unwrapping rule: the folder is lifted, its metadata sits in res/ and is ignored."""
    files = [(f"preds/{p.name}", p) for p in _predictions(toy)]
    submission = zip_files(tmp_path / "s.zip", files, {"preds/metadata": b"description: my run\n"})
    run = run_codalab(toy["codalab"], submission, tmp_path / "sandbox")
    assert_clean_success(run, score_folders(toy["predictions"], toy["reference"], workers=1))
    assert (run.root / "worker" / "run" / "input" / "res" / "PRED_061713.tif").is_file()


def test_v1_metadata_with_a_string_key_fails_before_scoring(
    toy: dict[str, Path], tmp_path: Path, py39: str
) -> None:
    files = [(p.name, p) for p in _predictions(toy)]
    submission = zip_files(tmp_path / "s.zip", files, {"metadata": b"model: resnet34\n"})
    run = run_codalab(toy["codalab"], submission, tmp_path / "sandbox")
    assert run.returncode is None  # the worker never started the program
    assert run.failure is not None and "'model' is fetched as a bundle URL" in run.failure


def test_codabench_runs_a_root_metadata_as_code(
    toy: dict[str, Path], tmp_path: Path, py39: str
) -> None:
    files = [(p.name, p) for p in _predictions(toy)]
    submission = zip_files(tmp_path / "s.zip", files, {"metadata": b"description: my run\n"})
    run = run_codabench(toy["codabench"], submission, tmp_path / "sandbox")
    assert run.returncode is None
    assert run.failure is not None and "code submission" in run.failure


def test_v1_extracts_a_nested_zip_beside_itself(
    py39: str, toy: dict[str, Path], tmp_path: Path
) -> None:
    """A zip in the zip: v1 extracts it into res/<stem>/, so the predictions are found once."""
    inner = flat_zip(toy["predictions"], tmp_path / "inner.zip")
    submission = zip_files(tmp_path / "s.zip", [("inner.zip", inner)])
    run = run_codalab(toy["codalab"], submission, tmp_path / "sandbox")
    assert_clean_success(run, score_folders(toy["predictions"], toy["reference"], workers=1))
    assert (run.root / "worker" / "run" / "input" / "res" / "inner" / "PRED_061713.tif").is_file()


def test_codabench_leaves_a_nested_zip_closed(
    py39: str, toy: dict[str, Path], tmp_path: Path
) -> None:
    inner = flat_zip(toy["predictions"], tmp_path / "inner.zip")
    submission = zip_files(tmp_path / "s.zip", [("inner.zip", inner)])
    run = run_codabench(toy["codabench"], submission, tmp_path / "sandbox")
    assert_clean_failure(run, "no PRED_<id>.tif file found")


def test_the_sandbox_is_removed_cleanly(py39: str, toy: dict[str, Path], tmp_path: Path) -> None:
    """Everything the emulation and the scorer made stays inside the sandbox folder."""
    submission = flat_zip(toy["predictions"], tmp_path / "submission.zip")
    before = set(os.listdir(tmp_path))
    run_codabench(toy["codabench"], submission, tmp_path / "sandbox")
    assert set(os.listdir(tmp_path)) - before == {"sandbox"}
    shutil.rmtree(tmp_path / "sandbox")


# -- the hostile corpus of the validate issue -------------------------------------------------

#: Corpus cases the platform stages so that the scoring program finds a scorable submission,
#: although ``validate`` rejects or warns about them. The scorer is faithful to the platform and
#: to IGN's scorer; only real errors fail it.
SCORED: dict[str, str] = {
    "pred_img_name": "PRED_IMG_<id>.tif is matched by its id, as IGN's scorer matches it",
    "unpadded_id": "the id is read as an integer, as IGN's scorer sorts by int(...)",
    "png_renamed": "Pillow decodes by content, not by file name, in the official scorer too",
    "uint16": "values are class indices whatever the integer dtype (sklearn's policy)",
    "int32": "values are class indices whatever the integer dtype (sklearn's policy)",
    "float_whole_numbers": "integral floats count as their integer value (sklearn's policy)",
    "values_out_of_range": "pixels outside 0..12 are dropped, with a warning on stderr",
    "values_out_of_range_strict": "--strict is validate's; the scorer drops the pixels and warns",
    "one_based": "value 13 is dropped, the rest is scored: a warning on stderr",
    "constant_mask": "a legal, if useless, prediction",
    "uncompressed": "compression is a formatting preference",
    "deflate_compressed": "compression is a formatting preference",
    "inside_a_folder": "res/ is searched recursively, so a wrapping folder is harmless",
    "zip_slip": "extractall clamps '../' into res/, where the file is found",
    "absolute_path": "extractall strips the leading '/', the file lands in res/tmp/",
    "duplicate_entry_names": "extractall keeps the last entry of a repeated name",
}
#: Cases whose fate depends on the platform: "scored", "fails" (the scoring program exits 1 with
#: one line) or "worker" (the platform fails the submission before running the program).
PER_PLATFORM: dict[str, dict[str, str]] = {
    # v1 extracts a top-level zip into res/inner/; Codabench leaves it closed.
    "nested_zip": {"codalab": "scored", "codabench": "fails"},
    # v1 parses res/metadata but fetches nothing ('command' is not a URL key) and the scorer
    # ignores the file; Codabench takes a root metadata for a code submission.
    "metadata_entry": {"codalab": "scored", "codabench": "worker"},
    # v1 swallows BadZipfile and scores what was extracted (or finds no res/ at all).
    "corrupt_entry": {"codalab": "fails", "codabench": "worker"},
    "not_a_zip": {"codalab": "fails", "codabench": "worker"},
    # An empty zip creates no res/ folder and v1's chmod of it raises; Codabench scores an
    # empty res/ (its own metadata only) and the scorer finds no prediction.
    "empty_zip": {"codalab": "worker", "codabench": "fails"},
    # extractall refuses an encrypted entry on both workers.
    "encrypted": {"codalab": "worker", "codabench": "worker"},
}


def expected_fate(name: str, platform: str) -> str:
    if name in SCORED:
        return "scored"
    return PER_PLATFORM.get(name, {}).get(platform, "fails")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.starting_kit.corpus import hostile_submissions

    root = tmp_path_factory.mktemp("corpus")
    cases = {case.name: case for case in hostile_submissions(root / "cases") if case.is_zip}
    reference = next(iter(cases.values())).expect
    assert reference is not None
    bundles = {
        platform: build_bundle(
            describe("flair1"), reference, root / f"{platform}.zip", platform=platform
        ).path
        for platform in RUNNERS
    }
    return {"cases": cases, "reference": reference, "bundles": bundles}


def _corpus_names() -> list[str]:
    import tempfile

    from tests.starting_kit.corpus import hostile_submissions

    with tempfile.TemporaryDirectory() as scratch:
        return sorted(case.name for case in hostile_submissions(Path(scratch)) if case.is_zip)


CORPUS_NAMES = _corpus_names()


def test_every_corpus_decision_names_a_real_case() -> None:
    assert set(SCORED) | set(PER_PLATFORM) <= set(CORPUS_NAMES)


@pytest.mark.parametrize("name", CORPUS_NAMES)
@pytest.mark.parametrize("platform", sorted(RUNNERS))
def test_hostile_corpus_on_the_platform(
    py39: str, corpus: dict[str, object], tmp_path: Path, platform: str, name: str
) -> None:
    case = corpus["cases"][name]  # type: ignore[index]
    bundle = corpus["bundles"][platform]  # type: ignore[index]
    run = RUNNERS[platform](bundle, case.path, tmp_path / "sandbox")
    fate = expected_fate(name, platform)
    if fate == "worker":
        assert run.returncode is None, run.stderr  # the program never ran
        assert run.failure is not None
        return
    assert run.touched_outside_output == []
    assert not run.wrote_output_metadata
    if fate == "fails":
        assert_clean_failure(run, "")
        return
    # Scored: exactly what `flair-kit score` gives on the files the platform staged.
    assert run.failure is None, (run.failure, run.stderr)
    report = score_folders(run.res_dir, corpus["reference"], workers=1)  # type: ignore[arg-type]
    assert run.scores == expected_scores(report, platform)
    warnings = [line for line in run.stderr.splitlines() if line]
    assert all(line.startswith("warning: ") for line in warnings), run.stderr
    # One stderr line per warning of the report (issue 11: problems of form, names and 1-based
    # values are warned about too), and dropped pixels are always among them.
    assert len(warnings) == len(report.warnings), (run.stderr, report.warnings)
    assert (report.dropped_pixels > 0) == any("dropped" in line for line in warnings)
    page = (run.output_dir / "detailed_results.html").read_text(encoding="utf-8")
    if report.warnings:  # the same warnings, in the page's box
        assert f"<h2>Warnings ({len(report.warnings)})</h2>" in page


# -- the interpreter switch -------------------------------------------------------------------


def test_without_the_interpreter_a_local_run_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLAIR_KIT_PY39", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="FLAIR_KIT_PY39 is not set"):
        python39()


def test_without_the_interpreter_ci_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLAIR_KIT_PY39", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the platform emulation"):
        python39()


def test_a_wrong_interpreter_path_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLAIR_KIT_PY39", str(tmp_path / "python3.9"))
    with pytest.raises(pytest.fail.Exception, match="is not an executable interpreter"):
        python39()


def test_a_worker_error_never_hangs_the_scorer(
    py39: str, toy: dict[str, Path], tmp_path: Path
) -> None:
    """Regression: Python 3.9's Pool.terminate() deadlocked about one run in four when a worker
    raised while another was sending its histogram; the pool is now drained and closed."""
    with zipfile.ZipFile(toy["codalab"]) as bundle:
        (tmp_path / "program.zip").write_bytes(bundle.read("scoring_program.zip"))
    with zipfile.ZipFile(tmp_path / "program.zip") as program:
        program.extractall(tmp_path / "program")
    shutil.copytree(toy["reference"], tmp_path / "input" / "ref")
    res = shutil.copytree(toy["predictions"], tmp_path / "input" / "res")
    (res / "PRED_061713.tif").write_bytes(b"not a TIFF")
    for attempt in range(8):
        result = subprocess.run(
            [py39, "-I", "-B", str(tmp_path / "program" / "score.py"), "input", f"out{attempt}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        assert "PRED_061713.tif: cannot be decoded by Pillow" in result.stderr


# -- the sites' score readers -----------------------------------------------------------------


def test_codabench_falls_back_to_scores_txt_as_yaml(toy: dict[str, Path], tmp_path: Path) -> None:
    from scoring.render import scores_txt

    report = score_folders(toy["predictions"], toy["reference"], workers=1)
    (tmp_path / "scores.txt").write_text(scores_txt(report), encoding="utf-8")
    scores = codabench_read_scores(tmp_path, list(LEADERBOARD_KEYS))
    assert scores == expected_scores(report, "codalab")  # the same fixed-point text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("miou: 0.5: 1\n", "not enough values|too many values"),
        ("miou: nan\n", "cannot be stored"),
        ("miou: high\n", "could not convert"),
    ],
)
def test_v1_site_rejects_what_it_cannot_parse(tmp_path: Path, text: str, message: str) -> None:
    with zipfile.ZipFile(tmp_path / "output.zip", "w") as archive:
        archive.writestr("scores.txt", text)
    with pytest.raises(ValueError, match=message):
        v1_read_scores(tmp_path / "output.zip", ["miou"])


def test_v1_site_needs_scores_txt_at_the_root(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "output.zip", "w") as archive:
        archive.writestr("sub/scores.txt", "miou: 0.5\n")
    with pytest.raises(ValueError, match=r"Scores\.txt not found"):
        v1_read_scores(tmp_path / "output.zip", ["miou"])


def test_codabench_needs_a_scores_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Could not find scores file"):
        codabench_read_scores(tmp_path, ["miou"])
