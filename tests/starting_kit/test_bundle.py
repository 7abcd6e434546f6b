"""Competition bundles: description, both yaml dialects, pages, logo, zips, bytes, check, CLI."""

from __future__ import annotations

import datetime
import io
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import scoring
from scoring.errors import ConfigError, DataError, MissingFileError, OutputExistsError
from scoring.render import LEADERBOARD_KEYS
from starting_kit.bundle import (
    BundleCheck,
    build_bundle,
    check_bundle,
    competition_yaml_text,
    describe,
    leaderboard_columns,
)
from starting_kit.bundle.archive import FIXED_DATE_TIME, SCORING_COMMAND, write_zip
from starting_kit.bundle.dialects import V1_COMPETITION_KEYS, V1_PHASE_KEYS, V2_KEYS
from starting_kit.bundle.logo import render_logo
from starting_kit.bundle.pages import render_pages
from starting_kit.cli import app
from tests.starting_kit.platforms import make_reference, save_mask

IDS = [61713, 61714, 62613]
PAGES = {"overview.html", "evaluation.html", "terms.html", "data.html"}
MEMBERS = PAGES | {"competition.yaml", "logo.png", "scoring_program.zip", "reference_data.zip"}

runner = CliRunner()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Masks in the dataset layout (two domains): the builder must flatten them."""
    return make_reference(
        tmp_path_factory.mktemp("ref") / "flair_1_labels_test", IDS, shape=(24, 24)
    )


@pytest.fixture(scope="module")
def bundles(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {
        platform: build_bundle(
            describe("flair1"), reference, root / f"{platform}.zip", platform=platform
        ).path
        for platform in ("codalab", "codabench")
    }


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def nested(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def competition(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(members(path)["competition.yaml"])
    assert isinstance(loaded, dict)
    return loaded


# -- description ------------------------------------------------------------------------------


def test_replica_defaults() -> None:
    desc = describe("flair1")
    assert desc.dataset.name == "FLAIR #1"
    assert desc.start == datetime.date(2022, 11, 21)
    assert desc.end is None
    assert (desc.max_submissions, desc.max_submissions_per_day) == (100, 5)
    assert (desc.execution_time_limit, desc.max_submission_size_mb) == (1800, 500)
    assert desc.docker_image == "codalab/codalab-legacy:py39"
    assert describe("flair2").dataset.test_patches == 16_050


def test_options_override_defaults() -> None:
    desc = describe(
        "flair2",
        title="Class exercise",
        start="2025-01-06",
        end="2025-02-28",
        max_submissions_per_day=2,
    )
    assert desc.title == "Class exercise"
    assert (desc.start, desc.end) == (datetime.date(2025, 1, 6), datetime.date(2025, 2, 28))
    assert desc.max_submissions_per_day == 2


@pytest.mark.parametrize(
    ("dataset", "options", "message"),
    [
        ("flair3", {}, "unknown dataset 'flair3'"),
        ("flair1", {"colour": "red"}, "unknown competition option"),
        ("flair1", {"start": "21/11/2022"}, "start date '21/11/2022' is not a date"),
        (
            "flair1",
            {"start": "2024-02-01", "end": "2024-01-01"},
            "end date 2024-01-01 is before start",
        ),
        (
            "flair1",
            {"max_submissions_per_day": 0},
            "max_submissions_per_day is 0, expected at least 1",
        ),
        ("flair1", {"max_submissions": 3, "max_submissions_per_day": 5}, "exceeds max_submissions"),
        ("flair1", {"execution_time_limit": 10}, "execution_time_limit is 10"),
        ("flair1", {"docker_image": "my image;rm"}, "has characters CodaLab strips"),
        ("flair1", {"title": "  "}, "the title is empty"),
    ],
)
def test_invalid_descriptions_are_refused(
    dataset: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        describe(dataset, **options)


def test_leaderboard_columns_are_the_scorers_keys() -> None:
    columns = leaderboard_columns()
    assert [c.key for c in columns] == LEADERBOARD_KEYS
    assert columns[0].title == "mIoU" and columns[0].precision == 5
    assert all(len(c.key) <= 36 and len(c.title) <= 36 for c in columns)


def test_columns_must_start_with_miou() -> None:
    desc = describe("flair1")
    with pytest.raises(ConfigError, match="first leaderboard column must be 'miou'"):
        describe("flair1", columns=desc.columns[1:])


# -- yaml dialects ----------------------------------------------------------------------------


def test_codalab_yaml_uses_only_v1_keys(bundles: dict[str, Path]) -> None:
    data = competition(bundles["codalab"])
    assert set(data) <= V1_COMPETITION_KEYS
    assert data["competition_docker_image"] == "codalab/codalab-legacy:py39"
    assert data["html"] == {
        key: f"{key}.html" for key in ("overview", "evaluation", "terms", "data")
    }
    assert list(data["phases"]) == [1]
    phase = data["phases"][1]
    assert set(phase) <= V1_PHASE_KEYS
    assert phase["is_scoring_only"] is True
    assert (phase["execution_time_limit"], phase["max_submission_size"]) == (1800, 500)
    assert (phase["scoring_program"], phase["reference_data"]) == (
        "scoring_program.zip",
        "reference_data.zip",
    )
    assert phase["start_date"] == datetime.date(2022, 11, 21)


def test_codalab_leaderboard_columns_alias_one_leaderboard(bundles: dict[str, Path]) -> None:
    board = competition(bundles["codalab"])["leaderboard"]
    results = board["leaderboards"]["RESULTS"]
    columns = board["columns"]
    assert list(columns) == LEADERBOARD_KEYS
    assert all(column["leaderboard"] is results for column in columns.values())  # a YAML alias
    assert columns["miou"]["numeric_format"] == 5 and columns["miou"]["rank"] == 1
    assert [c["rank"] for c in columns.values()] == list(range(1, len(LEADERBOARD_KEYS) + 1))
    assert "&RESULTS" in members(bundles["codalab"])["competition.yaml"].decode()


def test_codabench_yaml_is_the_v2_dialect(bundles: dict[str, Path]) -> None:
    data = competition(bundles["codabench"])
    assert data["version"] == 2
    assert set(data) <= V2_KEYS
    assert data["docker_image"] == "codalab/codalab-legacy:py39"
    assert data["terms"] == "terms.html"
    assert [page["file"] for page in data["pages"]] == [
        "overview.html",
        "evaluation.html",
        "data.html",
    ]
    task = data["tasks"][0]
    assert (task["scoring_program"], task["reference_data"]) == (
        "scoring_program.zip",
        "reference_data.zip",
    )
    phase = data["phases"][0]
    assert phase["tasks"] == [0] and phase["execution_time_limit"] == 1800
    assert "end" not in phase  # the replica never ends
    columns = data["leaderboards"][0]["columns"]
    assert [c["key"] for c in columns] == LEADERBOARD_KEYS
    assert [c["index"] for c in columns] == list(range(len(LEADERBOARD_KEYS)))
    assert columns[0]["precision"] == 5


def test_both_dialects_say_the_same_thing() -> None:
    desc = describe("flair2", end="2030-06-30", max_submissions=20, max_submissions_per_day=3)
    v1 = yaml.safe_load(competition_yaml_text(desc, "codalab"))
    v2 = yaml.safe_load(competition_yaml_text(desc, "codabench"))
    assert v1["title"] == v2["title"] == desc.title
    assert v1["end_date"] == v2["phases"][0]["end"] == datetime.date(2030, 6, 30)
    phase = v1["phases"][1]
    assert (phase["max_submissions"], phase["max_submissions_per_day"]) == (20, 3)
    assert (v2["phases"][0]["max_submissions"], v2["phases"][0]["max_submissions_per_day"]) == (
        20,
        3,
    )
    assert list(v1["leaderboard"]["columns"]) == [
        c["key"] for c in v2["leaderboards"][0]["columns"]
    ]


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown platform 'kaggle'"):
        competition_yaml_text(describe("flair1"), "kaggle")


# -- pages and logo ---------------------------------------------------------------------------


def test_pages_are_fragments_with_the_metric() -> None:
    pages = render_pages(describe("flair1"))
    assert set(pages) == PAGES
    for text in pages.values():
        assert "<html" not in text and "<style" not in text and "<head" not in text
        assert "\n\n" not in text.strip()  # a blank line would end a Markdown HTML block
        assert not any(line.startswith(" ") for line in text.splitlines())  # nor indented code
    evaluation = pages["evaluation.html"]
    assert "M[k,k] / (row sum<sub>k</sub> + column sum<sub>k</sub> &minus; M[k,k])" in evaluation
    assert "values 13..19" in evaluation and "become class 12" in evaluation
    assert all(f"<code>{key}</code>" in evaluation for key in LEADERBOARD_KEYS)
    assert "codalab.lisn.upsaclay.fr/competitions/8769" in pages["overview.html"]
    assert "500 MB" in pages["overview.html"] and "1800 s" in pages["overview.html"]


def test_logo_is_a_deterministic_png_per_edition() -> None:
    first = render_logo(1)
    assert first == render_logo(1)
    assert first != render_logo(2)
    with Image.open(io.BytesIO(first)) as image:
        assert image.format == "PNG" and image.size == (256, 256)


def test_logo_of_an_unknown_edition_is_refused() -> None:
    with pytest.raises(ValueError, match="no logo for FLAIR edition 3"):
        render_logo(3)


# -- zips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["codalab", "codabench"])
def test_bundle_layout(bundles: dict[str, Path], platform: str) -> None:
    assert set(members(bundles[platform])) == MEMBERS


def test_scoring_program_vendors_the_package(bundles: dict[str, Path]) -> None:
    program = nested(members(bundles["codalab"])["scoring_program.zip"])
    metadata = yaml.safe_load(program["metadata"])
    assert metadata["command"] == SCORING_COMMAND == "python3 $program/score.py $input $output"
    assert set(metadata) == {"command", "description"}
    package = Path(scoring.__file__).parent
    sources = {f"scoring/{p.name}": p.read_bytes() for p in package.glob("*.py")}
    assert {k: v for k, v in program.items() if k.startswith("scoring/")} == sources
    assert program["score.py"] == (package / "score.py").read_bytes()
    assert set(program) == {"metadata", "score.py"} | set(sources)  # no caches, no tests


def test_reference_data_is_flat(bundles: dict[str, Path], reference: Path) -> None:
    data = nested(members(bundles["codalab"])["reference_data.zip"])
    assert list(data) == [f"MSK_{tile:06d}.tif" for tile in sorted(IDS)]
    originals = {p.name: p.read_bytes() for p in reference.rglob("MSK_*.tif")}
    assert data == originals


def test_same_inputs_give_the_same_bytes(
    reference: Path, tmp_path: Path, bundles: dict[str, Path]
) -> None:
    # Other file times and another output folder change nothing.
    for path in reference.rglob("*.tif"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    again = build_bundle(describe("flair1"), reference, tmp_path / "again.zip", platform="codalab")
    assert again.path.read_bytes() == bundles["codalab"].read_bytes()
    with zipfile.ZipFile(again.path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {FIXED_DATE_TIME}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos if i.filename.endswith(".zip")} == {zipfile.ZIP_STORED}


def test_other_options_give_other_bytes(
    reference: Path, tmp_path: Path, bundles: dict[str, Path]
) -> None:
    other = build_bundle(
        describe("flair1", max_submissions_per_day=4),
        reference,
        tmp_path / "o.zip",
        platform="codalab",
    )
    assert other.path.read_bytes() != bundles["codalab"].read_bytes()


def test_summary_describes_the_file(reference: Path, tmp_path: Path) -> None:
    import hashlib

    summary = build_bundle(describe("flair1"), reference, tmp_path / "b.zip", platform="codabench")
    assert (summary.platform, summary.reference_masks) == ("codabench", len(IDS))
    assert summary.size_bytes == summary.path.stat().st_size
    assert summary.sha256 == hashlib.sha256(summary.path.read_bytes()).hexdigest()


def test_duplicate_reference_ids_are_refused(tmp_path: Path) -> None:
    root = make_reference(tmp_path / "ref", [61713])
    save_mask(root / "elsewhere" / "MSK_061713.tif", np.ones((40, 48), np.uint8))
    with pytest.raises(DataError, match="duplicate reference ids 061713"):
        build_bundle(describe("flair1"), root, tmp_path / "b.zip", platform="codalab")
    assert not (tmp_path / "b.zip").exists()


def test_a_folder_without_masks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "IMG_061713.tif").write_bytes(b"not a mask")
    with pytest.raises(DataError, match=re.escape("no MSK_<id>.tif reference mask found")):
        build_bundle(describe("flair1"), tmp_path / "empty", tmp_path / "b.zip", platform="codalab")


def test_a_missing_reference_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="reference folder not found"):
        build_bundle(
            describe("flair1"), tmp_path / "nowhere", tmp_path / "b.zip", platform="codalab"
        )


def test_a_multiband_reference_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "MSK_000001.tif")
    with pytest.raises(
        DataError, match=re.escape("MSK_000001.tif: reference mask has Pillow mode RGB")
    ):
        build_bundle(describe("flair1"), tmp_path, tmp_path / "b.zip", platform="codalab")


def test_an_unreadable_reference_is_refused(tmp_path: Path) -> None:
    (tmp_path / "MSK_000001.tif").write_bytes(b"garbage")
    with pytest.raises(DataError, match=re.escape("MSK_000001.tif: cannot be read by Pillow")):
        build_bundle(describe("flair1"), tmp_path, tmp_path / "b.zip", platform="codalab")


def test_an_existing_output_needs_overwrite(reference: Path, tmp_path: Path) -> None:
    target = tmp_path / "b.zip"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        build_bundle(describe("flair1"), reference, target, platform="codalab")
    assert target.read_bytes() == b"keep me"
    build_bundle(describe("flair1"), reference, target, platform="codalab", overwrite=True)
    assert zipfile.is_zipfile(target)
    assert [p.name for p in tmp_path.iterdir()] == ["b.zip"]  # no partial file left behind


def test_output_must_be_a_zip_in_an_existing_folder(reference: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("name the output *.zip")):
        build_bundle(describe("flair1"), reference, tmp_path / "bundle.tar", platform="codalab")
    with pytest.raises(MissingFileError, match="output folder not found"):
        build_bundle(describe("flair1"), reference, tmp_path / "no" / "b.zip", platform="codalab")


def test_duplicate_zip_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape("duplicate zip entries a.txt")):
        write_zip(tmp_path / "x.zip", [("a.txt", b"1"), ("a.txt", b"2")])


# -- check ------------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any], dict[str, bytes]], None]


def rebuilt(source: Path, target: Path, edit: Edit) -> Path:
    """A copy of a bundle with its yaml and members edited (members: name -> bytes)."""
    files = members(source)
    data = yaml.safe_load(files["competition.yaml"])
    edit(data, files)
    files["competition.yaml"] = yaml.safe_dump(data, sort_keys=False).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return target


def edit_program(files: dict[str, bytes], change: Callable[[dict[str, bytes]], None]) -> None:
    program = nested(files["scoring_program.zip"])
    change(program)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in program.items():
            archive.writestr(name, content)
    files["scoring_program.zip"] = buffer.getvalue()


def edit_reference(files: dict[str, bytes], change: Callable[[dict[str, bytes]], None]) -> None:
    data = nested(files["reference_data.zip"])
    change(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in data.items():
            archive.writestr(name, content)
    files["reference_data.zip"] = buffer.getvalue()


def test_built_bundles_pass_the_check(bundles: dict[str, Path]) -> None:
    for platform, path in bundles.items():
        verdict = check_bundle(path)
        assert verdict == BundleCheck(path, platform, (), ())
        assert verdict.ok


def _v1_phase(data: dict[str, Any]) -> dict[str, Any]:
    return data["phases"][1]


def _set_command(command: str) -> Edit:
    return lambda d, f: edit_program(
        f, lambda p: p.__setitem__("metadata", f"command: {command}\n".encode())
    )


V1_BROKEN: dict[str, tuple] = {
    "v2 key in v1": (
        lambda d, f: d.__setitem__("docker_image", "x"),
        "keys CodaLab v1 does not accept (the upload fails): docker_image",
    ),
    "no docker image": (
        lambda d, f: d.pop("competition_docker_image"),
        "competition_docker_image is not set",
    ),
    "no data page": (lambda d, f: d["html"].pop("data"), "html: the page 'data' is required"),
    "page file missing": (
        lambda d, f: f.pop("terms.html"),
        "html.terms: terms.html is not in the bundle",
    ),
    "empty page": (
        lambda d, f: f.__setitem__("overview.html", b"  \n"),
        "html.overview: overview.html is empty",
    ),
    "bad logo": (
        lambda d, f: f.__setitem__("logo.png", b"not a png"),
        "image: logo.png is not a readable image",
    ),
    "phase key": (
        lambda d, f: _v1_phase(d).__setitem__("hide_output", True),
        "keys CodaLab v1 phases do not accept: hide_output",
    ),
    "no time limit": (
        lambda d, f: _v1_phase(d).pop("execution_time_limit"),
        "execution_time_limit must be set",
    ),
    "zero per day": (
        lambda d, f: _v1_phase(d).__setitem__("max_submissions_per_day", 0),
        "0 blocks every submission",
    ),
    "code phase": (
        lambda d, f: _v1_phase(d).__setitem__("is_scoring_only", False),
        "is_scoring_only must be true",
    ),
    "no reference": (
        lambda d, f: _v1_phase(d).pop("reference_data"),
        "reference_data is required by CodaLab v1",
    ),
    "program not zip": (
        lambda d, f: _v1_phase(d).__setitem__("scoring_program", "logo.png"),
        "scoring_program: logo.png must be a .zip",
    ),
    "program missing": (
        lambda d, f: f.pop("scoring_program.zip"),
        "scoring_program: scoring_program.zip is not in the bundle",
    ),
    "no start": (lambda d, f: _v1_phase(d).pop("start_date"), "phases.1: missing start_date"),
    "unknown column": (
        lambda d, f: d["leaderboard"]["columns"].__setitem__(
            "accuracy", {"leaderboard": d["leaderboard"]["leaderboards"]["RESULTS"], "label": "acc"}
        ),
        "column 'accuracy' is never written by the scoring program",
    ),
    "no miou": (lambda d, f: d["leaderboard"]["columns"].pop("miou"), "no 'miou' column"),
    "ranked by class": (
        lambda d, f: d["leaderboard"]["columns"]["iou_water"].__setitem__("selection_default", 2),
        "the ranking column is 'iou_water'",
    ),
    "long label": (
        lambda d, f: d["leaderboard"]["columns"]["miou"].__setitem__("label", "m" * 37),
        "is longer than 36 characters",
    ),
    "computed": (
        lambda d, f: d["leaderboard"]["columns"]["miou"].__setitem__(
            "computed", {"operation": "Avg"}
        ),
        "computed columns are dropped by Codabench",
    ),
    "orphan column": (
        lambda d, f: d["leaderboard"]["columns"]["miou"].__setitem__(
            "leaderboard", {"label": "Other"}
        ),
        "must refer to a declared leaderboard",
    ),
    "bad sort": (
        lambda d, f: d["leaderboard"]["columns"]["miou"].__setitem__("sort", "up"),
        "sort must be 'asc' or 'desc'",
    ),
    "metadata in folder": (
        lambda d, f: edit_program(f, lambda p: p.__setitem__("sub/metadata", p.pop("metadata"))),
        "no metadata file at the zip root (found sub/metadata",
    ),
    "double space": (
        _set_command("python3  $program/score.py $input $output"),
        "must be words separated by single spaces",
    ),
    "quoted": (
        _set_command("python3 '$program/score.py' $input $output"),
        "must be words separated by single spaces",
    ),
    "no output": (_set_command("python3 $program/score.py $input"), "does not use $output"),
    "script missing": (
        _set_command("python3 $program/evaluate.py $input $output"),
        "runs $program/evaluate.py but evaluate.py is not at the zip root",
    ),
    "url key": (
        lambda d, f: edit_program(
            f, lambda p: p.__setitem__("metadata", p["metadata"] + b"data: https://x/y.zip\n")
        ),
        "extra string key 'data' (CodaLab v1 fetches it as a URL)",
    ),
    "not yaml": (
        lambda d, f: edit_program(f, lambda p: p.__setitem__("metadata", b"command: [unclosed\n")),
        "metadata is not valid YAML",
    ),
    "no command": (
        lambda d, f: edit_program(f, lambda p: p.__setitem__("metadata", b"description: x\n")),
        "has no 'command' string",
    ),
    "no package": (
        lambda d, f: edit_program(f, lambda p: p.pop("scoring/program.py")),
        "scoring/program.py is missing",
    ),
    "pycache": (
        lambda d, f: edit_program(
            f, lambda p: p.__setitem__("scoring/__pycache__/x.cpython-311.pyc", b"")
        ),
        "caches or platform debris",
    ),
    "nested reference": (
        lambda d, f: edit_reference(f, lambda r: r.__setitem__("a/MSK_000009.tif", b"x")),
        "entries must sit flat at the zip root: a/MSK_000009.tif",
    ),
    "not a mask name": (
        lambda d, f: edit_reference(f, lambda r: r.__setitem__("IMG_061713.tif", b"x")),
        "entries that are not MSK_<id>.tif: IMG_061713.tif",
    ),
    "reference metadata": (
        lambda d, f: edit_reference(f, lambda r: r.__setitem__("metadata", b"a: b")),
        "a file named metadata",
    ),
    "duplicate ids": (
        lambda d, f: edit_reference(
            f, lambda r: r.__setitem__("MSK_61713.tif", r["MSK_061713.tif"])
        ),
        "duplicate reference ids: MSK_061713.tif, MSK_61713.tif",
    ),
    "bad mask": (
        lambda d, f: edit_reference(f, lambda r: r.__setitem__("MSK_061713.tif", b"x")),
        "MSK_061713.tif (not decodable)",
    ),
    "empty reference": (
        lambda d, f: edit_reference(f, lambda r: r.clear()),
        "the reference data zip is empty",
    ),
    "second yaml": (
        lambda d, f: f.__setitem__("old/competition.yaml", b"title: x"),
        "more than one .yaml member (old/competition.yaml)",
    ),
    "debris": (
        lambda d, f: f.__setitem__("__MACOSX/._logo.png", b""),
        "platform debris in the bundle: __MACOSX/._logo.png",
    ),
    "unknown version": (lambda d, f: d.__setitem__("version", 3), "unknown version 3"),
}


@pytest.mark.parametrize("case", sorted(V1_BROKEN))
def test_check_finds_v1_problems(bundles: dict[str, Path], tmp_path: Path, case: str) -> None:
    edit, message = V1_BROKEN[case]
    verdict = check_bundle(rebuilt(bundles["codalab"], tmp_path / "broken.zip", edit))
    assert not verdict.ok
    assert any(message in error for error in verdict.errors), verdict.errors


def _v2_columns(data: dict[str, Any]) -> list:
    return data["leaderboards"][0]["columns"]


def _swap_indexes(columns: list) -> None:
    columns[0]["index"], columns[-1]["index"] = columns[-1]["index"], columns[0]["index"]


def _second_phase(data: dict[str, Any], start: str) -> None:
    first = data["phases"][0]
    first["end"] = datetime.date(2023, 1, 31)
    data["phases"].append({**first, "index": 1, "start": datetime.date.fromisoformat(start)})
    data["phases"][1].pop("end")


V2_BROKEN: dict[str, tuple] = {
    "no terms": (lambda d, f: d.pop("terms"), "'terms' is required by Codabench"),
    "no image": (lambda d, f: d.pop("image"), "'image' is required by Codabench"),
    "page missing": (lambda d, f: f.pop("data.html"), "pages[2]: data.html is not in the bundle"),
    "pages not a list": (lambda d, f: d.__setitem__("pages", {"a": 1}), "pages: expected a list"),
    "no docker image": (
        lambda d, f: d.pop("docker_image"),
        "docker_image is not set; Codabench would use",
    ),
    "no tasks": (
        lambda d, f: d.__setitem__("tasks", []),
        "tasks: expected a list with at least one task",
    ),
    "duplicate task": (
        lambda d, f: d["tasks"].append(dict(d["tasks"][0])),
        "duplicate task index 0",
    ),
    "no reference": (
        lambda d, f: d["tasks"][0].pop("reference_data"),
        "tasks[0]: no reference_data",
    ),
    "bad program": (
        lambda d, f: edit_program(f, lambda p: p.pop("metadata")),
        "no metadata file at the zip root",
    ),
    "unknown task": (
        lambda d, f: d["phases"][0].__setitem__("tasks", [7]),
        "task 7 is not a declared task index",
    ),
    "no time limit": (
        lambda d, f: d["phases"][0].pop("execution_time_limit"),
        "execution_time_limit must be set",
    ),
    "open-ended first phase": (
        lambda d, f: (_second_phase(d, "2023-03-01"), d["phases"][0].pop("end")),
        "needs an end because a phase follows it",
    ),
    "overlapping phases": (
        lambda d, f: _second_phase(d, "2023-01-31"),
        "ends at or after the start of the next phase",
    ),
    "no leaderboards": (
        lambda d, f: d.__setitem__("leaderboards", []),
        "leaderboards: expected a list",
    ),
    "ranked by class": (
        lambda d, f: _swap_indexes(_v2_columns(d)),
        "the ranking column is 'iou_plowed_land'",
    ),
    "duplicate column index": (
        lambda d, f: _v2_columns(d)[1].__setitem__("index", 0),
        "duplicate column index 0",
    ),
    "long title": (
        lambda d, f: _v2_columns(d)[0].__setitem__("title", "t" * 40),
        "is longer than 36 characters",
    ),
    "unknown key": (
        lambda d, f: _v2_columns(d)[1].__setitem__("key", "building"),
        "column 'building' is never written",
    ),
    "bad sorting": (
        lambda d, f: _v2_columns(d)[0].__setitem__("sorting", "up"),
        "sorting must be 'asc' or 'desc'",
    ),
    "no leaderboard key": (
        lambda d, f: d["leaderboards"][0].pop("key"),
        "leaderboards[0]: missing key",
    ),
}


@pytest.mark.parametrize("case", sorted(V2_BROKEN))
def test_check_finds_codabench_problems(
    bundles: dict[str, Path], tmp_path: Path, case: str
) -> None:
    edit, message = V2_BROKEN[case]
    verdict = check_bundle(rebuilt(bundles["codabench"], tmp_path / "broken.zip", edit))
    assert verdict.platform == "codabench"
    assert not verdict.ok
    assert any(message in error for error in verdict.errors), verdict.errors


def test_codabench_accepts_program_folders(bundles: dict[str, Path], tmp_path: Path) -> None:
    """Codabench zips a task's folder on upload; the check reads it as the program."""

    def as_folder(data: dict[str, Any], files: dict[str, bytes]) -> None:
        for name, content in nested(files.pop("scoring_program.zip")).items():
            files[f"scoring_program/{name}"] = content
        data["tasks"][0]["scoring_program"] = "scoring_program"

    verdict = check_bundle(rebuilt(bundles["codabench"], tmp_path / "folder.zip", as_folder))
    assert verdict.ok, verdict.errors


