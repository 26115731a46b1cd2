"""Root Typer app, shared sub-apps and the one place user errors become one clear line."""

from __future__ import annotations

import os
import sys

import typer

from humo import __version__

app = typer.Typer(
    name="humo",
    help="humo: human motion generation and understanding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train models.", no_args_is_help=True)
data_app = typer.Typer(help="Build and inspect motion corpora.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""


def load_npy(path, dtype: str = "float32"):
    """Read a user's ``.npy`` as a torch tensor (never unpickles); missing or unreadable -> one clear line."""
    from pathlib import Path

    import numpy as np
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"cannot read {path}: {e}") from e
    return torch.from_numpy(np.asarray(array, dtype=dtype))


def _version(value: bool):
    if value:
        typer.echo(f"humo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """humo: human motion generation and understanding."""


_registered = False


def _register() -> None:
    # Each module adds its commands to `app`, `train_app` or `data_app` at import time.
    global _registered
    if _registered:
        return
    from humo.cli import (  # noqa: F401
        coamd,
        coamd_train,
        data,
        evaluate,
        evaluator,
        motionduet,
        recognizer,
        render,
        represent,
    )

    # `--help` lists commands in this order whatever imported a command module first (tests, plugins)
    for typer_app, order in ((app, _ORDER), (train_app, _TRAIN_ORDER), (data_app, _DATA_ORDER)):
        typer_app.registered_commands.sort(key=lambda c: _rank(order, c))
    _registered = True


_ORDER = ("generate", "edit", "evaluate", "recognize", "retrieve", "render", "export", "represent")
_TRAIN_ORDER = ("autoencoder", "coamd", "recognizer", "evaluator", "motionduet")
_DATA_ORDER = ("build", "merge")


def _rank(order: tuple[str, ...], info) -> int:
    name = info.name or info.callback.__name__.removesuffix("_command").replace("_", "-")
    return order.index(name) if name in order else len(order)


def get_app() -> typer.Typer:
    """The fully registered app (for Typer's CliRunner in tests and for docs)."""
    _register()
    return app


def _exit_fast() -> None:
    """After a successful command (every output written and closed), skip the interpreter's teardown:
    torch's alone costs ~0.3 s of a one-prompt ``humo generate``. Not while child processes or a
    torch.distributed process group still need the normal shutdown."""
    import multiprocessing

    dist = sys.modules.get("torch.distributed")
    if multiprocessing.active_children() or (dist is not None and dist.is_available() and dist.is_initialized()):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    """Console-script entry point: run the app; ValueError/UserError become one clear line."""
    _register()
    try:
        app(standalone_mode=False)
        _exit_fast()
    except (UserError, ValueError, FileNotFoundError, FileExistsError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
