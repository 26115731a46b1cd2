"""Building blocks shared by the MotionDuet VAE and denoiser (MLD's skip-connected transformer)."""

from __future__ import annotations

import math

import torch
from torch import nn

from humo.models.attention import padding_mask


def sinusoidal_table(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(length, dim)`` sine/cosine position table (``dim`` even)."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table.to(dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(B, dim)`` of (integer or real) timesteps ``t (B,)``."""
    half = dim // 2
    freq = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(1) * freq.unsqueeze(0)  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, emb.new_zeros(emb.shape[0], dim % 2)], dim=-1)


def _layer(width: int, heads: int, ff: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(width, heads, ff, dropout, activation="gelu", batch_first=True,
                                      norm_first=True)


class SkipTransformer(nn.Module):
    """MLD's ``SkipTransformerEncoder``: ``(L-1)/2`` input blocks, a middle block and ``(L-1)/2`` output
    blocks; output block ``k`` first fuses the output of input block ``L/2 - k`` through a long skip
    (concatenate, ``Linear(2W, W)``), U-Net style. Pre-norm layers, final LayerNorm.

    Args:
        width, layers (odd, >= 1), heads, ff, dropout: transformer size.
    """

    def __init__(self, width: int, layers: int, heads: int, ff: int, dropout: float = 0.1):
        super().__init__()
        if layers < 1 or layers % 2 == 0:
            raise ValueError(f"a skip transformer needs an odd number of layers, got {layers}")
        if width % heads:
            raise ValueError(f"width={width} must be divisible by heads={heads}")
        n = (layers - 1) // 2
        self.input_blocks = nn.ModuleList(_layer(width, heads, ff, dropout) for _ in range(n))
        self.middle_block = _layer(width, heads, ff, dropout)
        self.output_blocks = nn.ModuleList(_layer(width, heads, ff, dropout) for _ in range(n))
        self.skip_linears = nn.ModuleList(nn.Linear(2 * width, width) for _ in range(n))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, S, W)``, ``mask (B, S)`` bool True = valid (None: all valid) -> ``(B, S, W)``."""
        pad_mask = padding_mask(mask)  # True = ignored by attention; None: all valid
        skips = []
        for block in self.input_blocks:
            x = block(x, src_key_padding_mask=pad_mask)
            skips.append(x)
        x = self.middle_block(x, src_key_padding_mask=pad_mask)
        for block, linear in zip(self.output_blocks, self.skip_linears, strict=True):
            x = linear(torch.cat([x, skips.pop()], dim=-1))  # long skip: (B, S, 2W) -> (B, S, W)
            x = block(x, src_key_padding_mask=pad_mask)
        return self.norm(x)
