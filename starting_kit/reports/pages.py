"""Self-contained HTML report pages: ``score --html``, ``compare --html``, ``leaderboard --html``.

One file each, with inline CSS and the charts embedded as base64 PNG: no script, no external
resource, so a page can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from scoring.classes import CLASS_NAMES
from scoring.report import ScoreReport
from scoring.tiles import format_id
from starting_kit import __version__
from starting_kit.ranking.analysis import Analysis
from starting_kit.ranking.bootstrap import percentile_interval
from starting_kit.ranking.compare import Comparison
from starting_kit.ranking.diagnostics import ErrorAnalysis
from starting_kit.ranking.leaderboard import Leaderboard
from starting_kit.reports import charts
from starting_kit.reports.gallery import GalleryTile

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.note{color:#555;font-size:.9em}.warn{color:#a05000}
img.chart{max-width:100%;display:block;margin:.8em 0}
.cm td{padding:.1em .25em;font-size:.75em;min-width:2.2em}
.cm th.v{writing-mode:vertical-rl;transform:rotate(180deg);font-size:.75em;font-weight:normal}
.tile{margin:.8em 0}.tile img{max-width:100%;display:block}
.big{font-size:1.25em}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _num(value: float, digits: int = 4, sign: bool = False) -> str:
    if value is None or np.isnan(value):
        return "&ndash;"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _interval(bounds: tuple[float, float], digits: int = 4, sign: bool = False) -> str:
    return f"[{_num(bounds[0], digits, sign)}, {_num(bounds[1], digits, sign)}]"


def _img(png: bytes, alt: str, css: str = "chart") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned; cells are already HTML."""

    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(
            f'<{tag} class="l">{v}</{tag}>' if i < left else f"<{tag}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f"<table><tr>{cells([_e(h) for h in header], 'th')}</tr>{body}</table>"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>{body}"
        f'<p class="note">Written by flair-kit {_e(__version__)}. Scores are the official FLAIR '
        "mIoU (classes 0..11; 'other' stays in the confusion matrix).</p></body></html>\n"
    )


def _shade(share: float) -> str:
    alpha = min(1.0, max(0.0, share))
    return f"background:rgba(31,119,180,{alpha:.2f});" + ("color:white;" if alpha > 0.6 else "")


def confusion_table(confusion: NDArray[np.int64]) -> str:
    """A row-normalised confusion matrix as a shaded table, class names on both axes."""
    rows = confusion.sum(axis=1)
    header = '<th class="l">truth \\ predicted</th>' + "".join(
        f'<th class="v">{_e(name)}</th>' for name in CLASS_NAMES
    )
    body = []
    for i, name in enumerate(CLASS_NAMES):
        cells = []
        for j in range(len(CLASS_NAMES)):
            share = confusion[i, j] / rows[i] if rows[i] else 0.0
            text = f"{share:.2f}" if share >= 0.005 else ""
            cells.append(f'<td style="{_shade(share)}">{text}</td>')
        body.append(f'<tr><th class="l">{_e(name)}</th>{"".join(cells)}</tr>')
    return f'<table class="cm"><tr>{header}</tr>{"".join(body)}</table>'


def error_section(errors: ErrorAnalysis, gallery: Sequence[GalleryTile] = ()) -> str:
    """The error analysis of one submission: worst patches, confused pairs, matrices, gallery."""
    parts = [f"<h3>Error analysis: {_e(errors.name)}</h3>"]
    parts.append(
        '<p class="note">A patch\'s score is the official mIoU of its own counts (classes absent '
        "from both its truth and its prediction left out).</p>"
    )
    parts.append(
        _table(
            ["rank", "patch", "domain", "zone", "patch mIoU"],
            [
                [str(i + 1), format_id(p.tile), _e(p.domain), _e(p.zone), _num(p.miou)]
                for i, p in enumerate(errors.worst)
            ],
            left=4,
        )
    )
    parts.append(
        "<p>Most confused class pairs (pixels of the true class predicted as another):</p>"
    )
    parts.append(
        _table(
            ["true class", "predicted as", "pixels", "share of the true class"],
            [
                [_e(c.truth), _e(c.predicted), f"{c.pixels:,}", f"{c.share_of_truth:.1%}"]
                for c in errors.confused
            ],
            left=2,
        )
    )
    parts.append(
        _img(
            charts.confusion_heatmap(errors.confusion, f"Confusion matrix: {errors.name}"),
            f"confusion heatmap of {errors.name}",
        )
    )
    for domain, matrix in errors.per_domain:
        # Collapsed (no script needed): ten 13x13 tables per submission would bury the rest.
        parts.append(
            f"<details><summary>Confusion on {_e(domain)} (share of each true class)</summary>"
            f"{confusion_table(matrix)}</details>"
        )
    if gallery:
        parts.append("<h4>Worst patches: image | truth | prediction | errors</h4>")
        parts.append(
            '<p class="note">Truth and prediction in the nomenclature\'s colours; errors in red '
            "over the greyed image, dropped prediction values in white.</p>"
        )
        for tile in gallery:
            parts.append(
                f'<div class="tile"><div>{_e(tile.caption)}</div>'
                f"{_img(tile.png, f'patch {format_id(tile.tile)}', 'gallery')}</div>"
            )
    return "".join(parts)


