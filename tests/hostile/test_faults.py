"""File-system and process faults at every writing command: one line, exit 1, nothing partial.

Each case runs the real command in a child process (``python -m starting_kit``, ``python -m
scoring``, ``scoring/score.py``) against a real fault: a read-only tmpfs, a tmpfs filled to the
last byte, a file-size limit, a missing folder, a folder, FIFO or file where the output goes, a
binary ``--expect`` list, or ``kill -9`` / SIGTERM in the middle of the run. Every case asserts
the exit code, the one-line message (no traceback), that nothing changed outside the requested
output, and that no partial output or temporary is left (or, after ``kill -9``, that the next run
removes what the killed one left).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scoring.atomic import SIGTERM_EXIT_CODE
from starting_kit.predictions import write_prediction
from tests.hostile.conftest import (
    KIT,
    SCORE_PY,
    SCORER,
    Mount,
    assert_one_line_error,
    command_env,
    kit_temporaries,
    run_command,
    snapshot,
)
from tests.starting_kit.corpus import CORPUS_IDS, corpus_classes, write_reference

#: Mask side of the fixtures (tiny: the faults, not the data, are under test).
SIZE = 32
#: The smallest toy dataset worth generating.
TOY_ARGS = ("--size", "16", "--train", "4", "--test", "2")
#: A file-size limit every output of these commands exceeds (they are all a few KB or more).
FSIZE_LIMIT = 1024


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Predictions, references and a scoring-program INPUT, shared read-only by the cases."""
    root = tmp_path_factory.mktemp("fault-data")
    (root / "pred").mkdir()
    for tile in CORPUS_IDS:
        write_prediction(root / "pred" / f"PRED_{tile:06d}.tif", corpus_classes(tile, SIZE))
    write_reference(root / "ref", size=SIZE)
    (root / "input").mkdir()
    os.symlink(root / "ref", root / "input" / "ref")
    os.symlink(root / "pred", root / "input" / "res")
    return root


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The folder a command runs in; everything it may write goes under it."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


# -- the writing commands --------------------------------------------------------------------

Command = Callable[[Path, str], list[str]]


def pack(data: Path, out: str) -> list[str]:
    return [
        *KIT,
        "pack",
        str(data / "pred"),
        "--output",
        out,
        "--size",
        str(SIZE),
        "--workers",
        "1",
    ]


def score_json(data: Path, out: str) -> list[str]:
    return [*KIT, "score", str(data / "pred"), str(data / "ref"), "--json", out, "--workers", "1"]


def scorer(data: Path, out: str) -> list[str]:
    return [*SCORER, str(data / "input"), out]


def score_py(data: Path, out: str) -> list[str]:
    return [*SCORE_PY, str(data / "input"), out]


def toy_data(data: Path, out: str) -> list[str]:
    return [*KIT, "toy-data", out, *TOY_ARGS]


def bundle(data: Path, out: str) -> list[str]:
    return [
        *KIT,
        "bundle",
        "--dataset",
        "flair1",
        "--reference",
        str(data / "ref"),
        "--output",
        out,
    ]


@dataclass(frozen=True)
class Writer:
    """A command and the output name it is given inside the faulty folder."""

    command: Command
    name: str


WRITERS = {
    "pack": Writer(pack, "submission.zip"),
    "score-json": Writer(score_json, "report.json"),
    "scoring-program": Writer(scorer, "output"),
    "scoring-program-existing-output": Writer(scorer, "."),
    "score.py": Writer(score_py, "."),
    "toy-data": Writer(toy_data, "toy"),
    "bundle": Writer(bundle, "bundle.zip"),
}


def assert_untouched(work: Path, before: dict[str, tuple[str, int]]) -> None:
    after = snapshot(work)
    assert after == before, {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
    }


