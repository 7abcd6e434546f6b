"""Render a :class:`~scoring.report.ScoreReport` as a text table, CodaLab scores and an HTML page.

Standard library only: this module ships inside the competition's scoring program.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_SCORED_CLASSES
from scoring.report import ScoreReport

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


#: Leaderboard keys, in column order: mIoU first, then the 12 scored classes' IoU.
#: Every key is at most 36 characters (Codabench's limit).
LEADERBOARD_KEYS: list[str] = ["miou"] + [
    f"iou_{_slug(name)}" for name in CLASS_NAMES[:NUM_SCORED_CLASSES]
]
#: Keys written after the leaderboard columns; platforms ignore keys without a column.
EXTRA_KEYS: list[str] = ["overall_accuracy", "n_patches", "dropped_pixels"]


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def leaderboard_scores(report: ScoreReport) -> dict[str, float]:
    """The numbers a leaderboard shows. NaN (a class absent from truth and predictions) is 0.0.

    Platforms parse every value as a float and break on NaN, so absent classes are written as 0.
    The JSON report keeps them as null.
    """
    values = [report.miou] + [float(v) for v in report.iou[:NUM_SCORED_CLASSES]]
    scores = {key: (0.0 if math.isnan(v) else v) for key, v in zip(LEADERBOARD_KEYS, values)}
    accuracy = report.overall_accuracy
    scores["overall_accuracy"] = 0.0 if math.isnan(accuracy) else accuracy
    scores["n_patches"] = float(report.n_patches)
    scores["dropped_pixels"] = float(report.dropped_pixels)
    return scores


def scores_txt(report: ScoreReport) -> str:
    """``scores.txt`` for CodaLab v1 and Codabench: ``key: value`` lines, fixed-point, no NaN."""
    lines = []
    for key, value in leaderboard_scores(report).items():
        if key in ("n_patches", "dropped_pixels"):
            lines.append(f"{key}: {int(value)}")
        else:
            lines.append(f"{key}: {value:.6f}")
    return "\n".join(lines) + "\n"


def scores_json(report: ScoreReport) -> str:
    """``scores.json`` for Codabench: the same keys and numbers as ``scores.txt``.

    The report's warnings (1-based values, dropped pixels, problems of form) follow under
    ``"warnings"`` when there are any; Codabench keeps only the leaderboard's column keys.
    """
    data: dict[str, Any] = dict(leaderboard_scores(report))
    if report.warnings:
        data["warnings"] = list(report.warnings)
    return json.dumps(data, indent=2) + "\n"


def render_text(report: ScoreReport) -> str:
    """A readable table: headline, per-class scores, per-domain scores (warnings go to stderr)."""
    out = [
        f"mIoU (official, classes 0..11): {_fmt(report.miou, 5)}",
        (
            f"patches: {report.n_patches}   overall accuracy: {_fmt(report.overall_accuracy)}   "
            f"dropped prediction pixels: {report.dropped_pixels}   "
            f"raw-0 truth pixels: {report.raw_zero_truth_pixels}"
        ),
        "",
        f"{'class':<24}{'IoU':>8}{'precision':>11}{'recall':>8}{'F1':>8}{'truth px':>12}",
    ]
    for c in report.per_class:
        label = c.name if c.scored else f"{c.name} (not in mIoU)"
        out.append(
            f"{label:<24}{_fmt(c.iou):>8}{_fmt(c.precision):>11}{_fmt(c.recall):>8}"
            f"{_fmt(c.f1):>8}{c.truth_pixels:>12}"
        )
    if report.per_domain:
        out += ["", f"{'domain':<12}{'patches':>9}{'mIoU':>9}"]
        out += [f"{d.domain:<12}{d.n_patches:>9}{_fmt(d.miou):>9}" for d in report.per_domain]
    return "\n".join(out) + "\n"


def _cell_colour(fraction: float) -> str:
    # White to IGN blue; readable text on both ends.
    level = 0.0 if math.isnan(fraction) else max(0.0, min(1.0, fraction))
    red = int(255 - level * (255 - 21))
    green = int(255 - level * (255 - 83))
    blue = int(255 - level * (255 - 174))
    return f"rgb({red},{green},{blue})"


def _matrix_head(names: tuple[str, ...]) -> str:
    # Column heads are written vertically so 13 class names fit above narrow cells.
    esc = html.escape
    return "".join(
        f'<th class="col" title="predicted {esc(n)}"><span>{k} {esc(n)}</span></th>'
        for k, n in enumerate(names)
    )


def _normalised_rows(confusion: NDArray[np.int64], names: tuple[str, ...]) -> str:
    """Row-normalised matrix rows; each cell's hover says its raw pixel count."""
    esc = html.escape
    counts = confusion.astype(np.int64)
    totals = counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = counts.astype(np.float64) / totals
    rows = []
    for k, truth in enumerate(names):
        cells = []
        for j, predicted in enumerate(names):
            value = normalised[k, j]
            hover = esc(
                f"truth {truth}, predicted {predicted}: {int(counts[k, j])} px "
                f"of {int(totals[k, 0])}"
            )
            text = "" if math.isnan(value) else f"{value:.2f}"
            ink = "#fff" if value > 0.55 else "#000"
            cells.append(
                f'<td title="{hover}" style="background:{_cell_colour(value)};color:{ink}">'
                f"{text}</td>"
            )
        rows.append(
            f'<tr><th title="truth {esc(truth)}">{k} {esc(truth)}</th>{"".join(cells)}</tr>'
        )
    return "".join(rows)