def test_check_reports_every_problem_at_once(bundles: dict[str, Path], tmp_path: Path) -> None:
    def many(data: dict[str, Any], files: dict[str, bytes]) -> None:
        data.pop("competition_docker_image")
        data["html"].pop("data")
        data["phases"][1]["max_submissions_per_day"] = 0
        data["leaderboard"]["columns"].pop("miou")

    verdict = check_bundle(rebuilt(bundles["codalab"], tmp_path / "many.zip", many))
    assert len(verdict.errors) == 4, verdict.errors


def test_check_warnings(bundles: dict[str, Path], tmp_path: Path) -> None:
    def loose(data: dict[str, Any], files: dict[str, bytes]) -> None:
        data.pop("image")
        data["phases"][1].pop("max_submission_size")
        data["leaderboard"]["columns"].pop("iou_water")

    verdict = check_bundle(rebuilt(bundles["codalab"], tmp_path / "loose.zip", loose))
    assert verdict.ok
    assert len(verdict.warnings) == 3
    assert any("required when Codabench imports the bundle" in w for w in verdict.warnings)
    assert any("below a full FLAIR submission" in w for w in verdict.warnings)
    assert any("scores without a column (not shown): iou_water" in w for w in verdict.warnings)


def test_check_of_a_non_zip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_text("no", encoding="utf-8")
    verdict = check_bundle(path)
    assert verdict.platform is None
    assert len(verdict.errors) == 1 and "not a readable zip" in verdict.errors[0]


