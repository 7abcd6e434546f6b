"""Emulated compute workers of CodaLab Competitions v1 and Codabench, for the bundle tests.

Each function runs one submission through a bundle the way the platform does, in a temporary
folder, from the contract in ``shared/docs/codalab.md`` (sections 1-3):

- the site reads the bundle's ``competition.yaml`` to find the phase's scoring program, reference
  data and leaderboard column keys;
- the worker unpacks program, reference data and submission into its run tree with the platform's
  own rules (v1: ``run/`` as working directory, ``input/res`` as uploaded except that a sole
  folder holding a ``metadata`` file is lifted and top-level zips are extracted beside themselves;
  Codabench: a prediction step copies the submission into ``output/``, adds ``output/metadata``, and
  that becomes ``input/res``; working directory ``program/``);
- it substitutes the command's placeholders, splits it as the platform does (v1 on single spaces,
  Codabench shell-style after mapping ``/app`` into the sandbox) and runs it with ``python3``
  resolved to the Python 3.9 interpreter of ``FLAIR_KIT_PY39`` (numpy 1.22, Pillow 9: the
  ``codalab-legacy:py39`` image), isolated (``-I``) so only the vendored ``scoring`` package can be
  imported, and with ``-B`` so the interpreter itself writes no bytecode beside the program;
- the site then reads the scores as it does (v1: ``scores.txt`` at the root of ``output.zip``, each
  line split on ':' into a label and a float; Codabench: ``scores.json``, else ``scores.txt`` as
  YAML) and stores them in a ``DecimalField(max_digits=20, decimal_places=10)``.

What the emulation leaves out: docker itself (resource limits, network), the v1 ``history`` /
``scores`` / ``coopetition`` extras (the scorer never reads them), and running participants' code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import stat
import subprocess
import zipfile
from dataclasses import dataclass, field
from decimal import Context, Decimal
from glob import glob
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from scoring.classes import NUM_CLASSES, TRUTH_LUT

#: Environment variable naming the Python 3.9 interpreter (numpy 1.22, Pillow 9) of the emulation.
PY39_ENV = "FLAIR_KIT_PY39"
#: Keys of a ``metadata`` file that CodaLab v1's worker does not fetch as URLs.
V1_NON_URL_KEYS = (
    "description",
    "command",
    "exitCode",
    "elapsedTime",
    "stdout",
    "stderr",
    "submitted-by",
    "submitted-at",
)
#: A test never waits longer than this for one scoring run, whatever the phase allows.
MAX_TEST_SECONDS = 120
#: Emulated extraction stops here: the platforms extract blindly, the tests must not fill a disk.
MAX_EXTRACTED_BYTES = 256 * 1024 * 1024
_SCORE_STORAGE = Context(prec=20)
_TEN_DECIMALS = Decimal(10) ** -10

Snapshot = dict[str, str]


def python39() -> str:
    """The Python 3.9 interpreter of the emulated image.

    Skips the calling test when ``FLAIR_KIT_PY39`` is unset, unless ``CI`` is set: CI must never
    skip these tests silently, so there it fails.
    """
    value = os.environ.get(PY39_ENV)
    if not value:
        reason = (
            f"{PY39_ENV} is not set: run `FLAIR_KIT_PY39=/path/to/venv39/bin/python python -m pytest` "
            "with a Python 3.9 venv holding numpy 1.22 and Pillow 9 (.ci/run builds one) to "
            "emulate the platforms' images"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the platform emulation: {reason}")
        pytest.skip(reason)
    if not os.access(value, os.X_OK):
        pytest.fail(f"{PY39_ENV}={value} is not an executable interpreter")
    return value


def store_decimal(value: float) -> Decimal:
    """A float as the sites store it: ``DecimalField(max_digits=20, decimal_places=10)``.

    Raises:
        ValueError: NaN or infinity, which the column cannot hold.
    """
    stored = _SCORE_STORAGE.create_decimal_from_float(float(value))
    if not stored.is_finite():
        raise ValueError(f"{value!r} cannot be stored in a decimal column")
    return stored.quantize(_TEN_DECIMALS)


@dataclass
class PlatformRun:
    """What happened to one submission on an emulated platform."""

    platform: str
    root: Path
    output_dir: Path
    argv: list[str] = field(default_factory=list)
    cwd: Path | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    #: Paths (relative to ``root``) the scoring program created, changed or removed outside output/.
    touched_outside_output: list[str] = field(default_factory=list)
    #: True when the scoring program itself wrote ``output/metadata`` (the platforms' own file).
    wrote_output_metadata: bool = False
    #: Leaderboard column key -> stored score, when the submission finished.
    scores: dict[str, Decimal] | None = None
    #: Why the platform marks the submission Failed; None when it finished.
    failure: str | None = None

    @property
    def res_dir(self) -> Path:
        """Where the platform staged the participant's files for the scoring program."""
        staged = ("run", "input", "res") if self.platform == "codalab" else ("app", "input", "res")
        return self.root.joinpath("worker", *staged)

    @property
    def finished(self) -> bool:
        """True when the platform shows the submission as Finished with scores."""
        return self.failure is None and self.scores is not None


