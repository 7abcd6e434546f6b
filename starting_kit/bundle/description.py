"""One description of a FLAIR competition, from which every file of both bundles is generated.

Facts about the original challenges come from IGN's repositories (see the organisers' section of the
README); the platform defaults (quotas, limits, docker image) are "replica defaults" chosen to run
the kit's scoring program safely, not the official values, which are not published.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field, replace
from typing import Any

from scoring.classes import CLASS_NAMES, NUM_SCORED_CLASSES
from scoring.errors import ConfigError
from scoring.render import LEADERBOARD_KEYS

#: Codabench stores leaderboard column keys and titles in 36-character fields.
MAX_KEY_LENGTH = 36
#: CodaLab v1 rejects an upload above the phase's size; a full FLAIR submission is about 340 MB.
FULL_SUBMISSION_MB = 340
#: The image the scoring program is tested against: Python 3.9, numpy 1.22.4 (Pillow from Anaconda).
DEFAULT_DOCKER_IMAGE = "codalab/codalab-legacy:py39"
#: Characters CodaLab v1 keeps in an image name (it strips everything else).
_DOCKER_IMAGE_PATTERN = re.compile(r"^[0-9A-Za-z/.:-]+$")


@dataclass(frozen=True)
class DatasetFacts:
    """What the pages say about one FLAIR dataset."""

    key: str
    edition: int
    name: str
    summary: str
    test_patches: int
    original_url: str
    original_start: datetime.date
    start_note: str
    data_url: str


DATASETS: dict[str, DatasetFacts] = {
    "flair1": DatasetFacts(
        key="flair1",
        edition=1,
        name="FLAIR #1",
        summary=(
            "semantic segmentation and domain adaptation of 0.2 m aerial imagery "
            "(RGB, near-infrared and elevation) into 13 land-cover classes"
        ),
        test_patches=15_700,
        original_url="https://codalab.lisn.upsaclay.fr/competitions/8769",
        original_start=datetime.date(2022, 11, 21),
        start_note="the start of the original FLAIR #1 challenge on CodaLab",
        data_url="https://ignf.github.io/FLAIR/#FLAIR1",
    ),
    "flair2": DatasetFacts(
        key="flair2",
        edition=2,
        name="FLAIR #2",
        summary=(
            "semantic segmentation of 0.2 m aerial imagery fused with Sentinel-2 satellite "
            "time series into 13 land-cover classes"
        ),
        test_patches=16_050,
        original_url="https://codalab.lisn.upsaclay.fr/competitions/13447",
        # The CodaLab start date of FLAIR #2 is not in any public source; IGN's FLAIR-2 README
        # announced the challenge on this date.
        original_start=datetime.date(2023, 5, 13),
        start_note="the date IGN's FLAIR-2 repository announced the challenge",
        data_url="https://ignf.github.io/FLAIR/#FLAIR2",
    ),
}


@dataclass(frozen=True)
class LeaderboardColumn:
    """One leaderboard column: ``key`` is what the scoring program writes in ``scores.txt``."""

    key: str
    title: str
    precision: int


def leaderboard_columns() -> tuple[LeaderboardColumn, ...]:
    """mIoU first (5 decimals, the ranking column), then the IoU of the 12 scored classes.

    The keys are exactly :data:`scoring.render.LEADERBOARD_KEYS`, so the leaderboard reads what
    the scoring program writes.

    >>> [c.key for c in leaderboard_columns()[:2]]
    ['miou', 'iou_building']
    """
    titles = ["mIoU"] + [f"IoU {name}" for name in CLASS_NAMES[:NUM_SCORED_CLASSES]]
    precisions = [5] + [4] * NUM_SCORED_CLASSES
    return tuple(
        LeaderboardColumn(key, title, precision)
        for key, title, precision in zip(LEADERBOARD_KEYS, titles, precisions, strict=True)
    )


@dataclass(frozen=True)
class CompetitionDescription:
    """Everything both bundle dialects say, in one place.

    Attributes:
        dataset: the dataset's facts (:data:`DATASETS`).
        title: competition title.
        description: one-paragraph summary shown in listings.
        start: first day submissions are accepted.
        end: last day of the competition, or None for a competition that never ends.
        phase_label: name of the single, results-only phase.
        max_submissions: submissions per participant over the phase.
        max_submissions_per_day: submissions per participant per day (at least 1: on CodaLab v1
            0 blocks every submission, on Codabench 0 means unlimited).
        execution_time_limit: seconds the scoring program may run (scoring 15,700 patches takes
            about 25 s of one CPU).
        max_submission_size_mb: largest upload CodaLab v1 accepts, in MB (Codabench has
            per-user storage quotas instead).
        docker_image: the image both platforms run the scoring program in.
        has_registration: require the organisers to approve each participant.
        columns: leaderboard columns, ranking column first.
    """

    dataset: DatasetFacts
    title: str
    description: str
    start: datetime.date
    end: datetime.date | None = None
    phase_label: str = "Test"
    max_submissions: int = 100
    max_submissions_per_day: int = 5
    execution_time_limit: int = 1800
    max_submission_size_mb: int = 500
    docker_image: str = DEFAULT_DOCKER_IMAGE
    has_registration: bool = False
    columns: tuple[LeaderboardColumn, ...] = field(default_factory=leaderboard_columns)

    def __post_init__(self) -> None:
        problems = description_problems(self)
        if problems:
            raise ConfigError("invalid competition description: " + "; ".join(problems))


def description_problems(desc: CompetitionDescription) -> tuple[str, ...]:
    """Every reason the description cannot make a valid bundle (empty when it can)."""
    problems = []
    if not desc.title.strip():
        problems.append("the title is empty; pass --title")
    if desc.end is not None and desc.end < desc.start:
        problems.append(
            f"end date {desc.end} is before start date {desc.start}; pass a later --end"
        )
    for name, minimum in (
        ("max_submissions", 1),
        ("max_submissions_per_day", 1),
        ("execution_time_limit", 60),
        ("max_submission_size_mb", 1),
    ):
        value = getattr(desc, name)
        if value < minimum:
            problems.append(f"{name} is {value}, expected at least {minimum}")
    if desc.max_submissions_per_day > desc.max_submissions:
        problems.append(
            f"max_submissions_per_day ({desc.max_submissions_per_day}) exceeds max_submissions "
            f"({desc.max_submissions})"
        )
    if not _DOCKER_IMAGE_PATTERN.match(desc.docker_image):
        problems.append(
            f"docker image {desc.docker_image!r} has characters CodaLab strips; use "
            "letters, digits and / . : - only (e.g. codalab/codalab-legacy:py39)"
        )
    if not desc.columns or desc.columns[0].key != "miou":
        problems.append("the first leaderboard column must be 'miou', the ranking score")
    for column in desc.columns:
        if column.key not in LEADERBOARD_KEYS:
            problems.append(
                f"leaderboard column {column.key!r} is not a key the scoring program writes "
                f"({', '.join(LEADERBOARD_KEYS)})"
            )
        for what, text in (("key", column.key), ("title", column.title)):
            if len(text) > MAX_KEY_LENGTH:
                problems.append(
                    f"leaderboard column {what} {text!r} has {len(text)} characters; "
                    f"Codabench allows {MAX_KEY_LENGTH}"
                )
    return tuple(problems)


def parse_date(text: str, what: str) -> datetime.date:
    """Read a ``YYYY-MM-DD`` date.

    Raises:
        ConfigError: the text is not such a date.

    >>> parse_date("2024-03-01", "start")
    datetime.date(2024, 3, 1)
    """
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what} date {text!r} is not a date; expected YYYY-MM-DD") from None


def describe(dataset: str, **options: object) -> CompetitionDescription:
    """The replica description of a dataset's competition, with any field overridden.

    Args:
        dataset: ``"flair1"`` or ``"flair2"``.
        **options: fields of :class:`CompetitionDescription` to override; None keeps the default;
            ``start`` and ``end`` may be ``YYYY-MM-DD`` strings.

    Raises:
        ConfigError: unknown dataset or option, or an invalid value.

    >>> describe("flair1", max_submissions_per_day=3).max_submissions_per_day
    3
    """
    facts = DATASETS.get(dataset)
    if facts is None:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    base = CompetitionDescription(
        dataset=facts,
        title=f"{facts.name}: land-cover segmentation (replica)",
        description=(
            f"A replica of IGN's {facts.name} challenge: {facts.summary}. Submit one "
            "PRED_<id>.tif per test patch; the score is the mean IoU over 12 classes."
        ),
        start=facts.original_start,
    )
    # Any: each option has its field's own type; replace() below checks them.
    chosen: dict[str, Any] = {name: value for name, value in options.items() if value is not None}
    for name in ("start", "end"):
        if isinstance(chosen.get(name), str):
            chosen[name] = parse_date(str(chosen[name]), name)
    unknown = sorted(set(chosen) - (set(CompetitionDescription.__dataclass_fields__) - {"dataset"}))
    if unknown:
        raise ConfigError(f"unknown competition option(s): {', '.join(unknown)}")
    try:
        return replace(base, **chosen)
    except TypeError as exc:  # a field of the wrong type reaches the comparisons above
        raise ConfigError(f"invalid competition option: {exc}") from exc
