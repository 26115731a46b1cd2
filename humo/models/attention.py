"""Attention helpers shared by the models built on ``nn.TransformerEncoder``."""

from __future__ import annotations

import torch


def padding_mask(valid: torch.Tensor | None) -> torch.Tensor | None:
    """``src_key_padding_mask`` for ``valid (B, S)`` bool (True = a real token): ``~valid``, or ``None`` when
    every token is real (one clip, or a batch of equal lengths: the usual case at generation).

    ``None`` is the same attention (no score is masked) and skips torch's padding-mask check, whose
    ``torch._check_with`` imports ``torch.fx.experimental.symbolic_shapes`` and sympy on first use: about
    0.3 s and 20 MB of a cold one-prompt ``humo generate``.
    """
    if valid is None or bool(valid.all()):
        return None
    return ~valid
