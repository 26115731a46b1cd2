"""The ``humo`` command line (Typer). Commands are thin wrappers over the library.

Sub-command modules register themselves on the apps below; each one imports torch and the
library lazily inside its command so that ``humo --help`` stays fast.
"""

from __future__ import annotations

from humo.cli.app import app, main

__all__ = ["app", "main"]
