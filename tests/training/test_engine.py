"""The training engine on a toy family: sampler slices, accumulation, bf16 on the CPU, resume, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from humo.training.engine import KeyedDataset, StepBatchSampler, TrainConfig, fit

W = torch.tensor([1.0, -2.0, 0.5])


class Line:
    """y = x . W + noise, items drawn from the keyed generator."""

    def __len__(self):
        return 40

    def item(self, index, generator):
        x = torch.randn(3, generator=generator) + index / 40
        return {"x": x, "y": x @ W + 0.01 * torch.randn((), generator=generator)}


def collate(items):
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def loss_fn(model, batch, generator):
    err = model(batch["x"]).squeeze(-1) - batch["y"]
    return err.pow(2).mean(), {"abs": err.abs().mean()}


def run(out, **kw):
    torch.manual_seed(0)
    kw = {"steps": 8, "batch_size": 4, "lr": 0.05, "device": "cpu", "progress": False, "log_every": 1,
          "checkpoint_every": 4, "ema_decay": 0.9, **kw}
    return fit(nn.Linear(3, 1), Line(), collate, loss_fn, TrainConfig(**kw), out)


def test_step_batches_are_sliced_by_process_and_micro_batch():
    one = [b for b in StepBatchSampler(2, 4, batch_size=4)]
    two = [StepBatchSampler(2, 4, batch_size=2, rank=r, world=2) for r in (0, 1)]
    assert one == [[(2, p) for p in range(4)], [(3, p) for p in range(4)]]
    r0, r1 = (list(s) for s in two)
    assert [a + b for a, b in zip(r0, r1, strict=True)] == one and len(two[0]) == 2
    accum = list(StepBatchSampler(2, 3, batch_size=1, rank=1, world=2, grad_accum=2))
    assert accum == [[(2, 1)], [(2, 3)]]  # micro-batch m of process r: positions (m * world + r) * B ...


def test_keyed_items_do_not_depend_on_the_batch_layout():
    data = KeyedDataset(Line(), seed=3, global_batch=8, draw="epoch")
    a = data[(5, 3)]
    assert torch.equal(a["x"], KeyedDataset(Line(), seed=3, global_batch=8, draw="epoch")[(5, 3)]["x"])
    assert not torch.equal(a["x"], data[(5, 4)]["x"])
    order = [data._index(0, p, None) for p in range(40)]  # one epoch: a permutation of the source
    assert sorted(order) == list(range(40)) and order != list(range(40))


def test_accumulation_equals_a_bigger_batch(tmp_path):
    big = run(tmp_path / "big", batch_size=8)
    accum = run(tmp_path / "accum", batch_size=4, grad_accum=2)
    assert [e["loss"] for e in accum.history] == pytest.approx([e["loss"] for e in big.history], rel=1e-5)
    torch.testing.assert_close(accum.model.weight, big.model.weight)
    assert accum.ema is not None and not torch.equal(accum.ema.weight, accum.model.weight)


def test_stop_and_resume_equals_uninterrupted(tmp_path):
    straight = run(tmp_path / "a")
    first = run(tmp_path / "b", stop_at=3)
    assert first.step == 3 and not first.finished
    resumed = run(tmp_path / "b")
    assert resumed.start == 3 and resumed.finished and [e["step"] for e in resumed.history] == [4, 5, 6, 7, 8]
    for a, b in ((straight.model, resumed.model), (straight.ema, resumed.ema)):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert [e["loss"] for e in resumed.history] == pytest.approx([e["loss"] for e in straight.history[3:]])


def test_worker_processes_load_the_same_batches(tmp_path):
    inline = run(tmp_path / "inline", steps=4, ema_decay=None)
    workers = run(tmp_path / "workers", steps=4, ema_decay=None, num_workers=2)
    assert [e["loss"] for e in workers.history] == [e["loss"] for e in inline.history]


def test_bf16_autocast_on_the_cpu(tmp_path):
    dtypes = []

    def recording_loss(model, batch, generator):
        dtypes.append(model(batch["x"]).dtype)
        return loss_fn(model, batch, generator)

    config = dict(steps=20, batch_size=4, lr=0.05, device="cpu", progress=False, log_every=1)
    torch.manual_seed(0)
    bf16 = fit(nn.Linear(3, 1), Line(), collate, recording_loss, TrainConfig(mixed_precision="bf16", **config),
               tmp_path / "bf16")
    assert set(dtypes) == {torch.bfloat16} and bf16.model.weight.dtype == torch.float32  # autocast, fp32 master
    fp32 = run(tmp_path / "fp32", **config, ema_decay=None)
    a, b = (torch.tensor([e["loss"] for e in r.history]) for r in (bf16, fp32))
    assert torch.isfinite(a).all() and not torch.equal(a, b)
    torch.testing.assert_close(a, b, rtol=0.1, atol=0.05)  # bf16 rounding only


def test_bad_settings_and_checkpoints(tmp_path):
    for bad, match in (({"batch_size": 0}, "batch_size"), ({"mixed_precision": "fp8"}, "mixed_precision"),
                       ({"ema_decay": 1.0}, "EMA decay"), ({"draw": "random"}, "draw"),
                       ({"schedule": "step"}, "schedule")):
        with pytest.raises(ValueError, match=match):
            run(tmp_path / "x", **bad)
    run(tmp_path / "c", steps=4)
    (tmp_path / "c" / "checkpoint" / "optimizer.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot resume from .*checkpoint"):
        run(tmp_path / "c", steps=8)
    (tmp_path / "c" / "checkpoint" / "trainer.json").write_text("{")
    with pytest.raises(ValueError, match="trainer.json is unreadable"):
        run(tmp_path / "c", steps=8)
    assert run(tmp_path / "c", steps=8, resume=False).start == 0  # starting over replaces it
