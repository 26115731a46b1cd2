"""CoAMD's masked autoregressive transformer over autoencoder latent tokens (MARDM style).

The model works on **normalised** latent tokens ``(B, L, D)``: ``normalize_latents`` maps the
autoencoder's latents with the per-channel statistics stored as buffers (set once at training
time by ``set_latent_stats``), ``denormalize_latents`` maps back before decoding.

* ``context(tokens, cond_emb, mask_tokens, token_valid) -> h (B, L, width)``: masked tokens are
  replaced by a learned mask token, a learned positional embedding is added, and a bidirectional
  transformer with adaLN-Zero conditioning on the projected sentence embedding produces a context
  per token. ``null_condition(B)`` is the learned "no text" embedding used for CFG.
* ``velocity(z_t, t, h)``: the flow-matching head (:mod:`humo.models.flow_head`); the sign
  convention is ``z_t = (1 - t) z_0 + t eps``, target ``eps - z_0`` (:mod:`humo.schedulers.flow_matching`).
* ``forward(latents, cond_emb, mask_tokens, token_valid, generator) -> CoAMDOutput`` is the training
  loss: cosine mask ratio ``cos(pi/2 u)``, 10 % condition dropout to the null condition, loss only
  on masked valid tokens, each repeated ``head_batch_mul`` (4) times for the head.
* ``predict_tokens(cond_emb)``: optional length head (number of tokens from the text embedding).

The model holds no sampling loop: :class:`humo.pipelines.coamd.CoAMD` owns it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from humo.models.flow_head import FlowHead, modulate
from humo.models.hub import HubModel
from humo.schedulers.flow_matching import FlowMatchingScheduler

COAMD_PRESETS: dict[str, dict] = {
    "tiny": dict(width=32, depth=2, heads=2, head_width=32, head_depth=2, dropout=0.0),
    # sized to train in ~15 min on 2 CPU cores (~1.5 M parameters)
    "small": dict(width=128, depth=4, heads=4, head_width=128, head_depth=3, dropout=0.0),
    # sized for a short GPU run and the package's 50 MB asset budget (~9.2 M parameters)
    "medium": dict(width=256, depth=6, heads=8, head_width=256, head_depth=4, dropout=0.1),
    # MARDM: transformer 1024 x 6, head 1792 x 16
    "base": dict(width=1024, depth=6, heads=16, head_width=1792, head_depth=16, dropout=0.1),
}


@dataclass
class CoAMDOutput:
    """Training output of :meth:`CoAMDTransformer.forward`.

    Attributes:
        loss: scalar total loss (flow + length).
        flow_loss: scalar MSE between predicted and target velocity on masked tokens.
        length_loss: scalar cross-entropy of the length head (0 without it).
        mask_tokens: ``(B, L)`` bool, the tokens that were masked (True = masked).
    """

    loss: torch.Tensor
    flow_loss: torch.Tensor
    length_loss: torch.Tensor
    mask_tokens: torch.Tensor


def sample_token_mask(token_valid: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training mask ``(B, L)`` bool (True = masked): ratio ``cos(pi/2 u)``, ``u ~ U(0, 1)``, over a
    random order of the valid tokens; at least one valid token per sample is masked."""
    b, l = token_valid.shape
    n_valid = token_valid.sum(1)
    ratio = torch.cos(math.pi / 2 * torch.rand(b, generator=generator, device=token_valid.device))
    n_mask = torch.minimum((ratio * n_valid).ceil().clamp(min=1), n_valid)
    scores = torch.rand(b, l, generator=generator, device=token_valid.device).masked_fill(~token_valid, 2.0)
    rank = scores.argsort(1).argsort(1)  # position of each token in the random order
    return (rank < n_mask.unsqueeze(1)) & token_valid


