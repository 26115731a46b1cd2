"""MotionDuet's training data: a split held in memory with its caption (and video) embeddings.

:func:`build_cache` loads whole corpus segments (``TextMotionDataset(..., random_crop=False)``), optionally
adds their left/right mirrors, embeds every distinct caption with the frozen text encoder and, for a video
model, every segment's rendered clip with the frozen video encoder, caching both in safetensors files keyed
by what they were computed from. :class:`PairCache` serves items and batches (:func:`collate_pairs`) to the
training engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class PairCache:
    """A split in memory: raw ``features`` per segment ``(n_i, 263)``, ``lengths (N,)`` (feature rows),
    ``captions`` (indices into ``texts`` per segment), ``text_emb (N_texts, D_text)``, optional
    ``video (N, Lv, D_video)``, ``joints`` per segment, ``ids`` and, for a model on the autoencoder first
    stage, model-space ``latents`` per segment ``(T_i / 4, C)``."""

    features: list[torch.Tensor]
    lengths: torch.Tensor
    captions: list[list[int]]
    texts: list[str]
    text_emb: torch.Tensor
    video: torch.Tensor | None
    joints: list[torch.Tensor]
    ids: list[str]
    latents: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.features)

    def item(self, index: int, generator: torch.Generator) -> dict:
        """Segment ``index`` with one of its captions drawn from ``generator``: ``features (n, 263)``,
        ``text_emb (D,)``, ``text`` and ``video (Lv, Dv)`` or None."""
        caps = self.captions[index]
        pick = caps[int(torch.randint(len(caps), (1,), generator=generator))]
        return {"features": self.features[index], "text_emb": self.text_emb[pick], "text": self.texts[pick],
                "video": None if self.video is None else self.video[index],
                "latents": None if self.latents is None else self.latents[index]}

    def batch(self, indices: list[int], generator: torch.Generator) -> dict:
        """:func:`collate_pairs` of the items ``indices`` (captions drawn from ``generator`` in order)."""
        return collate_pairs([self.item(i, generator) for i in indices])


def collate_pairs(items: list[dict]) -> dict:
    """Padded ``features (B, T, 263)``, ``lengths (B,)``, ``text_emb (B, D)``, ``texts``,
    ``video (B, Lv, Dv)`` or None, and ``latents (B, L, C)`` with ``token_lengths (B,)`` or None."""
    lengths = torch.tensor([it["features"].shape[0] for it in items])
    feats = torch.zeros(len(items), int(lengths.max()), items[0]["features"].shape[-1])
    for row, it in enumerate(items):
        feats[row, : it["features"].shape[0]] = it["features"]
    video = None if items[0]["video"] is None else torch.stack([it["video"] for it in items])
    latents = tokens = None
    if items[0].get("latents") is not None:
        latents = torch.nn.utils.rnn.pad_sequence([it["latents"] for it in items], batch_first=True)
        tokens = torch.tensor([it["latents"].shape[0] for it in items])
    return {"features": feats, "lengths": lengths, "text_emb": torch.stack([it["text_emb"] for it in items]),
            "texts": [it["text"] for it in items], "video": video, "latents": latents, "token_lengths": tokens}


def pad_clips(clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips ``(T_i, 22, 3)`` -> zero-padded ``(B, T_max, 22, 3)`` and ``lengths (B,)`` (the video renderers
    read only each clip's valid frames)."""
    return (torch.nn.utils.rnn.pad_sequence([c.float() for c in clips], batch_first=True),
            torch.tensor([c.shape[0] for c in clips]))


def _load_or_compute(path: Path, key: dict, compute) -> torch.Tensor:
    from safetensors.torch import load_file, save_file

    tag = json.dumps(key, sort_keys=True)
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("key") == tag:
                return load_file(str(path))["value"]
    value = compute().float().contiguous().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"value": value}, str(tmp), metadata={"key": tag})
    tmp.replace(path)
    return value


def build_cache(corpus_dir: str | Path, split: str, text_encoder, video_encoder=None,
                cache_dir: str | Path | None = None, min_len: int = 40, max_len: int = 196,
                max_items: int | None = None, batch: int = 64, mirror: bool = False) -> PairCache:
    """Load a split once and embed its captions (and rendered videos); see the module docstring. With
    ``mirror`` every segment also appears left/right mirrored (id ``M`` + id), its captions' left and right
    swapped (:func:`humo.data.captions.swap_left_right`)."""
    from humo.data.captions import swap_left_right
    from humo.data.datasets import TextMotionDataset
    from humo.representations.humanml3d import mirror_features, mirror_joints

    ds = TextMotionDataset(corpus_dir, split, min_len=min_len, max_len=max_len, random_crop=False)
    n = len(ds) if max_items is None else min(len(ds), max_items)
    items = [ds[i] for i in range(n)]
    if mirror:
        items += [{**it, "id": "M" + it["id"], "joints": mirror_joints(it["joints"]),
                   "features": mirror_features(it["features"]), "texts": [swap_left_right(t) for t in it["texts"]]}
                  for it in items]
        n = len(items)
    texts = sorted({t for it in items for t in it["texts"]})
    index = {t: i for i, t in enumerate(texts)}
    cache = Path(cache_dir) if cache_dir is not None else None
    text_name = str(getattr(text_encoder, "name", type(text_encoder).__name__))

    def embed_texts() -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([torch.as_tensor(text_encoder.encode(texts[i:i + 256])).float().cpu()
                              for i in range(0, len(texts), 256)])

    key = {"texts": texts, "encoder": text_name}
    text_emb = (embed_texts() if cache is None
                else _load_or_compute(cache / f"text-{split}.safetensors", key, embed_texts))
    joints = [it["joints"] for it in items]
    video = None
    if video_encoder is not None:
        def embed_videos() -> torch.Tensor:
            out = []
            for s in range(0, n, batch):
                padded, lens = pad_clips(joints[s:s + batch])
                out.append(video_encoder.encode_motion(padded, lens).float().cpu())
            return torch.cat(out)

        vkey = {"ids": [it["id"] for it in items], "lengths": [it["length"] for it in items],
                "encoder": str(getattr(video_encoder, "source", None) or type(video_encoder).__name__),
                "dim": int(video_encoder.dim)}
        video = (embed_videos() if cache is None
                 else _load_or_compute(cache / f"video-{split}.safetensors", vkey, embed_videos))
    feats = [it["features"].float() for it in items]
    captions = [[index[t] for t in it["texts"]] for it in items]
    lengths = torch.tensor([f.shape[0] for f in feats])
    return PairCache(feats, lengths, captions, texts, text_emb, video, joints, [it["id"] for it in items])
