"""Drive the fully registered `humo` app through Typer's CliRunner (shared by the CLI tests)."""

from __future__ import annotations

from typer.testing import CliRunner

from humo.cli.app import get_app

_runner = CliRunner()


def invoke(args):
    return _runner.invoke(get_app(), [str(a) for a in args])


def ok(args):
    """Run the command and assert it succeeded; returns the Click result."""
    result = invoke(args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(args, exc_type, match):
    """Run the command and assert it raised ``exc_type`` with ``match`` in its message."""
    result = invoke(args)
    assert isinstance(result.exception, exc_type), (result.output, result.exception)
    assert match in str(result.exception)