class Block(nn.Module):
    """Transformer block with adaLN-Zero: shift/scale/gate for attention and MLP from the condition."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
                                 nn.Linear(hidden, width), nn.Dropout(dropout))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        """``x (B, L, W)``, ``c (B, W)``, ``attend (B, 1, 1, L)`` bool True = key may be attended."""
        s1, c1, g1, s2, c2, g2 = self.ada(c).unsqueeze(1).chunk(6, dim=-1)  # each (B, 1, W)
        qkv = self.qkv(modulate(self.norm1(x), s1, c1))  # (B, L, 3W)
        q, k, v = rearrange(qkv, "b l (three h d) -> three b h l d", three=3, h=self.heads)
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=p)
        a = rearrange(a, "b h l d -> b l (h d)")
        x = x + g1 * F.dropout(self.proj(a), p)
        return x + g2 * self.mlp(modulate(self.norm2(x), s2, c2))


class CoAMDTransformer(HubModel):
    """Masked autoregressive transformer + flow-matching head over latent tokens.

    Args:
        latent_dim: channels ``D`` of the autoencoder latents.
        max_tokens: tokens per window (``196 // 4 = 49`` for 196 frames, downsampling 4).
        text_dim: size of the sentence embedding (384 for MiniLM).
        width, depth, heads, mlp_ratio, dropout: transformer size (MARDM: 1024, 6, 16, 4, 0.1).
        head_width, head_depth: flow head size (MARDM 1792 x 16; MAR 1024 x 3).
        cond_drop: probability of replacing the condition by the learned null condition in training.
        head_batch_mul: how many times each masked token is repeated (fresh t, eps) for the head loss.
        length_head: add a small classifier predicting the number of tokens from the text embedding.
    """

    def __init__(self, latent_dim: int = 512, max_tokens: int = 49, text_dim: int = 384, width: int = 1024,
                 depth: int = 6, heads: int = 16, mlp_ratio: float = 4.0, dropout: float = 0.1,
                 head_width: int = 1792, head_depth: int = 16, cond_drop: float = 0.1,
                 head_batch_mul: int = 4, length_head: bool = True):
        super().__init__()
        if min(latent_dim, max_tokens, text_dim, width, depth, head_width, head_depth, head_batch_mul) < 1:
            raise ValueError("all CoAMD sizes must be positive integers")
        if not 0.0 <= cond_drop < 1.0:
            raise ValueError(f"cond_drop must be in [0, 1), got {cond_drop}")
        self.latent_dim, self.max_tokens, self.text_dim = latent_dim, max_tokens, text_dim
        self.cond_drop, self.head_batch_mul = cond_drop, head_batch_mul
        self.input_proj = nn.Linear(latent_dim, width)
        self.mask_token = nn.Parameter(torch.randn(width) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(max_tokens, width) * 0.02)
        self.null_cond = nn.Parameter(torch.zeros(text_dim))
        self.cond_proj = nn.Sequential(nn.Linear(text_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        nn.init.zeros_(self.final_ada[-1].weight)
        nn.init.zeros_(self.final_ada[-1].bias)
        self.head = FlowHead(latent_dim, width, head_width, head_depth)
        self.length_head = (nn.Sequential(nn.Linear(text_dim, 256), nn.SiLU(), nn.Linear(256, max_tokens))
                            if length_head else None)
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))
        self.path = FlowMatchingScheduler()  # the training path (add_noise / target); holds no weights

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> CoAMDTransformer:
        """Build from :data:`COAMD_PRESETS` (``tiny``, ``small``, ``base``); ``kwargs`` override it."""
        if name not in COAMD_PRESETS:
            raise ValueError(f"unknown CoAMD preset {name!r}; choose one of {sorted(COAMD_PRESETS)}")
        return cls(**{**COAMD_PRESETS[name], **kwargs})

    # ------------------------------------------------------------------ latent statistics
    @torch.no_grad()
    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store per-channel statistics ``(D,)`` of the autoencoder latents (std floored at 1e-4)."""
        self.latent_mean.copy_(mean.reshape(self.latent_dim))
        self.latent_std.copy_(std.reshape(self.latent_dim).clamp(min=1e-4))

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Autoencoder latents ``(..., D)`` -> model space."""
        return (latents - self.latent_mean) / self.latent_std

    def denormalize_latents(self, tokens: torch.Tensor) -> torch.Tensor:
        """Model-space tokens ``(..., D)`` -> autoencoder latents."""
        return tokens * self.latent_std + self.latent_mean

    # ------------------------------------------------------------------ building blocks
    def null_condition(self, batch: int) -> torch.Tensor:
        """The learned "no text" sentence embedding, ``(batch, text_dim)``."""
        return self.null_cond.unsqueeze(0).expand(batch, -1)

    def _check(self, tokens: torch.Tensor, cond_emb: torch.Tensor, token_valid: torch.Tensor | None):
        if tokens.ndim != 3 or tokens.shape[-1] != self.latent_dim:
            raise ValueError(f"latents must be (B, L, {self.latent_dim}), got {tuple(tokens.shape)}")
        b, l, _ = tokens.shape
        if not 1 <= l <= self.max_tokens:
            raise ValueError(f"latents have {l} tokens; the model takes 1..{self.max_tokens}")
        if cond_emb.shape != (b, self.text_dim):
            raise ValueError(f"cond_emb must be (B, {self.text_dim}) = ({b}, {self.text_dim}), "
                             f"got {tuple(cond_emb.shape)}")
        if token_valid is None:
            return torch.ones(b, l, dtype=torch.bool, device=tokens.device)
        if token_valid.shape != (b, l) or token_valid.dtype != torch.bool:
            raise ValueError(f"token_valid must be a bool (B, L) = ({b}, {l}) tensor")
        if not bool(token_valid.any(1).all()):
            raise ValueError("every sample needs at least one valid token")
        return token_valid

    def context(self, tokens: torch.Tensor, cond_emb: torch.Tensor, mask_tokens: torch.Tensor,
                token_valid: torch.Tensor | None = None) -> torch.Tensor:
        """Context ``h (B, L, width)`` for every token.

        Args:
            tokens: ``(B, L, D)`` normalised latents; values at masked or invalid positions are ignored.
            cond_emb: ``(B, text_dim)`` sentence embeddings (or ``null_condition(B)`` rows).
            mask_tokens: ``(B, L)`` bool, True = masked (to be predicted).
            token_valid: ``(B, L)`` bool, True = real token (False = padding); default all valid.
        """
        token_valid = self._check(tokens, cond_emb, token_valid)
        l = tokens.shape[1]
        if mask_tokens.shape != token_valid.shape:
            raise ValueError(f"mask_tokens must be (B, L) = {tuple(token_valid.shape)}, "
                             f"got {tuple(mask_tokens.shape)}")
        known = token_valid & ~mask_tokens
        tokens = tokens.masked_fill(~known.unsqueeze(-1), 0.0)  # unknown values -> 0 (no NaN can leak)
        x = self.input_proj(tokens)
        x = torch.where(mask_tokens.unsqueeze(-1), self.mask_token.to(x.dtype), x) + self.pos_embed[:l]
        c = self.cond_proj(cond_emb)
        attend = token_valid[:, None, None, :]  # (B, 1, 1, L): True = key may be attended (not pad_mask)
        for block in self.blocks:
            x = block(x, c, attend)
        shift, scale = self.final_ada(c).unsqueeze(1).chunk(2, dim=-1)
        return modulate(self.final_norm(x), shift, scale)

    def velocity(self, z_t: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Velocity ``eps - z_0`` ``(..., D)`` for ``z_t (..., D)``, ``t (...)`` and ``h (..., width)``."""
        return self.head(z_t, t, h)

    def flow_condition(self, times: torch.Tensor, h: torch.Tensor) -> list:
        """The flow head's time/context modulations for an ODE solve: ``times (S,)``, ``h (N, width)``
        (see :meth:`humo.models.flow_head.FlowHead.condition`)."""
        return self.head.condition(times, h)

    def velocity_at(self, z_t: torch.Tensor, condition: list, i: int) -> torch.Tensor:
        """Velocity ``(N, D)`` at the ``i``-th time of a :meth:`flow_condition` (= :meth:`velocity`)."""
        return self.head.velocity_at(z_t, condition, i)

    def length_logits(self, cond_emb: torch.Tensor) -> torch.Tensor:
        """``(B, max_tokens)`` logits over the number of tokens ``1..max_tokens``."""
        if self.length_head is None:
            raise ValueError("this CoAMD has no length head (length_head=False); pass a length")
        return self.length_head(cond_emb)

    @torch.no_grad()
    def predict_tokens(self, cond_emb: torch.Tensor) -> torch.Tensor:
        """Most likely number of tokens ``(B,)`` (long, in ``1..max_tokens``) for sentence embeddings."""
        return self.length_logits(cond_emb).argmax(-1) + 1

    # ------------------------------------------------------------------ training
    def forward(self, latents: torch.Tensor, cond_emb: torch.Tensor, mask_tokens: torch.Tensor | None = None,
                token_valid: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> CoAMDOutput:
        """Training loss.

        Args:
            latents: ``(B, L, D)`` normalised latents.
            cond_emb: ``(B, text_dim)`` sentence embeddings.
            mask_tokens: ``(B, L)`` bool True = masked; default :func:`sample_token_mask`.
            token_valid: ``(B, L)`` bool True = real token; default all valid.
            generator: randomness for the mask, condition dropout, times and noise.
        """
        token_valid = self._check(latents, cond_emb, token_valid)
        b, dev = latents.shape[0], latents.device
        if mask_tokens is None:
            mask_tokens = sample_token_mask(token_valid, generator)
        target_tokens = mask_tokens & token_valid
        if not bool(target_tokens.any()):
            raise ValueError("no valid token is masked: nothing to learn from")
        cond = cond_emb
        if self.training and self.cond_drop > 0:
            drop = torch.rand(b, generator=generator, device=dev) < self.cond_drop
            cond = torch.where(drop.unsqueeze(1), self.null_condition(b).to(cond.dtype), cond)
        h = self.context(latents, cond, mask_tokens, token_valid)
        z0 = latents[target_tokens].repeat(self.head_batch_mul, 1)  # (N * mul, D)
        hh = h[target_tokens].repeat(self.head_batch_mul, 1)  # (N * mul, width)
        t = self.path.sample_timesteps(z0.shape[0], generator=generator, device=dev)
        eps = torch.randn(z0.shape, generator=generator, device=dev, dtype=z0.dtype)
        v = self.velocity(self.path.add_noise(z0, eps, t), t, hh)
        flow_loss = F.mse_loss(v, self.path.target(z0, eps))
        length_loss = torch.zeros((), device=dev)
        if self.length_head is not None:
            n_tokens = token_valid.sum(1) - 1  # class k <-> k + 1 tokens
            length_loss = F.cross_entropy(self.length_logits(cond_emb), n_tokens)
        return CoAMDOutput(flow_loss + length_loss, flow_loss, length_loss, mask_tokens)
