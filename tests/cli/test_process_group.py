"""`humo` under torchrun / accelerate launch closes its process group and skips the interpreter's teardown.

Left to finalization, gloo can abort a process whose work is done (SIGABRT, "terminate called without an
active exception"; pytorch/pytorch#190489): 2 of 25 two-process gloo runs here without destroying the group;
with it destroyed, still 1 of 36 runs of tests/training/distributed_worker.py (no Python frame left).
"""

from __future__ import annotations

import importlib
import signal

import pytest
import torch
import torch.distributed as dist

cli_app = importlib.import_module("humo.cli.app")  # `humo.cli.app` the attribute is the Typer app

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with the gloo backend is not available")


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture
def keep_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.mark.parametrize(("outcome", "code"), [(SystemExit(0), 0), (SystemExit(1), 1), (ValueError("bad input"), 2)])
def test_main_closes_the_group_and_skips_teardown_whatever_the_outcome(process_group, keep_signal_handlers,
                                                                       monkeypatch, outcome, code):
    t = torch.ones(3)
    dist.all_reduce(t)  # the group is live and used
    seen = {}

    def command(**_):
        raise outcome

    def exit_fast(code=0):  # the real one ends the process with os._exit(code)
        seen.setdefault("exits", []).append((code, dist.is_initialized()))
        raise SystemExit(code)

    monkeypatch.setattr("sys.argv", ["humo", "generate"])  # without arguments main() shows the help instead
    monkeypatch.setattr(cli_app, "_register", lambda: None)
    monkeypatch.setattr(cli_app, "app", command)
    monkeypatch.setattr(cli_app, "_exit_fast", exit_fast)
    with pytest.raises(SystemExit) as exc:
        cli_app.main()
    assert exc.value.code == code
    assert not dist.is_initialized()
    assert seen["exits"][-1] == (code, False)  # closed, then out without the teardown, with the command's code
