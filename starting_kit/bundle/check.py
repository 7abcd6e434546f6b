"""Check an existing competition bundle against what CodaLab v1 and Codabench accept and run.

Every problem is collected before anything is reported. Errors are what makes an upload fail, a
submission fail, or a leaderboard stay empty; warnings are what works but is probably not meant.
The platform is read from the yaml: ``version: 2`` is Codabench, no version (or 1, 1.5) CodaLab v1.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from PIL import Image

from scoring import zipsafe
from scoring.errors import MissingFileError, SubmissionError, summarize
from scoring.masks import read_reference_mask
from scoring.render import EXTRA_KEYS, LEADERBOARD_KEYS
from scoring.tiles import MASK_PATTERN
from starting_kit.bundle.description import FULL_SUBMISSION_MB, MAX_KEY_LENGTH
from starting_kit.bundle.dialects import (
    V1_COMPETITION_KEYS,
    V1_PHASE_KEYS,
    V1_REQUIRED_PAGES,
    V2_KEYS,
    V2_REQUIRED_KEYS,
    YAML_FILE,
)

#: Keys of a ``metadata`` file that CodaLab v1's worker does not fetch as URLs.
V1_NON_URL_KEYS = frozenset(
    {
        "description",
        "command",
        "exitCode",
        "elapsedTime",
        "stdout",
        "stderr",
        "submitted-by",
        "submitted-at",
    }
)
#: The keys a program's ``metadata`` should hold.
PROGRAM_METADATA_KEYS = frozenset({"command", "description"})
#: Placeholders the scoring command must use to find its files on both platforms.
REQUIRED_PLACEHOLDERS = ("$program", "$input", "$output")
#: Keys the scoring program writes (leaderboard columns may use any of them).
SCORING_KEYS = tuple(LEADERBOARD_KEYS) + tuple(EXTRA_KEYS)
_DEBRIS_PARTS = ("__MACOSX", ".DS_Store", "__pycache__")
_V1_DEFAULT_SIZE_MB = 300


@dataclass(frozen=True)
class BundleCheck:
    """The verdict on a bundle: valid when there is no error."""

    path: Path
    platform: str | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the bundle has no error (warnings allowed)."""
        return not self.errors


Files = dict[str, bytes]


#: Caps on the bundle zip itself: its members (the reference data zip above all) may be larger
#: than a prediction, but never a bomb (the ratio cap of ``validate`` applies).
BUNDLE_LIMITS = zipsafe.ZipLimits(
    max_entries=zipsafe.DEFAULT_LIMITS.max_entries,
    max_entry_bytes=1024 * 1024 * 1024,
    max_total_bytes=2 * 1024 * 1024 * 1024,
    max_ratio=zipsafe.DEFAULT_LIMITS.max_ratio,
)
#: Caps on the zips nested in a bundle (program, reference data): exactly those of ``validate``.
NESTED_LIMITS = zipsafe.DEFAULT_LIMITS


class BundleZipError(ValueError):
    """A bundle zip, or a zip inside it, breaks a size cap or cannot be read."""


