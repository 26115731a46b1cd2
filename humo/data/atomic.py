"""Atomic file writes: temp files beside the targets, then one commit (never a half-written file, never a
destroyed original if writing fails). Files get the usual permissions (0666 & ~umask).

* ``overwrite=False`` is enforced at commit time, not only checked beforehand: each temp file is
  hard-linked to its name (``link(2)`` fails if the name exists), so of two processes racing for one name
  exactly one wins and the other gets ``FileExistsError``.
* :func:`atomic_write_group` commits several files as one unit (a video and its joints): all of them or,
  if any name is taken or the commit is interrupted, none (the ones already linked are removed).
* :data:`CANCEL`: once set (the ``humo`` command sets it on Ctrl-C / SIGTERM), nothing more is committed,
  even if a library swallowed the interrupt while the file was being written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

CANCEL = threading.Event()
_EXIT_CODE = [130]


class Interrupted(BaseException):
    """Raised when the run was cancelled (Ctrl-C, SIGTERM): a BaseException, so ``except Exception`` in
    library code does not swallow it. ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, exit_code: int = 130):
        super().__init__(f"interrupted (exit {exit_code})")
        self.exit_code = exit_code


def request_cancel(exit_code: int = 130) -> None:
    """Set :data:`CANCEL`: from now on nothing is committed (``exit_code``: 130 for SIGINT, 143 SIGTERM)."""
    _EXIT_CODE[0] = exit_code
    CANCEL.set()


def check_cancelled() -> None:
    """Raise :class:`Interrupted` if :data:`CANCEL` is set."""
    if CANCEL.is_set():
        raise Interrupted(_EXIT_CODE[0])


_DEFERRED = [0]  # depth of signals_deferred() blocks


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back the :class:`Interrupted` of a Ctrl-C / SIGTERM until the block ends (then it is raised).

    For short calls that must not be cut in the middle: starting or closing a child process (an ``ffmpeg``
    started but not yet recorded is orphaned, and writes its output file after the temp file was removed).
    The signal itself is still received at once (:data:`CANCEL` is set); only the exception waits, so no
    signal mask is changed and a child started inside the block inherits nothing.
    """
    _DEFERRED[0] += 1
    try:
        yield
    finally:
        _DEFERRED[0] -= 1
    if not _DEFERRED[0]:
        check_cancelled()


def interrupt_deferred() -> bool:
    """Whether a :func:`signals_deferred` block is running (the signal handler then only sets CANCEL)."""
    return _DEFERRED[0] > 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _link_exclusive(tmp: str, path: Path) -> None:
    """Give ``tmp``'s contents the name ``path`` only if ``path`` does not exist (atomically)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it") from None
    except OSError as e:  # a file system without hard links: reserve the name exclusively, then replace
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it") from None
        os.replace(tmp, path)


def _reserve_temp(path: Path, tmps: list[str]) -> str:
    """Create an empty hidden temp file beside ``path`` (``.STEM-XXXXXXXX.SUFFIX``, exclusive, 0600),
    appending its name to ``tmps`` *before* creating it, so a signal at any point leaves nothing unlisted."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.stem}-{secrets.token_hex(4)}{path.suffix}")
        tmps.append(tmp)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return tmp
        except FileExistsError:
            tmps.pop()
    raise FileExistsError(f"no free temp file name beside {path}")


def atomic_write_group(items: Sequence[tuple[str | os.PathLike, Callable[[Path], None]]], *,
                       overwrite: bool = False) -> list[Path]:
    """Write several files as one unit: ``write(tmp_path)`` for each ``(path, write)`` on a temp file
    beside ``path`` (same suffix), then commit all of them, or none.

    Raises:
        FileExistsError: a target exists (checked at commit) and ``overwrite`` is False; nothing is kept.
        Interrupted: :data:`CANCEL` was set; nothing is kept.
    """
    paths = [Path(p) for p, _ in items]
    tmps: list[str] = []
    linked: list[Path] = []
    try:
        for path, (_, write) in zip(paths, items, strict=True):
            tmp = _reserve_temp(path, tmps)  # listed in tmps before it exists: an interrupt cannot orphan it
            write(Path(tmp))
            os.chmod(tmp, 0o666 & ~_umask())
        check_cancelled()
        for path, tmp in zip(paths, tmps, strict=True):
            if overwrite:
                os.replace(tmp, path)
            else:
                _link_exclusive(tmp, path)
                linked.append(path)
        check_cancelled()
        linked.clear()
    except BaseException:
        for path in linked:  # files this call created: the unit is all or nothing
            path.unlink(missing_ok=True)
        raise
    finally:
        for tmp in tmps:
            Path(tmp).unlink(missing_ok=True)
    return paths


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path`` (same suffix), then move it into place;
    with ``overwrite=False`` an existing ``path`` (even one created meanwhile) is a ``FileExistsError``."""
    return atomic_write_group([(path, write)], overwrite=overwrite)[0]


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), overwrite=overwrite)
