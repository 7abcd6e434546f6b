"""Render a :class:`~scoring.report.ScoreReport` as a text table, CodaLab scores and an HTML page.

Standard library only: this module ships inside the competition's scoring program.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

import numpy as np

from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_SCORED_CLASSES
from scoring.report import ScoreReport


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


def render_html(report: ScoreReport, title: str = "FLAIR scoring: detailed results") -> str:
    """A self-contained page: per-class table, row-normalised confusion matrix, domains, counts."""
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
    confusion = report.confusion.astype(np.float64)
    totals = confusion.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = confusion / totals
    head = "".join(f'<th title="{esc(n)}">{k}</th>' for k, n in enumerate(CLASS_NAMES))
    matrix_rows = []
    for k, name in enumerate(CLASS_NAMES):
        cells = "".join(
            f'<td style="background:{_cell_colour(v)};color:{"#fff" if v > 0.55 else "#000"}">'
            f"{'' if math.isnan(v) else f'{v:.2f}'}</td>"
            for v in normalised[k]
        )
        matrix_rows.append(f"<tr><th>{k} {esc(name)}</th>{cells}</tr>")
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
    warnings = "".join(f"<li>{esc(w)}</li>" for w in report.warnings)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right;font-size:13px}}
th{{background:#f3f3f3}} td:first-child,th:first-child{{text-align:left}}
.sw{{display:inline-block;width:.9em;height:.9em;margin-right:.4em;border:1px solid #888;vertical-align:middle}}
.big{{font-size:1.6em;font-weight:600}}
</style></head><body>
<h1>{esc(title)}</h1>
<p class="big">mIoU {_fmt(report.miou, 5)}</p>
<p>mean of the IoUs of classes 0..11 that are present in the truth or the predictions;
'other' stays in the confusion matrix but is not averaged.</p>
<p>patches: {report.n_patches} &middot; overall accuracy: {_fmt(report.overall_accuracy)} &middot;
dropped prediction pixels (values outside 0..12): {report.dropped_pixels} &middot;
raw-0 truth pixels: {report.raw_zero_truth_pixels}</p>
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Per class</h2>
<table><tr><th>class</th><th>IoU</th><th>precision</th><th>recall</th><th>F1</th>
<th>truth px</th><th>predicted px</th></tr>{"".join(rows)}</table>
<h2>Confusion matrix (rows: truth, normalised per row; columns: prediction)</h2>
<table><tr><th></th>{head}</tr>{"".join(matrix_rows)}</table>
{domains}
</body></html>
"""
