"""MLD-style motion VAE over normalised HumanML3D features.

Encoder: features ``(B, T, 263)`` -> ``Linear`` -> prepend ``2 L`` learned distribution tokens ->
sinusoidal positions -> skip transformer (padding masked) -> the first ``L`` outputs are the mean, the
next ``L`` the log-variance of the posterior over latents ``(B, L, C)`` (MLD: ``L = 1``, ``C = 256``).

Decoder (MLD "all-encoder" decoder): the latent tokens (plus a learned type embedding) are prepended
to ``T`` query tokens that are the sinusoidal positions of the requested length; a skip transformer
attends over both (padded queries masked) and the query outputs are projected to 263 features. The
requested length is therefore free (any ``T`` up to the position table).

Loss: smooth-L1 reconstruction over valid frames + ``kl_weight`` x KL(q || N(0, I)) (MLD: 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.motionduet.layers import SkipTransformer, sinusoidal_table
from humo.representations.masks import lengths_to_mask


@dataclass
class Posterior:
    """Diagonal Gaussian posterior: ``mean``/``logvar`` ``(B, L, C)``."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised draw ``(B, L, C)`` (differentiable w.r.t. mean/logvar)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device if generator is None
                          else generator.device, dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + (0.5 * self.logvar).exp() * eps

    def kl(self) -> torch.Tensor:
        """Mean KL(q || N(0, I)) per latent element (0-d)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()


@dataclass
class VAEOutput:
    """Training output of :meth:`MotionVAE.forward`.

    Attributes:
        loss: 0-d total ``recon + kl_weight * kl``.
        recon: 0-d smooth-L1 over valid frames and features.
        kl: 0-d mean KL per latent element.
        features: ``(B, T, D)`` reconstructed normalised features (padding zeroed).
        latents: ``(B, L, C)`` the posterior sample that was decoded.
        joints: 0-d mean global joint error in metres, set by ``MotionDuetModel.vae_loss`` when it adds the
            joint loss (else None).
    """

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    features: torch.Tensor
    latents: torch.Tensor
    joints: torch.Tensor | None = None  # mean global joint error (m), when the model adds a joint loss


class MotionVAE(nn.Module):
    """Transformer VAE with long skips (MLD).

    Args:
        feature_dim: per-frame feature size (263).
        latent_tokens, latent_dim: latent shape ``(L, C)``; ``C`` is also the transformer width.
        layers (odd), heads, ff, dropout: transformer size (MLD: 9, 4, 1024, 0.1).
        max_frames: longest motion (size of the position table).
        kl_weight: weight of the KL term.
    """

    def __init__(self, feature_dim: int = 263, latent_tokens: int = 1, latent_dim: int = 256, layers: int = 9,
                 heads: int = 4, ff: int = 1024, dropout: float = 0.1, max_frames: int = 196,
                 kl_weight: float = 1e-4):
        super().__init__()
        if min(feature_dim, latent_tokens, latent_dim, max_frames) < 1:
            raise ValueError("VAE sizes must be positive")
        if latent_dim % 2:
            raise ValueError(f"latent_dim must be even, got {latent_dim}")
        self.feature_dim, self.latent_tokens, self.latent_dim = feature_dim, latent_tokens, latent_dim
        self.max_frames, self.kl_weight = max_frames, kl_weight
        self.in_proj = nn.Linear(feature_dim, latent_dim)
        self.dist_tokens = nn.Parameter(torch.randn(2 * latent_tokens, latent_dim) * 0.02)
        self.encoder = SkipTransformer(latent_dim, layers, heads, ff, dropout)
        self.latent_type = nn.Parameter(torch.zeros(latent_tokens, latent_dim))
        self.decoder = SkipTransformer(latent_dim, layers, heads, ff, dropout)
        self.out_proj = nn.Linear(latent_dim, feature_dim)
        self.register_buffer("positions", sinusoidal_table(max_frames + 2 * latent_tokens, latent_dim),
                             persistent=False)

    def _lengths(self, lengths, batch: int, frames: int, device) -> torch.Tensor:
        lengths = torch.as_tensor(lengths, device=device).long().reshape(-1)
        if lengths.shape[0] != batch:
            raise ValueError(f"lengths must be ({batch},), got {tuple(lengths.shape)}")
        if bool((lengths < 1).any()) or int(lengths.max()) > frames:
            raise ValueError(f"lengths must be in [1, {frames}], got {lengths.tolist()}")
        if frames > self.max_frames:
            raise ValueError(f"{frames} frames requested; this VAE handles at most {self.max_frames}")
        return lengths

    def encode(self, features: torch.Tensor, lengths: torch.Tensor) -> Posterior:
        """Normalised features ``(B, T, D)`` with valid ``lengths (B,)`` -> posterior over ``(B, L, C)``."""
        if features.ndim != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(f"features must be (B, T, {self.feature_dim}), got {tuple(features.shape)}")
        b, t, _ = features.shape
        lengths = self._lengths(lengths, b, t, features.device)
        n = 2 * self.latent_tokens
        x = torch.cat([self.dist_tokens.expand(b, -1, -1), self.in_proj(features)], dim=1)  # (B, 2L + T, C)
        x = x + self.positions[: n + t]
        mask = lengths_to_mask(lengths + n, n + t)  # distribution tokens always valid
        out = self.encoder(x, mask)[:, :n]  # (B, 2L, C)
        mean, logvar = out[:, : self.latent_tokens], out[:, self.latent_tokens:]
        return Posterior(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, latents: torch.Tensor, lengths: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Latents ``(B, L, C)`` -> normalised features ``(B, T, D)`` (``T = frames`` or ``max(lengths)``),
        zero past each length."""
        if latents.ndim != 3 or latents.shape[1:] != (self.latent_tokens, self.latent_dim):
            raise ValueError(f"latents must be (B, {self.latent_tokens}, {self.latent_dim}), "
                             f"got {tuple(latents.shape)}")
        b = latents.shape[0]
        lengths = torch.as_tensor(lengths, device=latents.device).long().reshape(-1)
        t = int(lengths.max()) if frames is None else int(frames)
        lengths = self._lengths(lengths, b, t, latents.device)
        n = self.latent_tokens
        queries = self.positions[n: n + t].expand(b, -1, -1)  # (B, T, C) positions of the target frames
        x = torch.cat([latents + self.latent_type + self.positions[:n], queries], dim=1)  # (B, L + T, C)
        mask = lengths_to_mask(lengths + n, n + t)
        out = self.out_proj(self.decoder(x, mask)[:, n:])  # (B, T, D)
        return out * mask[:, n:].unsqueeze(-1).to(out.dtype)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor,
                generator: torch.Generator | None = None) -> VAEOutput:
        """Reconstruct normalised features ``(B, T, D)``; returns losses and the reconstruction."""
        posterior = self.encode(features, lengths)
        z = posterior.sample(generator)
        recon = self.decode(z, lengths, frames=features.shape[1])
        mask = lengths_to_mask(torch.as_tensor(lengths, device=features.device), features.shape[1])
        err = F.smooth_l1_loss(recon, features, reduction="none").mean(-1)  # (B, T)
        rec = (err * mask).sum() / mask.sum()
        kl = posterior.kl()
        return VAEOutput(rec + self.kl_weight * kl, rec, kl, recon, z)