# -- shared mechanics -----------------------------------------------------------------------------


class WorkerFailure(Exception):
    """The worker raised while staging the run: the submission fails before the program runs."""


def extract_plainly(archive: Path, destination: Path) -> None:
    """``ZipFile.extractall``, as both workers do: entries escaping the folder are clamped into it,
    a zip without entries creates no folder, a bad entry stops the extraction where it is.

    Raises:
        zipfile.BadZipFile: not a zip, or an entry fails its CRC.
        WorkerFailure: anything else the extraction raises (an encrypted entry), or an archive
            beyond :data:`MAX_EXTRACTED_BYTES` (an emulation guard: the workers have none).
    """
    try:
        _extract(archive, destination)
    except zipfile.BadZipFile:
        raise
    except (RuntimeError, OSError, NotImplementedError) as exc:
        raise WorkerFailure(
            f"{archive.name}: extraction raised {type(exc).__name__}: {exc}"
        ) from exc


def _extract(archive: Path, destination: Path) -> None:
    with zipfile.ZipFile(archive) as handle:
        total = sum(info.file_size for info in handle.infolist())
        if total > MAX_EXTRACTED_BYTES:
            raise WorkerFailure(
                f"{archive} expands to {total} bytes; the emulation refuses to extract it"
            )
        handle.extractall(destination)


def snapshot(root: Path) -> Snapshot:
    """Relative path -> content hash (or a marker for folders) of everything under ``root``."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = "<dir>"
        for name in files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                found[relative] = "<link>" + os.readlink(path)
            else:
                with open(path, "rb") as reader:
                    found[relative] = hashlib.sha256(reader.read()).hexdigest()
    return found


def changes_outside(before: Snapshot, after: Snapshot, allowed: str) -> list[str]:
    """Paths added, changed or removed, except under the ``allowed`` relative folder."""
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    prefix = allowed.rstrip("/") + "/"
    return sorted(p for p in changed if p != allowed and not p.startswith(prefix))


def python3_shim(sandbox: Path, interpreter: str) -> Path:
    """A folder whose ``python3`` runs the 3.9 interpreter isolated and without bytecode writes."""
    folder = sandbox / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "python3"
    shim.write_text(f'#!/bin/sh\nexec "{interpreter}" -I -B "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def clean_environment(sandbox: Path, shim_dir: Path) -> dict[str, str]:
    """The container's environment: PYTHONUNBUFFERED=1 as both workers set, nothing of ours."""
    home, tmp = sandbox / "home", sandbox / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    return {
        "PATH": f"{shim_dir}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "PYTHONUNBUFFERED": "1",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
    }


