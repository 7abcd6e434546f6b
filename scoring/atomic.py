"""Atomic outputs: a file or a folder appears whole at its path, or not at all.

Every writer of the kit goes through this module. The content is written to a temporary entry in
the target's own folder (same file system, so the final :func:`os.replace` is atomic), flushed and
``fsync``-ed, then renamed onto the target. On any exception, ``KeyboardInterrupt`` and
``SystemExit`` included, the temporary entry is removed and the target is left as it was.

Temporaries carry one recognisable name that encodes the owning process,
``.<NAME>.flair-kit-<pid>-<8 hex>.partial``. A ``kill -9`` cannot be caught, so every writer first
removes the temporaries of its target whose process is gone (:func:`remove_stale_temporaries`); a
live process's temporary is never touched.

SIGTERM kills a Python process without running ``finally`` blocks; entry points call
:func:`terminate_as_exception` so that SIGTERM raises :class:`Terminated` instead and the
temporaries are cleaned like on any other exception.

The target itself is never written through: an existing symlink at the target is replaced by the
new file (whatever it points to is left alone), and a folder, FIFO, socket or device at the target
is refused before anything is opened.

Standard library only; Python 3.9 compatible (the scoring program uses it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import signal
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any, Union

from scoring.errors import OutputExistsError, OutputPathError

StrPath = Union[str, "os.PathLike[str]"]

#: Marker in the name of every temporary the kit creates.
TEMP_MARKER = "flair-kit"
_TEMP_NAME = re.compile(r"\A\.(?P<name>.+)\.flair-kit-(?P<pid>[0-9]+)-[0-9a-f]{8}\.partial\Z")
#: Exit status of a process ended by SIGTERM (128 + 15), the shell convention.
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM arrived: raised in the main thread so that ``finally`` blocks and cleanups run."""

    def __init__(self) -> None:
        super().__init__(SIGTERM_EXIT_CODE)


def temporary_path(target: StrPath) -> Path:
    """A fresh temporary path beside ``target``, named after it and this process.

    >>> temporary_path("/tmp/a.zip").name.startswith(".a.zip.flair-kit-")
    True
    """
    target = Path(target)
    token = secrets.token_hex(4)
    return target.with_name(f".{target.name}.{TEMP_MARKER}-{os.getpid()}-{token}.partial")


def owner_pid(entry: StrPath, target: StrPath | None = None) -> int | None:
    """The pid encoded in a kit temporary's name, or None if the name is not one.

    With ``target``, only temporaries of that target count, including a temporary of one of its
    temporaries (a writer of :func:`write_together` that itself writes atomically).

    >>> owner_pid(".a.zip.flair-kit-123-0123abcd.partial", "a.zip")
    123
    >>> owner_pid(".b.zip.flair-kit-123-0123abcd.partial", "a.zip") is None
    True
    >>> owner_pid("..a.zip.flair-kit-12-0123abcd.partial.flair-kit-12-4567cdef.partial", "a.zip")
    12
    """
    match = _TEMP_NAME.match(Path(entry).name)
    if match is None:
        return None
    if target is not None and match.group("name") != Path(target).name:
        return owner_pid(match.group("name"), target)
    return int(match.group("pid"))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a pid we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # when in doubt, the temporary is kept
    return True


def _remove_entry(path: Path) -> None:
    """Remove a file, link or folder tree, best effort: cleaning never hides the error at hand."""
    try:
        if not os.path.lexists(path):
            return
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


def remove_stale_temporaries(target: StrPath) -> list[Path]:
    """Remove the kit's temporaries of ``target`` left by processes that no longer exist.

    Only entries named ``.<NAME>.flair-kit-<pid>-<hex>.partial`` beside the target (or temporaries
    of those), with a pid that is not alive and not this process, are removed. Errors are ignored:
    cleaning is best effort and never stops the write that follows.

    Returns:
        The removed entries.
    """
    target = Path(target)
    removed: list[Path] = []
    prefix = f".{target.name}.{TEMP_MARKER}-"
    try:
        # "." + prefix: a temporary of one of the target's temporaries (see owner_pid)
        entries = [
            e for e in os.scandir(target.parent) if e.name.startswith((prefix, "." + prefix))
        ]
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name, target)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        path = Path(entry.path)
        _remove_entry(path)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def make_parent_folder(target: StrPath) -> None:
    """Create the folders above ``target`` as needed.

    Raises:
        NotADirectoryError: a file stands where one of those folders should be (named).
        OSError: the folders cannot be created (read-only disk, permissions...).
    """
    parent = Path(target).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        files = [p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()]
        blocker = files[0] if files else parent
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocker)) from exc


