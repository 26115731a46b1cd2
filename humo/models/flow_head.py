"""The per-token flow-matching MLP head of CoAMD (MAR's ``SimpleMLPAdaLN``, MARDM's ``DiffMLPs``).

Predicts the velocity ``v = eps - z_0`` of the path ``z_t = (1 - t) z_0 + t eps``
(:mod:`humo.schedulers.flow_matching`) for one latent token, conditioned on the transformer's
context ``h`` for that token and the time ``t``. Blocks: LayerNorm -> adaLN modulation (shift, scale)
-> Linear-SiLU-Linear -> gated residual; modulations and the output layer are zero-initialised so
the head starts as the zero map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(N, dim)`` of times ``t (N,)`` in ``[0, 1]`` (scaled by 1000 first)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``x * (1 + scale) + shift``; ``x (..., width)``, ``shift`` / ``scale`` broadcastable to it."""
    return x * (1 + scale) + shift


class ResBlock(nn.Module):
    """LayerNorm + adaLN modulation + Linear-SiLU-Linear, gated residual (zero-init modulation)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.modulated(x, *self.ada(c).chunk(3, dim=-1))

    def modulated(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, gate: torch.Tensor
                  ) -> torch.Tensor:
        """The block given its modulations (``ada(c)`` split into shift, scale, gate)."""
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class FlowHead(nn.Module):
    """Velocity MLP for single tokens.

    Args:
        token_dim: latent channels ``D``.
        cond_dim: width of the context ``h``.
        width: hidden width (MAR 1024, MARDM 1792).
        depth: number of residual blocks (MAR 3, MARDM 16).
        time_freq_dim: size of the sinusoidal time features.
    """

    def __init__(self, token_dim: int, cond_dim: int, width: int = 1024, depth: int = 3,
                 time_freq_dim: int = 256):
        super().__init__()
        self.time_freq_dim = time_freq_dim
        self.time_embed = nn.Sequential(nn.Linear(time_freq_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.cond_embed = nn.Linear(cond_dim, width)
        self.input_proj = nn.Linear(token_dim, width)
        self.blocks = nn.ModuleList(ResBlock(width) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, token_dim)
        for layer in (self.final_ada[-1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Velocity ``(..., D)`` of ``z_t (..., D)`` at times ``t (...)`` given contexts ``h (..., C)``."""
        lead = z_t.shape[:-1]
        if h.shape[:-1] != lead or t.shape != lead:
            raise ValueError(f"z_t {tuple(z_t.shape)}, t {tuple(t.shape)} and h {tuple(h.shape)} disagree "
                             "on the leading dims")
        # flatten the leading dims: (..., D) -> (N, D)
        z, tt, hh = z_t.reshape(-1, z_t.shape[-1]), t.reshape(-1), h.reshape(-1, h.shape[-1])
        c = self.time_embed(timestep_embedding(tt, self.time_freq_dim).to(z.dtype)) + self.cond_embed(hh)
        return self._run(z, self._modulations(c)).reshape(z_t.shape)

    def _modulations(self, c: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """``(shift, scale, gate)`` of every block, then the final ``(shift, scale)``, for conditions ``c``."""
        return [block.ada(c).chunk(3, dim=-1) for block in self.blocks] + [self.final_ada(c).chunk(2, dim=-1)]

    def _run(self, z: torch.Tensor, mods: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
        x = self.input_proj(z)
        for block, m in zip(self.blocks, mods[:-1], strict=True):
            x = block.modulated(x, *m)
        shift, scale = mods[-1]
        return self.out(modulate(self.final_norm(x), shift, scale))

    def condition(self, times: torch.Tensor, h: torch.Tensor) -> list[list[tuple[torch.Tensor, ...]]]:
        """Everything that depends only on the time and the context, for a whole ODE solve at once.

        An ODE solve calls the head at the same ``S`` times for all ``N`` tokens revealed together;
        the time/context embeddings and every adaLN modulation are computed here in one batched pass
        (``S * N`` rows) instead of once per solver step, with the LayerNorms' affine parameters folded
        into the modulation (``LN(x) * (1 + scale) + shift = norm(x) * a + b``).

        Args:
            times: ``(S,)`` the solver's call times.
            h: ``(N, C)`` contexts.

        Returns:
            for each of the ``S`` times, the per-block ``(a, b, gate)`` (each ``(N, width)``, followed by the
            block's MLP weights and norm epsilon) and the final ``(a, b)``, for :meth:`velocity_at`.
        """
        times, index = torch.unique(times, return_inverse=True)  # Heun repeats its interior times
        c = self.time_embed(timestep_embedding(times, self.time_freq_dim).to(h.dtype))[:, None, :]
        c = c + self.cond_embed(h)[None]  # (S', N, width), S' distinct times
        per_block, weights = [], []
        for block in self.blocks:
            shift, scale, gate = block.ada(c).chunk(3, dim=-1)
            a = 1 + scale
            per_block.append((a * block.norm.weight, torch.addcmul(shift, a, block.norm.bias), gate))
            first, last = block.mlp[0], block.mlp[2]
            weights.append((first.weight, first.bias, last.weight, last.bias, block.norm.eps))
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        per_block.append((1 + scale, shift))  # the final norm has no affine parameters
        weights.append(())
        distinct = [[tuple(m[i] for m in mods) + w for mods, w in zip(per_block, weights, strict=True)]
                    for i in range(times.shape[0])]
        return [distinct[i] for i in index.tolist()]

    def velocity_at(self, z_t: torch.Tensor, condition: list[list[tuple[torch.Tensor, ...]]], i: int
                    ) -> torch.Tensor:
        """Velocity ``(N, D)`` of ``z_t (N, D)`` at the ``i``-th time of a :meth:`condition` (equal to
        ``forward(z_t, times[i].expand(N), h)`` up to float rounding), in plain functional calls."""
        mods = condition[i]
        x = F.linear(z_t, self.input_proj.weight, self.input_proj.bias)
        width = (x.shape[-1],)
        for a, b, gate, w1, b1, w2, b2, eps in mods[:-1]:  # one tuple per block
            y = torch.addcmul(b, F.layer_norm(x, width, eps=eps), a)
            x = torch.addcmul(x, gate, F.linear(F.silu(F.linear(y, w1, b1)), w2, b2))
        a, b = mods[-1]
        y = torch.addcmul(b, F.layer_norm(x, width, eps=self.final_norm.eps), a)
        return F.linear(y, self.out.weight, self.out.bias)
