"""Pieces shared by every generation pipeline."""

from __future__ import annotations

import secrets

import torch


def sample_seeds(n: int, seed: int | None = None, generator: torch.Generator | None = None) -> list[int]:
    """One seed per sample: ``seed + i`` for a given seed, drawn from ``generator``, else random.

    Each sample then owns a generator, so a motion does not depend on the batch it was made in.
    """
    if seed is not None and generator is not None:
        raise ValueError("give seed or generator, not both")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        return [seed + i for i in range(n)]
    if generator is not None:
        return torch.randint(0, 2**31 - 1, (n,), generator=generator, device=generator.device).tolist()
    return [secrets.randbelow(2**31 - 1) for _ in range(n)]


SMALL_BATCH = 4  # at most this many samples per forward pass: one CPU thread


def cpu_threads(batch: int, cores: int | None = None, load: float | None = None) -> int:
    """torch CPU threads for sampling ``batch`` motions per forward pass.

    One thread for small batches: their ops are too small to split, and a parallel region waits for
    its slowest thread, so one core held by another process makes 2 threads many times slower than 1.
    Larger batches get the idle cores: ``cores`` (default: the CPUs this process may use) minus the
    1-minute load average (``load``, default ``os.getloadavg()``), at least 1.
    """
    import os

    if batch <= SMALL_BATCH:
        return 1
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, batch, round(cores - load)))
