"""DASH: distribution-aware structural harmonisation loss (MotionDuet).

For ``N`` row-aligned token pairs ``(z_i, v_i)``::

    L_token = mean_i ReLU(1 - m_cos - cos(z_i, v_i))                           (token margin)
    L_pair  = mean_{i != j} ReLU(|cos(z_i, z_j) - cos(v_i, v_j)| - m_pair)      (pairwise structure)
    L_DASH  = L_token + L_pair,      total loss L = L_MLD + lambda * L_DASH     (lambda = 0.1 in the paper)

What ``z`` and ``v`` are in humo (:meth:`humo.models.motionduet.MotionDuetModel.forward`): ``z`` are the
denoiser's output hidden states at the latent-token positions (the noisy latents after attending to
the fused DUET condition ``H``), mapped by a small learned head to the video feature size; ``v`` are
the raw video feature tokens of the same samples, average-pooled over time to the same number of
tokens (``L`` latent tokens per sample) and held fixed (no gradient). Token ``i`` runs over
(sample, latent token) pairs of the samples that have a video and kept their condition, so with
MLD's single latent token the pairwise term compares the similarity structure across the batch.
The margins ``m_cos = 0.1`` and ``m_pair = 0.1`` are humo's defaults (the facts file gives none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class DashOutput:
    """``loss = token + pair`` (all 0-d)."""

    loss: torch.Tensor
    token: torch.Tensor
    pair: torch.Tensor


def dash_loss(z: torch.Tensor, v: torch.Tensor, margin_cos: float = 0.1, margin_pair: float = 0.1,
              eps: float = 1e-8) -> DashOutput:
    """DASH loss between ``z`` and ``v``, both ``(N, D)`` or ``(B, L, D)`` (flattened to ``(B L, D)``).

    With a single row the pairwise term is 0. Gradients flow into both inputs (detach ``v`` to use it
    as a fixed target).
    """
    if z.shape != v.shape or z.ndim not in (2, 3):
        raise ValueError(f"z and v must share a (N, D) or (B, L, D) shape, got {tuple(z.shape)} and "
                         f"{tuple(v.shape)}")
    if margin_cos < 0 or margin_pair < 0:
        raise ValueError(f"margins must be >= 0, got {margin_cos}, {margin_pair}")
    z, v = z.reshape(-1, z.shape[-1]), v.reshape(-1, v.shape[-1])
    if z.shape[0] == 0:
        raise ValueError("DASH needs at least one token pair")
    zn, vn = F.normalize(z, dim=-1, eps=eps), F.normalize(v, dim=-1, eps=eps)
    token = F.relu(1.0 - margin_cos - (zn * vn).sum(-1)).mean()
    n = z.shape[0]
    if n < 2:
        pair = token.new_zeros(())
    else:
        off = ~torch.eye(n, dtype=torch.bool, device=z.device)  # pairs i != j
        gap = (zn @ zn.T - vn @ vn.T).abs()
        pair = F.relu(gap - margin_pair)[off].mean()
    return DashOutput(token + pair, token, pair)