def check_outputs_apart(
    outputs: Mapping[str, StrPath | None], inputs: Iterable[StrPath | None]
) -> None:
    """Refuse outputs that would overwrite an input, write into an input folder, or overwrite each
    other (``--json A.npz`` where A.npz is being compared, ``--html truth/MSK_1.tif``,
    ``--json X --html X``): a run must never destroy or change what it reads.

    Paths are compared after resolving symbolic links, so a link to an input is the input.

    Args:
        outputs: option name (``--json``) -> path asked for (None: not asked for).
        inputs: the files and folders the run reads (None: an optional input not given).

    Raises:
        OutputPathError: naming the option, the path and the input it would overwrite or write
            into.
    """
    seen: dict[str, str] = {}
    for name, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputPathError(
                f"{path}: both {seen[key]} and {name} would write this file; give each its own path"
            )
        seen[key] = name
    asked = {name: path for name, path in outputs.items() if path is not None}
    for source in inputs:
        if source is None:
            continue
        read = os.path.realpath(source)
        for name, path in asked.items():
            written = os.path.realpath(path)
            if written == read:
                raise OutputPathError(
                    f"{source}: {name} would overwrite this input; write the output elsewhere"
                )
            if _inside(written, read):
                what = "overwrite a file of" if os.path.lexists(written) else "write into"
                raise OutputPathError(
                    f"{path}: {name} would {what} the input folder {source}; "
                    "write the output outside the inputs"
                )


def _inside(path: str, folder: str) -> bool:
    """Whether the resolved ``path`` lies anywhere below the resolved ``folder``."""
    try:
        return path != folder and os.path.commonpath([path, folder]) == folder
    except ValueError:  # paths on different drives (Windows)
        return False


def check_target(target: StrPath, *, folder: bool = False) -> None:
    """Refuse a target that a file (or, with ``folder``, a folder) must not replace.

    A regular file, a symlink (replaced itself, never followed) or nothing at all is fine; so is an
    existing folder when ``folder`` is true (the caller decides whether it may be replaced).

    Raises:
        IsADirectoryError: a folder where a file is to be written.
        NotADirectoryError: a file where a folder is to be written.
        OutputPathError: a FIFO, socket or device at the target (never opened).
    """
    target = Path(target)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        if folder and stat.S_ISREG(mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
        return
    if stat.S_ISDIR(mode):
        if not folder:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        return
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a special file"
    )
    raise OutputPathError(
        f"{target}: is {kind}, not a regular file; refusing to write to it (it was not opened); "
        "give the path of a regular file or a new one"
    )


