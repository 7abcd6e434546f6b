"""The one error hierarchy of flair-kit.

Every domain failure raised by the kit is a :class:`FlairKitError`. Subclasses also inherit a
builtin exception so that callers can catch either (the rasterio pattern). Messages say what is
wrong, where (file, id, value), what was expected and how to fix it; only the command-line layer
turns them into exit codes.
"""

from __future__ import annotations


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