def _errors_block(
    errors: Sequence[ErrorAnalysis], galleries: Mapping[str, Sequence[GalleryTile]]
) -> str:
    if not errors:
        return ""
    return "<h2>Error analysis</h2>" + "".join(
        error_section(e, galleries.get(e.name, ())) for e in errors
    )


def _warnings(notes: Sequence[str]) -> str:
    return "".join(f'<p class="warn">warning: {_e(n)}</p>' for n in notes)


def _method(analysis: Analysis) -> str:
    return (
        f'<p class="note">{analysis.replicates:,} paired bootstrap replicates (seed '
        f"{analysis.seed}) over {analysis.n_clusters} zones of {analysis.n_patches:,} patches; "
        f"zones from {_e(analysis.zone_source)}. Each replicate draws the zones with "
        "replacement, sums their confusion matrices and recomputes the official mIoU (never a "
        "mean of per-patch IoUs). Intervals are 2.5-97.5 percentiles. Per-domain intervals "
        "resample the zones within each domain; with few zones they are approximate.</p>"
    )


def _class_intervals(analysis: Analysis, k: int) -> NDArray[np.float64]:
    return np.array(
        [
            percentile_interval(analysis.replicate_iou[:, k, c], analysis.n_clusters)
            for c in range(len(CLASS_NAMES))
        ]
    )


def comparison_page(
    comparison: Comparison,
    errors: Sequence[ErrorAnalysis] = (),
    galleries: Mapping[str, Sequence[GalleryTile]] | None = None,
) -> str:
    """The page of ``flair-kit compare --html``."""
    c = comparison
    analysis = c.analysis
    deltas = analysis.replicate_miou[:, 0] - analysis.replicate_miou[:, 1]
    body = [
        _table(
            ["", "submission", "mIoU"],
            [["A", _e(c.name_a), _num(c.miou_a, 5)], ["B", _e(c.name_b), _num(c.miou_b, 5)]],
            left=2,
        ),
        (
            f'<p class="big">A &minus; B = <b>{_num(c.delta_miou, 5, True)}</b>, 95% interval '
            f"{_interval(c.ci95, 5, True)}; A scores higher in {c.p_a_better:.1%} of the replicates "
            "(p_a_better, ties count one half; not a p-value).</p>"
        ),
        _method(analysis),
        _warnings(analysis.warnings),
        _img(charts.delta_distribution_chart(deltas, c.ci95), "bootstrap distribution of A - B"),
        "<h2>Per class</h2>",
        _img(
            charts.class_delta_chart(
                np.array([x.delta for x in c.per_class]),
                np.array([x.ci95 for x in c.per_class]),
                "A - B",
            ),
            "per-class IoU difference with intervals",
        ),
        _img(
            charts.class_iou_chart(
                [c.name_a, c.name_b],
                analysis.iou[:2],
                np.stack([_class_intervals(analysis, 0), _class_intervals(analysis, 1)]),
            ),
            "per-class IoU of A and B with intervals",
        ),
        _table(
            ["class", "IoU A", "IoU B", "A - B", "95% interval"],
            [
                [
                    _e(x.name) + ("" if x.scored else " (not in mIoU)"),
                    _num(x.iou_a),
                    _num(x.iou_b),
                    _num(x.delta, 4, True),
                    _interval(x.ci95, 4, True),
                ]
                for x in c.per_class
            ],
        ),
    ]
    if c.per_domain:
        domains = [d.domain for d in c.per_domain]
        miou = np.array([[d.miou_a, d.miou_b] for d in c.per_domain])
        intervals = np.array(
            [
                [
                    percentile_interval(d.replicates[:, 0], d.n_zones),
                    percentile_interval(d.replicates[:, 1], d.n_zones),
                ]
                for d in analysis.domains
            ]
        )
        body += [
            "<h2>Per domain</h2>",
            _img(
                charts.domain_chart(domains, [c.name_a, c.name_b], miou, intervals),
                "per-domain mIoU",
            ),
            _table(
                [
                    "domain",
                    "zones",
                    "patches",
                    "mIoU A",
                    "mIoU B",
                    "A - B",
                    "95% interval",
                    "P(A better)",
                ],
                [
                    [
                        _e(d.domain) + (" (few zones: approximate)" if d.approximate else ""),
                        str(d.n_zones),
                        f"{d.n_patches:,}",
                        _num(d.miou_a),
                        _num(d.miou_b),
                        _num(d.delta, 4, True),
                        _interval(d.ci95, 4, True),
                        f"{d.p_a_better:.3f}",
                    ]
                    for d in c.per_domain
                ],
            ),
        ]
    body.append(_errors_block(errors, galleries or {}))
    return _page(f"FLAIR comparison: {c.name_a} vs {c.name_b}", "".join(body))


