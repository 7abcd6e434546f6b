"""Reusable machinery of the hostile tests: run a real command under a real fault, and look.

Root ignores permission bits, so a ``chmod 555`` folder proves nothing here: read-only and full
file systems are real ones, a small tmpfs mounted in a private mount namespace (``unshare``) of the
child command only, remounted read-only or filled to the last byte; a file-size limit
(``RLIMIT_FSIZE``, with SIGXFSZ ignored so writes fail with ``EFBIG``) is the other full disk.
Where the machine cannot do it, the tests that need it skip and say why; none passes untested.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: The repository root: commands run with it first on ``PYTHONPATH``.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: ``flair-kit`` as a user runs it (the console script's entry point, SIGTERM guard included).
KIT: tuple[str, ...] = (sys.executable, "-m", "starting_kit")
#: The scoring program as the platforms run it.
SCORER: tuple[str, ...] = (sys.executable, "-m", "scoring")
SCORE_PY: tuple[str, ...] = (sys.executable, str(REPO_ROOT / "scoring" / "score.py"))
#: No single command of these tests may take longer (they use tiny data).
COMMAND_TIMEOUT = 120


@dataclass(frozen=True)
class Mount:
    """A tmpfs the child sees at ``path``: ``size`` bytes, read-only, or filled to the brim."""

    path: Path
    size: str = "256k"
    read_only: bool = False
    full: bool = False


@dataclass
class Run:
    """What a command did: exit code, output, and the listing of each mount before it ended."""

    argv: Sequence[str]
    returncode: int
    stdout: str
    stderr: str
    inside: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def command_env() -> dict[str, str]:
    """The environment of a command under test: this checkout first, no bytecode written."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("COLUMNS", None)
    return env


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _mount_script(mounts: Sequence[Mount], report: Path) -> str:
    """Shell: mount each tmpfs, run "$@", list what each mount holds, exit with its code."""
    lines = ["set -e"]
    for mount in mounts:
        where = shlex.quote(str(mount.path))
        lines.append(f"mount -t tmpfs -o size={mount.size} tmpfs {where}")
        if mount.full:
            # Fill to the last block: every later write fails with ENOSPC.
            lines.append(f"dd if=/dev/zero of={where}/filler bs=4096 2>/dev/null || true")
            lines.append(f"dd if=/dev/zero of={where}/filler2 bs=1 2>/dev/null || true")
        if mount.read_only:
            lines.append(f"mount -o remount,ro {where}")
    lines += ["set +e", '"$@"', "code=$?"]
    for mount in mounts:
        where = shlex.quote(str(mount.path))
        lines.append(f"echo '=== '{where} >> {shlex.quote(str(report))}")
        lines.append(f"(cd {where} && find . -mindepth 1 | sort) >> {shlex.quote(str(report))}")
    lines.append("exit $code")
    return "\n".join(lines)


def run_command(
    argv: Sequence[str],
    cwd: Path,
    *,
    mounts: Sequence[Mount] = (),
    file_size_limit: int | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Run:
    """Run ``argv`` in ``cwd`` (inside a private mount namespace when ``mounts`` are given)."""
    full_argv = list(argv)
    handle, name = tempfile.mkstemp(prefix="flair-kit-mounts-", suffix=".txt")
    os.close(handle)
    report = Path(name)
    if mounts:
        for mount in mounts:
            mount.path.mkdir(parents=True, exist_ok=True)
        script = _mount_script(mounts, report)
        full_argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            *argv,
        ]
    completed = subprocess.run(
        full_argv,
        check=False,
        cwd=cwd,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_file_size(file_size_limit) if file_size_limit else None,
    )
    inside: dict[str, list[str]] = {}
    if mounts:
        current = ""
        for line in report.read_text(encoding="utf-8").splitlines():
            if line.startswith("=== "):
                current = line[4:]
                inside[current] = []
            else:
                inside[current].append(line.removeprefix("./"))
    report.unlink()
    return Run(argv, completed.returncode, completed.stdout, completed.stderr, inside)


def can_mount_tmpfs(scratch: Path) -> str | None:
    """None if a private tmpfs can be mounted and remounted read-only here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    target = scratch / "probe"
    target.mkdir(exist_ok=True)
    script = (
        'mount -t tmpfs -o size=16k tmpfs "$1" && mount -o remount,ro "$1" '
        '&& ! touch "$1/x" 2>/dev/null'
    )
    try:
        done = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                str(target),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,  # a failure is reported below, with the reason
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return (
            "cannot mount a private tmpfs (needs root or user namespaces: "
            f"unshare --mount): {done.stderr.strip() or done.returncode}"
        )
    return None


@pytest.fixture(scope="session")
def tmpfs_available(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip the calling test where no real read-only or full file system can be made."""
    reason = can_mount_tmpfs(tmp_path_factory.mktemp("tmpfs-probe"))
    if reason:
        pytest.skip(f"no real read-only/full file system for this test: {reason}")


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``folder`` (hidden ones included): relative path -> (kind, size)."""
    entries: dict[str, tuple[str, int]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            kind = "link"
        else:
            kind = "dir" if path.is_dir() else "file" if path.is_file() else "special"
        entries[str(path.relative_to(folder))] = (kind, info.st_size if kind == "file" else 0)
    return entries


def assert_one_line_error(run: Run, *fragments: str) -> str:
    """Exit code 1, exactly one stderr line ``error: ...`` holding every fragment, no traceback."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 1, (run.returncode, run.stderr)
    lines = run.lines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def kit_temporaries(folder: Path) -> list[Path]:
    """The kit's own temporaries (``.NAME.flair-kit-<pid>-<hex>.partial``) under ``folder``."""
    return sorted(p for p in folder.rglob(".*.flair-kit-*.partial"))
