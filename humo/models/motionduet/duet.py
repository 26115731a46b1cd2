"""DUET: fusion of text and video condition tokens into ``H (B, Lc, W)`` (MotionDuet).

Inputs are projected to ``Lc`` tokens of width ``W``:

* text ``T``: the sentence embedding ``(B, D_text)`` -> ``Linear(D_text, Lc W)`` -> ``(B, Lc, W)`` plus a
  learned token embedding;
* video ``V``: feature tokens ``(B, Lv, D_video)`` -> ``Linear`` -> adaptive average pooling over the
  token axis to ``Lc`` tokens, plus a learned token embedding. **Text-only mode sets V = 0** for the
  samples whose ``video_present`` is False (exactly zero, after projection and embedding).

Base fusion is element-wise addition ``F = T + V``. Branches (each can be switched off by config):

* ``fft``: temporal rFFT of ``F`` over the token axis, multiplied by a learnable **non-negative**
  magnitude filter ``exp(g)`` ``(Lc//2 + 1, W)`` (so every frequency keeps its phase), inverse rFFT;
* ``conv``: a 1-D convolution over the tokens;
* ``dmm`` (dynamic modality mask): per token, pick the modality (``T_i`` or ``V_i``) closer in L2 to the
  fused token ``F_i``, concatenate it with ``F`` and project ``2W -> W``. With additive fusion
  ``||T_i - F_i|| = ||V_i||`` and ``||V_i - F_i|| = ||T_i||``, so the pick is the modality with the larger
  token norm; in text-only mode ``V = 0`` gives distance 0 for text, so the mask routes around the
  missing video (and it is forced to text where ``video_present`` is False);
* identity/residual: ``F`` itself.

``H = LayerNorm(F + sum(branches))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

BRANCHES = ("fft", "conv", "dmm")


@dataclass
class DuetOutput:
    """Output of :meth:`DUET.forward`.

    Attributes:
        fused: ``(B, Lc, W)`` the fused condition ``H``.
        text: ``(B, Lc, W)`` projected text tokens ``T``.
        video: ``(B, Lc, W)`` projected video tokens ``V`` (zeros where no video).
        base: ``(B, Lc, W)`` ``F = T + V``.
        video_mask: ``(B, Lc)`` bool, True where the dynamic mask picked the video token.
    """

    fused: torch.Tensor
    text: torch.Tensor
    video: torch.Tensor
    base: torch.Tensor
    video_mask: torch.Tensor


def parse_branches(branches: str) -> tuple[str, ...]:
    """``"fft,conv,dmm"`` -> ``("fft", "conv", "dmm")``; ``""`` or ``"none"`` -> identity only."""
    names = tuple(b.strip().lower() for b in branches.replace("+", ",").split(",") if b.strip())
    names = tuple(b for b in names if b != "none")
    unknown = [b for b in names if b not in BRANCHES]
    if unknown:
        raise ValueError(f"unknown DUET branch {unknown[0]!r}; choose from {list(BRANCHES)}")
    return names


class FourierFilter(nn.Module):
    """Learnable magnitude filter along the token axis: ``irfft(rfft(x) * exp(g))`` (phase kept).

    Args:
        tokens: ``Lc``; width: ``W``. ``g`` starts at 0 (identity).
    """

    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.tokens = tokens
        self.log_gain = nn.Parameter(torch.zeros(tokens // 2 + 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, Lc, W) -> (B, Lc, W)``."""
        if x.shape[1] != self.tokens:
            raise ValueError(f"expected {self.tokens} tokens, got {x.shape[1]}")
        spec = torch.fft.rfft(x.float(), dim=1, norm="ortho")  # (B, Lc//2 + 1, W) complex
        spec = spec * self.log_gain.float().exp()  # real positive gain: magnitude scaled, phase unchanged
        return torch.fft.irfft(spec, n=self.tokens, dim=1, norm="ortho").to(x.dtype)


