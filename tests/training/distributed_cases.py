"""The cases shared by the 2-process worker (distributed_worker.py) and the 1-process reference."""

from __future__ import annotations

import zlib

import torch

from tests.metrics.test_protocol import ToyDataset, ToyEvaluator

B = 4  # batch per process on 2 processes; the 1-process reference uses 2 * B
STEPS = 6
AE_KW = dict(preset="tiny", steps=STEPS, batch_size=B, window=16, device="cpu", progress=False, val_clips=2,
             log_every=1, norm_windows=32, checkpoint_every=3, val_every=100, test_split=None, seed=0)
COAMD_KW = dict(preset="tiny", steps=STEPS, batch_size=B, device="cpu", seed=0, max_frames=24, progress=False,
                log_every=1, checkpoint_every=100)


def losses(history: list[dict]) -> list[float]:
    return [e["loss"] for e in history if "loss" in e]


def accumulator_case(rank: int = 0, world: int = 1) -> dict:
    """MotionMetrics over 96 pairs, process ``r`` updating its contiguous share of the 32-pair batches."""
    import humo.metrics as M

    g = torch.Generator().manual_seed(0)
    t = torch.randn(96, 8, generator=g)
    m, r = t + torch.randn(96, 8, generator=g), torch.randn(96, 8, generator=g)
    acc = M.MotionMetrics("t2m", shuffle=True, diversity_times=50, mm_times=3)
    for b in range(3):
        if b * world // 3 == rank:
            s = slice(32 * b, 32 * b + 32)
            acc.update(t[s], m[s], real_emb=r[s], clip_text_emb=t[s], clip_motion_emb=m[s])
    if rank == 0:
        acc.update_multimodality(m[:40].view(4, 10, 8))
    return acc.compute(torch.Generator().manual_seed(5))


def protocol_case() -> dict:
    """The protocol with a generator whose noise depends only on its inputs (caption and position)."""
    import humo.metrics as M

    data = ToyDataset()

    def generate(texts, lengths):
        feats = torch.stack([data.features(int(t.split()[-1]), int(lengths.max())) for t in texts])
        for j, t in enumerate(texts):
            g = torch.Generator().manual_seed(zlib.crc32(f"{t}/{j}".encode()))
            feats[j, :, :8] += 0.5 * torch.randn(8, generator=g)
        return feats, lengths

    return M.evaluate(generate, data, ToyEvaluator(data), replications=2, batch_size=8, mm_prompts=4,
                      mm_repeats=6, mm_times=3, diversity_times=50, progress=False, seed=0)
