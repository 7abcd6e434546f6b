"""What a validation found: problems, the report, and the text ``flair-kit validate`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

#: How many problems the command line shows before it gives totals.
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One finding of a validation.

    Attributes:
        severity: ``"error"`` (the submission would fail or be mis-scored) or ``"warning"``.
        where: the file or zip entry concerned, relative to the submission; ``""`` for the whole
            submission.
        message: what is wrong, what was expected and how to fix it.
    """

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.severity}: {self.where}: {self.message}"
            if self.where
            else (f"{self.severity}: {self.message}")
        )


@dataclass(frozen=True)
class ValidationReport:
    """Everything a validation found, errors first.

    Attributes:
        problems: every problem, errors before warnings, whole-submission problems first.
        n_files: files examined (platform debris such as ``__MACOSX`` excluded).
        ids: the distinct PRED ids found, sorted.
        expected: the size of the expected id set, or None when ids were not checked.
    """

    problems: tuple[Problem, ...]
    n_files: int
    ids: tuple[int, ...]
    expected: int | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that make the submission invalid."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The problems that still let the submission score."""
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors


def sorted_problems(problems: Sequence[Problem]) -> tuple[Problem, ...]:
    """Order problems for display: errors first, whole-submission ones first, then by file.

    >>> [p.where for p in sorted_problems([Problem("warning", "a", "m"), Problem("error", "b", "m"),
    ...                                    Problem("error", "", "m")])]
    ['', 'b', 'a']
    """
    rank = {"error": 0, "warning": 1}
    return tuple(sorted(problems, key=lambda p: (rank[p.severity], p.where != "", p.where)))


def render_report(report: ValidationReport, *, limit: int = SHOWN_PROBLEMS) -> str:
    """The text ``flair-kit validate`` prints: the first ``limit`` problems, then totals.

    >>> print(render_report(ValidationReport((Problem("error", "x.tif", "bad"),), 1, ())), end="")
    error: x.tif: bad
    INVALID: 1 error, 0 warnings in 1 file (0 PRED ids; ids not checked: pass --expect)
    """
    lines = [str(problem) for problem in report.problems[:limit]]
    hidden = len(report.problems) - limit
    if hidden > 0:
        lines.append(f"... {hidden} more problems not shown")
    verdict = "valid" if report.ok else "INVALID"
    errors, warnings = len(report.errors), len(report.warnings)
    coverage = (
        "ids not checked: pass --expect"
        if report.expected is None
        else f"expected {report.expected:,} ids"
    )
    lines.append(
        f"{verdict}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
        f"in {report.n_files:,} file{'s' * (report.n_files != 1)} "
        f"({len(report.ids):,} PRED ids; {coverage})"
    )
    return "".join(f"{line}\n" for line in lines)