def _count_rows(confusion: NDArray[np.int64], names: tuple[str, ...]) -> str:
    """Raw pixel counts with row (truth) and column (prediction) totals."""
    esc = html.escape
    counts = confusion.astype(np.int64)
    rows = []
    for k, truth in enumerate(names):
        cells = "".join(f"<td>{int(v)}</td>" for v in counts[k])
        rows.append(
            f"<tr><th>{k} {esc(truth)}</th>{cells}<td><b>{int(counts[k].sum())}</b></td></tr>"
        )
    column_totals = "".join(f"<td><b>{int(v)}</b></td>" for v in counts.sum(0))
    rows.append(f"<tr><th>total</th>{column_totals}<td><b>{int(counts.sum())}</b></td></tr>")
    return "".join(rows)


def _warnings_box(warnings: tuple[str, ...]) -> str:
    """A box a reader cannot miss: what the scorer dropped or suspects (empty when all is well)."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return (
        f'<div class="warn" role="alert"><h2>Warnings ({len(warnings)})</h2>'
        "<p>The score was computed, but read these first: they often explain a low score.</p>"
        f"<ul>{items}</ul></div>"
    )


def render_html(report: ScoreReport, title: str = "FLAIR scoring: detailed results") -> str:
    """A self-contained page: warnings, per-class table, confusion matrices, domains.

    The confusion matrix is shown twice: normalised per truth row (class names on both axes, the
    raw count of each cell on hover) and as raw pixel counts with totals. Every text is escaped.
    """
    esc = html.escape
    rows = []
    for c in report.per_class:
        swatch = f'<span class="sw" style="background:{CLASS_COLOURS[c.index]}"></span>'
        note = "" if c.scored else " <em>(not in mIoU)</em>"
        rows.append(
            f"<tr><td>{swatch}{esc(c.name)}{note}</td><td>{_fmt(c.iou)}</td>"
            f"<td>{_fmt(c.precision)}</td><td>{_fmt(c.recall)}</td><td>{_fmt(c.f1)}</td>"
            f"<td>{c.truth_pixels}</td><td>{c.predicted_pixels}</td></tr>"
        )
    head = _matrix_head(CLASS_NAMES)
    domain_rows = "".join(
        f"<tr><td>{esc(d.domain)}</td><td>{d.n_patches}</td><td>{_fmt(d.miou)}</td></tr>"
        for d in report.per_domain
    )
    domains = (
        "<h2>Per domain</h2><table><tr><th>domain</th><th>patches</th><th>mIoU</th></tr>"
        f"{domain_rows}</table>"
        if report.per_domain
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right;font-size:13px}}
th{{background:#f3f3f3}} td:first-child,th:first-child{{text-align:left}}
th.col{{vertical-align:bottom;padding:4px 2px}}
th.col span{{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}}
.sw{{display:inline-block;width:.9em;height:.9em;margin-right:.4em;border:1px solid #888;vertical-align:middle}}
.big{{font-size:1.6em;font-weight:600}}
.warn{{border:2px solid #c77700;background:#fff4e0;padding:.3em 1em;margin:1em 0;max-width:60em}}
.warn h2{{margin:.3em 0;color:#8a4b00;font-size:1.2em}}
</style></head><body>
<h1>{esc(title)}</h1>
<p class="big">mIoU {_fmt(report.miou, 5)}</p>
{_warnings_box(report.warnings)}
<p>mean of the IoUs of classes 0..11 that are present in the truth or the predictions;
'other' stays in the confusion matrix but is not averaged.</p>
<p>patches: {report.n_patches} &middot; overall accuracy: {_fmt(report.overall_accuracy)} &middot;
dropped prediction pixels (values outside 0..12): {report.dropped_pixels} &middot;
raw-0 truth pixels: {report.raw_zero_truth_pixels}</p>
<h2>Per class</h2>
<table><tr><th>class</th><th>IoU</th><th>precision</th><th>recall</th><th>F1</th>
<th>truth px</th><th>predicted px</th></tr>{"".join(rows)}</table>
<h2>Confusion matrix (rows: truth, normalised per row; columns: prediction)</h2>
<p>Hover over a cell for its pixel count.</p>
<table><tr><th>truth &darr; predicted &rarr;</th>{head}</tr>{_normalised_rows(report.confusion, CLASS_NAMES)}</table>
<h2>Confusion matrix, pixel counts</h2>
<table><tr><th>truth &darr; predicted &rarr;</th>{head}<th class="col"><span>total</span></th></tr>{_count_rows(report.confusion, CLASS_NAMES)}</table>
{domains}
</body></html>
"""
