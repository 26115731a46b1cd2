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
