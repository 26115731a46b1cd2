"""A contrastive text-motion evaluator trainable in humo (MARDM/ACMDM "MotionCLIP"-style).

Motion: raw HumanML3D features ``(B, T, 263)`` are normalised with the stored ``mean``/``std``
buffers, projected to ``latent_dim``, a learned query token is prepended, sinusoidal positions are
added and a transformer encoder (padding masked from the lengths) runs; the query token's output is
projected to ``embed_dim`` (512). Text: sentence embeddings of a frozen, injected
:class:`humo.models.text_encoder.TextEncoder` (default ``"minilm"``, 384-d; never saved) go through a
learned 2-layer projection to ``embed_dim``. Training uses the symmetric InfoNCE loss with a learnable
logit scale initialised to ``log(1 / 0.07)`` (clamped at ``log(100)``, as CLIP).

``embed_text`` / ``embed_motion`` return L2-normalised embeddings, so Euclidean ranking (R-precision)
and cosine similarity (CLIP score) agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.attention import padding_mask
from humo.models.evaluators._common import set_feature_stats
from humo.models.hub import HubModel
from humo.models.text_slot import TextEncoderSlot
from humo.representations._checks import check_tensor
from humo.representations.masks import lengths_to_mask

PRESETS: dict[str, dict] = {
    "tiny": dict(latent_dim=32, ff_size=64, num_layers=2, num_heads=2, embed_dim=32),
    "small": dict(latent_dim=128, ff_size=512, num_layers=2, num_heads=4),
    "base": dict(),  # the constructor defaults: 4 layers x 256
    "large": dict(num_layers=8),  # MARDM's MotionCLIP depth
}
MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class ContrastiveOutput:
    """``loss`` (0-d), ``logits (B, B)`` (row = motion, column = text), L2-normalised ``text_emb`` and
    ``motion_emb (B, embed_dim)``."""

    loss: torch.Tensor
    logits: torch.Tensor
    text_emb: torch.Tensor
    motion_emb: torch.Tensor


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """``(length, dim)`` sine/cosine position table."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class ContrastiveEvaluator(TextEncoderSlot, HubModel):
    """Contrastive motion/text co-embedding.

    Args:
        dim_pose: feature size (263).
        text_dim: sentence-embedding size of the text encoder (384 for MiniLM).
        latent_dim, ff_size, num_layers, num_heads, dropout: motion transformer size.
        embed_dim: output embedding size (512).
        text_encoder: name of the default frozen text encoder (created on first ``embed_text`` unless one
            is assigned to :attr:`text_encoder`, see :mod:`humo.models.text_slot`).
        temperature: initial temperature (logit scale ``log(1 / temperature)``).
    """

    text_key = "text"

    def __init__(self, dim_pose: int = 263, text_dim: int = 384, latent_dim: int = 256, ff_size: int = 1024,
                 num_layers: int = 4, num_heads: int = 4, dropout: float = 0.1, embed_dim: int = 512,
                 text_encoder: str = "minilm", temperature: float = 0.07):
        super().__init__()
        if latent_dim % num_heads or latent_dim % 2:
            raise ValueError(f"latent_dim={latent_dim} must be even and divisible by num_heads={num_heads}")
        self.dim_pose, self.text_dim, self.latent_dim = dim_pose, text_dim, latent_dim
        self.text_encoder_name = text_encoder
        self.motion_in = nn.Linear(dim_pose, latent_dim)
        self.query = nn.Parameter(torch.randn(1, 1, latent_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(latent_dim, num_heads, ff_size, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.motion_encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.motion_out = nn.Sequential(nn.LayerNorm(latent_dim), nn.Linear(latent_dim, embed_dim))
        self.text_proj = nn.Sequential(nn.Linear(text_dim, latent_dim), nn.GELU(),
                                       nn.Linear(latent_dim, embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.register_buffer("mean", torch.zeros(dim_pose))
        self.register_buffer("std", torch.ones(dim_pose))

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def set_normalization(self, mean, std) -> None:
        """Set the feature mean/std ``(dim_pose,)`` used to normalise raw features (std clamped at 1e-8,
        as :class:`humo.representations.normalizer.Normalizer`)."""
        set_feature_stats(self, mean, std)

    def encode_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Raw features ``(B, T, dim_pose)``, lengths ``(B,)`` -> L2-normalised ``(B, embed_dim)``."""
        features = check_tensor(features, "features", min_dim=3, trailing=(self.dim_pose,))
        lengths = torch.as_tensor(lengths, device=self.device).long().reshape(-1)
        if features.ndim != 3 or lengths.shape[0] != features.shape[0]:
            raise ValueError(f"features must be (B, T, {self.dim_pose}) with lengths (B,), got "
                             f"{tuple(features.shape)} and {tuple(lengths.shape)}")
        if bool((lengths < 1).any()) or int(lengths.max()) > features.shape[1]:
            raise ValueError(f"lengths must be in [1, T={features.shape[1]}], got {lengths.tolist()}")
        x = (features.to(self.device, self.mean.dtype) - self.mean) / self.std
        x = self.motion_in(x)
        x = torch.cat([self.query.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + T, latent)
        x = x + sinusoidal_positions(x.shape[1], self.latent_dim, x.device)
        mask = lengths_to_mask(lengths + 1, x.shape[1])  # (B, 1 + T) True = valid; the query is valid
        x = self.motion_encoder(x, src_key_padding_mask=padding_mask(mask))
        return F.normalize(self.motion_out(x[:, 0]), dim=-1)

    def encode_text(self, sentence: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings ``(B, text_dim)`` -> L2-normalised ``(B, embed_dim)``."""
        sentence = check_tensor(sentence, "sentence", min_dim=2, trailing=(self.text_dim,))
        if sentence.ndim != 2:
            raise ValueError(f"sentence must be (B, {self.text_dim}), got {tuple(sentence.shape)}")
        return F.normalize(self.text_proj(sentence.to(self.device, self.mean.dtype)), dim=-1)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor,
                sentence: torch.Tensor) -> ContrastiveOutput:
        """Symmetric InfoNCE between ``B`` motions and their ``B`` sentence embeddings."""
        motion, text = self.encode_motion(features, lengths), self.encode_text(sentence)
        if motion.shape[0] != text.shape[0]:
            raise ValueError(f"{motion.shape[0]} motions but {text.shape[0]} sentences")
        logits = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * motion @ text.T
        labels = torch.arange(logits.shape[0], device=logits.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        return ContrastiveOutput(loss, logits, text, motion)

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``(B, embed_dim)`` L2-normalised caption embeddings (uses the injected text encoder)."""
        if isinstance(texts, str) or not texts:
            raise ValueError("texts must be a non-empty list of strings")
        return self.encode_text(self.text_encoder.encode(list(texts)))

    @torch.no_grad()
    def embed_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, embed_dim)`` L2-normalised embeddings of raw features ``(B, T, dim_pose)``."""
        return self.encode_motion(features, lengths)


def load_evaluator(spec: str | Path = "bundled", map_location: str = "cpu") -> ContrastiveEvaluator:
    """The evaluator to measure with: ``"bundled"`` (humo's held-out evaluator of the merged corpus, the one
    the published tables use; ``humo/assets/evaluator-merged-small``, card in its README.md), a folder saved
    by ``save_pretrained`` / ``humo train evaluator`` (``RUN/final``) or a hub id."""
    from humo.models.hub import BUNDLED_EVALUATOR

    if str(spec) == "bundled":
        if not (BUNDLED_EVALUATOR / "model.safetensors").is_file():
            raise FileNotFoundError(f"the bundled evaluator is missing ({BUNDLED_EVALUATOR}): reinstall humo")
        spec = BUNDLED_EVALUATOR
    return ContrastiveEvaluator.from_pretrained(spec, map_location=map_location)
