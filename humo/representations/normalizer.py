"""Feature normalisation with mean / std (pure tensors; file I/O lives in ``humo.data.stats``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humo.representations._checks import check_tensor
from humo.representations.humanml3d import block_std


@dataclass
class Normalizer:
    """``(x - mean) / std`` over the last dim.

    Attributes:
        mean: ``(D,)``.
        std: ``(D,)``; entries below ``eps`` are clamped to ``eps`` so constant dims never divide by 0.
    """

    mean: torch.Tensor
    std: torch.Tensor
    eps: float = 1e-8

    def __post_init__(self):
        self.mean = check_tensor(self.mean, "mean", min_dim=1)
        self.std = check_tensor(self.std, "std", min_dim=1)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(
                f"mean and std must both be (D,), got {tuple(self.mean.shape)} and {tuple(self.std.shape)}")
        if (self.std < 0).any():
            raise ValueError("std must be non-negative")

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected features (..., {self.dim}), got {tuple(x.shape)}")
        return self.mean.to(x), self.std.clamp(min=self.eps).to(x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., D) -> (x - mean) / std``."""
        mean, std = self._stats(x)
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`."""
        mean, std = self._stats(x)
        return x * std + mean

    @classmethod
    def from_features(cls, features: torch.Tensor | list[torch.Tensor], *, reference_blocks: bool = True,
                      joints_num: int = 22) -> Normalizer:
        """Fit on ``features (N, D)`` or a list of ``(T_i, D)`` clips (all frames pooled, float64).

        With ``reference_blocks`` (HumanML3D's 263-d layout) each block's std becomes the block mean,
        as in the reference ``Mean.npy`` / ``Std.npy``.
        """
        if isinstance(features, (list, tuple)):
            if not features:
                raise ValueError("no features to fit a Normalizer on")
            features = torch.cat([check_tensor(f, "features", min_dim=2).reshape(-1, f.shape[-1]) for f in features])
        features = check_tensor(features, "features", min_dim=2).reshape(-1, features.shape[-1]).double()
        if features.shape[0] < 2:
            raise ValueError("need at least 2 frames to fit a Normalizer")
        mean = features.mean(0)
        std = features.std(0, unbiased=False)
        if reference_blocks:
            std = block_std(std, joints_num)
        return cls(mean.float(), std.float())

    def evaluator_variant(self, feat_bias: float = 5.0, joints_num: int = 22) -> Normalizer:
        """The T2M evaluator's statistics: root blocks and contacts std divided by ``feat_bias``."""
        return Normalizer(self.mean.clone(), block_std(self.std, joints_num, feat_bias) if feat_bias != 1 else
                          self.std.clone(), self.eps)
