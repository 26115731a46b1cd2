"""Command-line plumbing shared by the commands: output checks before any work, progress on stderr."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from humo.cli.app import UserError


def check_output(path: Path, suffixes: tuple[str, ...], force: bool, option: str = "--out") -> Path:
    """Refuse an output before any work: unknown suffix, missing or read-only folder, an existing file
    without ``--force``, a folder where a file belongs. Messages name the user's path."""
    path = Path(path)
    name = path.name.lower()
    if not any(name.endswith(s) for s in suffixes):
        raise UserError(f"{option} {path}: unknown suffix {path.suffix or '(none)'!r}; use "
                        f"{', '.join(suffixes)}")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write to the folder {folder} (permission denied)")
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (use --force to overwrite)")
    return path


def numbered(out: Path, n: int) -> list[Path]:
    """``out`` for one item, else ``stem_000.suffix``, ``stem_001.suffix``, ..."""
    return [out] if n == 1 else [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(n)]


class Progress:
    """A rich progress bar on stderr that appears only once the work has taken ``delay`` seconds (short
    runs stay silent); nothing at all with ``quiet``. Use as a context manager; ``update(done, total)``."""

    def __init__(self, description: str, total: int, quiet: bool = False, delay: float = 1.0):
        self.description, self.total, self.quiet = description, max(int(total), 1), quiet
        self._bar = self._task = None
        self._done = 0
        self._lock = threading.RLock()  # re-entrant: a signal may interrupt update() in the same thread
        self._timer = None if quiet else threading.Timer(delay, self._start)
        self._t0 = time.monotonic()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        with self._lock:
            if self._bar is not None or self._timer is None:
                return
            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=False)
            self._task = self._bar.add_task(self.description, total=self.total, completed=self._done)
            self._bar.start()

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self._done = done
            if total is not None:
                self.total = max(int(total), 1)
            if self._bar is not None:
                self._bar.update(self._task, completed=done, total=self.total)

    def __enter__(self) -> Progress:
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            if self._bar is not None:
                self._bar.stop()
