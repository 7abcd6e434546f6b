"""The root CLI's plugin loading: a broken plugin costs only its own commands."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from starting_kit import cli


def _fake_entry_points(*found: EntryPoint) -> Any:
    def entry_points(group: str) -> tuple[EntryPoint, ...]:
        assert group == cli.COMMANDS_GROUP
        return found

    return entry_points


def test_a_plugin_that_fails_to_load_is_named_and_the_rest_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("broken", "no_such_module_for_flair_kit.cli:register", cli.COMMANDS_GROUP)
    monkeypatch.setattr(cli, "entry_points", _fake_entry_points(broken))
    app = typer.Typer()

    @app.command()
    def hello() -> None:
        typer.echo("hello")

    @app.command()
    def other() -> None:  # two commands, so typer keeps the command names
        typer.echo("other")

    cli.register_plugins(app)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "warning: the 'broken' commands (no_such_module_for_flair_kit.cli:register)" in err
    assert "ModuleNotFoundError" in err and "reinstall flair-kit" in err
    result = CliRunner().invoke(app, ["hello"])
    assert result.exit_code == 0 and result.output == "hello\n"


def test_the_installed_baseline_plugin_registers_its_commands() -> None:
    names = {command.name for command in cli.app.registered_commands}
    groups = {group.name for group in cli.app.registered_groups}
    assert "demo" in names and "baseline" in groups
