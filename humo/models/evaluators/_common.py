"""What every evaluator shares: the feature mean/std buffers they normalise raw features with."""

from __future__ import annotations

import torch
from torch import nn

from humo.representations._checks import check_tensor

STD_EPS = 1e-8  # as humo.representations.normalizer.Normalizer: constant dims never divide by 0


def set_feature_stats(module: nn.Module, mean, std) -> None:
    """Copy ``mean`` / ``std`` ``(D,)`` into ``module.mean`` / ``module.std`` (std clamped at 1e-8)."""
    dim = module.mean.shape[0]
    values = {}
    for name, v in (("mean", mean), ("std", std)):
        v = check_tensor(v, name).reshape(-1)
        if v.shape[0] != dim:
            raise ValueError(f"{name} must have {dim} values, got {v.shape[0]}")
        values[name] = v
    if bool((values["std"] < 0).any()):
        raise ValueError("std must be non-negative")
    with torch.no_grad():
        module.mean.copy_(values["mean"])
        module.std.copy_(values["std"].clamp_min(STD_EPS))