def test_check_of_a_folder_zipped_with_its_folder(bundles: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "wrapped.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members(bundles["codalab"]).items():
            archive.writestr(f"bundle/{name}", content)
    verdict = check_bundle(target)
    assert verdict.errors == (
        (
            "no competition.yaml at the zip root (found bundle/competition.yaml: zip the folder's "
            "contents, not the folder)"
        ),
    )


def test_check_of_a_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    target = tmp_path / "b.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("competition.yaml", "- a list\n")
    assert check_bundle(target).errors == (
        "competition.yaml must be a mapping of keys, found list",
    )


def test_check_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="bundle not found"):
        check_bundle(tmp_path / "nowhere.zip")


# -- command line -----------------------------------------------------------------------------


def test_cli_builds_and_checks(reference: Path, tmp_path: Path, bundles: dict[str, Path]) -> None:
    out = tmp_path / "cli.zip"
    result = runner.invoke(
        app, ["bundle", "--dataset", "flair1", "--reference", str(reference), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: codalab bundle, 3 reference masks" in result.stdout
    assert out.read_bytes() == bundles["codalab"].read_bytes()  # the CLI defaults are the replica's
    result = runner.invoke(app, ["bundle", "--check", str(out)])
    assert result.exit_code == 0
    assert "valid codalab bundle (0 warnings)" in result.stdout


def test_cli_options_reach_the_yaml(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "cb.zip"
    args = [
        "bundle", "--dataset", "flair2", "--reference", str(reference), "-o", str(out),
        "--platform", "codabench", "--title", "FLAIR #2 class exercise", "--start", "2025-01-06",
        "--end", "2025-02-28", "--max-submissions", "30", "--max-per-day", "3",
        "--time-limit", "600", "--docker-image", "codalab/codalab-legacy:py312",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = competition(out)
    phase = data["phases"][0]
    assert data["title"] == "FLAIR #2 class exercise"
    assert data["docker_image"] == "codalab/codalab-legacy:py312"
    assert (phase["start"], phase["end"]) == (datetime.date(2025, 1, 6), datetime.date(2025, 2, 28))
    assert (phase["max_submissions"], phase["max_submissions_per_day"]) == (30, 3)
    assert phase["execution_time_limit"] == 600


def test_cli_check_lists_every_error(bundles: dict[str, Path], tmp_path: Path) -> None:
    def two(data: dict[str, Any], files: dict[str, bytes]) -> None:
        data.pop("competition_docker_image")
        data["phases"][1].pop("execution_time_limit")

    broken = rebuilt(bundles["codalab"], tmp_path / "broken.zip", two)
    result = runner.invoke(app, ["bundle", "--check", str(broken)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert "competition_docker_image is not set" in result.stderr
    assert "execution_time_limit must be set" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["bundle", "--dataset", "flair1"], 2, "needs --dataset, --reference and --output"),
        (["bundle", "--check", "x.zip", "--dataset", "flair1"], 2, "takes no --dataset"),
        (["bundle", "--dataset", "flair9", "--reference", ".", "-o", "b.zip"], 2, "flair9"),
        (["bundle", "--check", "nowhere.zip"], 1, "error: nowhere.zip: bundle not found"),
    ],
)
def test_cli_usage_and_domain_errors(args: list, code: int, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert message in result.stderr


def test_cli_domain_errors_are_one_line(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "exists.zip"
    out.write_bytes(b"")
    base = ["bundle", "--dataset", "flair1", "--reference", str(reference), "-o", str(out)]
    result = runner.invoke(app, base)
    assert result.exit_code == 1
    assert result.stderr == f"error: {out}: already exists; pass --overwrite to replace it\n"
    result = runner.invoke(app, [*base, "--overwrite", "--start", "2024-02-30"])
    assert result.exit_code == 1
    assert result.stderr == "error: start date '2024-02-30' is not a date; expected YYYY-MM-DD\n"
    result = runner.invoke(
        app,
        [
            "bundle",
            "--dataset",
            "flair1",
            "--reference",
            str(tmp_path / "no"),
            "-o",
            str(tmp_path / "n.zip"),
        ],
    )
    assert result.exit_code == 1
    assert "reference folder not found" in result.stderr
