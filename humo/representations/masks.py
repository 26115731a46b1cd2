"""The one helper that turns lengths into a validity mask (True = valid frame)."""

from __future__ import annotations

import torch


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Bool mask ``(B, max_len)`` with True for frames ``t < lengths[b]``.

    Args:
        lengths: ``(B,)`` integer lengths.
        max_len: width of the mask; defaults to ``lengths.max()``.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (B,), got shape {tuple(lengths.shape)}")
    if (lengths < 0).any():
        raise ValueError("lengths must be non-negative")
    max_len = int(lengths.max()) if max_len is None else int(max_len)
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
