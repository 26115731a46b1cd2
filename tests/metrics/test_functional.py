"""humo.metrics.functional: hand-computed cases, agreement with the numpy/scipy reference, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg

import humo.metrics as M
from humo.metrics import functional as F


# ---- the reference formulas (utils/metrics.py of text-to-motion), numpy ----
def ref_dist(a, b):
    return np.sqrt(-2 * a @ b.T + np.sum(a * a, 1, keepdims=True) + np.sum(b * b, 1))


def ref_top_k(argsorted, top_k):
    size = argsorted.shape[0]
    bool_mat = argsorted == np.arange(size)[:, None].repeat(size, 1)
    correct, cols = False, []
    for i in range(top_k):
        correct = correct | bool_mat[:, i]
        cols.append(correct[:, None])
    return np.concatenate(cols, 1)


def ref_r_precision_and_mm(t, m, order, batch_size=32, top_k=3):
    counts, trace, size = 0, 0.0, 0
    for b in range(len(order) // batch_size):
        idx = order[b * batch_size:(b + 1) * batch_size]
        d = ref_dist(t[idx], m[idx])
        trace += d.trace()
        counts = counts + ref_top_k(np.argsort(d, axis=1), top_k).sum(0)
        size += batch_size
    return counts / size, trace / size


def ref_fid(x, y, eps=1e-6):
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
    covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def perm(n, seed):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()


def correlated(n=200, d=16, seed=0, noise=0.5):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, d, generator=g)
    return t, t + noise * torch.randn(n, d, generator=g)


# ---- hand-computed ----
def test_r_precision_and_matching_score_by_hand():
    # texts 0, 10, 20 and motions 0, 21, 9 on a line: text 0 finds its motion at rank 1, text 2 at rank 2
    # (21 is closer than 9), text 1 at rank 3 (9 and 0 are closer than 21).
    t = torch.tensor([[0.0], [10.0], [20.0]])
    m = torch.tensor([[0.0], [21.0], [9.0]])
    r = M.r_precision(t, m, top_k=3, batch_size=3, shuffle=False)
    assert r.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert float(M.matching_score(t, m, batch_size=3, shuffle=False)) == pytest.approx(22 / 3)


def test_r_precision_drops_the_last_partial_batch():
    t = torch.tensor([[0.0], [10.0], [20.0], [100.0]])
    m = torch.tensor([[0.0], [21.0], [9.0], [-100.0]])  # the 4th pair (a miss) is dropped
    assert M.r_precision(t, m, top_k=1, batch_size=3, shuffle=False).tolist() == pytest.approx([1 / 3])


def test_distance_matrix_by_hand():
    d = M.euclidean_distance_matrix(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0]]))
    assert d.dtype == torch.float64 and d[:, 0].tolist() == pytest.approx([0.0, 5.0])


def test_fid_of_identical_sets_is_zero():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(1))
    assert abs(float(M.fid(x, x))) < 1e-9
    assert abs(float(M.fid(x, x, method="scipy"))) < 1e-9


def test_frechet_distance_of_diagonal_gaussians_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = float(((mu1 - mu2) ** 2).sum() + (a + b - 2 * (a * b).sqrt()).sum())  # 5 + 1 + 1 + 4
    for method in ("eigh", "scipy"):
        got = M.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b), method=method)
        assert float(got) == pytest.approx(expected, abs=1e-10) and expected == pytest.approx(11.0)


def test_frechet_distance_identity_vs_full_covariance():
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    lam = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    s2 = q @ torch.diag(lam) @ q.T
    z = torch.zeros(4, dtype=torch.float64)
    expected = float((1 + lam - 2 * lam.sqrt()).sum())
    assert float(M.frechet_distance(z, torch.eye(4), z, s2)) == pytest.approx(expected, abs=1e-10)


def test_diversity_and_multimodality_of_known_points():
    x = torch.ones(10, 3) * 7.0
    assert float(M.diversity(x, times=10)) == 0.0
    assert float(M.multimodality(torch.ones(4, 10, 3), times=5)) == 0.0
    # two points at distance 2: each of the 2 position pairs is 0 or 2 apart
    two = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    vals = {float(M.diversity(two, times=2, generator=torch.Generator().manual_seed(s))) for s in range(20)}
    assert vals <= {0.0, 2.0} and vals == {0.0, 2.0}


def test_clip_score_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(M.clip_score(a, a * 5)) == pytest.approx(1.0)  # scale invariant, no x100
    assert float(M.clip_score(a, -a)) == pytest.approx(-1.0)  # no clamp at 0
    assert float(M.clip_score(a, torch.tensor([[0.0, 1.0], [0.0, 1.0]]))) == pytest.approx(0.5)


def test_diversity_times_helper():
    assert M.diversity_times(4384) == 300 and M.diversity_times(300) == 100 and M.diversity_times(150) == 100
    with pytest.raises(ValueError, match="at least 100"):
        M.diversity_times(50)


# ---- agreement with the reference ----
@pytest.mark.parametrize(("dtype", "rel"), [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_r_precision_and_mm_dist_match_reference_with_the_same_shuffle(dtype, rel):
    """Distances in the embeddings' precision, as the reference's numpy code on the same arrays."""
    t, m = (x.to(dtype) for x in correlated(n=250, d=16, noise=1.0))
    r = M.r_precision(t, m, generator=torch.Generator().manual_seed(5))
    mm = M.matching_score(t, m, generator=torch.Generator().manual_seed(5))
    ref_r, ref_mm = ref_r_precision_and_mm(t.numpy(), m.numpy(), perm(250, 5))
    np.testing.assert_allclose(r.numpy(), ref_r, atol=1e-12)
    assert float(mm) == pytest.approx(ref_mm, rel=rel)
    assert r.dtype == mm.dtype == torch.float64
    assert 0 < r[0] < r[1] < r[2] < 1


def test_fid_reference_reuses_the_real_fit():
    x, y = correlated(n=300, d=8, seed=1), correlated(n=300, d=8, seed=2)
    ref = M.FidReference(x[0])
    for method in ("eigh", "scipy"):
        torch.testing.assert_close(M.fid(ref, y[1], method=method), M.fid(x[0], y[1], method=method),
                                   atol=1e-9, rtol=0)
    root = ref.root()
    torch.testing.assert_close(root @ root, ref.sigma, atol=1e-10, rtol=0)
    assert ref.root() is root  # computed once
    again = M.FidReference.from_statistics(ref.mu, ref.sigma)
    torch.testing.assert_close(M.fid(again, y[1]), M.fid(ref, y[1]), atol=0, rtol=0)


def test_retrieval_metrics_share_one_draw():
    t, m = correlated(n=100, d=8, noise=1.0)
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    both = M.retrieval_metrics(t, m, generator=g())
    assert torch.equal(both.r_precision, M.r_precision(t, m, generator=g()))
    assert torch.equal(both.matching_score, M.matching_score(t, m, generator=g()))


def test_retrieval_hits_are_the_per_pair_r_precision():
    t, m = correlated(n=100, d=8, noise=1.0)  # 3 batches of 32 and 4 dropped pairs
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    for k in (1, 3):
        hits = M.retrieval_hits(t, m, top_k=k, generator=g())
        assert hits.shape == (100,) and int(torch.isnan(hits).sum()) == 4
        finite = hits[torch.isfinite(hits)]
        assert set(finite.tolist()) <= {0.0, 1.0} and 0.0 < float(finite.mean()) < 1.0
        assert float(finite.mean()) == pytest.approx(float(M.r_precision(t, m, top_k=k, generator=g())[-1]))
    # a pair whose text is its motion is found first, whatever the batch
    assert torch.equal(M.retrieval_hits(m, m, top_k=1, shuffle=False)[:96], torch.ones(96, dtype=torch.float64))


def test_distance_matrix_matches_reference():
    t, m = correlated(n=40, d=8)
    np.testing.assert_allclose(M.euclidean_distance_matrix(t, m).numpy(),
                               ref_dist(t.double().numpy(), m.double().numpy()), rtol=1e-10)


@pytest.mark.parametrize("n,d", [(600, 32), (40, 32)])  # full rank and rank-deficient covariances
def test_fid_eigh_matches_scipy_reference(n, d):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = 0.8 * x @ torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d) + 0.3
    y = y + torch.randn(n, d, generator=g, dtype=torch.float64)
    ref = ref_fid(x.numpy(), y.numpy())
    assert float(M.fid(x, y, method="scipy")) == pytest.approx(ref, rel=1e-12)
    assert float(M.fid(x, y)) == pytest.approx(ref, rel=1e-7, abs=1e-5)


def test_activation_statistics_match_numpy():
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(3))
    mu, cov = M.activation_statistics(x)
    np.testing.assert_allclose(mu.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10)


def test_diversity_and_multimodality_match_reference_with_the_same_draws():
    x = torch.randn(400, 6, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(9)
    a, b = torch.randperm(400, generator=g)[:300].numpy(), torch.randperm(400, generator=g)[:300].numpy()
    ref = np.linalg.norm(x.double().numpy()[a] - x.double().numpy()[b], axis=1).mean()
    assert float(M.diversity(x, 300, torch.Generator().manual_seed(9))) == pytest.approx(ref, rel=1e-12)
    mm = torch.randn(7, 30, 6, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(2)
    a, b = torch.randperm(30, generator=g)[:10].numpy(), torch.randperm(30, generator=g)[:10].numpy()
    ref = np.linalg.norm(mm.double().numpy()[:, a] - mm.double().numpy()[:, b], axis=2).mean()
    assert float(M.multimodality(mm, 10, torch.Generator().manual_seed(2))) == pytest.approx(ref, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), d=st.integers(1, 6), bs=st.integers(2, 4), seed=st.integers(0, 1000))
def test_r_precision_property_matches_reference(n, d, bs, seed):
    t, m = correlated(n=n, d=d, seed=seed, noise=2.0)
    k = min(3, bs)
    r = M.r_precision(t, m, top_k=k, batch_size=bs, generator=torch.Generator().manual_seed(seed))
    ref, _ = ref_r_precision_and_mm(t.double().numpy(), m.double().numpy(), perm(n, seed), bs, k)
    np.testing.assert_allclose(r.numpy(), ref, atol=1e-12)
    assert bool((r[1:] >= r[:-1]).all())


# ---- fallback and imaginary-part semantics ----
def test_eigh_fallback_adds_eps_when_the_root_is_not_finite(monkeypatch):
    x, y = correlated(n=100, d=4)
    mu1, s1 = M.activation_statistics(x)
    mu2, s2 = M.activation_statistics(y)
    real_eigvalsh, calls = np.linalg.eigvalsh, []  # the CPU path's eigenvalues (torch.linalg on GPU)

    def flaky(a):
        calls.append(a)
        return real_eigvalsh(a) * (float("nan") if len(calls) == 1 else 1.0)

    monkeypatch.setattr(np.linalg, "eigvalsh", flaky)
    got = M.frechet_distance(mu1, s1, mu2, s2, eps=1e-2)
    monkeypatch.undo()
    off = torch.eye(4, dtype=torch.float64) * 1e-2
    expected = M.frechet_distance(mu1, s1 + off, mu2, s2 + off) - 2 * torch.trace(off)
    assert len(calls) == 2 and float(got) == pytest.approx(float(expected), rel=1e-10)


def test_scipy_fallback_adds_eps_when_the_root_is_not_finite(monkeypatch):
    real_sqrtm, calls = linalg.sqrtm, []

    def flaky(a):
        calls.append(a)
        return real_sqrtm(a) * (np.nan if len(calls) == 1 else 1.0)

    monkeypatch.setattr(linalg, "sqrtm", flaky)
    s = torch.eye(2, dtype=torch.float64)
    got = M.frechet_distance(torch.zeros(2), s, torch.zeros(2), s, eps=0.5, method="scipy")
    assert len(calls) == 2 and float(got) == pytest.approx(4 - 2 * 3.0)  # Tr(I + I) - 2 Tr(1.5 I)


@pytest.mark.parametrize("method", ["eigh", "scipy"])
def test_large_imaginary_component_raises(method):
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="Imaginary component"):
        M.frechet_distance(z, torch.eye(2), z, torch.diag(torch.tensor([-1.0, 1.0])), method=method)


def test_eigh_rejects_non_psd_and_non_symmetric_sigma1():
    z = torch.zeros(2)
    with pytest.raises(ValueError, match="positive semi-definite"):
        M.frechet_distance(z, torch.diag(torch.tensor([-1.0, 1.0])), z, torch.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        M.frechet_distance(z, torch.tensor([[1.0, 0.5], [0.0, 1.0]]), z, torch.eye(2))


# ---- determinism and devices ----
def test_random_metrics_are_deterministic_given_a_generator():
    t, m = correlated(n=400, d=8, noise=2.0)
    for fn in (lambda g: M.r_precision(t, m, generator=g), lambda g: M.diversity(m, 300, g),
               lambda g: M.multimodality(m.view(40, 10, 8), 5, g)):
        a, b = fn(torch.Generator().manual_seed(0)), fn(torch.Generator().manual_seed(0))
        assert torch.equal(a, b)
        assert not torch.equal(a, fn(torch.Generator().manual_seed(1)))


def test_numpy_inputs_are_accepted():
    t, m = correlated(n=64, d=4)
    assert torch.equal(M.r_precision(t.numpy(), m.numpy(), shuffle=False), M.r_precision(t, m, shuffle=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu():
    t, m = correlated(n=300, d=16)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731 - CPU draws, moved to the data
    gpu = M.r_precision(t.cuda(), m.cuda(), generator=g()).cpu()
    assert torch.equal(gpu, M.r_precision(t, m, generator=g()))
    assert float(M.fid(t.cuda(), m.cuda())) == pytest.approx(float(M.fid(t, m)), rel=1e-9)
    assert float(M.diversity(m.cuda(), 300, g())) == pytest.approx(float(M.diversity(m, 300, g())), rel=1e-12)


# ---- errors ----
@pytest.mark.parametrize("call,match", [
    (lambda: M.r_precision(torch.zeros(40, 4), torch.zeros(40, 5)), "same shape"),
    (lambda: M.r_precision(torch.zeros(10, 4), torch.zeros(10, 4)), "at least batch_size=32"),
    (lambda: M.r_precision(torch.zeros(40, 4), torch.zeros(40, 4), top_k=33), "top_k"),
    (lambda: M.r_precision(torch.zeros(40), torch.zeros(40)), "2 dims"),
    (lambda: M.matching_score(torch.full((40, 4), float("nan")), torch.zeros(40, 4)), "NaN"),
    (lambda: M.euclidean_distance_matrix(torch.zeros(3, 4), torch.zeros(3, 2)), "same embedding size"),
    (lambda: M.fid(torch.zeros(1, 4), torch.zeros(5, 4)), "at least 2 samples"),
    (lambda: M.fid(torch.randn(5, 4), torch.randn(5, 3)), "embedding sizes differ"),
    (lambda: M.fid(torch.randn(5, 4), torch.randn(5, 4), method="svd"), "method"),
    (lambda: M.frechet_distance(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3)), "sigma1"),
    (lambda: M.diversity(torch.zeros(299, 4), 300), "at least times=300"),
    (lambda: M.diversity(torch.zeros(3, 2, 4), 1), "2-D"),
    (lambda: M.multimodality(torch.zeros(5, 9, 4), 10), "at least times=10"),
    (lambda: M.multimodality(torch.zeros(5, 4), 1), "3 dims"),
    (lambda: M.clip_score(torch.zeros(3, 4), torch.zeros(2, 4)), "same shape"),
    (lambda: M.r_precision(torch.zeros(40, 4, dtype=torch.long), torch.zeros(40, 4)), "floating"),
])
def test_bad_input_raises_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_private_batches_are_full_and_disjoint():
    idx = F._batches(70, 32, torch.Generator().manual_seed(0), True, torch.device("cpu"))
    assert idx.shape == (2, 32) and idx.unique().numel() == 64
