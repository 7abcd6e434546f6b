"""The one error hierarchy of flair-kit.

Every domain failure raised by the kit is a :class:`FlairKitError`. Subclasses also inherit a
builtin exception so that callers can catch either (the rasterio pattern). Messages say what is
wrong, where (file, id, value), what was expected and how to fix it; only the command-line layer
turns them into exit codes.
"""

from __future__ import annotations

import errno
import os


class FlairKitError(Exception):
    """Root of every error flair-kit raises on purpose."""


class DataError(FlairKitError, ValueError):
    """A file exists but its content is not what the format requires."""


class SubmissionError(FlairKitError, ValueError):
    """A submission (folder or zip of PRED files) cannot be scored or packed as it is."""


class MissingFileError(FlairKitError, FileNotFoundError):
    """A file or folder the operation needs does not exist."""


class MissingDependencyError(FlairKitError, ImportError):
    """An optional dependency is not installed; the message names the install command."""


class ConfigError(FlairKitError, ValueError):
    """A configuration value or a combination of options is invalid."""


class OutputExistsError(FlairKitError, FileExistsError):
    """The requested output exists and overwriting was not allowed."""


class OutputPathError(FlairKitError, ValueError):
    """The requested output path cannot hold the output (a FIFO, a socket, a device)."""


class ScratchSpaceError(FlairKitError, OSError):
    """Intermediate files (an extracted submission zip) could not be written to their temporary
    folder: a full or read-only disk; the message names that folder and how to choose another."""


class FlairKitWarning(UserWarning):
    """Root of the warnings flair-kit emits for recoverable oddities."""


def summarize(items: list[str] | tuple[str, ...], limit: int = 10) -> str:
    """Join the first ``limit`` items and say how many there are in total.

    >>> summarize(["a", "b", "c"], limit=2)
    'a, b (3 in total)'
    """
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        return f"{shown} ({len(items)} in total)"
    return shown


#: errno -> (what happened, how to fix), for file-system faults reported at the command line.
_OS_ERROR_ADVICE: dict[int, tuple[str, str]] = {
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk"),
    errno.EACCES: ("permission denied", "choose a folder you can write to, or fix its permissions"),
    errno.EPERM: (
        "operation not permitted",
        "choose a folder you can write to, or fix its permissions",
    ),
    errno.ENOSPC: ("the disk is full", "free space on that disk or write somewhere else"),
    errno.EDQUOT: (
        "the disk quota is exhausted",
        "free space within your quota or write somewhere else",
    ),
    errno.EFBIG: (
        "the file is larger than allowed",
        "free space, raise the file-size limit (ulimit -f) or write somewhere else",
    ),
    errno.ENOENT: (
        "no such file or folder",
        "create the missing folder first, or pass an existing path",
    ),
    errno.EISDIR: ("is a folder", "give the path of a file (e.g. FOLDER/name.ext), not a folder"),
    errno.ENOTDIR: (
        "a file stands where a folder is needed",
        "rename that file or choose another path",
    ),
    errno.EEXIST: ("already exists", "remove it or choose another name"),
    errno.ENOTEMPTY: ("the folder is not empty", "empty it or choose a new folder"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.ELOOP: ("too many levels of symbolic links", "fix the link or pass the real path"),
    errno.EMFILE: (
        "too many open files",
        "raise the open-file limit (ulimit -n) or use fewer workers",
    ),
    errno.ENFILE: (
        "too many open files in the system",
        "close other programs or use fewer workers",
    ),
    errno.EIO: (
        "the device reported an input/output error",
        "check the disk, or write somewhere else",
    ),
    errno.EBUSY: (
        "the file or device is busy",
        "close the program using it, or choose another path",
    ),
    errno.ETXTBSY: ("the file is in use", "close the program using it, or choose another path"),
    errno.EXDEV: (
        "cannot move across file systems",
        "write the output on the same disk as its folder",
    ),
    errno.ENXIO: ("no such device or address", "give the path of a regular file"),
    errno.EINVAL: ("invalid argument for this file system", "choose a folder on a local disk"),
}


def os_error_advice(code: int | None) -> tuple[str, str]:
    """What an errno means for the user and how to fix it (a pure lookup).

    >>> os_error_advice(errno.EROFS)
    ('the file system is read-only', 'choose a folder on a writable disk')
    >>> os_error_advice(None)[1]
    'check the path and try again'
    """
    if code is None or code not in _OS_ERROR_ADVICE:
        return ("input/output error", "check the path and try again")
    return _OS_ERROR_ADVICE[code]


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: ``PATH: what happened (strerror); how to fix``.

    Uses ``filename`` and ``filename2`` when the error carries them.

    >>> print(describe_os_error(OSError(errno.EROFS, "Read-only file system", "o")))
    o: the file system is read-only (Read-only file system); choose a folder on a writable disk
    """
    what, fix = os_error_advice(exc.errno)
    strerror = exc.strerror or (os.strerror(exc.errno) if exc.errno else "")
    strerror = strerror or str(exc) or type(exc).__name__
    paths = [
        os.fsdecode(p) if isinstance(p, (str, bytes, os.PathLike)) else str(p)
        for p in (exc.filename, exc.filename2)
        if p is not None
    ]
    where = " -> ".join(paths)
    detail = what if strerror.lower() == what.lower() else f"{what} ({strerror})"
    return f"{where}: {detail}; {fix}" if where else f"{detail}; {fix}"
