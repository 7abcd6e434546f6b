"""The four competition pages (overview, evaluation, terms, data) as HTML fragments.

CodaLab v1 inserts a page's HTML into its own layout and Codabench renders a page as Markdown, which
passes HTML blocks through. So the pages are fragments (no ``<html>``, ``<head>`` or ``<style>``,
which would leak into the platform's layout) with every element starting a line and no blank
line or indentation inside a block, the shape both renderers keep intact.
"""

from __future__ import annotations

import html

from scoring.classes import CLASS_NAMES, NUM_SCORED_CLASSES, RAW_CLASSES
from starting_kit.bundle.description import FULL_SUBMISSION_MB, CompetitionDescription

#: Page key -> (file name in the bundle, title). The four keys CodaLab v1 requires.
PAGE_FILES: dict[str, str] = {
    "overview": "overview.html",
    "evaluation": "evaluation.html",
    "terms": "terms.html",
    "data": "data.html",
}
PAGE_TITLES: dict[str, str] = {
    "overview": "Overview",
    "evaluation": "Evaluation",
    "terms": "Terms and conditions",
    "data": "Data and submission format",
}

esc = html.escape


def _list(items: list[str]) -> str:
    return "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def _dates(desc: CompetitionDescription) -> str:
    end = f"ends on {desc.end.isoformat()}" if desc.end else "has no end date"
    return f"opens on {desc.start.isoformat()} and {end}"


def overview_page(desc: CompetitionDescription) -> str:
    """What the competition is, when it runs, and its limits."""
    facts = desc.dataset
    return "\n".join(
        [
            f"<h2>{esc(desc.title)}</h2>",
            f"<p>{esc(desc.description)}</p>",
            (
                f"<p>This competition replicates IGN's {esc(facts.name)} challenge "
                f'(<a href="{esc(facts.original_url)}">original page</a>): {esc(facts.summary)}. '
                "Scores are computed by the same metric as the original challenge; the quotas and "
                "dates below are this competition's own.</p>"
            ),
            "<h3>Phase</h3>",
            _list(
                [
                    f"<b>{esc(desc.phase_label)}</b>: {_dates(desc)}.",
                    (
                        f"At most {desc.max_submissions} submissions in total and "
                        f"{desc.max_submissions_per_day} per day; failed submissions do not count."
                    ),
                    (
                        f"Uploads up to {desc.max_submission_size_mb} MB; scoring stops after "
                        f"{desc.execution_time_limit} s."
                    ),
                    "Results-only: you upload predictions, no code is run.",
                ]
            ),
            "<h3>Ranking</h3>",
            (
                "<p>Submissions are ranked by <b>mIoU</b>, the mean intersection over union of the "
                f"{NUM_SCORED_CLASSES} scored classes (see <i>Evaluation</i>). The leaderboard also "
                "shows each class's IoU.</p>"
            ),
        ]
    )


