"""The HTML reports (issue 14, items 4 and 5): self-contained pages with their charts embedded."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from starting_kit.cli import app
from tests.starting_kit.ranking_data import write_images, write_prediction, write_truth

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageParser(HTMLParser):
    """Collects every tag, every resource reference and every image of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "data", "srcset", "poster", "action"):
            if key in values:
                self.references.append(values[key])
        if tag == "img":
            self.images.append(values)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(path: Path) -> PageParser:
    """Parse a page and check it is self-contained: no script, no external resource."""
    parser = PageParser()
    parser.feed(path.read_text("utf-8"))
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    for reference in parser.references:
        assert reference.startswith("data:image/png;base64,"), reference[:60]
    for image in parser.images:
        payload = base64.b64decode(image["src"].split(",", 1)[1], validate=True)
        assert payload.startswith(PNG_SIGNATURE)
    assert "url(" not in path.read_text("utf-8")  # no CSS resource either
    return parser


def _alts(parser: PageParser) -> list[str]:
    return [image.get("alt", "") for image in parser.images]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    truth = write_truth(root / "truth")
    return {
        "root": root,
        "truth": root / "truth",
        "a": write_prediction(root / "a", truth, 0.2, seed=1, as_zip=True),
        "b": write_prediction(root / "b", truth, 0.3, seed=2),
        "images": write_images(root / "images"),
    }


def test_compare_page_has_its_charts_error_analysis_and_gallery(
    data: dict[str, Path], tmp_path: Path
) -> None:
    page = tmp_path / "compare.html"
    result = CliRunner().invoke(
        app,
        ["compare", str(data["a"]), str(data["b"]), "--truth", str(data["truth"]),
         "--replicates", "200", "--html", str(page), "--errors", "3", "--images", str(data["images"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parser = parse_page(page)
    alts = _alts(parser)
    for chart in (
        "bootstrap distribution of A - B",
        "per-class IoU difference with intervals",
        "per-class IoU of A and B with intervals",
        "per-domain mIoU",
        "confusion heatmap of a",
        "confusion heatmap of b",
    ):
        assert chart in alts, chart
    assert sum(alt.startswith("patch ") for alt in alts) == 6  # 3 worst patches of A and of B
    text = " ".join(parser.text)
    assert "Most confused class pairs" in text and "Confusion on D071_2020" in text
    assert "approximate" in text  # few zones per domain


def test_leaderboard_page_has_rank_stability_and_pairwise(
    data: dict[str, Path], tmp_path: Path
) -> None:
    page = tmp_path / "board.html"
    result = CliRunner().invoke(
        app,
        ["leaderboard", str(data["a"]), str(data["b"]), "--truth", str(data["truth"]),
         "--replicates", "200", "--html", str(page)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parser = parse_page(page)
    alts = _alts(parser)
    for chart in ("rank stability", "per-class IoU with intervals", "per-domain mIoU"):
        assert chart in alts, chart
    assert "P(row beats column)" in " ".join(parser.text)
    assert not any(alt.startswith("patch ") for alt in alts)  # no gallery without --images


def test_score_html_and_gallery_of_the_worst_patches(data: dict[str, Path], tmp_path: Path) -> None:
    page = tmp_path / "score.html"
    result = CliRunner().invoke(
        app,
        ["score", str(data["b"]), str(data["truth"]), "--html", str(page), "--errors", "4",
         "--images", str(data["images"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parser = parse_page(page)
    alts = _alts(parser)
    assert "confusion heatmap of b" in alts and "per-domain mIoU" in alts
    assert "per-class IoU" in alts
    assert sum(alt.startswith("patch ") for alt in alts) == 4
    text = " ".join(parser.text)
    assert "mIoU (official)" in text and "Error analysis: b" in text


def test_missing_images_are_named(data: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        app,
        ["score", str(data["b"]), str(data["truth"]), "--html", str(tmp_path / "s.html"),
         "--images", str(empty)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no IMG_" in result.stderr and "--images" in result.stderr
    assert not (tmp_path / "s.html").exists()


def test_a_score_report_gives_pandas_tables(data: dict[str, Path]) -> None:
    from scoring.evaluate import score_folders
    from starting_kit.reports.tables import per_class_frame, per_domain_frame

    report = score_folders(data["b"], data["truth"])
    classes = per_class_frame(report)
    assert classes.index[0] == "building" and len(classes) == 13
    assert classes.loc["building", "iou"] == report.per_class[0].iou
    domains = per_domain_frame(report)
    assert list(domains.index) == [d.domain for d in report.per_domain]
    assert domains["miou"].tolist() == [d.miou for d in report.per_domain]


def copy_images(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_an_image_that_is_a_fifo_is_refused_unread(data: dict[str, Path], tmp_path: Path) -> None:
    """review7-B H3: a FIFO named IMG_<id>.tif hung the gallery forever (run in a child process so
    that a hang is a timeout, not a stuck test run)."""
    images = copy_images(data["images"], tmp_path / "images")
    for image in images.rglob("IMG_*.tif"):  # whichever patches are the worst
        image.unlink()
        os.mkfifo(image)
    command = [sys.executable, "-m", "starting_kit", "score", str(data["b"]), str(data["truth"]),
               "--html", str(tmp_path / "s.html"), "--images", str(images), "--errors", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: ") and "is a FIFO (named pipe)" in lines[-1], result.stderr
    assert "refused unread" in lines[-1] and "Traceback" not in result.stderr
    assert not (tmp_path / "s.html").exists()


def score_with_images(
    data: dict[str, Path], images: Path, page: Path, *, errors: int
) -> tuple[Result, list[warnings.WarningMessage]]:
    """``score b truth --html page --images images``, and every warning it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(
            app,
            ["score", str(data["b"]), str(data["truth"]), "--html", str(page),
             "--images", str(images), "--errors", str(errors)],
        )  # fmt: skip
    return result, caught


def test_an_image_of_another_size_than_its_mask_is_one_line(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """review7-B H3: an IMG of another size gave an IndexError traceback after decoding it."""
    images = copy_images(data["images"], tmp_path / "images")
    for image in images.rglob("IMG_*.tif"):
        Image.fromarray(np.zeros((64, 48, 3), np.uint8)).save(image)  # no georeferencing
    result, caught = score_with_images(data, images, tmp_path / "s.html", errors=1)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert re.search(
        r"IMG_\d{6}\.tif: 48x64 pixels, its mask MSK_\d{6}\.tif is 16x16; --images must be the "
        r"test images of this truth",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / "s.html").exists()
    assert [str(w.message) for w in caught] == []


def test_images_without_georeferencing_print_no_warning(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """review7-B H3: rasterio's NotGeoreferencedWarning added two lines to stderr."""
    images = copy_images(data["images"], tmp_path / "images")
    for image in images.rglob("IMG_*.tif"):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(image)
    result, caught = score_with_images(data, images, tmp_path / "s.html", errors=2)
    assert result.exit_code == 0, result.output
    assert sum(alt.startswith("patch ") for alt in _alts(parse_page(tmp_path / "s.html"))) == 2
    assert [str(w.message) for w in caught] == []
