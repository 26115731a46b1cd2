"""Pad text-motion items into a batch (features, lengths, mask True = valid, texts)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from humo.representations._checks import check_tensor
from humo.representations.masks import lengths_to_mask


@dataclass
class MotionTextBatch:
    """A padded batch.

    Attributes:
        features: ``(B, T, D)`` zero-padded features (``T`` = longest item).
        lengths: ``(B,)`` long, valid frames per item.
        mask: ``(B, T)`` bool, True = valid frame.
        texts: ``B`` captions.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    texts: list[str]

    def to(self, device: str | torch.device) -> MotionTextBatch:
        return MotionTextBatch(self.features.to(device), self.lengths.to(device), self.mask.to(device),
                               self.texts)


def collate_motion_text(items: list[dict]) -> MotionTextBatch:
    """Pad dicts ``{"features": (T, D), "length": int, "text": str, ...}`` to the longest item.

    ``length`` counts valid frames; when it exceeds the feature rows (datasets that count joint frames,
    whose features have ``T - 1`` rows) the feature row count is used.
    """
    if not items:
        raise ValueError("cannot collate an empty list of items")
    feats, lengths, texts = [], [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"features", "length", "text"} <= item.keys():
            raise ValueError(f"item {i} must be a dict with 'features', 'length' and 'text'")
        f = check_tensor(item["features"], f"items[{i}]['features']", min_dim=2)
        if f.ndim != 2:
            raise ValueError(f"items[{i}]['features'] must be (T, D), got {tuple(f.shape)}")
        n = min(int(item["length"]), f.shape[0])
        if n < 1:
            raise ValueError(f"items[{i}] has length {item['length']}; it must be >= 1")
        if not isinstance(item["text"], str):
            raise ValueError(f"items[{i}]['text'] must be a string")
        feats.append(f[:n])
        lengths.append(n)
        texts.append(item["text"])
    dims = {f.shape[-1] for f in feats}
    if len(dims) != 1:
        raise ValueError(f"items have different feature sizes {sorted(dims)}")
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    out = feats[0].new_zeros(len(feats), max(lengths), feats[0].shape[-1])
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = f
    return MotionTextBatch(out, lengths_t, lengths_to_mask(lengths_t), texts)