def leaderboard_page(
    board: Leaderboard,
    errors: Sequence[ErrorAnalysis] = (),
    galleries: Mapping[str, Sequence[GalleryTile]] | None = None,
) -> str:
    """The page of ``flair-kit leaderboard --html``."""
    analysis = board.analysis
    names = [e.name for e in board.entries]
    columns = [e.column for e in board.entries]
    body = [
        _table(
            ["rank", "submission", "mIoU", "95% interval", "rank held"],
            [
                [
                    str(e.rank),
                    _e(e.name),
                    _num(e.miou),
                    _interval(e.ci95),
                    f"{e.rank_stability:.1%}",
                ]
                for e in board.entries
            ],
            left=2,
        ),
        _method(analysis),
        (
            '<p class="note">Ties share the better rank. "Rank held": share of replicates in which '
            "the submission holds its rank.</p>"
        ),
        _warnings(analysis.warnings),
        _img(
            charts.rank_stability_chart(names, [e.rank_stability for e in board.entries]),
            "rank stability",
        ),
        "<h2>P(row beats column)</h2>",
        _table(
            ["", *names],
            [
                [_e(name), *("&ndash;" if np.isnan(v) else f"{v:.3f}" for v in row)]
                for name, row in zip(names, board.pairwise, strict=False)
            ],
        ),
        "<h2>Per class</h2>",
        _img(
            charts.class_iou_chart(
                names,
                analysis.iou[columns],
                np.stack([_class_intervals(analysis, k) for k in columns]),
            ),
            "per-class IoU with intervals",
        ),
        _table(
            ["class", *names],
            [
                [_e(CLASS_NAMES[c]), *(_num(analysis.iou[k, c]) for k in columns)]
                for c in range(len(CLASS_NAMES))
            ],
        ),
    ]
    if analysis.domains:
        domains = [d.domain for d in analysis.domains]
        miou = np.array([[d.miou[k] for k in columns] for d in analysis.domains])
        intervals = np.array(
            [
                [percentile_interval(d.replicates[:, k], d.n_zones) for k in columns]
                for d in analysis.domains
            ]
        )
        body += [
            "<h2>Per domain</h2>",
            _img(charts.domain_chart(domains, names, miou, intervals), "per-domain mIoU"),
            _table(
                ["domain", "zones", *names],
                [
                    [_e(d.domain), str(d.n_zones), *(_num(d.miou[k]) for k in columns)]
                    for d in analysis.domains
                ],
            ),
        ]
    body.append(_errors_block(errors, galleries or {}))
    return _page("FLAIR leaderboard", "".join(body))


def score_page(
    report: ScoreReport,
    name: str,
    errors: ErrorAnalysis | None = None,
    gallery: Sequence[GalleryTile] = (),
) -> str:
    """The page of ``flair-kit score --html``: scores, charts and error analysis."""
    body = [
        (
            f'<p class="big">mIoU (official) <b>{_num(report.miou, 5)}</b> over '
            f"{report.n_patches:,} patches; overall accuracy {_num(report.overall_accuracy)}</p>"
        ),
        _warnings(report.warnings),
        "<h2>Per class</h2>",
        _table(
            ["class", "IoU", "precision", "recall", "F1", "truth pixels"],
            [
                [
                    _e(c.name) + ("" if c.scored else " (not in mIoU)"),
                    _num(c.iou),
                    _num(c.precision),
                    _num(c.recall),
                    _num(c.f1),
                    f"{c.truth_pixels:,}",
                ]
                for c in report.per_class
            ],
        ),
        _img(
            charts.class_iou_chart([name], np.array([[c.iou for c in report.per_class]])),
            "per-class IoU",
        ),
    ]
    if report.per_domain:
        domains = [d.domain for d in report.per_domain]
        body += [
            "<h2>Per domain</h2>",
            _img(
                charts.domain_chart(
                    domains, [name], np.array([[d.miou] for d in report.per_domain])
                ),
                "per-domain mIoU",
            ),
        ]
    if errors is not None:
        body.append(_errors_block([errors], {errors.name: gallery}))
    else:
        body.append(
            _img(charts.confusion_heatmap(report.confusion, "Confusion matrix"), "confusion")
        )
    return _page(f"FLAIR score: {name}", "".join(body))
