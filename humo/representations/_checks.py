"""Input validation shared by every representation function (clear ValueErrors, never asserts)."""

from __future__ import annotations

import torch


def check_tensor(x, name: str, *, min_dim: int = 1, trailing: tuple[int, ...] = (), finite: bool = True,
                 min_frames: int | None = None, frame_dim: int | None = None) -> torch.Tensor:
    """Validate ``x`` and return it as a floating tensor.

    Args:
        x: the input (a tensor; numpy arrays are converted).
        name: how the error message names the input.
        min_dim: minimum number of dimensions.
        trailing: required trailing shape, e.g. ``(22, 3)``.
        finite: reject NaN / inf.
        min_frames: minimum size of the frame axis ``frame_dim`` (negative index).
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception as e:  # noqa: BLE001 - re-raised with a clear message
            raise ValueError(f"{name} must be a tensor or array, got {type(x).__name__}") from e
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < max(min_dim, len(trailing)):
        raise ValueError(f"{name} must have at least {max(min_dim, len(trailing))} dims, got shape {tuple(x.shape)}")
    if trailing and tuple(x.shape[-len(trailing):]) != tuple(trailing):
        want = "(..., " + ", ".join(map(str, trailing)) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if min_frames is not None and frame_dim is not None and x.shape[frame_dim] < min_frames:
        raise ValueError(
            f"{name} needs at least {min_frames} frames (axis {frame_dim}), got {x.shape[frame_dim]}"
        )
    # a sum is far cheaper than an element-wise test; a non-finite sum (NaN/inf, or an overflow) is confirmed
    if finite and x.numel() and not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    return x
