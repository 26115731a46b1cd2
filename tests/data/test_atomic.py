"""Atomic writes and signal deferral (``humo.data.atomic``)."""

from __future__ import annotations

import os
import signal

import pytest

from humo.data.atomic import CANCEL, Interrupted, atomic_write, interrupt_deferred, signals_deferred


@pytest.fixture
def humo_handler():
    """The humo command's SIGTERM handler installed, CANCEL cleared afterwards."""
    from humo.cli.app import _on_signal

    old = signal.signal(signal.SIGTERM, _on_signal)
    yield
    signal.signal(signal.SIGTERM, old)
    CANCEL.clear()


def test_an_interrupt_inside_signals_deferred_is_raised_right_after_the_block(humo_handler):
    seen: list[str] = []
    with pytest.raises(Interrupted) as info:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # bytecodes run: the handler has run in here, without raising
                pass
            assert CANCEL.is_set() and interrupt_deferred()
            seen.append("block ended")
    assert seen == ["block ended"] and info.value.exit_code == 143 and not interrupt_deferred()


def test_signals_deferred_ends_on_error_and_nests(humo_handler):
    with pytest.raises(RuntimeError), signals_deferred():
        raise RuntimeError("boom")
    assert not interrupt_deferred()
    with pytest.raises(Interrupted), signals_deferred():
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        assert interrupt_deferred()  # the inner block's end does not raise yet
    assert not interrupt_deferred()


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