class DUET(nn.Module):
    """Dual-modality fusion (see the module docstring).

    Args:
        text_dim: sentence-embedding size; video_dim: video feature size (0: text only, no video input).
        width: ``W``; tokens: ``Lc`` condition tokens.
        branches: comma-separated subset of ``fft,conv,dmm`` (identity is always there).
        conv_kernel: kernel size of the ``conv`` branch (odd).
        dropout: dropout on the fused tokens.
    """

    def __init__(self, text_dim: int = 384, video_dim: int = 128, width: int = 256, tokens: int = 8,
                 branches: str = "fft,conv,dmm", conv_kernel: int = 3, dropout: float = 0.1):
        super().__init__()
        if min(text_dim, width, tokens) < 1 or video_dim < 0:
            raise ValueError("DUET sizes must be positive (video_dim may be 0)")
        if conv_kernel < 1 or conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel must be odd, got {conv_kernel}")
        self.text_dim, self.video_dim, self.width, self.tokens = text_dim, video_dim, width, tokens
        self.branches = parse_branches(branches)
        self.text_proj = nn.Linear(text_dim, tokens * width)
        self.text_embed = nn.Parameter(torch.randn(tokens, width) * 0.02)
        self.video_proj = nn.Linear(video_dim, width) if video_dim else None
        self.video_embed = nn.Parameter(torch.randn(tokens, width) * 0.02) if video_dim else None
        self.fft = FourierFilter(tokens, width) if "fft" in self.branches else None
        self.conv = (nn.Conv1d(width, width, conv_kernel, padding=conv_kernel // 2)
                     if "conv" in self.branches else None)
        self.dmm = nn.Linear(2 * width, width) if "dmm" in self.branches else None
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def project_video(self, video: torch.Tensor) -> torch.Tensor:
        """Video features ``(B, Lv, D_video)`` -> ``(B, Lc, W)`` (before text-only masking)."""
        if self.video_proj is None:
            raise ValueError("this DUET was built with video_dim=0 and takes no video")
        if video.ndim != 3 or video.shape[-1] != self.video_dim:
            raise ValueError(f"video features must be (B, Lv, {self.video_dim}), got {tuple(video.shape)}")
        v = self.video_proj(video).transpose(1, 2)  # (B, W, Lv): pool over the token axis
        v = F.adaptive_avg_pool1d(v, self.tokens).transpose(1, 2)  # (B, Lc, W)
        return v + self.video_embed

    def forward(self, text: torch.Tensor, video: torch.Tensor | None = None,
                video_present: torch.Tensor | None = None) -> DuetOutput:
        """Fuse ``text (B, D_text)`` and optional ``video (B, Lv, D_video)``.

        ``video_present (B,)`` bool marks the samples that have a video (default: all if ``video`` is
        given, none otherwise); the others run in text-only mode (``V = 0``).
        """
        if text.ndim != 2 or text.shape[-1] != self.text_dim:
            raise ValueError(f"text embeddings must be (B, {self.text_dim}), got {tuple(text.shape)}")
        b = text.shape[0]
        t = rearrange(self.text_proj(text), "b (lc w) -> b lc w", lc=self.tokens) + self.text_embed
        if video is None:
            if video_present is not None and bool(video_present.any()):
                raise ValueError("video_present marks samples with video but no video was given")
            v = torch.zeros_like(t)
            present = torch.zeros(b, dtype=torch.bool, device=t.device)
        else:
            if video.shape[0] != b:
                raise ValueError(f"{video.shape[0]} videos for {b} texts")
            present = (torch.ones(b, dtype=torch.bool, device=t.device) if video_present is None
                       else video_present.to(t.device).bool().reshape(b))
            v = self.project_video(video.to(t.dtype)) * present[:, None, None].to(t.dtype)  # text-only: V = 0
        base = t + v
        out = base
        if self.fft is not None:
            out = out + self.fft(base)
        if self.conv is not None:
            out = out + self.conv(base.transpose(1, 2)).transpose(1, 2)  # conv over tokens: (B, W, Lc)
        pick_video = ((v - base).norm(dim=-1) < (t - base).norm(dim=-1)) & present[:, None]  # (B, Lc)
        if self.dmm is not None:
            selected = torch.where(pick_video.unsqueeze(-1), v, t)
            out = out + self.dmm(torch.cat([base, selected], dim=-1))
        return DuetOutput(self.dropout(self.norm(out)), t, v, base, pick_video)
