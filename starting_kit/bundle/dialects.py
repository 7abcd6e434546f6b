"""``competition.yaml`` in CodaLab v1's dialect and in Codabench's v2 dialect, from one description.

CodaLab v1 passes every top-level key (except ``html``, ``phases`` and ``leaderboard``) and every
phase key straight to its Django models, so an unknown key fails the upload: the v1 writer uses only
the keys listed in :data:`V1_COMPETITION_KEYS` and :data:`V1_PHASE_KEYS`. Codabench's v2 dialect
has its own names for the same things (``docker_image``, ``pages``, ``tasks``, ``leaderboards``).
"""

from __future__ import annotations

from typing import Any

import yaml

from starting_kit.bundle.description import CompetitionDescription
from starting_kit.bundle.pages import PAGE_FILES, PAGE_TITLES

LOGO_FILE = "logo.png"
PROGRAM_FILE = "scoring_program.zip"
REFERENCE_FILE = "reference_data.zip"
YAML_FILE = "competition.yaml"

#: Fields of CodaLab v1's ``Competition`` model a bundle may set, plus the keys its unpacker reads
#: itself (``html``, ``phases``, ``leaderboard``, ``admin_names``, ``end_date``).
V1_COMPETITION_KEYS: frozenset[str] = frozenset(
    {
        "title", "description", "image", "has_registration", "start_date", "end_date",
        "force_submission_to_leaderboard", "disallow_leaderboard_modifying",
        "enable_detailed_results", "enable_per_submission_metadata", "allow_teams",
        "anonymous_leaderboard", "enable_forum", "allow_public_submissions",
        "show_datasets_from_yaml", "competition_docker_image", "reward", "hide_top_three",
        "hide_chart", "admin_names", "html", "phases", "leaderboard",
    }
)  # fmt: skip
#: Fields of CodaLab v1's ``CompetitionPhase`` model.
V1_PHASE_KEYS: frozenset[str] = frozenset(
    {
        "phasenumber", "label", "description", "start_date", "max_submissions",
        "max_submissions_per_day", "is_scoring_only", "execution_time_limit", "color",
        "leaderboard_management_mode", "auto_migration", "force_best_submission_to_leaderboard",
        "max_submission_size", "phase_never_ends", "scoring_program", "reference_data",
        "input_data", "ingestion_program", "public_data", "starting_kit", "datasets",
    }
)  # fmt: skip
#: The four pages CodaLab v1 requires under ``html``.
V1_REQUIRED_PAGES = ("overview", "evaluation", "terms", "data")
#: Top-level keys Codabench's v2 unpacker reads.
V2_KEYS: frozenset[str] = frozenset(
    {
        "version", "title", "description", "image", "terms", "pages", "tasks", "phases",
        "leaderboards", "registration_auto_approve", "docker_image", "enable_detailed_results",
        "show_detailed_results_in_submission_panel", "show_detailed_results_in_leaderboard",
        "make_programs_available", "make_input_data_available", "queue", "contact_email",
        "reward", "auto_run_submissions", "can_participants_make_submissions_public",
        "forum_enabled", "fact_sheet", "solutions", "competition_type",
    }
)  # fmt: skip
V2_REQUIRED_KEYS = (
    "version",
    "title",
    "image",
    "terms",
    "pages",
    "tasks",
    "phases",
    "leaderboards",
)
LEADERBOARD_LABEL = "Results"