def probe_writable(target: StrPath, *, parent_must_exist: bool = False) -> None:
    """Fail fast, before long work, if a file cannot be created beside ``target``.

    Creates and removes an empty temporary in the target's folder. A missing folder passes when
    the caller creates it later (creating it will report its own error), and fails at once with
    ``parent_must_exist`` (a writer that does not create folders). A full disk may still pass this
    probe; the write itself then fails cleanly.

    Raises:
        OSError: read-only file system, permission denied, a missing folder with
            ``parent_must_exist``...; the error names ``target``.
    """
    target = Path(target)
    check_target(target)
    if not target.parent.is_dir():
        if parent_must_exist:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(target))
        return
    scratch = temporary_path(target)
    try:
        os.close(os.open(str(scratch), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise _blame_target(exc, scratch, target) from exc
    _remove_entry(scratch)


def _fsync_path(path: Path, *, folder: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk.

    A folder's flush is best effort; a file system that cannot flush at all (``EINVAL``) is
    accepted; any other failure to flush a file (``EIO``, ``ENOSPC`` on network disks) raises.
    """
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0)
    try:
        fd = os.open(str(path), flags)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not folder and exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def _blame_target(exc: OSError, scratch: Path, target: Path) -> OSError:
    """The same error, naming ``target`` where it named our temporary (or a file inside it)."""
    if exc.errno is None:
        return exc
    named = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else None
    if named is None or named == str(scratch):
        return OSError(exc.errno, exc.strerror, str(target))
    if named.startswith(str(scratch) + os.sep):
        return OSError(exc.errno, exc.strerror, str(target) + named[len(str(scratch)) :])
    return exc


@contextlib.contextmanager
def _failures_name_target(scratch: Path, target: Path, *, remove_scratch: bool) -> Iterator[None]:
    """Re-raise an OSError of the block about ``scratch`` as one naming ``target``.

    The user asked for ``target``; the temporary's name would only confuse. With
    ``remove_scratch``, any failure (interrupts included) also removes the temporary.
    """
    try:
        yield
    except OSError as exc:
        if remove_scratch:
            _remove_entry(scratch)
        blamed = _blame_target(exc, scratch, target)
        if blamed is exc:
            raise
        raise blamed from exc
    except BaseException:
        if remove_scratch:
            _remove_entry(scratch)
        raise


def _exists_error(target: Path) -> OutputExistsError:
    return OutputExistsError(f"{target}: already exists; pass --overwrite to replace it")


def _commit(scratch: Path, target: Path, *, overwrite: bool = True) -> None:
    """Rename ``scratch`` onto ``target`` and make the rename durable.

    Without ``overwrite`` a file is published with a hard link, which fails atomically if the
    target appeared meanwhile (a plain existence check where links are not supported).
    """
    if overwrite or scratch.is_dir():
        os.replace(str(scratch), str(target))
    else:
        try:
            os.link(str(scratch), str(target))
        except FileExistsError:
            raise _exists_error(target) from None
        except OSError:  # a file system without hard links
            if os.path.lexists(target):
                raise _exists_error(target) from None
            os.replace(str(scratch), str(target))
        else:
            os.unlink(str(scratch))
    _fsync_path(target.parent, folder=True)


def publish(scratch: StrPath, target: StrPath, *, overwrite: bool = True) -> None:
    """Flush a finished temporary file and rename it onto ``target`` (the last step of a write).

    For writers that manage the temporary themselves (several scratch files, an intermediate
    copy); prefer :func:`atomic_path`. The temporary should come from :func:`temporary_path` so
    that a killed run's leftover is recognised and removed by the next one; the caller removes it
    if this raises.

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is false.
        OSError: the flush or the rename failed (the error names ``target``).
    """
    scratch, target = Path(scratch), Path(target)
    with _failures_name_target(scratch, target, remove_scratch=False):
        _fsync_path(scratch)
        _commit(scratch, target, overwrite=overwrite)


#: Writes one output to the (not yet existing) path it is given, as a regular file.
Writer = Callable[[Path], None]


def text_writer(text: str, *, encoding: str = "utf-8") -> Writer:
    """A :data:`Writer` of ``text`` (newlines written as given)."""

    def write(path: Path) -> None:
        # "x": the temporary is ours alone, never an existing file or a link planted there.
        with open(path, "x", encoding=encoding, newline="") as sink:
            sink.write(text)

    return write


def json_writer(data: Any, *, indent: int | None = 2) -> Writer:
    """A :data:`Writer` of ``data`` as JSON (UTF-8, a final newline), like :func:`atomic_write_json`."""
    return text_writer(json.dumps(data, indent=indent) + "\n")


def write_together(writers: Mapping[StrPath, Writer]) -> None:
    """Write several outputs: all of them, or none.

    Each output is written to its own temporary first; the renames start only once every one is
    written, in reverse order of ``writers``, so the first target appears last. On any exception
    (a full disk, a writer's own failure, SIGTERM) the temporaries and the targets already renamed
    are removed, so a failed run leaves no mixed set. Only ``kill -9`` between two renames can
    leave some targets, each of them whole; the next run removes the temporaries.

    Raises:
        IsADirectoryError, OutputPathError: see :func:`check_target` (before anything is written).
        OSError: a write, flush or rename failed (the error names the target, not the temporary).
    """
    targets = [Path(target) for target in writers]
    for target in targets:
        check_target(target)
        remove_stale_temporaries(target)
    scratches: list[Path] = []
    published: list[Path] = []
    try:
        for target, write in zip(targets, writers.values()):
            scratches.append(temporary_path(target))
            with _failures_name_target(scratches[-1], target, remove_scratch=False):
                write(scratches[-1])
        for scratch, target in reversed(list(zip(scratches, targets))):
            publish(scratch, target)
            published.append(target)
    except BaseException:
        for path in scratches + published:
            _remove_entry(path)
        raise


@contextlib.contextmanager
def atomic_path(target: StrPath, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write (by name) in place of ``target``; rename it on success.

    For writers that take a path rather than a file object (``torch.save``, rasterio, ``zipfile``).
    The temporary does not exist yet; the body must create it as a regular file.

    Args:
        target: Final path.
        overwrite: Replace an existing ``target``; if false and ``target`` exists (checked before
            the body runs and again, atomically, when publishing), raise ``OutputExistsError``.

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is false.
        IsADirectoryError, OutputPathError: see :func:`check_target`.
        OSError: the write or the rename failed; the target is untouched and no temporary is left.
    """
    target = Path(target)
    check_target(target)
    if not overwrite and os.path.lexists(target):
        raise _exists_error(target)
    remove_stale_temporaries(target)
    scratch = temporary_path(target)
    with _failures_name_target(scratch, target, remove_scratch=True):
        yield scratch
        _fsync_path(scratch)
        _commit(scratch, target, overwrite=overwrite)


@contextlib.contextmanager
def atomic_file(
    target: StrPath,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    overwrite: bool = True,
) -> Iterator[IO[Any]]:
    """Yield a file object whose content appears at ``target`` only if the block succeeds.

    Args:
        target: Final path.
        mode: ``"wb"`` or ``"w"`` (text; ``encoding`` defaults to UTF-8).
        encoding: Text encoding, text mode only.
        newline: As for :func:`open`, text mode only.
        overwrite: See :func:`atomic_path`.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_file(folder / "a.txt", "w") as sink:
    ...     _ = sink.write("whole")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('whole', ['a.txt'])
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file mode {mode!r}; expected 'w' or 'wb'")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    # "x": the temporary is ours alone, never an existing file or a link planted there.
    with (
        atomic_path(target, overwrite=overwrite) as scratch,
        open(scratch, mode.replace("w", "x"), encoding=encoding, newline=newline) as sink,
    ):
        yield sink
        sink.flush()
        os.fsync(sink.fileno())


def atomic_write_bytes(target: StrPath, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_file(target, "wb") as sink:
        sink.write(data)


def atomic_write_text(target: StrPath, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically (newlines written as given)."""
    with atomic_file(target, "w", encoding=encoding, newline="") as sink:
        sink.write(text)


def atomic_write_json(target: StrPath, data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (UTF-8, a final newline) to ``target`` atomically."""
    atomic_write_text(target, json.dumps(data, indent=indent) + "\n")


@contextlib.contextmanager
def atomic_directory(target: StrPath, *, replace_empty: bool = True) -> Iterator[Path]:
    """Yield a new scratch folder that is renamed to ``target`` if the block succeeds.

    The scratch folder sits beside ``target``; on failure it is removed with all it holds.

    Args:
        target: Final folder. It must not exist, or (with ``replace_empty``) be an empty folder.
        replace_empty: Allow replacing an existing empty folder.

    Raises:
        NotADirectoryError, OutputPathError: see :func:`check_target`.
        OSError: the target is a non-empty folder at commit time (``ENOTEMPTY``/``EEXIST``), or
            the rename failed.
    """
    target = Path(target)
    check_target(target, folder=True)
    remove_stale_temporaries(target)
    scratch = temporary_path(target)
    with _failures_name_target(scratch, target, remove_scratch=True):
        scratch.mkdir()
        yield scratch
        if replace_empty and target.is_dir() and not target.is_symlink():
            with contextlib.suppress(OSError):
                target.rmdir()  # fails if not empty: the rename below then reports it
        _commit(scratch, target)


@contextlib.contextmanager
def scratch_directory(target: StrPath) -> Iterator[Path]:
    """Yield a private folder beside ``target`` for intermediate files; always removed after.

    On the target's disk rather than in the system's temporary folder, so a full or read-only
    disk is reported against ``target``, and named like every kit temporary so that one left by
    ``kill -9`` is removed by the next run.

    Raises:
        OSError: naming ``target`` where the error named the scratch folder, a file in it, or
            nothing.
    """
    target = Path(target)
    remove_stale_temporaries(target)
    scratch = temporary_path(target)
    try:
        scratch.mkdir()
        yield scratch
    except OSError as exc:
        named = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else None
        if exc.errno is None or not (
            named is None or named == str(scratch) or named.startswith(str(scratch) + os.sep)
        ):
            raise
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    finally:
        _remove_entry(scratch)


_main_pid: int | None = None


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _main_pid:
        # A forked worker inherited the handler: die the default way, as its parent expects.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


def terminate_as_exception() -> None:
    """Make SIGTERM raise :class:`Terminated` in this process (call once, in an entry point).

    Forked children that inherit the handler still die the default way. Does nothing outside the
    main thread, where signal handlers cannot be installed.
    """
    global _main_pid
    _main_pid = os.getpid()
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        return


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """:func:`terminate_as_exception` for the block (an entry point's work); after it, SIGTERM
    ends the process the default way again.

    A SIGTERM that lands once the work is done (while the interpreter shuts down) must not raise
    :class:`Terminated` where nothing catches it: that printed a traceback after a complete run.
    """
    terminate_as_exception()
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # not the main thread: nothing was installed
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
