"""MotionMetrics: update only accumulates, compute is side-effect free, keys are namespaced."""

from __future__ import annotations

import pytest
import torch

import humo.metrics as M


def data(n=96, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, d, generator=g)
    return t, t + torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def filled(shuffle=False):
    t, m, r = data()
    acc = M.MotionMetrics("t2m", shuffle=shuffle, diversity_times=50, mm_times=3)
    for i in range(0, 96, 32):
        acc.update(t[i:i + 32], m[i:i + 32], real_emb=r[i:i + 32], clip_text_emb=t[i:i + 32],
                   clip_motion_emb=m[i:i + 32])
    acc.update_multimodality(m[:40].view(4, 10, 8))
    acc.update_multimodality(m[40:50])  # one more prompt, (R, D)
    return acc, (t, m, r)


def test_compute_matches_the_functional_core():
    acc, (t, m, r) = filled()
    out = acc.compute(torch.Generator().manual_seed(0))
    assert set(out) == {f"t2m/{k}" for k in M.METRIC_NAMES}
    rp = M.r_precision(t, m, shuffle=False)
    assert [out["t2m/R@1"], out["t2m/R@2"], out["t2m/R@3"]] == pytest.approx(rp.tolist())
    assert out["t2m/MM-Dist"] == pytest.approx(float(M.matching_score(t, m, shuffle=False)))
    assert out["t2m/FID"] == pytest.approx(float(M.fid(r, m)))
    assert out["t2m/CLIP"] == pytest.approx(float(M.clip_score(m, t)))
    g = torch.Generator().manual_seed(0)
    assert out["t2m/Diversity"] == pytest.approx(float(M.diversity(m, 50, g)))
    assert out["t2m/MultiModality"] == pytest.approx(float(M.multimodality(m[:50].view(5, 10, 8), 3, g)))


def test_compute_has_no_side_effects_and_is_deterministic():
    acc, _ = filled(shuffle=True)
    sizes = [len(acc._text), len(acc._motion), len(acc._real), len(acc._mm)]
    a = acc.compute(torch.Generator().manual_seed(3))
    b = acc.compute(torch.Generator().manual_seed(3))
    assert a == b and sizes == [len(acc._text), len(acc._motion), len(acc._real), len(acc._mm)]
    assert a != acc.compute(torch.Generator().manual_seed(4))
    acc.reset()
    assert acc.compute() == {}


def test_motion_only_updates_give_distribution_metrics():
    _, m, r = data(n=128)
    acc = M.MotionMetrics("gen", diversity_times=None)  # 100 pairs for N <= 300
    acc.update(motion_emb=m, real_emb=r)
    assert set(acc.compute(torch.Generator().manual_seed(0))) == {"gen/FID", "gen/Diversity"}


def test_update_errors():
    acc = M.MotionMetrics()
    with pytest.raises(ValueError, match="paired motion_emb"):
        acc.update(text_emb=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="must match"):
        acc.update(torch.zeros(4, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="come together"):
        acc.update(clip_text_emb=torch.zeros(4, 2))
    acc.update(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="with every motion_emb"):
        acc.update(motion_emb=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        acc.update(real_emb=torch.full((4, 2), float("nan")))
    with pytest.raises(ValueError, match=r"\(R, D\) or \(P, R, D\)"):
        acc.update_multimodality(torch.zeros(1, 2, 3, 4))


def test_single_process_group_gathers_to_the_same_result(tmp_path):
    dist = torch.distributed
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    acc, _ = filled()
    expected = acc.compute(torch.Generator().manual_seed(0))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert acc.compute(torch.Generator().manual_seed(0)) == expected
    finally:
        dist.destroy_process_group()