# -- real read-only and full file systems ----------------------------------------------------


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_read_only_file_system_is_one_line_and_leaves_nothing(
    tmpfs_available: None, data: Path, work: Path, writer: str
) -> None:
    spec = WRITERS[writer]
    mount = Mount(work / "ro", read_only=True)
    mount.path.mkdir()
    before = snapshot(work)
    target = os.path.normpath(os.path.join("ro", spec.name))
    run = run_command(spec.command(data, target), work, mounts=[mount])
    line = assert_one_line_error(run, "read-only", "choose a folder on a writable disk")
    assert line.startswith(f"error: {target}"), line  # names what the user asked for
    assert run.inside[str(mount.path)] == []
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_is_one_line_and_leaves_nothing(
    tmpfs_available: None, data: Path, work: Path, writer: str
) -> None:
    spec = WRITERS[writer]
    mount = Mount(work / "full", size="64k", full=True)
    mount.path.mkdir()
    before = snapshot(work)
    target = os.path.normpath(os.path.join("full", spec.name))
    run = run_command(spec.command(data, target), work, mounts=[mount])
    line = assert_one_line_error(run, "the disk is full", "free space")
    assert line.startswith(f"error: {target}") and ".partial" not in line, line
    created = {"output"} if spec.name == "output" else set()  # OUTPUT itself may be created empty
    assert set(run.inside[str(mount.path)]) - {"filler", "filler2"} <= created
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_file_size_limit_is_one_line_and_leaves_nothing(
    data: Path, work: Path, writer: str
) -> None:
    spec = WRITERS[writer]
    (work / "out").mkdir()
    before = snapshot(work)
    target = os.path.normpath(os.path.join("out", spec.name))
    run = run_command(spec.command(data, target), work, file_size_limit=FSIZE_LIMIT)
    line = assert_one_line_error(run, "larger than allowed", "ulimit -f")
    assert line.startswith(f"error: {target}") and ".partial" not in line, line
    after = snapshot(work)
    if spec.name == "output":  # the scoring program creates OUTPUT, and leaves it empty
        assert after.pop("out/output") == ("dir", 0)
    assert after == before


# -- what stands where the output goes --------------------------------------------------------


def test_score_json_into_a_missing_folder(data: Path, work: Path) -> None:
    before = snapshot(work)
    run = run_command(score_json(data, "missing/report.json"), work)
    assert_one_line_error(
        run, "missing/report.json: no such file or folder", "create the missing folder"
    )
    assert "mIoU" not in run.stdout  # refused before the scoring, not after it
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", ["score-json", "pack", "bundle"])
def test_a_folder_where_the_file_goes(data: Path, work: Path, writer: str) -> None:
    spec = WRITERS[writer]
    (work / spec.name).mkdir()
    (work / spec.name / "keep.txt").write_text("mine", encoding="utf-8")
    before = snapshot(work)
    run = run_command(spec.command(data, spec.name), work)
    assert_one_line_error(run, spec.name, "folder")
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_fifo_as_output_is_refused_without_opening_it(
    data: Path, work: Path, writer: str
) -> None:
    spec = WRITERS[writer]
    name = "fifo" if spec.name == "." else spec.name
    os.mkfifo(work / name)  # opening it would block forever: the timeout would catch a hang
    before = snapshot(work)
    run = run_command(spec.command(data, name), work, timeout=60)
    assert_one_line_error(run, name)
    assert "FIFO" in run.stderr or "not a folder" in run.stderr or "Not a directory" in run.stderr
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_file_where_a_folder_of_the_path_should_be(data: Path, work: Path, writer: str) -> None:
    spec = WRITERS[writer]
    (work / "afile").write_text("mine", encoding="utf-8")
    before = snapshot(work)
    target = os.path.normpath(os.path.join("afile", spec.name))
    run = run_command(spec.command(data, target), work)
    assert_one_line_error(run, "afile")
    assert_untouched(work, before)


def test_the_scoring_program_refuses_a_file_as_output(data: Path, work: Path) -> None:
    (work / "output").write_text("mine", encoding="utf-8")
    before = snapshot(work)
    run = run_command(scorer(data, "output"), work)
    assert_one_line_error(run, "output", "Not a directory")
    assert_untouched(work, before)


@pytest.mark.parametrize("writer", ["score-json", "pack"])
def test_a_symlink_output_is_replaced_never_written_through(
    data: Path, work: Path, writer: str
) -> None:
    spec = WRITERS[writer]
    outside = work.parent / "outside.bin"
    outside.write_bytes(b"precious")
    (work / spec.name).symlink_to(outside)
    argv = spec.command(data, spec.name) + (["--overwrite"] if writer == "pack" else [])
    run = run_command(argv, work)
    assert run.returncode == 0, run.stderr
    assert outside.read_bytes() == b"precious"
    assert not (work / spec.name).is_symlink() and (work / spec.name).stat().st_size > 100
    assert kit_temporaries(work) == []


