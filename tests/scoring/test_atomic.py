"""The atomic-write helper: whole or nothing, stale temporaries, targets it must refuse.

Standard library and pytest only (runs in the Python 3.9 environment of the scoring program).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.atomic import (
    SIGTERM_EXIT_CODE,
    atomic_directory,
    atomic_file,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_outputs_apart,
    check_target,
    json_writer,
    make_parent_folder,
    owner_pid,
    pid_alive,
    publish,
    remove_stale_temporaries,
    temporary_path,
    text_writer,
    write_together,
)
from scoring.errors import OutputExistsError, OutputPathError, describe_os_error, os_error_advice


class Boom(Exception):
    pass


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def test_a_write_appears_whole_and_leaves_nothing_else(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "b.txt", "line\r\n")
    atomic_write_json(tmp_path / "c.json", {"k": [1, 2]})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_bytes() == b"line\r\n"
    assert json.loads((tmp_path / "c.json").read_text("utf-8")) == {"k": [1, 2]}
    assert (tmp_path / "c.json").read_text("utf-8").endswith("}\n")
    assert listing(tmp_path) == ["a.bin", "b.txt", "c.json"]


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt, SystemExit])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, error: type) -> None:
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(error), atomic_file(target, "w") as sink:
        sink.write("half of the new conte")
        assert len(listing(tmp_path)) == 2  # the target and our temporary
        raise error()
    assert target.read_text("utf-8") == "old"
    assert listing(tmp_path) == ["out.json"]


def test_the_temporary_names_the_target_and_this_process(tmp_path: Path) -> None:
    scratch = temporary_path(tmp_path / "sub.zip")
    assert scratch.parent == tmp_path
    assert scratch.name.startswith(f".sub.zip.flair-kit-{os.getpid()}-")
    assert scratch.name.endswith(".partial")
    assert owner_pid(scratch, tmp_path / "sub.zip") == os.getpid()
    assert owner_pid(scratch, tmp_path / "other.zip") is None
    assert owner_pid(tmp_path / ".sub.zip.partial") is None  # not ours: never touched


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "sub.zip"
    dead = dead_pid()
    stale_file = tmp_path / f".sub.zip.flair-kit-{dead}-0123abcd.partial"
    stale_folder = tmp_path / f".sub.zip.flair-kit-{dead}-4567cdef.partial"
    live = tmp_path / f".sub.zip.flair-kit-{os.getppid()}-89abcdef.partial"
    other_target = tmp_path / f".other.zip.flair-kit-{dead}-0123abcd.partial"
    foreign = tmp_path / ".sub.zip.partial"
    stale_file.write_bytes(b"half")
    stale_folder.mkdir()
    (stale_folder / "inner.tif").write_bytes(b"x")
    for path in (live, other_target, foreign):
        path.write_bytes(b"keep")
    atomic_write_bytes(target, b"new")
    assert not stale_file.exists() and not stale_folder.exists()
    assert live.exists() and other_target.exists() and foreign.exists()
    assert remove_stale_temporaries(target) == []


def test_a_folder_target_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "report.json").mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        atomic_write_json(tmp_path / "report.json", {})
    assert caught.value.filename == str(tmp_path / "report.json")
    assert listing(tmp_path) == ["report.json"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_target_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "scores.txt"
    os.mkfifo(fifo)  # opening it for writing would block forever without a reader
    with pytest.raises(OutputPathError, match="FIFO"):
        atomic_write_text(fifo, "x")
    with pytest.raises(OutputPathError, match="FIFO"):
        check_target(fifo, folder=True)
    assert listing(tmp_path) == ["scores.txt"]


def test_a_symlink_target_is_replaced_and_what_it_points_to_is_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    link = tmp_path / "out.txt"
    link.symlink_to(outside)
    atomic_write_text(link, "new")
    assert not link.is_symlink() and link.read_text("utf-8") == "new"
    assert outside.read_text("utf-8") == "precious"


def test_without_overwrite_an_existing_or_appearing_target_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "sub.zip"
    target.write_bytes(b"theirs")
    with (
        pytest.raises(OutputExistsError, match="--overwrite"),
        atomic_file(target, overwrite=False),
    ):
        pytest.fail("the block must not run when the target exists")
    assert target.read_bytes() == b"theirs" and listing(tmp_path) == ["sub.zip"]
    target.unlink()
    with pytest.raises(OutputExistsError), atomic_file(target, overwrite=False) as sink:
        sink.write(b"ours")
        target.write_bytes(b"theirs, written meanwhile")
    assert target.read_bytes() == b"theirs, written meanwhile"
    assert listing(tmp_path) == ["sub.zip"]


def test_errors_name_the_target_not_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "report.json"
    with pytest.raises(FileNotFoundError) as caught:
        atomic_write_json(target, {})
    assert caught.value.filename == str(target)
    assert describe_os_error(caught.value).startswith(f"{target}: no such file or folder")


def test_path_variant_for_writers_that_take_a_name(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    with atomic_path(target) as scratch:
        assert not scratch.exists() and scratch.parent == tmp_path
        scratch.write_bytes(b"weights")
    assert target.read_bytes() == b"weights" and listing(tmp_path) == ["model.pt"]
    with pytest.raises(Boom), atomic_path(target) as scratch:
        scratch.write_bytes(b"half")
        raise Boom()
    assert target.read_bytes() == b"weights" and listing(tmp_path) == ["model.pt"]


def test_publish_moves_a_finished_temporary(tmp_path: Path) -> None:
    target = tmp_path / "map.tif"
    scratch = temporary_path(target)
    scratch.write_bytes(b"tiff")
    publish(scratch, target)
    assert listing(tmp_path) == ["map.tif"]
    again = temporary_path(target)
    again.write_bytes(b"other")
    with pytest.raises(OutputExistsError):
        publish(again, target, overwrite=False)
    assert target.read_bytes() == b"tiff"


def test_a_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "toy"
    with pytest.raises(Boom), atomic_directory(target) as scratch:
        (scratch / "a.tif").write_bytes(b"x")
        raise Boom()
    assert listing(tmp_path) == []
    with atomic_directory(target) as scratch:
        (scratch / "a.tif").write_bytes(b"x")
        assert not target.exists()
    assert listing(tmp_path) == ["toy"] and listing(target) == ["a.tif"]


def test_a_folder_replaces_an_empty_one_but_never_a_full_one(tmp_path: Path) -> None:
    target = tmp_path / "toy"
    target.mkdir()
    with atomic_directory(target) as scratch:
        (scratch / "a.tif").write_bytes(b"x")
    assert listing(target) == ["a.tif"]
    with pytest.raises(OSError) as caught, atomic_directory(target) as scratch:
        (scratch / "b.tif").write_bytes(b"y")
    assert caught.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
    assert caught.value.filename == str(target)
    assert listing(tmp_path) == ["toy"] and listing(target) == ["a.tif"]


def test_a_stale_scratch_folder_is_removed_by_the_next_run(tmp_path: Path) -> None:
    stale = tmp_path / f".toy.flair-kit-{dead_pid()}-0123abcd.partial"
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "IMG_000001.tif").write_bytes(b"x" * 1000)
    with atomic_directory(tmp_path / "toy"):
        pass
    assert listing(tmp_path) == ["toy"]


def test_a_file_where_a_parent_folder_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError) as caught:
        make_parent_folder(tmp_path / "file" / "sub" / "out.zip")
    assert caught.value.filename == str(tmp_path / "file")
    make_parent_folder(tmp_path / "new" / "deeper" / "out.zip")
    assert (tmp_path / "new" / "deeper").is_dir()


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.EROFS, "writable"),
        (errno.EACCES, "write to"),
        (errno.ENOSPC, "free space"),
        (errno.EDQUOT, "free space"),
        (errno.EFBIG, "free space"),
        (errno.ENOENT, "create the missing folder"),
        (errno.EISDIR, "not a folder"),
        (errno.ENOTDIR, "rename"),
        (errno.EMFILE, "ulimit -n"),
        (None, "check the path"),
        (12345, "check the path"),
    ],
)
def test_every_errno_gets_a_fix(code: int, fix: str) -> None:
    what, how = os_error_advice(code)
    assert what and fix in how


def test_the_one_line_names_both_paths_of_a_rename() -> None:
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a/x", None, "/b/x")
    line = describe_os_error(exc)
    assert line.startswith("/a/x -> /b/x: cannot move across file systems (Invalid cross-device")
    assert "\n" not in line


def test_sigterm_during_a_write_removes_the_temporary(tmp_path: Path) -> None:
    """SIGTERM's default action skips every cleanup; the entry-point guard turns it into one."""
    script = (
        "import sys, time\n"
        "from scoring.atomic import atomic_file, terminate_as_exception\n"
        "terminate_as_exception()\n"
        "with atomic_file(sys.argv[1]) as sink:\n"
        "    sink.write(b'half'); sink.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "out.bin")],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"writing\n"
    assert len(listing(tmp_path)) == 1  # the temporary, mid-write
    child.terminate()
    assert child.wait(timeout=30) == SIGTERM_EXIT_CODE
    child.stdout.close()
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_the_scoring_program_output_is_all_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """A failure at any rename (disk error, SIGTERM) removes the files already renamed too."""
    import scoring.atomic
    import scoring.program

    calls = []
    real_publish = scoring.atomic.publish

    def flaky_publish(scratch: Path, target: Path) -> None:
        calls.append(target)
        if len(calls) == fail_at:
            raise OSError(errno.EIO, "Input/output error", str(target))
        real_publish(scratch, target)

    monkeypatch.setattr(scoring.atomic, "publish", flaky_publish)  # write_together's
    files = {"scores.txt": "miou: 0.5\n", "scores.json": "{}\n", "detailed_results.html": "<html>"}
    with pytest.raises(OSError):
        scoring.program.write_outputs(tmp_path, files)
    assert listing(tmp_path) == []
    assert [p.name for p in calls][-1] == ["detailed_results.html", "scores.json", "scores.txt"][
        fail_at - 1
    ]
    monkeypatch.setattr(scoring.atomic, "publish", real_publish)
    scoring.program.write_outputs(tmp_path, files)
    assert listing(tmp_path) == ["detailed_results.html", "scores.json", "scores.txt"]


def test_a_scratch_folder_is_always_removed_and_errors_name_the_target(tmp_path: Path) -> None:
    from scoring.atomic import scratch_directory

    target = tmp_path / "bundle.zip"
    with scratch_directory(target) as scratch:
        assert scratch.parent == tmp_path and scratch.is_dir()
        (scratch / "inner.zip").write_bytes(b"x")
    assert listing(tmp_path) == []
    with pytest.raises(OSError) as caught, scratch_directory(target) as scratch:
        raise OSError(errno.ENOSPC, "No space left on device", str(scratch / "inner.zip"))
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC
    assert listing(tmp_path) == []


def test_outputs_inside_an_input_folder_are_refused(tmp_path: Path) -> None:
    """Not only the inputs themselves: nothing may be written anywhere under an input folder,
    even through a symbolic link to it."""
    truth = tmp_path / "truth"
    (truth / "D1" / "msk").mkdir(parents=True)
    mask = truth / "D1" / "msk" / "MSK_1.tif"
    mask.write_bytes(b"mask")
    (tmp_path / "link").symlink_to(truth)
    counts = tmp_path / "a.npz"
    counts.write_bytes(b"counts")
    cases = [
        ({"--html": mask}, "--html would overwrite a file of the input folder"),
        ({"--json": truth / "new.json"}, "--json would write into the input folder"),
        ({"--csv": tmp_path / "link" / "D1" / "x.csv"}, "--csv would write into the input folder"),
        ({"--json": tmp_path / "c.npz"}, None),
        ({"--json": counts}, "--json would overwrite this input"),
    ]
    for outputs, message in cases:
        if message is None:
            check_outputs_apart(outputs, [truth, counts])
            continue
        with pytest.raises(OutputPathError) as caught:
            check_outputs_apart(outputs, [truth, counts])
        assert message in str(caught.value), outputs
        if "input folder" in message:  # the output named first, then the folder it would change
            path = str(next(iter(outputs.values())))
            assert str(caught.value).startswith(f"{path}: ") and str(truth) in str(caught.value)
    assert mask.read_bytes() == b"mask" and listing(truth / "D1" / "msk") == ["MSK_1.tif"]


def test_an_optional_input_not_given_is_skipped(tmp_path: Path) -> None:
    """None stands for an optional input left out (--metadata, --zones), as for outputs."""
    truth = tmp_path / "truth"
    truth.mkdir()
    check_outputs_apart({"--json": tmp_path / "r.json", "--html": None}, [None, truth, None])
    with pytest.raises(OutputPathError, match="--json would write into the input folder"):
        check_outputs_apart({"--json": truth / "r.json"}, [None, truth])


def test_write_together_writes_all_or_none(tmp_path: Path) -> None:
    first, second, third = (tmp_path / name for name in ("a.json", "b.npz", "c.html"))
    third.write_text("old page")

    def failing(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(OSError) as caught:
        write_together({first: json_writer({"a": 1}), second: failing, third: text_writer("new")})
    assert caught.value.filename == str(second)  # the target, not our temporary
    assert listing(tmp_path) == ["c.html"] and third.read_text() == "old page"
    write_together({first: json_writer({"a": 1}), third: text_writer("new")})
    assert listing(tmp_path) == ["a.json", "c.html"]
    assert json.loads(first.read_text()) == {"a": 1} and third.read_text() == "new"


def test_a_killed_write_together_leaves_nothing_the_next_run_keeps(tmp_path: Path) -> None:
    """A writer that itself writes atomically (save_counts onto write_together's temporary) makes
    a temporary of a temporary; one left by kill -9 is removed by the next run too."""
    target = tmp_path / "a.npz"
    gone = dead_pid()
    outer = f".a.npz.flair-kit-{gone}-89abcdef.partial"
    nested = tmp_path / f".{outer}.flair-kit-{gone}-0123abcd.partial"
    nested.write_bytes(b"half")
    other = tmp_path / f"..b.npz.flair-kit-{gone}-0123abcd.partial"
    other.write_bytes(b"not a temporary of a.npz")
    write_together({target: text_writer("whole")})
    assert listing(tmp_path) == sorted([other.name, "a.npz"])