def execute(
    run: PlatformRun, argv: list[str], cwd: Path, env: dict[str, str], limit: int, sandbox: Path
) -> None:
    """Run the scoring command and record what it did to the sandbox (``sandbox`` is snapshotted
    whole: the run tree, the fake home and the temporary folder)."""
    run.argv, run.cwd = argv, cwd
    before = snapshot(sandbox)
    try:
        completed = subprocess.run(
            argv,
            cwd=str(cwd),
            env=env,
            capture_output=True,
            text=True,
            timeout=min(limit, MAX_TEST_SECONDS),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        run.returncode = -1
        run.stderr = (
            (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        )
        run.failure = "Execution time limit exceeded!"
        return
    run.returncode = completed.returncode
    run.stdout, run.stderr = completed.stdout, completed.stderr
    after = snapshot(sandbox)
    run.touched_outside_output = changes_outside(
        before, after, os.path.relpath(run.output_dir, sandbox)
    )
    run.wrote_output_metadata = (run.output_dir / "metadata").exists()


def bundle_yaml(bundle: zipfile.ZipFile) -> dict[str, Any]:
    """The site reads ``competition.yaml`` at the bundle root."""
    data = yaml.safe_load(bundle.read("competition.yaml"))
    assert isinstance(data, dict), "competition.yaml is not a mapping"
    return data


def _leaderboard_value(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")  # noqa: TRY004 (the platform's own error)
    return store_decimal(float(value))


# -- CodaLab Competitions v1 ----------------------------------------------------------------------


def _v1_lift_sole_folder_with_metadata(bundle_path: Path) -> None:
    # The worker's only unwrapping rule, including its quirks: it bails out only when there are
    # more than two entries AND a top-level metadata; otherwise the first folder (here in sorted
    # order; the worker uses os.listdir order) that holds a 'metadata' file replaces everything.
    entries = sorted(os.listdir(bundle_path))
    if len(entries) > 2 and "metadata" in entries:
        return
    for name in entries:
        folder = bundle_path / name
        if folder.is_dir() and "metadata" in os.listdir(folder):
            temporary = bundle_path.with_name(bundle_path.name + "_tmp")
            shutil.copytree(folder, temporary)
            shutil.rmtree(bundle_path, ignore_errors=True)
            shutil.move(str(temporary), str(bundle_path))
            return


def v1_get_bundle(archive: Path, bundle_path: Path) -> dict[str, Any] | None:
    """Stage a zip the way the v1 worker's ``get_bundle`` does and return its parsed metadata.

    Every bundle of a run (program, ref, res) is fetched from the run's metadata, where the worker
    catches ``BadZipfile`` and goes on: a bad zip leaves what was extracted before the bad entry,
    or no folder at all, and the run continues.

    Raises:
        WorkerFailure: any other error (an encrypted entry; ``chmod`` of the folder an empty zip
            never created), a staged ``metadata`` that is not YAML, or one naming a key the worker
            would fetch as a URL (in the sandbox that fetch fails, as it does for anything that is
            not a signed URL).
    """
    try:
        extract_plainly(archive, bundle_path)
        _v1_lift_sole_folder_with_metadata(bundle_path)
        for inner in sorted(glob(str(bundle_path / "*.zip"))):
            extract_plainly(Path(inner), Path(os.path.splitext(inner)[0]))
        os.chmod(bundle_path, 0o777)
    except zipfile.BadZipFile:
        return None  # logged as "Could not open file, bad zip" by the worker, which goes on
    except OSError as exc:  # e.g. listing or chmod of the folder an empty zip never created
        raise WorkerFailure(f"{bundle_path.name}: {exc}") from exc
    metadata_path = bundle_path / "metadata"
    if not metadata_path.is_file():
        return None
    try:
        metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        raise WorkerFailure(f"{metadata_path}: not YAML ({' '.join(str(exc).split())})") from exc
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if key not in V1_NON_URL_KEYS and isinstance(value, str):
                raise WorkerFailure(
                    f"{metadata_path}: key {key!r} is fetched as a bundle URL ({value!r})"
                )
        return metadata
    return None


def v1_command(command: str, run_dir: Path, shared_dir: Path) -> list[str]:
    """Substitute placeholders in the worker's order, then split on single spaces as it does."""
    command = (
        command.strip()
        .replace("$program", str(run_dir / "program"))
        .replace("$predictions", str(run_dir / "input" / "res"))
        .replace("$input", str(run_dir / "input"))
        .replace("$output", str(run_dir / "output"))
        .replace("$tmp", str(run_dir / "temp"))
        .replace("$shared", str(shared_dir))
        .replace("/", os.sep)
        .replace("\\", os.sep)
    )
    return command.split(" ")


def v1_read_scores(output_zip: Path, column_keys: list[str]) -> dict[str, Decimal]:
    """The site's reading of ``scores.txt``: root member, ':' split, float, decimal column.

    Raises:
        ValueError: no ``scores.txt``, a line without exactly one ':', or a value that is not a
            storable float; the site marks the submission Failed for each.
    """
    with zipfile.ZipFile(output_zip) as archive:
        if "scores.txt" not in archive.namelist():
            raise ValueError("Scores.txt not found in the output of the scoring program")
        text = archive.read("scores.txt").decode("utf-8")
    scores: dict[str, Decimal] = {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        label, value = line.split(":")  # more or fewer than one ':' raises, as on the site
        label = label.strip()
        if label in column_keys:
            scores[label] = store_decimal(float(value))
    return scores


def _zip_folder(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())


def run_codalab(bundle_zip: Path, submission: Path, sandbox: Path) -> PlatformRun:
    """Score ``submission`` (a zip) with the v1 worker's contract, in a scoring-only phase."""
    with zipfile.ZipFile(bundle_zip) as bundle:
        data = bundle_yaml(bundle)
        phase = data["phases"][min(data["phases"])]
        columns = [str(key) for key in data["leaderboard"]["columns"]]
        program_zip, reference_zip = (
            sandbox / "site" / "program.zip",
            sandbox / "site" / "reference.zip",
        )
        program_zip.parent.mkdir(parents=True)
        program_zip.write_bytes(bundle.read(phase["scoring_program"]))
        reference_zip.write_bytes(bundle.read(phase["reference_data"]))
    root = sandbox / "worker"
    run_dir = root / "run"
    output_dir = run_dir / "output"
    run = PlatformRun("codalab", sandbox, output_dir)
    shim = python3_shim(sandbox, python39())
    env = clean_environment(sandbox, shim)
    shared_dir = root / "shared"
    shared_dir.mkdir(parents=True)
    try:
        program = v1_get_bundle(program_zip, run_dir / "program") or {}
        # The run's input is a YAML file of signed URLs: staged as input/metadata, then ref and
        # res are fetched from it (the URLs end in .zip, so both are extracted).
        input_dir = run_dir / "input"
        input_dir.mkdir()
        (input_dir / "metadata").write_text(
            yaml.safe_dump(
                {
                    "ref": "https://example.invalid/reference_data.zip",
                    "res": "https://example.invalid/submission.zip",
                    "submitted-by": "participant",
                    "submitted-at": "2024-01-01T00:00:00",
                    "competition-submission": 1,
                    "competition-phase": 1,
                    "automatic-submission": False,
                }
            ),
            encoding="utf-8",
        )
        v1_get_bundle(reference_zip, input_dir / "ref")
        v1_get_bundle(submission, input_dir / "res")
    except WorkerFailure as exc:
        run.failure = f"worker: {exc}"
        return run
    command = program.get("command")
    if not isinstance(command, str):
        run.failure = "worker: Program command is not specified."
        return run
    output_dir.mkdir(mode=0o777)
    (run_dir / "temp").mkdir(mode=0o777)
    # enable_detailed_results: the worker creates an empty page before the program starts.
    (output_dir / "detailed_results.html").touch()
    argv = v1_command(command, run_dir, shared_dir)
    execute(run, argv, run_dir, env, int(phase.get("execution_time_limit", 300)), sandbox)
    if run.failure:
        return run
    # The worker writes its status over output/metadata, then zips output/ for the site.
    (output_dir / "metadata").write_text(
        yaml.safe_dump({"exitCode": run.returncode, "ingestionExitCode": 0, "elapsedTime": 1.0}),
        encoding="utf-8",
    )
    if run.returncode != 0:
        run.failure = f"failed: exit code {run.returncode}; traceback: {run.stderr}"
        return run
    output_zip = sandbox / "site" / "output.zip"
    _zip_folder(output_dir, output_zip)
    try:
        run.scores = v1_read_scores(output_zip, columns)
    except ValueError as exc:
        run.failure = f"site: {exc}"
    return run


# -- Codabench ------------------------------------------------------------------------------------


CODABENCH_PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    ("$input", "/app/input"),
    ("$output", "/app/output"),
    ("$program", "/app/program"),
    ("$ingestion_program", "/app/program"),
    ("$hidden", "/app/input/ref"),
    ("$shared", "/app/shared"),
    ("$submission_program", "/app/ingested_program"),
    ("$tmp", "/app/output"),
    ("$predictions", "/app/input/res"),
)


def codabench_command(command: str, app_root: Path) -> list[str]:
    """Rewrite legacy placeholders to ``/app`` paths in the worker's order, split shell-style, and
    map the container's ``/app`` onto the sandbox (the bind mounts)."""
    for placeholder, container_path in CODABENCH_PLACEHOLDERS:
        command = command.replace(placeholder, container_path)
    argv = shlex.split(command)
    return [
        str(app_root / arg[len("/app/") :])
        if arg.startswith("/app/")
        else (str(app_root) if arg == "/app" else arg)
        for arg in argv
    ]


def _codabench_metadata(folder: Path) -> Path | None:
    for name in ("metadata.yaml", "metadata"):
        if (folder / name).is_file():
            return folder / name
    return None


def codabench_prediction_step(submission: Path, work: Path) -> Path:
    """The prediction step of a results submission: returns ``prediction_result.zip``.

    Raises:
        WorkerFailure: the zip has a root metadata file, so Codabench would run it as code.
    """
    program = work / "program"
    try:
        extract_plainly(submission, program)
    except zipfile.BadZipFile as exc:
        # Assumed from the worker's structure: an extraction error fails the submission.
        raise WorkerFailure(f"{submission.name}: bad zip ({exc})") from exc
    program.mkdir(parents=True, exist_ok=True)  # the worker extracts into a folder it made
    if _codabench_metadata(program) is not None:
        raise WorkerFailure(
            "the submission has a root metadata file: Codabench runs it as a code submission"
        )
    output = work / "output"
    shutil.copytree(program, output)
    (output / "metadata").write_text(
        yaml.safe_dump({"exitCode": 0, "elapsedTime": 0.0, "is_scoring": False}), encoding="utf-8"
    )
    result = work / "prediction_result.zip"
    _zip_folder(output, result)
    return result


def codabench_read_scores(output_dir: Path, column_keys: list[str]) -> dict[str, Decimal]:
    """``push_scores``: scores.json, else scores.txt as YAML; then the site keeps column keys.

    Raises:
        ValueError: no scores file, undecodable JSON, not a mapping, or a non-numeric column value.
    """
    json_path, txt_path = output_dir / "scores.json", output_dir / "scores.txt"
    if json_path.exists():
        loaded = json.loads(json_path.read_text(encoding="utf-8"))
    elif txt_path.exists():
        loaded = yaml.load(txt_path.read_text(encoding="utf-8"), Loader=yaml.Loader)
    else:
        raise ValueError("Could not find scores file, did the scoring program output it?")
    if not isinstance(loaded, dict):
        raise ValueError(f"scores are not a mapping: {loaded!r}")  # noqa: TRY004 (as the platform)
    return {key: _leaderboard_value(value) for key, value in loaded.items() if key in column_keys}


def run_codabench(bundle_zip: Path, submission: Path, sandbox: Path) -> PlatformRun:
    """Score ``submission`` (a zip) with Codabench's two steps (prediction copy, then scoring)."""
    with zipfile.ZipFile(bundle_zip) as bundle:
        data = bundle_yaml(bundle)
        task = data["tasks"][0]
        limit = int(data["phases"][0].get("execution_time_limit", 600))
        columns = [str(c["key"]) for c in data["leaderboards"][0]["columns"]]
        program_bytes = bundle.read(task["scoring_program"])
        reference_bytes = bundle.read(task["reference_data"])
    app = sandbox / "worker" / "app"
    output_dir = app / "output"
    run = PlatformRun("codabench", sandbox, output_dir)
    shim = python3_shim(sandbox, python39())
    env = clean_environment(sandbox, shim)
    try:
        prediction = codabench_prediction_step(submission, sandbox / "prediction")
    except WorkerFailure as exc:
        run.failure = f"prediction step: {exc}"
        return run
    with zipfile.ZipFile(io.BytesIO(program_bytes)) as archive:
        archive.extractall(app / "program")
    with zipfile.ZipFile(io.BytesIO(reference_bytes)) as archive:
        archive.extractall(app / "input" / "ref")
    extract_plainly(prediction, app / "input" / "res")
    output_dir.mkdir()
    (app / "shared").mkdir()
    metadata_path = _codabench_metadata(app / "program")
    if metadata_path is None:
        # Without metadata the worker treats the program as results: copied, nothing runs.
        shutil.copytree(app / "program", output_dir, dirs_exist_ok=True)
        run.failure = "Could not find scores file, did the scoring program output it?"
        return run
    metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8")) or {}
    argv = codabench_command(str(metadata.get("command", "")), app)
    execute(run, argv, app / "program", env, limit, sandbox)
    if run.failure:
        return run
    if run.returncode != 0:
        run.failure = f"failed: exit code {run.returncode}"
        return run
    try:
        run.scores = codabench_read_scores(output_dir, columns)
    except ValueError as exc:
        run.failure = f"push_scores: {exc}"
        return run
    if run.wrote_output_metadata:
        run.failure = "push_output: output/metadata exists; do not write to this file manually"
    return run


# -- tiny references and submissions in the real layouts -----------------------------------------

#: Where the toy references sit: ``<labels root>/<domain>/<zone>/msk/MSK_<id>.tif``, as in FLAIR.
TOY_LAYOUT = (("D004_2021", "Z1_NF"), ("D013_2020", "Z2_UU"))


def save_mask(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 mask with Pillow, LZW-compressed, as IGN's and participants' writers do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compression="tiff_lzw")
    return path


def make_reference(
    root: Path, ids: list[int], shape: tuple[int, int] = (40, 48), seed: int = 0
) -> Path:
    """Reference masks of raw values 1..19 with blocky structure, spread over two domains."""
    rng = np.random.default_rng(seed)
    for position, tile in enumerate(ids):
        coarse = rng.integers(1, 20, size=(shape[0] // 8 + 1, shape[1] // 8 + 1), dtype=np.uint8)
        mask = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))[: shape[0], : shape[1]]
        domain, zone = TOY_LAYOUT[position % len(TOY_LAYOUT)]
        save_mask(root / domain / zone / "msk" / f"MSK_{tile:06d}.tif", np.ascontiguousarray(mask))
    return root


def make_predictions(reference: Path, folder: Path, seed: int = 1, error_rate: float = 0.3) -> Path:
    """One ``PRED_<id>.tif`` per reference mask: the true class with some pixels wrong."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(reference.rglob("MSK_*.tif")):
        with Image.open(path) as image:
            truth = TRUTH_LUT[np.asarray(image)]
        noise = rng.integers(0, NUM_CLASSES, size=truth.shape, dtype=np.uint8)
        pred = np.where(rng.random(truth.shape) < error_rate, noise, truth).astype(np.uint8)
        save_mask(folder / path.name.replace("MSK_", "PRED_"), pred)
    return folder


def zip_files(
    target: Path, files: list[tuple[str, Path]], extra: dict[str, bytes] | None = None
) -> Path:
    """A submission zip with the given ``(arcname, file)`` entries plus raw ``extra`` entries."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            archive.write(path, name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def flat_zip(folder: Path, target: Path) -> Path:
    """What ``flair-kit pack`` and IGN's example make: the PRED files at the zip root."""
    return zip_files(target, [(p.name, p) for p in sorted(folder.glob("PRED_*.tif"))])


def wrapped_zip(folder: Path, target: Path, top: str = "predictions") -> Path:
    """A zip of the folder instead of its files: ``predictions/PRED_*.tif``."""
    entries = [(f"{top}/{p.name}", p) for p in sorted(folder.glob("PRED_*.tif"))]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{top}/", b"")
        for name, path in entries:
            archive.write(path, name)
    return target


def macos_zip(folder: Path, target: Path) -> Path:
    """A zip made by macOS Finder: ``__MACOSX/._*`` AppleDouble forks and a ``.DS_Store``."""
    files = sorted(folder.glob("PRED_*.tif"))
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
    extra = {f"__MACOSX/._{p.name}": apple_double for p in files}
    extra[".DS_Store"] = b"\x00\x00\x00\x01Bud1" + bytes(32)
    return zip_files(target, [(p.name, p) for p in files], extra)