# -- --expect lists that are not text ---------------------------------------------------------

EXPECT_FILES = {
    "latin-1": (
        b"../img/IMG_061713.tif,../msk/MSK_061713.tif\r\n../caf\xe9/IMG_061714.tif\r\n",
        "not UTF-8 (byte 0xe9 at byte offset 51)",
    ),
    "utf-16": (
        "IMG_061713.tif\r\n".encode("utf-16"),
        "UTF-16 text (byte-order mark at byte offset 0)",
    ),
    "binary": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "NUL byte at byte offset 7"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL byte at byte offset 8"),
}


@pytest.mark.parametrize("command", ["validate", "pack"])
@pytest.mark.parametrize("kind", sorted(EXPECT_FILES))
def test_an_expect_list_that_is_not_utf8_text(
    data: Path, work: Path, command: str, kind: str
) -> None:
    content, where = EXPECT_FILES[kind]
    (work / "ids.csv").write_bytes(content)
    before = snapshot(work)
    argv = [*KIT, command, str(data / "pred"), "--expect", "ids.csv", "--size", str(SIZE)]
    if command == "pack":
        argv += ["--output", "submission.zip"]
    run = run_command(argv, work)
    assert_one_line_error(run, "ids.csv: ", where, "expected a UTF-8 text csv")
    assert_untouched(work, before)


# -- kill -9 and SIGTERM in the middle of a run ------------------------------------------------


@dataclass(frozen=True)
class Killable:
    """A run long enough to be caught mid-write, and how to tell a whole output."""

    argv: Callable[[Path], list[str]]
    output: str
    whole: Callable[[Path], bool]


def _zip_whole(count: int) -> Callable[[Path], bool]:
    def check(path: Path) -> bool:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None and len(archive.namelist()) >= count

    return check


#: The scoring program's files in the order they are renamed into OUTPUT (scores.txt last).
SCORE_FILES = ["detailed_results.html", "scores.json", "scores.txt"]


def _scores_files(path: Path) -> list[str]:
    """The OUTPUT files present, each checked whole (HTML closed, JSON parsed, txt lines)."""
    names = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    if "detailed_results.html" in names:
        assert (path / "detailed_results.html").read_text("utf-8").rstrip().endswith("</html>")
    if "scores.json" in names:
        assert "miou" in json.loads((path / "scores.json").read_text("utf-8"))
    if "scores.txt" in names:
        assert (path / "scores.txt").read_text("utf-8").endswith("\n")
    return names


def _scores_whole(path: Path) -> bool:
    """All three, or none; only a kill -9 between two renames may leave a whole prefix."""
    return _scores_files(path) in [SCORE_FILES[:count] for count in range(4)]


def _scores_all_or_none(path: Path) -> bool:
    return _scores_files(path) in ([], SCORE_FILES)


def _toy_whole(path: Path) -> bool:
    return (path / "flair-kit-toy.json").is_file()


def _big_predictions(root: Path) -> Path:
    """Many larger predictions, so that packing and scoring take a moment to catch."""
    folder = root / "big-pred"
    if not folder.is_dir():
        folder.mkdir()
        rng = np.random.default_rng(0)
        for index in range(60):
            classes = rng.integers(0, 13, size=(128, 128), dtype=np.uint8)
            write_prediction(folder / f"PRED_{61713 + index:06d}.tif", classes)
    return folder


def _zipped(folder: Path) -> Path:
    """``folder``'s PRED files as a submission zip beside it (made once)."""
    archive = folder.with_suffix(".zip")
    if not archive.is_file():
        with zipfile.ZipFile(archive, "w") as handle:
            for path in sorted(folder.iterdir()):
                handle.write(path, path.name)
    return archive


def _pack_big(data: Path) -> list[str]:
    return [
        *KIT,
        "pack",
        str(_big_predictions(data)),
        "--output",
        "submission.zip",
        "--size",
        "128",
        "--workers",
        "1",
    ]


