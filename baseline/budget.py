"""The inference budget: durations such as ``25m`` (the FLAIR #2 rule's GPU time) and its check.

Pure Python (no torch): the command line parses ``--budget`` before importing the model code.
"""

from __future__ import annotations

import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``25m``, ``1.5h`` (no suffix: seconds).

    >>> parse_duration("25m"), parse_duration("90"), parse_duration("1.5h")
    (1500.0, 90.0, 5400.0)

    Raises:
        ValueError: not a positive number with an optional s, m or h suffix.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration; expected a positive number with s, m or h, e.g. 25m"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def budget_warning(wall_s: float, budget_s: float, budget_text: str) -> str | None:
    """The one-line warning when a run's wall time exceeds its budget (None when within).

    >>> budget_warning(1600.0, 1500.0, "25m")
    'warning: wall time 1600.0 s exceeds the budget 25m (1500 s) by 100.0 s'
    >>> budget_warning(10.0, 1500.0, "25m") is None
    True
    """
    if wall_s <= budget_s:
        return None
    return (
        f"warning: wall time {wall_s:.1f} s exceeds the budget {budget_text} ({budget_s:g} s) "
        f"by {wall_s - budget_s:.1f} s"
    )
