"""Multi-positive InfoNCE: the contrastive loss of the MAR recognizer.

Within a batch several samples can share a caption or an action label. Treating those copies as
negatives (plain InfoNCE) pushes apart pairs that should match. Here every pair with the same key
counts as a positive: for row ``i`` the loss is ``-log(sum_{p in P(i)} exp(s_ip) / sum_j exp(s_ij))``.
This is applied in both directions (motion -> text and text -> motion) and the two are averaged. With
unique keys it is exactly the symmetric InfoNCE of CLIP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def same_key(keys: torch.Tensor) -> torch.Tensor:
    """``keys (B,)`` -> ``(B, B)`` bool, True where two samples share a caption / label key."""
    return keys.unsqueeze(0) == keys.unsqueeze(1)


def multi_positive_info_nce(motion: torch.Tensor, text: torch.Tensor, keys: torch.Tensor,
                            temperature: float = 0.1) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE over cosine similarities.

    Args:
        motion: ``(B, D)`` motion embeddings (normalised here).
        text: ``(B, D)`` text embeddings, row ``i`` describes motion ``i``.
        keys: ``(B,)`` integer caption / label ids; equal ids are positives; negative ids (unknown) drop
            the sample from the loss.
        temperature: softmax temperature (0.1 in CoAMD).

    Returns:
        0-d loss (0 when fewer than two samples have a known key).
    """
    if motion.shape != text.shape or motion.ndim != 2:
        raise ValueError(f"motion {tuple(motion.shape)} and text {tuple(text.shape)} must both be (B, D)")
    if keys.shape != motion.shape[:1]:
        raise ValueError(f"keys must have shape ({motion.shape[0]},), got {tuple(keys.shape)}")
    known = keys >= 0
    if int(known.sum()) < 2:
        return motion.sum() * 0.0
    motion, text, keys = motion[known], text[known], keys[known]
    logits = F.normalize(motion, dim=-1) @ F.normalize(text, dim=-1).T / temperature  # (B, B) motion x text
    pos = same_key(keys)
    neg_inf = torch.finfo(logits.dtype).min

    def one_direction(lg: torch.Tensor) -> torch.Tensor:
        return (torch.logsumexp(lg, dim=1) - torch.logsumexp(lg.masked_fill(~pos, neg_inf), dim=1)).mean()

    return 0.5 * (one_direction(logits) + one_direction(logits.T))
