"""Atomic writes and signal deferral (``humo.data.atomic``)."""

from __future__ import annotations

import os
import signal

import pytest

from humo.data.atomic import atomic_write, signals_deferred

posix_only = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs pthread_sigmask (POSIX)")


@posix_only
def test_a_signal_inside_signals_deferred_is_handled_right_after_the_block():
    seen: list[str] = []

    def handler(signum, frame):
        seen.append("handled")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # bytecodes run: an unheld signal would be handled in here
                pass
            seen.append("block ended")
        for _ in range(1000):
            pass
    finally:
        signal.signal(signal.SIGTERM, old)
    assert seen == ["block ended", "handled"]


@posix_only
def test_signals_deferred_restores_the_previous_mask_on_error():
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    with pytest.raises(RuntimeError), signals_deferred():
        raise RuntimeError("boom")
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before


def test_atomic_write_keeps_the_original_when_writing_fails(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("original")

    def bad(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, bad)
    assert path.read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
