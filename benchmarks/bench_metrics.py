"""The protocol's metric set on HumanML3D-test-sized embeddings: humo vs a straightforward numpy/scipy
implementation of the same formulas (``utils/metrics.py`` of text-to-motion and its callers' loops),
same random draws, in one run.

    python benchmarks/bench_metrics.py [--n 4096] [--dim 512] [--replications 20] [--device cpu]
        [--repeats 3] [--threads 1]

Embeddings are synthetic and seeded: motion = text + noise (so R-precision is neither 0 nor 1), real
motions from a shifted, rescaled copy (FID), 100 prompts x 30 repeats (MultiModality). Both sides get
the same float32 arrays (what evaluators output) and use the reference's precision: float32 distance
matrices for R-precision, float64 statistics elsewhere. Times are the best of ``--repeats`` runs after a
warm-up; "speed-up" is numpy time / humo time. The last row runs the protocol's ``--replications``
metric computations (a new generated set and new draws each time, one fixed real set): the reference
recomputes the real set's statistics in every replication, humo fits it once (``FidReference``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import humo.metrics as M  # noqa: E402


# ---- the straightforward numpy/scipy versions (as in utils/metrics.py of text-to-motion) ----
def np_dist(a, b):
    return np.sqrt(-2 * a @ b.T + np.sum(a * a, 1, keepdims=True) + np.sum(b * b, 1))


def f64(*xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


def np_r_precision_mm(t, m, order, batch_size=32, top_k=3):  # float32 in, float32 distances (as the reference)
    counts, trace, size = np.zeros(top_k), 0.0, 0
    for b in range(len(order) // batch_size):
        idx = order[b * batch_size:(b + 1) * batch_size]
        d = np_dist(t[idx], m[idx])
        trace += d.trace()
        ranked = np.argsort(d, axis=1)
        hit = ranked == np.arange(batch_size)[:, None]
        counts += np.cumsum(hit[:, :top_k], axis=1).astype(bool).sum(0)
        size += batch_size
    return counts / size, trace / size


def np_fid(real, gen, eps=1e-6):
    real, gen = f64(real, gen)
    mu1, s1, mu2, s2 = real.mean(0), np.cov(real, rowvar=False), gen.mean(0), np.cov(gen, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def np_diversity(x, a, b):
    (x,) = f64(x)
    return np.linalg.norm(x[a] - x[b], axis=1).mean()


def np_multimodality(x, a, b):
    (x,) = f64(x)
    return np.linalg.norm(x[:, a] - x[:, b], axis=2).mean()


def np_clip(m, t):
    m, t = f64(m, t)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return (m * t).sum(1).mean()


def draws(seed: int, n: int, k: int | None = None) -> tuple[np.ndarray, ...]:
    """The permutations humo draws from ``torch.Generator().manual_seed(seed)``."""
    g = torch.Generator().manual_seed(seed)
    if k is None:
        return (torch.randperm(n, generator=g).numpy(),)
    return torch.randperm(n, generator=g)[:k].numpy(), torch.randperm(n, generator=g)[:k].numpy()


def retrieval(r: M.RetrievalMetrics) -> torch.Tensor:
    return torch.cat([r.r_precision, r.matching_score.view(1)])


def timed(fn, repeats: int, device: torch.device, warmup: bool = True):
    out = fn() if warmup else None
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def limit_blas_threads(threads: int) -> str:
    """Hold numpy's BLAS / LAPACK (both sides use it: the reference throughout, humo for the covariance and
    FID eigenvalues on CPU) to ``threads`` too; without this OpenBLAS takes every core."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "unlimited (pip install threadpoolctl)"
    global _BLAS_LIMIT
    _BLAS_LIMIT = threadpool_limits(limits=threads, user_api="blas")
    return str(threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    blas = limit_blas_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    n, d = args.n, args.dim
    text = rng.standard_normal((n, d)).astype(np.float32)
    motion = (text + 1.5 * rng.standard_normal((n, d))).astype(np.float32)
    real = (0.9 * motion + 0.1 + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
    mm = (rng.standard_normal((100, 1, d)) + 0.5 * rng.standard_normal((100, 30, d))).astype(np.float32)
    tt, mt, rt, mmt = (torch.from_numpy(x).to(device) for x in (text, motion, real, mm))
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731 - CPU draws, as the metrics do

    (order,) = draws(1, n)
    div_a, div_b = draws(2, n, 300)
    mm_a, mm_b = draws(3, 30, 10)
    cases = [
        ("R-precision top-1..3 + MM-Dist", lambda: retrieval(M.retrieval_metrics(tt, mt, generator=gen(1))),
         lambda: np.concatenate([np.atleast_1d(v) for v in np_r_precision_mm(text, motion, order)])),
        ("FID (eigh)", lambda: M.fid(rt, mt), lambda: np_fid(real, motion)),
        ("FID (scipy path)", lambda: M.fid(rt, mt, method="scipy"), lambda: np_fid(real, motion)),
        ("Diversity (300)", lambda: M.diversity(mt, 300, gen(2)), lambda: np_diversity(motion, div_a, div_b)),
        ("MultiModality (100x30)", lambda: M.multimodality(mmt, 10, gen(3)),
         lambda: np_multimodality(mm, mm_a, mm_b)),
        ("CLIP score", lambda: M.clip_score(mt, tt), lambda: np_clip(motion, text)),
    ]

    def full_humo():
        acc = M.MotionMetrics("t2m", diversity_times=300)
        acc.update(tt, mt, real_emb=rt, clip_text_emb=tt, clip_motion_emb=mt)
        acc.update_multimodality(mmt)
        return acc.compute(gen(0))

    def full_numpy():  # R-precision and MM-Dist share their batches, as in the reference loop
        r, mm_dist = np_r_precision_mm(text, motion, order)
        return (r, mm_dist, np_fid(real, motion), np_diversity(motion, div_a, div_b),
                np_multimodality(mm, mm_a, mm_b), np_clip(motion, text))

    print(f"# metrics on {n} x {d} embeddings (+ 100 x 30 for MultiModality), device={device}, "
          f"torch threads={torch.get_num_threads()}, numpy BLAS threads={blas}")
    print("| metric | humo (ms) | numpy/scipy (ms) | speed-up | max abs diff |\n|---|---:|---:|---:|---:|")
    for name, humo_fn, np_fn in cases:
        th, vh = timed(humo_fn, args.repeats, device)
        tn, vn = timed(np_fn, args.repeats, torch.device("cpu"))
        diff = float(np.max(np.abs(np.atleast_1d(vh.cpu().numpy()) - np.atleast_1d(vn))))
        print(f"| {name} | {th * 1e3:.1f} | {tn * 1e3:.1f} | {tn / th:.1f}x | {diff:.2e} |")
    th, vh = timed(full_humo, args.repeats, device)
    tn, vn = timed(full_numpy, args.repeats, torch.device("cpu"))
    print(f"| full set (MotionMetrics.compute vs the numpy loop) | {th * 1e3:.1f} | {tn * 1e3:.1f} | "
          f"{tn / th:.1f}x | {abs(vh['t2m/FID'] - vn[2]):.2e} (FID) |")

    # the protocol: replications x (new generated set, new draws), one real set
    gens = [(text + 1.5 * np.random.default_rng(r + 1).standard_normal((n, d))).astype(np.float32)
            for r in range(args.replications)]
    gens_t = [torch.from_numpy(g).to(device) for g in gens]

    def protocol_humo():
        once = hasattr(M, "FidReference")  # (run on an older humo, the real set is passed every time)
        reference = M.FidReference(rt) if once else None  # the real set's statistics, once
        out = []
        for r, g in enumerate(gens_t):
            if once:
                acc = M.MotionMetrics("t2m", diversity_times=300, fid_reference=reference)
                acc.update(tt, g)
            else:
                acc = M.MotionMetrics("t2m", diversity_times=300)
                acc.update(tt, g, real_emb=rt)
            acc.update_multimodality(mmt)
            out.append(acc.compute(gen(100 + r))["t2m/FID"])
        return out

    def protocol_numpy():
        out = []
        for r, g in enumerate(gens):
            t = torch.Generator().manual_seed(100 + r)
            order = torch.randperm(n, generator=t).numpy()
            a, b = torch.randperm(n, generator=t)[:300].numpy(), torch.randperm(n, generator=t)[:300].numpy()
            ma, mb = torch.randperm(30, generator=t)[:10].numpy(), torch.randperm(30, generator=t)[:10].numpy()
            np_r_precision_mm(text, g, order)
            out.append(np_fid(real, g))
            np_diversity(g, a, b)
            np_multimodality(mm, ma, mb)
        return out

    th, vh = timed(protocol_humo, args.repeats, device)
    tn, vn = timed(protocol_numpy, 1, torch.device("cpu"), warmup=False)
    diff = max(abs(a - b) for a, b in zip(vh, vn, strict=True))
    print(f"| protocol, {args.replications} replications (real set fitted once vs every time) | "
          f"{th * 1e3:.0f} | {tn * 1e3:.0f} | {tn / th:.1f}x | {diff:.2e} (FID) |")


if __name__ == "__main__":
    main()