KILLABLE = {
    "pack": Killable(_pack_big, "submission.zip", _zip_whole(60)),
    # --fix re-encodes in a scratch folder beside the output: a killed run's is removed by the next.
    "pack-fix": Killable(
        # were the scratch put in TMPDIR, a killed run's would show here
        lambda d: ["env", "TMPDIR=.", *_pack_big(d), "--fix"],
        "submission.zip",
        _zip_whole(60),
    ),
    # A zip is extracted beside the output...
    "score-zip-json": Killable(
        lambda d: [
            "env",
            "TMPDIR=.",
            *KIT,
            "score",
            str(_zipped(d / "pred")),
            str(d / "ref"),
            "--json",
            "report.json",
            "--workers",
            "1",
        ],
        "report.json",
        lambda p: p.read_text("utf-8").rstrip().endswith("}"),
    ),
    # ... or, with no output, in TMPDIR (here the run's folder), named like every kit temporary.
    "score-zip": Killable(
        lambda d: [
            "env",
            "TMPDIR=.",
            *KIT,
            "score",
            str(_zipped(_big_predictions(d))),
            str(d / "ref"),
            "--workers",
            "1",
        ],
        "flair-kit-submission",
        lambda p: not p.exists(),  # never an output: only the scratch folder is named so
    ),
    "toy-data": Killable(
        lambda d: [*KIT, "toy-data", "toy", "--size", "16", "--train", "20", "--test", "6"],
        "toy",
        _toy_whole,
    ),
    "score-json": Killable(
        lambda d: [
            *KIT,
            "score",
            str(d / "pred"),
            str(d / "ref"),
            "--json",
            "report.json",
            "--workers",
            "1",
        ],
        "report.json",
        lambda p: p.read_text("utf-8").rstrip().endswith("}"),
    ),
    "scoring-program": Killable(
        lambda d: [*SCORER, str(d / "input"), "output"], "output", _scores_whole
    ),
}


