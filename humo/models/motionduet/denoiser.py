"""Latent denoiser of MotionDuet (MLD's in-context transformer denoiser, epsilon prediction).

The sequence is ``[time token, Lc condition tokens, L latent tokens]``: the timestep's sinusoidal
embedding through an MLP, the fused DUET condition ``H`` projected to the width, and the noisy
latents projected to the width. Each group gets a learned type embedding and the whole sequence a
sinusoidal position; a skip transformer (MLD: 9 layers) attends over it, and the outputs at the latent
positions are projected back to the latent size. With MLD's VAE every token is valid; with time-aligned
latents (the autoencoder first stage) ``mask`` hides the latent tokens past each motion's length, and
fewer than ``latent_tokens`` tokens may be given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from humo.models.motionduet.layers import SkipTransformer, sinusoidal_table, timestep_embedding


@dataclass
class DenoiserOutput:
    """``prediction (B, L, C)`` (the predicted noise) and ``hidden (B, L, W)`` (the transformer outputs
    at the latent positions, the ``z`` of the DASH loss)."""

    prediction: torch.Tensor
    hidden: torch.Tensor


class LatentDenoiser(nn.Module):
    """Transformer denoiser over latent tokens conditioned on condition tokens.

    Args:
        latent_tokens, latent_dim: latent shape ``(L, C)``.
        cond_tokens, cond_dim: condition shape ``(Lc, D_cond)`` (the DUET output).
        width, layers (odd), heads, ff, dropout: transformer size (MLD: 256, 9, 4, 1024, 0.1).
    """

    def __init__(self, latent_tokens: int = 1, latent_dim: int = 256, cond_tokens: int = 8,
                 cond_dim: int = 256, width: int = 256, layers: int = 9, heads: int = 4, ff: int = 1024,
                 dropout: float = 0.1):
        super().__init__()
        if width % 2:
            raise ValueError(f"width must be even, got {width}")
        self.latent_tokens, self.latent_dim = latent_tokens, latent_dim
        self.cond_tokens, self.cond_dim, self.width = cond_tokens, cond_dim, width
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond_proj = nn.Linear(cond_dim, width)
        self.latent_in = nn.Linear(latent_dim, width)
        self.type_embed = nn.Parameter(torch.randn(3, width) * 0.02)  # time / condition / latent
        self.transformer = SkipTransformer(width, layers, heads, ff, dropout)
        self.latent_out = nn.Linear(width, latent_dim)
        self.register_buffer("positions", sinusoidal_table(1 + cond_tokens + latent_tokens, width),
                             persistent=False)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                mask: torch.Tensor | None = None) -> DenoiserOutput:
        """Predict the noise of ``x_t (B, L, C)`` at steps ``t (B,)`` (or a scalar) given
        ``cond (B, Lc, D)``; ``mask (B, L)`` True = valid latent token (None: all valid, then ``L`` must be
        ``latent_tokens``)."""
        ok = x_t.ndim == 3 and x_t.shape[-1] == self.latent_dim and (
            x_t.shape[1] == self.latent_tokens or (mask is not None and 1 <= x_t.shape[1] <= self.latent_tokens))
        if not ok:
            raise ValueError(f"x_t must be (B, {self.latent_tokens}, {self.latent_dim}) (or fewer tokens with a "
                             f"mask), got {tuple(x_t.shape)}")
        b, n = x_t.shape[:2]
        if mask is not None and mask.shape != (b, n):
            raise ValueError(f"mask must be ({b}, {n}), got {tuple(mask.shape)}")
        if cond.shape != (b, self.cond_tokens, self.cond_dim):
            raise ValueError(f"cond must be (B, Lc, D) = ({b}, {self.cond_tokens}, {self.cond_dim}), "
                             f"got {tuple(cond.shape)}")
        t = torch.as_tensor(t, device=x_t.device)
        t = t.expand(b) if t.ndim == 0 else t.reshape(-1)
        if t.shape[0] != b:
            raise ValueError(f"t must be a scalar or ({b},), got {tuple(t.shape)}")
        time = self.time_mlp(timestep_embedding(t, self.width).to(x_t.dtype)).unsqueeze(1)  # (B, 1, W)
        seq = torch.cat([time + self.type_embed[0], self.cond_proj(cond) + self.type_embed[1],
                         self.latent_in(x_t) + self.type_embed[2]], dim=1)  # (B, 1 + Lc + L, W)
        full = None if mask is None else torch.cat([mask.new_ones(b, 1 + self.cond_tokens), mask.bool()], dim=1)
        hidden = self.transformer(seq + self.positions[: seq.shape[1]], full)[:, 1 + self.cond_tokens:]  # (B, L, W)
        return DenoiserOutput(self.latent_out(hidden), hidden)
