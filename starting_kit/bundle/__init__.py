"""Competition bundles for CodaLab Competitions v1 and Codabench, generated from one description.

``describe`` makes the description, ``build_bundle`` writes a bundle (yaml, logo, four pages,
``scoring_program.zip`` with the vendored ``scoring`` package, flat ``reference_data.zip``) with
reproducible bytes, and ``check_bundle`` validates any bundle against the platforms' rules.
"""

from starting_kit.bundle.build import PLATFORMS, BundleSummary, build_bundle, competition_yaml_text
from starting_kit.bundle.check import BundleCheck, check_bundle
from starting_kit.bundle.description import (
    DATASETS,
    CompetitionDescription,
    LeaderboardColumn,
    describe,
    leaderboard_columns,
)

__all__ = [
    "DATASETS",
    "PLATFORMS",
    "BundleCheck",
    "BundleSummary",
    "CompetitionDescription",
    "LeaderboardColumn",
    "build_bundle",
    "check_bundle",
    "competition_yaml_text",
    "describe",
    "leaderboard_columns",
]
