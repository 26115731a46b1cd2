"""Recognizer guidance (CoAMD): nudge freshly predicted latent tokens towards the text.

Per autoregressive step, with latents ``z'`` and the mask ``M_t`` of the tokens just revealed::

    X = decode(z');   S = recognizer.score(X, text, weights)   # (B,) sum_k w_k cos(R^k(X), c)
    g = dS/dz';       g = g / (||g|| + eps)                    # norm per sample over (L, D)
    z_new = z' + scale * g * M_t
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from humo.guidance.base import LatentGuidance


class RecognizerGuidance(LatentGuidance):
    """Gradient guidance from a motion-text recognizer.

    Args:
        recognizer: object with ``score(joints (B, T, 22, 3), texts, weights=..., lengths=None) -> (B,)``,
            differentiable w.r.t. ``joints`` (``humo.models.recognizer.ActionRecognizer``).
        scale: step size ``gamma`` (CoAMD uses 1.0).
        weights: weights of the (fused, joints, bones, motion) cosine scores.
        eps: added to the gradient norm.
    """

    def __init__(self, recognizer, scale: float = 1.0,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0), eps: float = 1e-8):
        if not hasattr(recognizer, "score"):
            raise ValueError("recognizer must have a score(joints, texts, weights=..., lengths=...) method")
        if len(tuple(weights)) != 4:
            raise ValueError(f"weights must have 4 entries (fused, joints, bones, motion), got {weights}")
        self.recognizer = recognizer
        self.scale = float(scale)
        self.weights = tuple(float(w) for w in weights)
        self.eps = float(eps)
        self._text_cache: tuple | None = None  # (key, embeddings) of the last prompts

    def __repr__(self) -> str:
        return f"RecognizerGuidance(scale={self.scale}, weights={self.weights})"

    def text_embeddings(self, texts):
        """The recognizer's frozen sentence embeddings of ``texts``, computed once per prompt list: a sampling
        loop calls the guidance at every step with the same prompts (18 text-encoder passes per motion
        otherwise). Tensors, and recognizers without ``encode_texts``, pass through unchanged."""
        if not isinstance(texts, (str, list, tuple)) or not hasattr(self.recognizer, "encode_texts"):
            return texts
        key = ((texts,) if isinstance(texts, str) else tuple(texts), str(getattr(self.recognizer, "device", "")),
               id(getattr(self.recognizer, "text_encoder", None)))
        if self._text_cache is None or self._text_cache[0] != key:
            self._text_cache = (key, self.recognizer.encode_texts(texts if isinstance(texts, str) else list(texts)))
        return self._text_cache[1]

    def gradient(self, latents: torch.Tensor, decode: Callable[[torch.Tensor], torch.Tensor], texts,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample normalised ``dS/dz`` ``(B, L, D)`` at ``latents``."""
        texts = self.text_embeddings(texts)
        with torch.enable_grad():
            z = latents.detach().requires_grad_(True)
            joints = decode(z)
            score = self.recognizer.score(joints, texts, weights=self.weights, lengths=lengths)
            (grad,) = torch.autograd.grad(score.sum(), z)
        norm = grad.flatten(1).norm(dim=1).reshape(-1, *([1] * (grad.ndim - 1)))
        return grad / (norm + self.eps)

    def __call__(self, latents: torch.Tensor, decode: Callable[[torch.Tensor], torch.Tensor], texts,
                 update_mask: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``latents (B, L, D)`` with only the tokens where ``update_mask (B, L)`` is True moved.

        ``decode`` maps latents to joints ``(B, T, 22, 3)``; ``lengths`` are valid frames per sample.
        """
        if update_mask.shape != latents.shape[:2]:
            raise ValueError(f"update_mask must be (B, L) = {tuple(latents.shape[:2])}, "
                             f"got {tuple(update_mask.shape)}")
        if self.scale == 0 or not bool(update_mask.any()):
            return latents
        g = self.gradient(latents, decode, texts, lengths)
        return latents + self.scale * g * update_mask.unsqueeze(-1).to(latents.dtype)
