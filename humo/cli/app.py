"""Root Typer app, shared sub-apps and the one place user errors become one clear line.

Exit codes: 0 success; 2 usage or input error (typer's own message for a mistyped command line, one
``error: ...`` line for bad input); 130 Ctrl-C and 143 SIGTERM (no partial or temp file is left: see
:mod:`humo.data.atomic`).
"""

from __future__ import annotations

import os
import signal
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
    """Read a user's ``.npy`` as a torch tensor (never unpickles); missing, empty or unreadable -> one
    clear line naming the file."""
    import numpy as np
    import torch

    from humo.motion import load_array

    return torch.from_numpy(np.asarray(load_array(path), dtype=dtype))


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
        generate,
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


def _on_signal(signum, frame) -> None:
    # Ctrl-C / SIGTERM: stop now (an exception that `except Exception` does not swallow) and commit nothing
    # from here on, even if some library swallows the exception; a second signal does not cut the cleanup.
    from humo.data.atomic import CANCEL, Interrupted, interrupt_deferred, request_cancel

    first = not CANCEL.is_set()
    request_cancel(128 + signum)
    if first and not interrupt_deferred():  # inside signals_deferred(): raised when the block ends
        raise Interrupted(128 + signum)


def _interrupted(code: int) -> None:
    typer.echo("interrupted: nothing was written for the unfinished work", err=True)
    sys.exit(code)


def _close_process_group() -> bool:
    """Under ``torchrun`` / ``accelerate launch``: tear the process group down while the interpreter is
    whole; True if there was one. Left to interpreter finalization, gloo's worker threads can be destroyed
    still joinable and the process aborts ("terminate called without an active exception", SIGABRT) after
    its work is done (pytorch/pytorch#190489)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


def _exit_fast(code: int | str | None = 0) -> None:
    """After a command (every output written and closed), skip the interpreter's teardown: torch's alone
    costs ~0.3 s of a one-prompt ``humo generate``, and under a process group it can still abort (about 1
    run in 36 of a 2-process gloo training here, destroyed group or not: a C++ static torn down with a live
    thread). ``code`` as ``SystemExit``'s. Not while child processes still need the normal shutdown."""
    import multiprocessing

    if multiprocessing.active_children():
        return
    if isinstance(code, str):
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def main() -> None:
    """Console-script entry point. Typer prints usage errors itself (standalone mode, exit 2, whatever the
    typer version); bad input (ValueError, UserError, missing or existing files) is one ``error:`` line,
    exit 2; Ctrl-C exits 130 and SIGTERM 143, leaving no partial or temp file. Under a process group every
    exit closes the group and skips the interpreter's teardown."""
    try:
        _main()
    except SystemExit as e:
        if _close_process_group():
            _exit_fast(e.code)
        raise
    finally:
        _close_process_group()


def _main() -> None:
    """The CLI; :func:`main` adds the process-group exit."""
    from humo.data.atomic import _EXIT_CODE, CANCEL, Interrupted

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    args = sys.argv[1:]
    try:
        _register()
        if not args or (len(args) == 1 and args[0] in ("train", "data")):
            try:  # a bare command group is a usage error (exit 2) with click 8.1 as with 8.2+: show its help
                app([*args, "--help"], prog_name="humo")
            finally:
                sys.exit(2)
        app(prog_name="humo")  # standalone: ends with SystemExit
    except Interrupted as e:
        _interrupted(e.exit_code)
    except KeyboardInterrupt:
        _interrupted(130)
    except (UserError, ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except SystemExit as e:
        closed = _close_process_group()
        if CANCEL.is_set():  # the interrupt was swallowed somewhere: still not a success
            _interrupted(_EXIT_CODE[0])
        if e.code in (None, 0) or closed:
            _exit_fast(e.code)
        raise
