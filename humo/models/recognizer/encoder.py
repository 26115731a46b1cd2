"""Building blocks of the MAR recognizer: stream preparation, per-stream encoders, fusion transformer.

Translation invariance: every joint is expressed relative to the **frame-0 root position on the floor
plane** (x and z of the pelvis at the first frame are subtracted; height is kept, because crouching,
jumping and lying down are told apart by it). The recogniser is therefore invariant to where on the floor
a motion happens but not to its facing direction (corpora are canonicalised to face +Z at frame 0, and
"turn left" vs "turn right" needs the heading). The motion stream is translation invariant by itself.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from humo.models.attention import padding_mask
from humo.representations.streams import to_streams

STREAM_NAMES = {"j": "joints", "b": "bones", "m": "motion"}


def floor_relative(joints: torch.Tensor) -> torch.Tensor:
    """``joints (B, T, J, 3)`` minus the frame-0 root x/z (y untouched)."""
    offset = joints[:, :1, :1, :].clone()  # (B, 1, 1, 3) root at frame 0
    offset[..., 1] = 0.0
    return joints - offset


def prepare_streams(joints: torch.Tensor, streams: str) -> dict[str, torch.Tensor]:
    """Raw per-frame stream features ``{key: (B, T, 3 J)}`` for each key of ``streams`` (``"jbm"``)."""
    s = to_streams(floor_relative(joints))
    full = {"j": s.joints, "b": s.bones, "m": s.motion}
    return {k: full[k].flatten(-2) for k in streams}  # (B, T, J, 3) -> (B, T, 3J)


def sinusoidal(n: int, dim: int, device, dtype) -> torch.Tensor:
    """``(n, dim)`` sinusoidal position table."""
    pos = torch.arange(n, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table.to(dtype)


def token_mask(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """Frame mask ``(B, T)`` -> token mask ``(B, ceil(T / patch))`` (valid if its first frame is)."""
    return mask[:, ::patch]


def _transformer(width: int, layers: int, heads: int, ff_mult: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, width * ff_mult, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class StreamEncoder(nn.Module):
    """One stream: patchify frames (``patch`` frames per token, a strided 1-D conv), add positions,
    prepend a learned CLS token and run a transformer.

    ``forward(x (B, T, C) normalised, mask (B, T)) -> (tokens (B, N, W), cls (B, W))``.
    """

    def __init__(self, in_dim: int, width: int, layers: int, heads: int, ff_mult: int, patch: int,
                 dropout: float):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv1d(in_dim, width, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.encoder = _transformer(width, layers, heads, ff_mult, dropout)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        x = x * mask.unsqueeze(-1).to(x.dtype)  # zero padded frames so partial patches ignore them
        pad = (-t) % self.patch
        x = nn.functional.pad(x, (0, 0, 0, pad))
        tokens = self.proj(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C) -> (B, C, T) conv -> (B, N, W)
        tmask = token_mask(mask, self.patch)
        tokens = tokens + sinusoidal(tokens.shape[1], tokens.shape[2], x.device, x.dtype)
        seq = torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1)  # (B, 1 + N, W)
        valid = torch.cat([torch.ones_like(tmask[:, :1]), tmask], dim=1)
        out = self.norm(self.encoder(seq, src_key_padding_mask=padding_mask(valid)))
        return out[:, 1:], out[:, 0]


class FusionEncoder(nn.Module):
    """Joint attention over the tokens of all streams (plus a learned stream-type embedding) and a learned
    fused CLS token. ``forward(tokens list of (B, N, W), mask (B, N)) -> (B, W)``."""

    def __init__(self, num_streams: int, width: int, layers: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.stream_embed = nn.Parameter(torch.randn(num_streams, width) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.encoder = _transformer(width, layers, heads, ff_mult, dropout)
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        b = mask.shape[0]
        seq = [self.cls.expand(b, -1, -1)] + [t + self.stream_embed[i] for i, t in enumerate(tokens)]
        valid = torch.cat([torch.ones_like(mask[:, :1])] + [mask] * len(tokens), dim=1)
        out = self.encoder(torch.cat(seq, dim=1), src_key_padding_mask=padding_mask(valid))
        return self.norm(out[:, 0])
