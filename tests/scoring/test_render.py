"""detailed_results.html: class names on both matrix axes, raw counts, a warnings box, escaping.

Standard library, numpy and pytest only (runs in the Python 3.9 environment of the scoring program).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING

import numpy as np
import pytest

from scoring.classes import CLASS_NAMES, NUM_CLASSES
from scoring.evaluate import dropped_warning, one_based_warning
from scoring.render import render_html
from scoring.report import ScoreReport

if TYPE_CHECKING:  # annotations only: "X | None" is not valid at run time on Python 3.9
    Cell = tuple[str, str, dict[str, str | None]]  # (tag, text, attributes)


class Tables(HTMLParser):
    """Every table of a page as rows of (tag, text, attributes) cells; checks tags are closed."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[Cell]]] = []
        self.open: list[str] = []
        self.cell: tuple[str, dict[str, str | None]] | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "br"):
            self.open.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell, self.text = (tag, dict(attrs)), ""

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append((self.cell[0], self.text.strip(), self.cell[1]))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.text += data


def parse(page: str) -> Tables:
    parser = Tables()
    parser.feed(page)
    parser.close()
    assert parser.open == [], parser.open
    return parser


def sample_confusion() -> np.ndarray:
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    confusion[0, 0], confusion[0, 4] = 30, 7  # building: 30 right, 7 taken for water
    confusion[4, 4], confusion[12, 1] = 50, 3
    return confusion


def matrix_tables(page: str) -> tuple[list[list[Cell]], list[list[Cell]]]:
    tables = parse(page).tables
    assert len(tables) == 3  # per class, normalised matrix, counts (no domains here)
    return tables[1], tables[2]


def test_matrix_has_class_names_on_both_axes() -> None:
    normalised, counts = matrix_tables(
        render_html(ScoreReport.from_counts(sample_confusion(), 4, 0, 0))
    )
    names = [f"{k} {name}" for k, name in enumerate(CLASS_NAMES)]
    for table in (normalised, counts):
        head = [text for _, text, _ in table[0]]
        assert head[1 : 1 + NUM_CLASSES] == names
        assert [row[0][1] for row in table[1 : 1 + NUM_CLASSES]] == names
        assert all(row[0][0] == "th" for row in table[1:])


def test_raw_counts_on_hover_and_in_a_second_table() -> None:
    confusion = sample_confusion()
    normalised, counts = matrix_tables(render_html(ScoreReport.from_counts(confusion, 4, 0, 0)))
    building = normalised[1]
    assert building[1][1] == "0.81" and building[5][1] == "0.19"  # 30/37 and 7/37
    assert building[5][2]["title"] == "truth building, predicted water: 7 px of 37"
    assert normalised[2][1][2]["title"] == "truth pervious surface, predicted building: 0 px of 0"
    assert normalised[2][1][1] == ""  # an absent truth class has no fraction
    values = np.array([[int(text) for _, text, _ in row[1:]] for row in counts[1:]])
    assert (values[:NUM_CLASSES, :NUM_CLASSES] == confusion).all()
    assert (values[:NUM_CLASSES, NUM_CLASSES] == confusion.sum(1)).all()  # truth totals
    assert (values[NUM_CLASSES, :NUM_CLASSES] == confusion.sum(0)).all()  # prediction totals
    assert values[NUM_CLASSES, NUM_CLASSES] == confusion.sum() == 90


def one_based_report() -> ScoreReport:
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for k in range(NUM_CLASSES - 1):
        confusion[k, k + 1] = 100  # every prediction is its truth + 1
    report = ScoreReport.from_counts(confusion, 5, 40, 0)
    warnings = dropped_warning(report) + one_based_warning(report)
    return ScoreReport.from_counts(confusion, 5, 40, 0, warnings=warnings)


def test_warnings_box_shows_dropped_pixels_and_one_based_predictions() -> None:
    page = render_html(one_based_report())
    box = page[page.index('<div class="warn"') : page.index("</div>")]
    assert "Warnings (2)" in box
    assert "40 prediction pixels hold values outside 0..12 and were dropped" in box
    assert "look 1-based" in box
    assert page.index('<div class="warn"') < page.index("<h2>Per class</h2>")  # seen first


def test_no_warnings_no_box() -> None:
    page = render_html(ScoreReport.from_counts(sample_confusion(), 4, 0, 0))
    assert 'class="warn"' not in page and "Warnings (" not in page


def test_everything_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quoted"'
    confusion = sample_confusion()
    report = ScoreReport.from_counts(
        confusion, 4, 0, 0, per_domain={hostile: (4, confusion)}, warnings=(hostile,)
    )
    page = render_html(report, title=hostile)
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;") == 4
    tables = parse(page).tables  # still well formed with the hostile text inside
    assert tables[-1][1][0][1] == hostile  # the domain's name, unescaped by the parser


@pytest.mark.parametrize("dropped", [0, 12])
def test_page_is_self_contained(dropped: int) -> None:
    page = render_html(ScoreReport.from_counts(sample_confusion(), 4, dropped, 0))
    assert "http" not in page.split("</title>")[1]
    assert "<script" not in page and "<link" not in page and "src=" not in page