def codalab_yaml(desc: CompetitionDescription) -> dict[str, Any]:
    """The v1 ``competition.yaml`` as a mapping (dump it with :func:`dump_yaml`)."""
    board = {"label": LEADERBOARD_LABEL, "rank": 1}
    columns: dict[str, Any] = {}
    for rank, column in enumerate(desc.columns, start=1):
        # The same ``board`` object in every column: the dump writes one anchor and aliases,
        # which is how v1 ties a column to its leaderboard.
        entry: dict[str, Any] = {
            "leaderboard": board,
            "label": column.title,
            "rank": rank,
            "numeric_format": column.precision,
            "sort": "desc",
        }
        if rank == 1:
            entry["selection_default"] = 1
        columns[column.key] = entry
    phase: dict[str, Any] = {
        "phasenumber": 1,
        "label": desc.phase_label,
        "description": "Results-only phase: upload a zip of PRED_<id>.tif predictions.",
        "start_date": desc.start,
        "max_submissions": desc.max_submissions,
        "max_submissions_per_day": desc.max_submissions_per_day,
        "max_submission_size": desc.max_submission_size_mb,
        "execution_time_limit": desc.execution_time_limit,
        "is_scoring_only": True,
        "leaderboard_management_mode": "default",
        "scoring_program": PROGRAM_FILE,
        "reference_data": REFERENCE_FILE,
    }
    data: dict[str, Any] = {
        "title": desc.title,
        "description": desc.description,
        "image": LOGO_FILE,
        "has_registration": desc.has_registration,
        "force_submission_to_leaderboard": True,
        "enable_detailed_results": True,
        "competition_docker_image": desc.docker_image,
    }
    if desc.end is not None:
        data["end_date"] = desc.end
    data["html"] = {key: PAGE_FILES[key] for key in V1_REQUIRED_PAGES}
    data["phases"] = {1: phase}
    data["leaderboard"] = {"leaderboards": {"RESULTS": board}, "columns": columns}
    return data


def codabench_yaml(desc: CompetitionDescription) -> dict[str, Any]:
    """The Codabench v2 ``competition.yaml`` as a mapping (dump it with :func:`dump_yaml`)."""
    phase: dict[str, Any] = {
        "index": 0,
        "name": desc.phase_label,
        "description": "Results-only phase: upload a zip of PRED_<id>.tif predictions.",
        "start": desc.start,
    }
    if desc.end is not None:
        phase["end"] = desc.end
    phase.update(
        {
            "max_submissions": desc.max_submissions,
            "max_submissions_per_day": desc.max_submissions_per_day,
            "execution_time_limit": desc.execution_time_limit,
            "tasks": [0],
        }
    )
    columns: list[dict[str, Any]] = [
        {"title": c.title, "key": c.key, "index": i, "sorting": "desc", "precision": c.precision}
        for i, c in enumerate(desc.columns)
    ]
    return {
        "version": 2,
        "title": desc.title,
        "description": desc.description,
        "image": LOGO_FILE,
        "terms": PAGE_FILES["terms"],
        "docker_image": desc.docker_image,
        "registration_auto_approve": not desc.has_registration,
        "enable_detailed_results": True,
        "pages": [
            {"title": PAGE_TITLES[key], "file": PAGE_FILES[key]}
            for key in ("overview", "evaluation", "data")
        ],
        "tasks": [
            {
                "index": 0,
                "name": f"{desc.dataset.name} test",
                "description": "Score PRED_<id>.tif predictions against the reference masks.",
                "scoring_program": PROGRAM_FILE,
                "reference_data": REFERENCE_FILE,
            }
        ],
        "phases": [phase],
        "leaderboards": [
            {
                "title": LEADERBOARD_LABEL,
                "key": "main",
                # v1's force_submission_to_leaderboard: the latest submission is the one shown.
                "submission_rule": "Force_Last",
                "columns": columns,
            }
        ],
    }


class _BundleDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types
    """A safe dumper whose first anchor, the shared leaderboard, is named ``RESULTS``."""

    def generate_anchor(self, node: yaml.Node) -> str:
        """``RESULTS`` for the leaderboard (the only shared node), PyYAML's names after it."""
        if not getattr(self, "_named_results", False):
            self._named_results = True
            return "RESULTS"
        return str(super().generate_anchor(node))


def dump_yaml(data: dict[str, Any]) -> str:
    """Dump deterministically: insertion order, block style, UTF-8 text, no line wrapping."""
    text: str = yaml.dump(  # a str, as no stream is given (PyYAML ships no types)
        data,
        Dumper=_BundleDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
    return text