def _read_zip(data: bytes, limits: zipsafe.ZipLimits = NESTED_LIMITS) -> Files:
    """Read every member of a zip held in memory, checking the caps before reading anything.

    Declared sizes are compared first (count, per member, total, compression ratio); reading
    then stops at the per-member cap, so a header that understates a size cannot overrun it.

    Raises:
        BundleZipError: a cap is broken or a member cannot be read.
        zipfile.BadZipFile: not a zip.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise BundleZipError(f"{len(infos)} entries, more than the cap of {limits.max_entries}")
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_total_bytes:
            raise BundleZipError(
                f"total uncompressed size {declared} bytes exceeds the cap of {limits.max_total_bytes}"
            )
        for info in infos:
            ratio = info.file_size / info.compress_size if info.compress_size else 0.0
            if info.file_size > limits.max_entry_bytes or ratio > limits.max_ratio:
                raise BundleZipError(
                    f"{info.filename}: declares {info.file_size} bytes (ratio {ratio:.0f}:1), "
                    f"beyond the caps of {limits.max_entry_bytes} bytes and "
                    f"{limits.max_ratio:.0f}:1 (zip bomb?)"
                )
        files: Files = {}
        read = 0
        for info in infos:
            try:
                files[info.filename] = zipsafe.read_entry(archive, info, limits)
            except SubmissionError as exc:
                raise BundleZipError(str(exc)) from exc
            read += len(files[info.filename])
            if read > limits.max_total_bytes:
                raise BundleZipError(f"expands beyond the cap of {limits.max_total_bytes} bytes")
        return files


def _is_debris(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(part in _DEBRIS_PARTS or part.startswith("._") for part in parts) or name.endswith(
        ".pyc"
    )


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Checker:
    def __init__(self, path: Path, members: Files) -> None:
        self.path = path
        self.members = members
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    # -- bundle level ---------------------------------------------------------------------------

    def check_layout(self) -> dict[str, Any] | None:
        names = sorted(self.members)
        debris = [n for n in names if _is_debris(n)]
        if debris:
            self.error(f"platform debris in the bundle: {summarize(debris, 5)}; zip without them")
        unsafe = [n for n in names if n.startswith("/") or ".." in PurePosixPath(n).parts]
        if unsafe:
            self.error(f"unsafe member paths: {summarize(unsafe, 5)}")
        # CodaLab v1 reads the first member whose name contains '.yaml'.
        yamls = [n for n in names if ".yaml" in n]
        if YAML_FILE not in self.members:
            nested = [n for n in yamls if PurePosixPath(n).name == YAML_FILE]
            where = (
                f" (found {nested[0]}: zip the folder's contents, not the folder)" if nested else ""
            )
            self.error(f"no {YAML_FILE} at the zip root{where}")
            return None
        others = [n for n in yamls if n != YAML_FILE]
        if others:
            self.error(
                f"more than one .yaml member ({summarize(others, 5)}); CodaLab v1 reads the first "
                f"one, so ship {YAML_FILE} alone"
            )
        try:
            data = yaml.safe_load(self.members[YAML_FILE].decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.error(f"{YAML_FILE} is not valid YAML: {' '.join(str(exc).split())}")
            return None
        if not isinstance(data, dict):
            self.error(f"{YAML_FILE} must be a mapping of keys, found {type(data).__name__}")
            return None
        return data

    def member_file(self, name: Any, what: str) -> bytes | None:
        if not isinstance(name, str) or not name:
            self.error(f"{what}: expected a file name in the bundle, found {name!r}")
            return None
        data = self.members.get(name)
        if data is None:
            self.error(f"{what}: {name} is not in the bundle")
            return None
        if not data.strip():
            self.error(f"{what}: {name} is empty; the platforms refuse empty pages")
            return None
        return data

    def check_image(self, name: Any, key: str) -> None:
        data = self.member_file(name, key)
        if data is None:
            return
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception as exc:  # noqa: BLE001 (Pillow signals bad files with many exception types)
            self.error(f"{key}: {name} is not a readable image ({exc})")

    def nested(self, name: Any, what: str, *, allow_folder: bool) -> Files | None:
        """The files of a program or data member: a nested zip, or (Codabench) a folder."""
        if not isinstance(name, str) or not name:
            self.error(f"{what}: expected a .zip in the bundle, found {name!r}")
            return None
        if name in self.members:
            if not name.endswith(".zip"):
                self.error(f"{what}: {name} must be a .zip")
                return None
            try:
                return _read_zip(self.members[name])
            except (zipfile.BadZipFile, OSError, BundleZipError) as exc:
                self.error(f"{what}: {name} is not a readable zip ({exc})")
                return None
        prefix = name.rstrip("/") + "/"
        folder = {n[len(prefix) :]: d for n, d in self.members.items() if n.startswith(prefix)}
        if allow_folder and folder:
            return {n: d for n, d in folder.items() if n and not n.endswith("/")}
        self.error(f"{what}: {name} is not in the bundle")
        return None

    # -- scoring program and reference data -----------------------------------------------------

    def check_program(self, files: Files, what: str, platform: str) -> None:
        names = sorted(n for n in files if not n.endswith("/"))
        debris = [n for n in names if _is_debris(n)]
        if debris:
            self.error(f"{what}: caches or platform debris: {summarize(debris, 5)}; remove them")
        metadata_name = "metadata"
        if "metadata" not in files:
            if platform == "codabench" and "metadata.yaml" in files:
                metadata_name = "metadata.yaml"
            else:
                nested = [n for n in names if PurePosixPath(n).name == "metadata"]
                hint = f" (found {nested[0]}: zip the folder's contents)" if nested else ""
                self.error(
                    f"{what}: no metadata file at the zip root{hint}; Codabench then runs "
                    "nothing and the submission fails"
                )
                return
        try:
            metadata = yaml.safe_load(files[metadata_name].decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.error(f"{what}: {metadata_name} is not valid YAML: {' '.join(str(exc).split())}")
            return
        if not isinstance(metadata, dict):
            self.error(f"{what}: {metadata_name} must be a mapping with a 'command' key")
            return
        for key, value in metadata.items():
            if isinstance(value, str) and key not in PROGRAM_METADATA_KEYS:
                fetched = " (CodaLab v1 fetches it as a URL)" if key not in V1_NON_URL_KEYS else ""
                self.error(
                    f"{what}: {metadata_name} has the extra string key {key!r}{fetched}; keep "
                    "only 'command' and 'description'"
                )
        command = metadata.get("command")
        if not isinstance(command, str) or not command.strip():
            self.error(f"{what}: {metadata_name} has no 'command' string")
            return
        self.check_command(command, files, what)
        for module in ("scoring/__init__.py", "scoring/program.py"):
            if module not in files:
                self.error(
                    f"{what}: {module} is missing; the entry script imports the vendored "
                    "scoring package, so vendor the whole package beside it"
                )

    def check_command(self, command: str, files: Files, what: str) -> None:
        for placeholder in REQUIRED_PLACEHOLDERS:
            if placeholder not in command:
                self.error(f"{what}: the command {command!r} does not use {placeholder}")
        # v1 splits on single spaces, so any other whitespace or quoting breaks the argument list.
        if command != command.strip() or "  " in command or any(c in command for c in "\t\"'"):
            self.error(
                f"{what}: the command {command!r} must be words separated by single spaces, "
                "without quotes or tabs (CodaLab v1 splits it on ' ')"
            )
        words = command.split(" ")
        if words and words[0] == "python":
            self.warn(
                f"{what}: the command starts with 'python'; some CodaLab images map it to Python 2, use python3"
            )
        scripts = [w[len("$program/") :] for w in words if w.startswith("$program/")]
        for script in scripts:
            if script not in files:
                self.error(
                    f"{what}: the command runs $program/{script} but {script} is not at the zip root"
                )

    def check_reference(self, files: Files, what: str) -> None:
        names = sorted(files)
        if not names:
            self.error(f"{what}: the reference data zip is empty")
            return
        nested = [n for n in names if "/" in n.rstrip("/") or n.endswith("/")]
        if nested:
            self.error(f"{what}: entries must sit flat at the zip root: {summarize(nested, 5)}")
        flat = [n for n in names if n not in nested]
        if "metadata" in flat:
            self.error(
                f"{what}: a file named metadata would make CodaLab v1 fetch its values as URLs"
            )
        bad = [n for n in flat if n != "metadata" and not MASK_PATTERN.match(n)]
        if bad:
            self.error(f"{what}: entries that are not MSK_<id>.tif: {summarize(bad, 5)}")
        ids: dict[int, list[str]] = {}
        for name in flat:
            match = MASK_PATTERN.match(name)
            if match:
                ids.setdefault(int(match.group("id")), []).append(name)
        repeated = [", ".join(v) for v in ids.values() if len(v) > 1]
        if repeated:
            self.error(f"{what}: duplicate reference ids: {summarize(repeated, 5)}")
        if not ids:
            self.error(f"{what}: no MSK_<id>.tif reference mask")
            return
        unreadable = []
        for name in sorted(n for n in flat if MASK_PATTERN.match(n)):
            # Decoded in full, as the scorer will: a mask with corrupt strips fails every submission.
            try:
                with Image.open(io.BytesIO(files[name])) as image:
                    mode = image.mode
                if mode != "L":
                    unreadable.append(f"{name} (mode {mode})")
                    continue
                read_reference_mask(io.BytesIO(files[name]))  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 (Pillow signals bad files with many exception types)
                unreadable.append(f"{name} (not decodable)")
        if unreadable:
            self.error(
                f"{what}: reference masks must be single-band uint8 TIFFs: {summarize(unreadable, 5)}"
            )

    # -- leaderboards ---------------------------------------------------------------------------

    def check_column_keys(self, keys: list[str], ranking: str | None, where: str) -> None:
        for key in keys:
            if key not in SCORING_KEYS:
                self.error(
                    f"{where}: column {key!r} is never written by the scoring program (it writes "
                    f"{', '.join(SCORING_KEYS)}); the column would stay empty"
                )
            if len(str(key)) > MAX_KEY_LENGTH:
                self.error(
                    f"{where}: column key {key!r} is longer than {MAX_KEY_LENGTH} characters"
                )
        if "miou" not in keys:
            self.error(f"{where}: no 'miou' column; the challenge ranks by mIoU")
        elif ranking != "miou":
            self.error(f"{where}: the ranking column is {ranking!r}; it must be 'miou'")
        missing = [k for k in LEADERBOARD_KEYS if k not in keys]
        if missing:
            self.warn(f"{where}: scores without a column (not shown): {', '.join(missing)}")

    def check_title(self, title: Any, where: str) -> None:
        if not isinstance(title, str) or not title:
            self.error(f"{where}: missing title")
        elif len(title) > MAX_KEY_LENGTH:
            self.error(f"{where}: title {title!r} is longer than {MAX_KEY_LENGTH} characters")

    # -- CodaLab v1 -----------------------------------------------------------------------------

    def check_codalab(self, data: dict[str, Any]) -> None:
        unknown = sorted(str(k) for k in data if k not in V1_COMPETITION_KEYS)
        if unknown:
            self.error(
                f"{YAML_FILE}: keys CodaLab v1 does not accept (the upload fails): "
                f"{', '.join(unknown)}"
            )
        if not isinstance(data.get("title"), str) or not data["title"].strip():
            self.error(f"{YAML_FILE}: missing title")
        if "image" in data:
            self.check_image(data["image"], "image")
        else:
            self.warn(
                "no image (logo): optional on CodaLab v1, required when Codabench imports the bundle"
            )
        if not data.get("competition_docker_image"):
            self.error(
                "competition_docker_image is not set; the site's default image is uncertain "
                "(py37 or py39), set it explicitly (e.g. codalab/codalab-legacy:py39)"
            )
        html = data.get("html")
        if not isinstance(html, dict):
            self.error(f"html: expected a mapping of pages with {', '.join(V1_REQUIRED_PAGES)}")
        else:
            for key in V1_REQUIRED_PAGES:
                if key not in html:
                    self.error(f"html: the page {key!r} is required by CodaLab v1")
                else:
                    self.member_file(html[key], f"html.{key}")
        phases = data.get("phases")
        if not isinstance(phases, dict) or not phases:
            self.error("phases: expected a mapping of phase number to phase")
        else:
            for number, phase in sorted(phases.items(), key=lambda item: str(item[0])):
                self.check_v1_phase(phase, f"phases.{number}")
        self.check_v1_leaderboard(data.get("leaderboard"))

    def check_v1_phase(self, phase: Any, where: str) -> None:
        if not isinstance(phase, dict):
            self.error(f"{where}: expected a mapping")
            return
        unknown = sorted(str(k) for k in phase if k not in V1_PHASE_KEYS)
        if unknown:
            self.error(f"{where}: keys CodaLab v1 phases do not accept: {', '.join(unknown)}")
        for key in ("phasenumber", "label", "start_date"):
            if key not in phase:
                self.error(f"{where}: missing {key}")
        if phase.get("is_scoring_only") is not True:
            self.error(
                f"{where}: is_scoring_only must be true; FLAIR phases are results-only (no "
                "ingestion program runs participants' code)"
            )
        limit = _as_int(phase.get("execution_time_limit"))
        if limit is None or limit <= 0:
            self.error(
                f"{where}: execution_time_limit must be set to a positive number of seconds (the default is 300)"
            )
        per_day = phase.get("max_submissions_per_day")
        if per_day is not None and _as_int(per_day) is not None and per_day < 1:
            self.error(
                f"{where}: max_submissions_per_day is {per_day}; on CodaLab v1, 0 blocks every submission"
            )
        size = _as_int(phase.get("max_submission_size"))
        if size is None:
            self.warn(
                f"{where}: no max_submission_size; the default {_V1_DEFAULT_SIZE_MB} MB is below a "
                f"full FLAIR submission (about {FULL_SUBMISSION_MB} MB)"
            )
        elif size < FULL_SUBMISSION_MB:
            self.warn(
                f"{where}: max_submission_size {size} MB is below a full FLAIR submission (about {FULL_SUBMISSION_MB} MB)"
            )
        program = phase.get("scoring_program")
        files = self.nested(program, f"{where}.scoring_program", allow_folder=False)
        if files is not None:
            self.check_program(files, str(program), "codalab")
        if "reference_data" not in phase:
            self.error(f"{where}: reference_data is required by CodaLab v1")
        else:
            reference = phase["reference_data"]
            files = self.nested(reference, f"{where}.reference_data", allow_folder=False)
            if files is not None:
                self.check_reference(files, str(reference))

    def check_v1_leaderboard(self, board: Any) -> None:
        if not isinstance(board, dict):
            self.error("leaderboard: expected a mapping with 'leaderboards' and 'columns'")
            return
        boards = board.get("leaderboards")
        labels = set()
        if not isinstance(boards, dict) or not boards:
            self.error("leaderboard.leaderboards: expected a mapping with at least one leaderboard")
        else:
            for name, entry in boards.items():
                if not isinstance(entry, dict) or not entry.get("label"):
                    self.error(f"leaderboard.leaderboards.{name}: needs a label")
                else:
                    labels.add(entry["label"])
        columns = board.get("columns")
        if not isinstance(columns, dict) or not columns:
            self.error("leaderboard.columns: expected a mapping of score key to column")
            return
        ranked = []
        for position, (key, column) in enumerate(columns.items()):
            where = f"leaderboard.columns.{key}"
            if not isinstance(column, dict):
                self.error(f"{where}: expected a mapping")
                continue
            parent = column.get("leaderboard")
            if not isinstance(parent, dict) or parent.get("label") not in labels:
                self.error(
                    f"{where}: 'leaderboard' must refer to a declared leaderboard (use the YAML alias)"
                )
            label = column.get("label")
            if label is not None and len(str(label)) > MAX_KEY_LENGTH:
                self.error(f"{where}: label {label!r} is longer than {MAX_KEY_LENGTH} characters")
            if "computed" in column:
                self.error(f"{where}: computed columns are dropped by Codabench; remove 'computed'")
            if column.get("sort", "desc") not in ("asc", "desc"):
                self.error(f"{where}: sort must be 'asc' or 'desc', found {column.get('sort')!r}")
            rank = _as_int(column.get("rank"))
            default = _as_int(column.get("selection_default")) or 0
            ranked.append((-default, rank if rank is not None else position, str(key)))
        ranking = min(ranked)[2] if ranked else None
        self.check_column_keys([str(k) for k in columns], ranking, "leaderboard")

    # -- Codabench ------------------------------------------------------------------------------

    def check_codabench(self, data: dict[str, Any]) -> None:
        for key in V2_REQUIRED_KEYS:
            if key not in data:
                self.error(f"{YAML_FILE}: {key!r} is required by Codabench")
        unknown = sorted(str(k) for k in data if k not in V2_KEYS)
        if unknown:
            self.warn(f"{YAML_FILE}: keys Codabench ignores: {', '.join(unknown)}")
        if "image" in data:
            self.check_image(data["image"], "image")
        if "terms" in data:
            self.member_file(data["terms"], "terms")
        if not data.get("docker_image"):
            self.error(
                "docker_image is not set; Codabench would use codalab/codalab-legacy:py37, set it explicitly"
            )
        pages = data.get("pages")
        if "pages" in data:
            if not isinstance(pages, list) or not pages:
                self.error("pages: expected a list of {title, file}")
            else:
                for i, page in enumerate(pages):
                    if not isinstance(page, dict) or "file" not in page:
                        self.error(f"pages[{i}]: expected a mapping with title and file")
                    else:
                        self.member_file(page["file"], f"pages[{i}]")
        tasks = self.check_v2_tasks(data.get("tasks"))
        self.check_v2_phases(data.get("phases"), tasks)
        self.check_v2_leaderboards(data.get("leaderboards"))

    def check_v2_tasks(self, tasks: Any) -> list[Any]:
        if not isinstance(tasks, list) or not tasks:
            self.error("tasks: expected a list with at least one task")
            return []
        indexes = []
        for i, task in enumerate(tasks):
            where = f"tasks[{i}]"
            if not isinstance(task, dict) or "index" not in task:
                self.error(f"{where}: expected a mapping with an index")
                continue
            if task["index"] in indexes:
                self.error(f"{where}: duplicate task index {task['index']!r}")
            indexes.append(task["index"])
            if "key" in task:
                continue  # an existing task on the server: nothing to check here
            program = task.get("scoring_program")
            files = self.nested(program, f"{where}.scoring_program", allow_folder=True)
            if files is not None:
                self.check_program(files, str(program), "codabench")
            if "reference_data" not in task:
                self.error(f"{where}: no reference_data; the scoring program needs the masks")
            else:
                files = self.nested(
                    task["reference_data"], f"{where}.reference_data", allow_folder=True
                )
                if files is not None:
                    self.check_reference(files, str(task["reference_data"]))
        return indexes

    def check_v2_phases(self, phases: Any, tasks: list[Any]) -> None:
        if not isinstance(phases, list) or not phases:
            self.error("phases: expected a list with at least one phase")
            return
        ordered = sorted(
            (p for p in phases if isinstance(p, dict)), key=lambda p: _as_int(p.get("index")) or 0
        )
        if len(ordered) != len(phases):
            self.error("phases: every phase must be a mapping")
        for i, phase in enumerate(ordered):
            where = f"phases[{i}]"
            for key in ("index", "name", "start", "tasks"):
                if key not in phase:
                    self.error(f"{where}: missing {key}")
            for task in phase.get("tasks") or []:
                if task not in tasks:
                    self.error(f"{where}: task {task!r} is not a declared task index")
            limit = _as_int(phase.get("execution_time_limit"))
            if limit is None or limit <= 0:
                self.error(
                    f"{where}: execution_time_limit must be set to a positive number of seconds (the default is 600)"
                )
            if i + 1 < len(ordered):
                following = ordered[i + 1]
                if phase.get("end") is None:
                    self.error(f"{where}: needs an end because a phase follows it")
                elif following.get("start") is not None and not following["start"] > phase["end"]:
                    self.error(f"{where}: ends at or after the start of the next phase")

    def check_v2_leaderboards(self, boards: Any) -> None:
        if not isinstance(boards, list) or not boards:
            self.error("leaderboards: expected a list with at least one leaderboard")
            return
        # Every phase uses the first leaderboard.
        board = boards[0]
        if not isinstance(board, dict):
            self.error("leaderboards[0]: expected a mapping")
            return
        self.check_title(board.get("title"), "leaderboards[0]")
        if not board.get("key"):
            self.error("leaderboards[0]: missing key")
        columns = board.get("columns")
        if not isinstance(columns, list) or not columns:
            self.error("leaderboards[0].columns: expected a list of columns")
            return
        keys, indexes = [], []
        for i, column in enumerate(columns):
            where = f"leaderboards[0].columns[{i}]"
            if not isinstance(column, dict) or "key" not in column or "index" not in column:
                self.error(f"{where}: expected a mapping with title, key and index")
                continue
            self.check_title(column.get("title"), where)
            if column["index"] in indexes:
                self.error(f"{where}: duplicate column index {column['index']!r}")
            if column.get("sorting", "desc") not in ("asc", "desc"):
                self.error(f"{where}: sorting must be 'asc' or 'desc'")
            indexes.append(column["index"])
            keys.append((column["index"], str(column["key"])))
        # Codabench ranks by the column of index 0.
        ranking = next((key for index, key in keys if index == 0), None)
        self.check_column_keys([key for _, key in keys], ranking, "leaderboards[0]")


def check_bundle(path: Path) -> BundleCheck:
    """Check a bundle zip; every problem is collected, none raised.

    The messages name what inside the bundle is wrong; the CLI puts the bundle's path before them.

    Raises:
        MissingFileError: ``path`` does not exist.
    """
    if not path.is_file():
        raise MissingFileError(f"{path}: bundle not found; pass the bundle .zip to check")
    try:
        members = _read_zip(path.read_bytes(), BUNDLE_LIMITS)
    except (zipfile.BadZipFile, OSError, BundleZipError) as exc:
        return BundleCheck(path, None, (f"not a readable zip ({exc})",), ())
    checker = _Checker(path, members)
    data = checker.check_layout()
    platform = None
    if data is not None:
        version = data.get("version")
        if version in (2, "2", 2.0):
            platform = "codabench"
            checker.check_codabench(data)
        elif version in (None, 1, 1.5, "1", "1.5"):
            platform = "codalab"
            checker.check_codalab(data)
        else:
            checker.error(
                f"{YAML_FILE}: unknown version {version!r}; expected none or 1.5 (CodaLab v1) or 2 (Codabench)"
            )
    return BundleCheck(path, platform, tuple(checker.errors), tuple(checker.warnings))