def _start_and_kill(argv: list[str], work: Path, sig: int, output: str) -> tuple[int, bool]:
    """Start a run, wait until a kit temporary (or the output) appears, then send ``sig``.

    Returns the exit status and whether a temporary existed when the signal was sent.
    """
    child = subprocess.Popen(
        argv, cwd=work, env=command_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if any(p.name.startswith(f".{output}.flair-kit-") for p in work.iterdir()):
            seen = True
            break
        if (work / output).exists():
            break
        time.sleep(0.002)
    child.send_signal(sig)
    try:
        code = child.wait(timeout=60)
    finally:
        assert child.stderr is not None
        stderr = child.stderr.read().decode("utf-8", "replace")
        child.stderr.close()
    assert "Traceback" not in stderr, stderr
    return code, seen


@pytest.mark.parametrize("name", sorted(KILLABLE))
def test_kill_9_leaves_a_whole_output_or_stale_temporaries_the_next_run_removes(
    data: Path, work: Path, name: str
) -> None:
    spec = KILLABLE[name]
    argv = spec.argv(data)
    _start_and_kill(argv, work, signal.SIGKILL, spec.output)
    target = work / spec.output
    if target.exists():
        assert spec.whole(target)
    # Only temporaries of this output: of the target itself, or, for a folder output (the scoring
    # program's OUTPUT), of the files inside it (a kill can land after a temporary exists there).
    leftovers = kit_temporaries(work)
    assert all(
        p.name.startswith(f".{spec.output}.flair-kit-") or p.parent == target for p in leftovers
    ), leftovers
    # The next run cleans what the killed one left (and does its job).
    if target.exists() and name.startswith("pack"):
        argv = [*argv, "--overwrite"]
    run = run_command(argv, work)
    # score-zip's big predictions have no reference: its run fails after the extraction
    assert run.returncode == (1 if name == "score-zip" else 0), run.stderr
    assert kit_temporaries(work) == []
    assert spec.whole(work / spec.output)
    # nothing named by tempfile either (a TemporaryDirectory a kill -9 leaves forever)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(("tmp", "flair-kit-"))) == []


@pytest.mark.parametrize("name", sorted(KILLABLE))
def test_sigterm_removes_the_temporaries_at_once(data: Path, work: Path, name: str) -> None:
    spec = KILLABLE[name]
    before = snapshot(work)
    code, seen = _start_and_kill(spec.argv(data), work, signal.SIGTERM, spec.output)
    # Before the entry point installs its guard SIGTERM kills the default way (nothing written yet);
    # a run that finished before the signal exits 0 (or dies in interpreter shutdown, -15) with a
    # whole output.
    assert code in (SIGTERM_EXIT_CODE, -signal.SIGTERM, 0), code
    target = work / spec.output
    if seen and not target.exists():  # caught mid-write: the guard ran and cleaned up
        assert code == SIGTERM_EXIT_CODE
    assert kit_temporaries(work) == []
    if target.exists():
        assert spec.whole(target)
        if name == "scoring-program":  # SIGTERM is caught: never some of the three files
            assert _scores_all_or_none(target)
    else:
        assert snapshot(work) == before


def test_a_full_temporary_folder_is_named_with_tmpdir(
    tmpfs_available: None, data: Path, work: Path
) -> None:
    mount = Mount(work / "tmp", size="64k")  # room to be chosen, not to extract 60 predictions
    mount.path.mkdir()
    before = snapshot(work)
    archive = _zipped(_big_predictions(data))
    argv = ["env", f"TMPDIR={mount.path}", *KIT, "score", str(archive), str(data / "ref")]
    run = run_command(argv, work, mounts=[mount])
    assert_one_line_error(
        run,
        f"error: {mount.path}: the disk is full (No space left on device) in this temporary folder "
        f"while extracting {archive}",
        "free space there, or set TMPDIR to a folder on a disk with room",
        "TMPDIR chooses the temporary folder",
    )
    assert run.inside[str(mount.path)] == []  # the partial extraction is removed
    assert_untouched(work, before)


# -- baseline map: the GeoTIFF and its COG scratch ---------------------------------------------

#: ``flair-kit`` with the baseline's model swapped for the tests' 1x1 stand-in (no weights built).
MAP_SCRIPT = """
import sys
import baseline.inference
from tests.baseline.test_mapping import builder
baseline.inference.build_model = builder("pointwise")
from starting_kit.cli import main
sys.argv = ["flair-kit", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def map_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A stand-in checkpoint and a small 5-band raster."""
    pytest.importorskip("torch")
    import yaml

    from baseline.checkpoint import model_payload, save_checkpoint
    from baseline.config import config_from_dict
    from scoring.classes import NUM_CLASSES
    from tests.baseline.conftest import TEST_CONFIG
    from tests.baseline.test_mapping import builder, random_image, write_raster

    root = tmp_path_factory.mktemp("map-inputs")
    model = builder("pointwise")("unet", "x", 5, NUM_CLASSES, use_metadata=False)
    checkpoint = root / "model.pt"
    save_checkpoint(
        checkpoint,
        model_payload(model.state_dict(), config_from_dict(yaml.safe_load(TEST_CONFIG)), epoch=1),
    )
    return checkpoint, write_raster(root / "in.tif", random_image(96, 80))


def map_argv(inputs: tuple[Path, Path], out: str, *extra: str) -> list[str]:
    checkpoint, raster = inputs
    return [
        sys.executable,
        "-c",
        MAP_SCRIPT,
        "baseline",
        "map",
        "--checkpoint",
        str(checkpoint),
        "--raster",
        str(raster),
        "--out",
        out,
        "--tile",
        "32",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.mark.parametrize("cog", [False, True], ids=["geotiff", "cog"])
def test_map_into_a_read_only_folder(
    tmpfs_available: None, map_inputs: tuple[Path, Path], work: Path, cog: bool
) -> None:
    mount = Mount(work / "ro", read_only=True)
    mount.path.mkdir()
    before = snapshot(work)
    run = run_command(
        map_argv(map_inputs, "ro/map.tif", *(["--cog"] if cog else [])), work, mounts=[mount]
    )
    assert_one_line_error(run, "ro/map.tif: the file system is read-only")
    assert run.inside[str(mount.path)] == []
    assert_untouched(work, before)


@pytest.mark.parametrize("cog", [False, True], ids=["geotiff", "cog"])
def test_map_onto_a_full_disk(
    tmpfs_available: None, map_inputs: tuple[Path, Path], work: Path, cog: bool
) -> None:
    mount = Mount(work / "full", size="64k", full=True)
    mount.path.mkdir()
    before = snapshot(work)
    argv = map_argv(map_inputs, "full/map.tif", *(["--cog"] if cog else []))
    run = run_command(argv, work, mounts=[mount])
    # one line: libtiff's own "_tiffSeekProc: No space left on device." lines stay off stderr
    assert_one_line_error(run, "error: full/map.tif: the disk is full")
    assert set(run.inside[str(mount.path)]) == {"filler", "filler2"}
    assert_untouched(work, before)


def test_map_onto_a_fifo(map_inputs: tuple[Path, Path], work: Path) -> None:
    os.mkfifo(work / "map.tif")
    before = snapshot(work)
    run = run_command(map_argv(map_inputs, "map.tif", "--overwrite"), work, timeout=60)
    assert_one_line_error(run, "map.tif: is a FIFO")
    assert_untouched(work, before)


def test_an_expect_list_that_is_a_fifo_is_refused_without_reading(data: Path, work: Path) -> None:
    os.mkfifo(work / "ids.csv")  # reading it would block forever without a writer
    before = snapshot(work)
    argv = [*KIT, "validate", str(data / "pred"), "--expect", "ids.csv", "--size", str(SIZE)]
    run = run_command(argv, work, timeout=60)
    assert_one_line_error(run, "ids.csv: not a regular file")
    assert_untouched(work, before)


# -- checkpoints on real read-only and full disks (train, import-weights) --------------------


@pytest.fixture(scope="module")
def weights_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """IGN FLAIR #1 weights to import, a tiny dataset root and the fast training configuration."""
    pytest.importorskip("torch")
    import torch

    from tests.baseline.conftest import TEST_CONFIG, make_flair_tree
    from tests.baseline.test_import_weights import filled, key_shapes, lightning

    root = tmp_path_factory.mktemp("weights-inputs")
    source = root / "flair1.ckpt"
    torch.save(lightning(filled(key_shapes("flair1-unet-keys.txt"))), source)
    (root / "test.yaml").write_text(TEST_CONFIG, encoding="utf-8")
    return source, make_flair_tree(root / "data"), root / "test.yaml"


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_import_weights_onto_a_read_only_or_full_disk(
    tmpfs_available: None, weights_inputs: tuple[Path, Path, Path], work: Path, fault: str
) -> None:
    mount = Mount(work / "disk", size="1m", read_only=fault == "read-only", full=fault == "full")
    mount.path.mkdir()
    before = snapshot(work)
    argv = [*KIT, "baseline", "import-weights", str(weights_inputs[0]), "--output", "disk/w.pt"]
    run = run_command(argv, work, mounts=[mount])
    what = "the file system is read-only" if fault == "read-only" else "the disk is full"
    assert_one_line_error(run, f"error: disk/w.pt: {what}")
    assert set(run.inside[str(mount.path)]) <= {"filler", "filler2"}
    assert_untouched(work, before)


@pytest.mark.slow  # trains a real U-Net epoch in a child process; the in-process twin is in test_train
def test_train_onto_a_disk_too_small_for_the_checkpoint(
    tmpfs_available: None, weights_inputs: tuple[Path, Path, Path], work: Path
) -> None:
    """1 MB holds config.yaml and split.json, not the U-Net's best.pt: one line naming best.pt,
    and the new run folder is gone (nothing to resume)."""
    _, data, config = weights_inputs
    mount = Mount(work / "disk", size="1m")
    mount.path.mkdir()
    before = snapshot(work)
    argv = [*KIT, "baseline", "train", "--config", str(config), "--data", str(data)]
    run = run_command([*argv, "--output", "disk/run", "--epochs", "1"], work, mounts=[mount])
    assert "Traceback" not in run.stderr and run.returncode == 1, run.stderr
    assert run.lines()[-1] == (
        "error: disk/run/best.pt: the disk is full (No space left on device); free space on that "
        "disk or write somewhere else"
    )
    assert run.inside[str(mount.path)] == []
    assert_untouched(work, before)
