"""Classifier-free guidance: ``pred = uncond + w (cond - uncond)`` with a schedule, a window and a rescale.

The rescale (Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed", WACV 2024)
brings the guided prediction's per-sample standard deviation back to the conditional one's and mixes
``rescale * rescaled + (1 - rescale) * guided``: high scales then keep the text alignment without
inflating magnitudes (for motion: speeds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from humo.guidance.base import PredictionGuidance


class CFGSchedule(str, Enum):
    """``constant``: w = scale. ``linear`` (MAR): w = 1 + (scale - 1) * progress."""

    CONSTANT = "constant"
    LINEAR = "linear"


@dataclass
class ClassifierFreeGuidance(PredictionGuidance):
    """Classifier-free guidance.

    Args:
        scale: guidance weight ``w`` (1 = conditional prediction only, one network pass).
        schedule: ``"constant"`` or ``"linear"`` (MAR: ``1 + (w - 1) * revealed / total``).
        start, stop: the window, as fractions of the steps, where guidance is applied; outside
            it the conditional prediction is returned and the loop runs one pass.
        rescale: 0 (off) .. 1: weight of the std-rescaled guided prediction (std over all but the
            first dim, per sample).
        video_scale: for a model conditioned on text and video (MotionDuet), a separate weight for the
            video: ``uncond + w (text - uncond) + video_scale (text_video - text)``, with ``text`` the
            prediction for the text alone (three passes where a video is given; the loop supplies it).
            None: one condition, text and video together, guided by ``w`` (two passes).
    """

    scale: float = 4.5
    schedule: CFGSchedule | str = CFGSchedule.CONSTANT
    start: float = 0.0
    stop: float = 1.0
    rescale: float = 0.0
    video_scale: float | None = None

    def __post_init__(self):
        try:
            self.schedule = CFGSchedule(self.schedule)
        except ValueError:
            raise ValueError(f"unknown CFG schedule {self.schedule!r}; choose 'constant' or 'linear'"
                             ) from None
        if not 0.0 <= self.start <= self.stop <= 1.0:
            raise ValueError(f"need 0 <= start <= stop <= 1, got start={self.start}, stop={self.stop}")
        if not 0.0 <= self.rescale <= 1.0:
            raise ValueError(f"CFG rescale must be in [0, 1], got {self.rescale}")
        if not torch.isfinite(torch.tensor(float(self.scale))) or float(self.scale) < 0:
            raise ValueError(f"CFG scale must be a finite number >= 0 (0 = unconditional, 1 = off), got {self.scale}")
        if self.video_scale is not None and (not torch.isfinite(torch.tensor(float(self.video_scale)))
                                             or float(self.video_scale) < 0):
            raise ValueError(f"video_scale must be a finite number >= 0 or None, got {self.video_scale}")

    def scale_at(self, step: int, num_steps: int, progress: float | None = None) -> float:
        if not self.active(step, num_steps):
            return 1.0
        if self.schedule is CFGSchedule.CONSTANT:
            return float(self.scale)
        p = (step + 1) / num_steps if progress is None else float(progress)
        return 1.0 + (float(self.scale) - 1.0) * p

    def second_condition(self, cond: torch.Tensor, null_cond: torch.Tensor,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The unconditional pass uses the model's null condition."""
        return null_cond.expand_as(cond)

    def __call__(self, pred_cond: torch.Tensor, pred_uncond: torch.Tensor, step: int, num_steps: int,
                 progress: float | None = None, pred_text: torch.Tensor | None = None) -> torch.Tensor:
        """Combine predictions ``(B, ...)`` of the conditional and unconditional passes; with ``video_scale``
        and ``pred_text`` (the text-alone pass), text and video get their own weights."""
        w = self.scale_at(step, num_steps, progress)
        if w == 1.0:
            return pred_cond
        if self.video_scale is not None and pred_text is not None:
            guided = pred_uncond + w * (pred_text - pred_uncond) + float(self.video_scale) * (pred_cond - pred_text)
        else:
            guided = pred_uncond + w * (pred_cond - pred_uncond)
        if self.rescale == 0.0:
            return guided
        dims = tuple(range(1, guided.ndim))
        ratio = pred_cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True).clamp(min=1e-8)
        return self.rescale * guided * ratio + (1.0 - self.rescale) * guided
