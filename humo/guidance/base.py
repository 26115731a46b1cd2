"""The two kinds of guidance a sampling loop understands.

* :class:`PredictionGuidance` combines two predictions of the same network (CFG, auto-guidance).
  The loop asks ``num_passes(step, num_steps)``; with 2 it also evaluates the network on
  ``second_condition(cond, null_cond, generator)`` and combines with ``guidance(pred, pred_2, ...)``.
* :class:`LatentGuidance` is a hook that returns updated latents after a step (MDM ``cond_fn`` style),
  e.g. recognizer guidance, or once after the last step (``final``), e.g. contact guidance.

``step`` counts from 0 to ``num_steps - 1``. ``progress`` (optional, in ``[0, 1]``) is the fraction of
the work done after this step; loops whose progress is not ``(step + 1) / num_steps`` (a masked
autoregressive loop with a cosine schedule) pass it explicitly.
"""

from __future__ import annotations

import torch


class PredictionGuidance:
    """Base class: combine the prediction for the condition with a second (weaker) prediction."""

    scale: float
    start: float = 0.0
    stop: float = 1.0

    def active(self, step: int, num_steps: int) -> bool:
        """Whether ``step`` lies inside the ``[start, stop)`` window (fractions of ``num_steps``)."""
        if num_steps < 1 or not 0 <= step < num_steps:
            raise ValueError(f"step must be in [0, num_steps), got step={step}, num_steps={num_steps}")
        return self.start * num_steps <= step < self.stop * num_steps

    def scale_at(self, step: int, num_steps: int, progress: float | None = None) -> float:
        """The guidance weight at ``step`` (1 means "no guidance")."""
        return float(self.scale) if self.active(step, num_steps) else 1.0

    def num_passes(self, step: int, num_steps: int, progress: float | None = None) -> int:
        """2 when the second prediction is needed at ``step``, else 1 (the loop skips that pass)."""
        return 1 if self.scale_at(step, num_steps, progress) == 1.0 else 2

    def second_condition(self, cond: torch.Tensor, null_cond: torch.Tensor,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The condition ``(B, D)`` for the second pass, given the condition and the model's null one."""
        raise NotImplementedError

    def __call__(self, pred_cond: torch.Tensor, pred_other: torch.Tensor, step: int, num_steps: int,
                 progress: float | None = None) -> torch.Tensor:
        raise NotImplementedError


class LatentGuidance:
    """Base class: a hook ``hook(latents, decode, texts, update_mask, lengths) -> latents``.

    A step hook (``final = False``, e.g. recognizer guidance) runs after every step on the tokens just
    revealed; a final hook (``final = True``, e.g. contact guidance) runs once on the finished latents,
    ``update_mask`` = every token the loop generated.
    """

    final: bool = False

    def __call__(self, latents: torch.Tensor, decode, texts: list[str], update_mask: torch.Tensor,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


def split_guidance(guidance) -> tuple[PredictionGuidance | None, list[LatentGuidance]]:
    """Split a guidance object or list into (at most one prediction guidance, latent hooks)."""
    if guidance is None:
        return None, []
    items = list(guidance) if isinstance(guidance, (list, tuple)) else [guidance]
    pred = [g for g in items if isinstance(g, PredictionGuidance)]
    hooks = [g for g in items if isinstance(g, LatentGuidance)]
    other = [g for g in items if not isinstance(g, (PredictionGuidance, LatentGuidance))]
    if other:
        raise ValueError(f"not a guidance object: {type(other[0]).__name__}")
    if len(pred) > 1:
        raise ValueError("at most one of ClassifierFreeGuidance / AutoGuidance can be used at a time")
    return (pred[0] if pred else None), hooks
