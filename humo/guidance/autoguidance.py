"""Auto-guidance (MotionDuet): ``x = (1 + w) x_strong - w x_weak``.

The weak prediction is the same network evaluated on a degraded copy of the condition: features
dropped with probability ``strength`` (inverted dropout), or Gaussian noise of std ``strength``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from humo.guidance.base import PredictionGuidance


class DegradeMode(str, Enum):
    """How the weak pass degrades the condition: ``dropout`` (inverted dropout with probability
    ``strength``) or ``noise`` (additive Gaussian noise of std ``strength``)."""

    DROPOUT = "dropout"
    NOISE = "noise"


@dataclass
class AutoGuidance(PredictionGuidance):
    """Auto-guidance with a degraded condition.

    Args:
        mode: ``"dropout"`` or ``"noise"``.
        strength: dropout probability in ``[0, 1)`` or noise std ``>= 0``.
        scale: ``w`` in ``(1 + w) x_strong - w x_weak`` (0 = strong prediction only, one pass).
        start, stop: window as fractions of the steps (outside: one pass, strong prediction).
    """

    mode: DegradeMode | str = DegradeMode.DROPOUT
    strength: float = 0.05
    scale: float = 1.25
    start: float = 0.0
    stop: float = 1.0

    def __post_init__(self):
        try:
            self.mode = DegradeMode(self.mode)
        except ValueError:
            raise ValueError(f"unknown auto-guidance mode {self.mode!r}; choose 'dropout' or 'noise'"
                             ) from None
        if self.mode is DegradeMode.DROPOUT and not 0.0 <= self.strength < 1.0:
            raise ValueError(f"dropout strength must be in [0, 1), got {self.strength}")
        if self.strength < 0:
            raise ValueError(f"noise strength must be >= 0, got {self.strength}")
        if not 0.0 <= self.start <= self.stop <= 1.0:
            raise ValueError(f"need 0 <= start <= stop <= 1, got start={self.start}, stop={self.stop}")

    def scale_at(self, step: int, num_steps: int, progress: float | None = None) -> float:
        # Expressed as an equivalent CFG weight 1 + w so that "1 means no guidance" holds for both.
        return 1.0 + float(self.scale) if self.active(step, num_steps) else 1.0

    def degrade(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A degraded copy of ``cond`` (any shape)."""
        if self.mode is DegradeMode.DROPOUT:
            if self.strength == 0:
                return cond
            keep = torch.rand(cond.shape, generator=generator, device=cond.device) >= self.strength
            return cond * keep.to(cond.dtype) / (1.0 - self.strength)
        noise = torch.randn(cond.shape, generator=generator, device=cond.device, dtype=cond.dtype)
        return cond + self.strength * noise

    def second_condition(self, cond: torch.Tensor, null_cond: torch.Tensor,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        return self.degrade(cond, generator)

    def __call__(self, pred_strong: torch.Tensor, pred_weak: torch.Tensor, step: int, num_steps: int,
                 progress: float | None = None) -> torch.Tensor:
        if not self.active(step, num_steps) or self.scale == 0:
            return pred_strong
        w = float(self.scale)
        return (1.0 + w) * pred_strong - w * pred_weak
