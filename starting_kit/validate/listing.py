"""A submission's members: the PRED files of a folder or a zip, listed before any is read."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from scoring import zipsafe
from scoring.errors import SubmissionError
from scoring.tiles import PRED_PATTERN, walk_files
from starting_kit.validate.content import strip_location
from starting_kit.validate.report import Problem


@dataclass(frozen=True)
class Member:
    """One PRED file of a submission: a path in a folder or an entry of a zip."""

    name: str
    tile: int
    #: A folder file, a zip entry's index, or None for an entry too unsafe to read.
    source: Path | int | None


@dataclass(frozen=True)
class CheckOptions:
    """What every worker needs to check members."""

    expected_size: int
    strict: bool
    zip_path: Path | None = None
    fix_dir: Path | None = None
    limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS


@dataclass(frozen=True)
class MemberResult:
    """The problems of one member, and its re-encoded copy when ``--fix`` repaired it."""

    member: Member
    problems: tuple[Problem, ...]
    fixed: Path | None = None
    value_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Listing:
    """A submission's files before their content is read."""

    members: tuple[Member, ...]
    problems: tuple[Problem, ...]
    n_files: int
    skipped: tuple[str, ...]
    in_folders: tuple[str, ...]


def _other_name_problem(name: str) -> Problem:
    base = PurePosixPath(name).name
    if "\\" in name:
        message = (
            "backslash in the entry name (zipped on Windows?): the platform will not find a PRED "
            "file under it; re-create the zip with flair-kit pack"
        )
    elif base in ("metadata", "metadata.yaml"):
        message = (
            "a file named like this makes the platform treat the upload as a code submission; "
            "remove it"
        )
    elif base.lower().endswith(".zip"):
        message = "nested zip; zip the PRED files themselves (flair-kit pack does)"
    else:
        message = (
            "not a prediction: a submission holds only PRED_<6-digit id>.tif files (the official "
            "scorer ignores other names); remove or rename it"
        )
    return Problem("error", name, message)


@dataclass
class _ListingBuilder:
    """Collects a submission's files while its folder or zip directory is walked."""

    pack: bool
    members: list[Member] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    in_folders: list[str] = field(default_factory=list)
    n_files: int = 0

    def add(self, name: str, source: Path | int | None) -> None:
        """File one non-debris file as a member, a problem, or (when packing) a left-out file."""
        match = PRED_PATTERN.match(PurePosixPath(name).name)
        if match is not None:
            self.members.append(Member(name, int(match.group("id")), source))
        elif self.pack:
            self.skipped.append(name)
        else:
            self.problems.append(_other_name_problem(name))

    def freeze(self) -> Listing:
        """The immutable listing."""
        return Listing(
            tuple(self.members),
            tuple(self.problems),
            self.n_files,
            tuple(self.skipped),
            tuple(self.in_folders),
        )


def list_folder(root: Path, *, pack: bool = False) -> Listing:
    """List a folder submission recursively (debris skipped), in sorted order.

    Args:
        root: the folder.
        pack: list files that are not predictions as left out, instead of as errors.
    """
    builder = _ListingBuilder(pack)
    for path in walk_files(root):
        builder.n_files += 1
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            builder.problems.append(
                Problem(
                    "warning",
                    name,
                    "symbolic link: the file it points to is read (and packed as a regular file)",
                )
            )
        builder.add(name, path)
    return builder.freeze()


def list_zip(path: Path, limits: zipsafe.ZipLimits = zipsafe.DEFAULT_LIMITS) -> Listing:
    """List a zip submission: its safety problems and the entries safe to read.

    Entries with a safety error are reported and never read. When the archive as a whole breaks
    a cap (entry count, total size), no entry is read at all.
    """
    builder = _ListingBuilder(pack=False)
    try:
        safety = zipsafe.inspect_zip(path, limits)
    except SubmissionError as exc:
        message = strip_location(str(exc), str(path))
        builder.problems.append(Problem("error", "", f"{message}; upload a .zip of the PRED files"))
        return builder.freeze()
    builder.problems += [Problem(p.severity, p.entry, p.message) for p in safety]  # type: ignore[arg-type]
    flagged = {p.entry for p in safety if p.severity == "error"}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    if "" in flagged:
        builder.n_files = len(infos)
        return builder.freeze()
    added: set[str] = set()
    for index, info in enumerate(infos):
        name = info.filename
        label = zipsafe.entry_label(name)
        if label in flagged:
            # Never read, but its id counts (once): "missing" would only repeat the safety error.
            if label not in added:
                added.add(label)
                builder.n_files += 1
                if PRED_PATTERN.match(PurePosixPath(name).name):
                    builder.add(label, None)
            continue
        if info.is_dir() or zipsafe.is_debris(name):
            continue
        builder.n_files += 1
        if "/" in name:
            builder.in_folders.append(name)
        builder.add(name, index)
    return builder.freeze()
