"""What every ``flair-kit`` command shares: option declarations, exit-code policy, output aliases.

Both command lines use it: the kit's own (:mod:`starting_kit.cli`) and the commands other packages
add through the ``flair_kit.commands`` entry point (:mod:`baseline.cli`). Options are ``Annotated``
aliases declared once; where each command words its help differently, a factory declares the
names and constraints once and takes the help text.

Exit codes: 0 success, 1 a domain failure (invalid submission, unreadable data; one clear message
on stderr, no traceback), 2 a usage error (typer does this).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scoring.atomic import SIGTERM_EXIT_CODE, Terminated
from scoring.errors import FlairKitError, describe_os_error

F = TypeVar("F", bound=Callable[..., Any])

#: ``--workers`` of the commands that read submissions in a pool of processes.
Workers = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Worker processes [default: all cores]."),
]
#: The hidden older spelling of ``--output`` (see :func:`main_output`).
OutAlias = Annotated[
    Path | None, typer.Option("--out", hidden=True, help="Older name of --output.")
]
#: The hidden older spelling of ``--output`` of ``flair-kit demo``.
WorkdirAlias = Annotated[
    Path | None, typer.Option("--workdir", hidden=True, help="Older name of --output.")
]


def output_option(help: str, *, show_default: bool = True) -> Any:
    """The ``--output``/``-o`` option with this command's help text."""
    return typer.Option("--output", "-o", help=help, show_default=show_default)


def overwrite_option(help: str) -> Any:
    """The ``--overwrite`` flag with this command's help text."""
    return typer.Option("--overwrite", help=help)


def fail(message: str) -> typer.Exit:
    """Print one clear error line on stderr and return the exit to raise (code 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def domain_errors_exit(command: F) -> F:
    """Turn the kit's errors into one stderr line and exit code 1, never a traceback.

    File-system faults (``OSError``: a read-only or full disk, a missing folder, a folder where a
    file is expected) are reported the same way, as ``PATH: what happened (strerror); how to
    fix``. Ctrl-C exits 130 and SIGTERM 143; the atomic writers have removed their temporaries by
    then.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlairKitError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(describe_os_error(exc)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None
        except Terminated:
            typer.echo("terminated (SIGTERM)", err=True)
            raise typer.Exit(code=SIGTERM_EXIT_CODE) from None

    return wrapper  # type: ignore[return-value]


def main_output(output: Path | None, alias: Path | None, alias_name: str) -> Path | None:
    """The value of ``--output``, or of its hidden older spelling ``alias_name``.

    Raises:
        typer.BadParameter: both are given with different values (a usage error, exit 2).
    """
    # Two options rather than two names of one: click cannot hide one name of an option.
    if output is not None and alias is not None and output != alias:
        raise typer.BadParameter(
            f"{alias_name} is the older name of --output; give --output only",
            param_hint="'--output'",
        )
    return output if output is not None else alias


def required_output(output: Path | None, alias: Path | None, alias_name: str) -> Path:
    """:func:`main_output` for a command whose ``--output`` is required."""
    value = main_output(output, alias, alias_name)
    if value is None:
        raise typer.BadParameter("missing: this option is required", param_hint="'--output'")
    return value