def evaluation_page(desc: CompetitionDescription) -> str:
    """The exact metric, as the scoring program computes it."""
    scored = ", ".join(
        f"{k} {esc(name)}" for k, name in enumerate(CLASS_NAMES[:NUM_SCORED_CLASSES])
    )
    other = ", ".join(f"{c.value} {esc(c.name)}" for c in RAW_CLASSES[NUM_SCORED_CLASSES:])
    rows = "\n".join(
        f"<tr><td><code>{esc(c.key)}</code></td><td>{esc(c.title)}</td><td>{c.precision}</td></tr>"
        for c in desc.columns
    )
    return "\n".join(
        [
            "<h2>Evaluation</h2>",
            (
                "<p>The score is the one of the original challenge, computed over all test patches "
                "at once.</p>"
            ),
            "<ol>",
            (
                "<li><b>Truth.</b> Reference masks hold raw values 1..19. Values 1..12 become classes "
                f"0..11 ({scored}); values 13..19 ({other}) and 0 become class 12, "
                "<i>other</i>.</li>"
            ),
            (
                "<li><b>Predictions.</b> Each <code>PRED_&lt;id&gt;.tif</code> holds class indices. "
                "Pixels predicted outside 0..12 are dropped (they count for nothing); integer and "
                "integral float predictions are accepted.</li>"
            ),
            (
                "<li><b>Confusion matrix.</b> One 13&times;13 matrix M (rows truth, columns prediction) "
                "summed over every pixel of every test patch.</li>"
            ),
            (
                "<li><b>IoU.</b> For each class k: IoU<sub>k</sub> = M[k,k] / (row sum<sub>k</sub> + "
                "column sum<sub>k</sub> &minus; M[k,k]). A class absent from both truth and "
                "predictions has no IoU.</li>"
            ),
            (
                f"<li><b>mIoU.</b> The mean of IoU<sub>k</sub> over classes 0..{NUM_SCORED_CLASSES - 1} "
                "that have one. Class 12 (<i>other</i>) stays in the matrix, where its pixels are "
                "errors of the classes they are predicted as, but is not averaged.</li>"
            ),
            "</ol>",
            (
                "<p>A submission must hold exactly one prediction per test patch, each of the "
                "reference's size; otherwise it fails with a one-line message in the scoring error "
                "log and does not count against your quota.</p>"
            ),
            "<h3>Leaderboard</h3>",
            "<table>",
            "<tr><th>key</th><th>column</th><th>decimals</th></tr>",
            rows,
            "</table>",
            (
                "<p>A class absent from truth and predictions is shown as 0. The scoring program "
                "writes these keys to <code>scores.txt</code> and <code>scores.json</code>, and a "
                "detailed page (per-class precision, recall, confusion matrix) for each submission. "
                "Run the same scorer locally with <code>flair-kit score PREDICTIONS TRUTH</code>.</p>"
            ),
        ]
    )


def terms_page(desc: CompetitionDescription) -> str:
    """Terms: data licence, citation, and the replica's status."""
    facts = desc.dataset
    return "\n".join(
        [
            "<h2>Terms and conditions</h2>",
            _list(
                [
                    (
                        f"The {esc(facts.name)} data are IGN's, published under the Licence Ouverte "
                        "2.0 / Etalab; cite IGN's FLAIR datapaper when you publish results."
                    ),
                    (
                        "This competition is a replica run by its organisers, not by IGN; its "
                        "results are not those of the original challenge."
                    ),
                    "Submit predictions of your own making; do not use the test labels.",
                    (
                        "One account per participant; the organisers may remove submissions that "
                        "break these terms."
                    ),
                ]
            ),
        ]
    )


def data_page(desc: CompetitionDescription) -> str:
    """Where the data are and what a submission looks like."""
    facts = desc.dataset
    return "\n".join(
        [
            "<h2>Data</h2>",
            (
                f'<p>Download the {esc(facts.name)} dataset from <a href="{esc(facts.data_url)}">'
                f"{esc(facts.data_url)}</a>. The original test set has {facts.test_patches:,} "
                "patches of 512&times;512 pixels; this competition scores the patches of its own "
                "reference data.</p>"
            ),
            "<h3>Submission format</h3>",
            _list(
                [
                    (
                        "A zip of <code>PRED_&lt;id&gt;.tif</code> files, one per test image "
                        "<code>IMG_&lt;id&gt;.tif</code>, at the root of the zip (zip the files, not "
                        "their folder)."
                    ),
                    (
                        "Each file: a single-band uint8 TIFF of the image's size holding class indices "
                        "0..12, preferably LZW-compressed."
                    ),
                    "No other files; never a file named <code>metadata</code>.",
                    f"A full submission is about {FULL_SUBMISSION_MB} MB.",
                ]
            ),
            (
                "<p>The FLAIR starting kit (<code>flair-kit</code>) checks and builds it: "
                "<code>flair-kit validate PREDICTIONS</code>, then <code>flair-kit pack PREDICTIONS "
                "submission.zip</code>.</p>"
            ),
        ]
    )


def render_pages(desc: CompetitionDescription) -> dict[str, str]:
    """File name -> HTML fragment (ending with a newline) for the four pages."""
    makers = {
        "overview": overview_page,
        "evaluation": evaluation_page,
        "terms": terms_page,
        "data": data_page,
    }
    return {PAGE_FILES[key]: make(desc) + "\n" for key, make in makers.items()}
