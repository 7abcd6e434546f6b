"""The CodaLab / Codabench scoring program: ``python -m scoring INPUT OUTPUT``.

Reads ``INPUT/ref`` (reference masks) and ``INPUT/res`` (the participant's files, searched
recursively; the platform's own ``metadata`` file and macOS debris are ignored) and writes
``OUTPUT/scores.txt``, ``OUTPUT/scores.json`` and ``OUTPUT/detailed_results.html``. It never writes
``OUTPUT/metadata`` (the platform appends its status there). An invalid submission prints one line
on stderr, ``Invalid submission: ...``, and exits 1; bad reference data prints ``Scoring program
error (organiser's reference data, ...): ...`` instead, so a participant knows whose fault it is.
Nothing is written to OUTPUT then. Messages never suggest command-line options of ``flair-kit``
that the platform does not have.
The three files appear together or not at all: they are written to temporaries first and renamed
only when all of them are complete, so a full disk, an unwritable OUTPUT or a SIGTERM leaves OUTPUT as
it was (and the error is one line).

Standard library, numpy and Pillow only; Python 3.9 with numpy 1.22 and Pillow 9 is enough.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scoring.atomic import check_target, sigterm_raises, text_writer, write_together
from scoring.errors import (
    DataError,
    FlairKitError,
    OutputPathError,
    SubmissionError,
    describe_os_error,
)
from scoring.evaluate import pair_predictions, score_pairs
from scoring.render import render_html, render_text, scores_json, scores_txt

USAGE = "usage: python -m scoring INPUT OUTPUT   (INPUT holds ref/ and res/)"
#: How stderr starts when the participant's upload is at fault.
SUBMISSION_PREFIX = "Invalid submission: "
#: How stderr starts when the reference data or the platform's folders are at fault.
ORGANISER_PREFIX = "Scoring program error (organiser's reference data, not your submission): "


def write_outputs(output_dir: Path, files: dict[str, str]) -> None:
    """Write every ``name -> text`` file into ``output_dir``: all of them, or none.

    See :func:`scoring.atomic.write_together`: the first name (``scores.txt``) appears last, and
    on any exception (a full disk, SIGTERM) nothing is left.
    """
    write_together({output_dir / name: text_writer(text) for name, text in files.items()})


def run(input_dir: Path, output_dir: Path) -> str:
    """Score ``input_dir/res`` against ``input_dir/ref`` and write the output files.

    Returns:
        The text table, for the platform's stdout log.
    """
    ref, res = input_dir / "ref", input_dir / "res"
    if not ref.is_dir():
        raise DataError(
            f"{ref}: missing reference data folder; the platform passes INPUT/ref and INPUT/res"
        )
    if not res.is_dir():  # the platform could not extract the upload
        raise SubmissionError(
            f"{res}: missing submission folder; the platform passes INPUT/ref and INPUT/res"
        )
    report = score_pairs(pair_predictions(res, ref, cli=False))
    for warning in report.warnings:  # also in detailed_results.html and scores.json
        print(f"warning: {warning}", file=sys.stderr)
    output_dir.mkdir(parents=True, exist_ok=True)
    # scores.txt is renamed last: its presence means the other files are complete.
    write_outputs(
        output_dir,
        {
            "scores.txt": scores_txt(report),
            "scores.json": scores_json(report),
            "detailed_results.html": render_html(report),
        },
    )
    return render_text(report)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        with sigterm_raises():  # SIGTERM raises, so no temporary survives it
            check_target(args[1], folder=True)  # a FIFO or a file as OUTPUT: refused, never opened
            text = run(Path(args[0]), Path(args[1]))
    except OutputPathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FlairKitError as exc:
        message = " ".join(str(exc).split())
        # The submitter reads stderr: say whose fault it is. Everything that is not the
        # submission's (reference data, the platform's folders) is the organiser's to fix.
        prefix = SUBMISSION_PREFIX if isinstance(exc, SubmissionError) else ORGANISER_PREFIX
        print(f"{prefix}{message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0
