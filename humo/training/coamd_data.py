"""Cached training data for CoAMD: the corpus encoded once by the frozen autoencoder, captions once
by the frozen text encoder.

Cache folder (``out_dir/cache``), rebuilt when its fingerprint (autoencoder weights, train split,
captions, mirroring) changes::

    latents.safetensors   latents (N_tokens, D) of every item, concatenated; offsets (items + 1,)
    items.json            fingerprint, distinct captions, per item: clip id (``M`` prefix = mirrored)
                          and caption indices
    text.safetensors      caption -> sentence embedding (CachedTextEncoder format); kept across
                          autoencoders: only captions it lacks are encoded

An item is a clip (or a mirrored clip) with its captions; a HumanML3D caption line with a
``#start#end`` segment (not ``0.0#0.0``) becomes an item of its own, cropped to that segment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from humo.data.captions import swap_left_right
from humo.models.text_encoder import CachedTextEncoder
from humo.training.autoencoder import load_clips

FPS = 20.0
CACHE_VERSION = 1


def read_captions(corpus_dir: Path, clip_id: str) -> list[tuple[str, float, float]]:
    """``(caption, start_s, end_s)`` per line of ``texts/<id>.txt`` (missing file -> no captions)."""
    path = corpus_dir / "texts" / f"{clip_id}.txt"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.strip().split("#")
        text = " ".join(parts[0].split())
        if not text:
            continue
        try:
            start, end = (float(parts[2]), float(parts[3])) if len(parts) >= 4 else (0.0, 0.0)
        except ValueError:
            start, end = 0.0, 0.0
        out.append((text, start, end))
    return out


def _caption_table(texts: list[str], text_encoder, path: Path, name: str, log) -> torch.Tensor:
    """Sentence embeddings ``(len(texts), D)``. Captions already in the cache file ``path`` (made by the
    same encoder) are reused; the others are encoded and added to the file."""
    cached = CachedTextEncoder.load(str(path), fallback=text_encoder) if path.is_file() else None
    if cached is not None and cached.name != name:
        cached = None
    known = 0 if cached is None else sum(t in cached.table for t in texts)
    if cached is None:
        cached = CachedTextEncoder.build(texts, text_encoder)
    emb = cached.encode(texts)  # encodes the captions the cache does not have yet
    if known < len(texts):
        log(f"encoded {len(texts) - known} new captions with the text encoder ({name})")
        path.parent.mkdir(parents=True, exist_ok=True)
        cached.save(str(path))
    return emb


def _fingerprint(corpus_dir: Path, autoencoder_file: Path, mirror: bool, text_encoder_name: str) -> str:
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION} mirror={mirror} text={text_encoder_name}".encode())
    h.update(autoencoder_file.read_bytes())
    h.update((corpus_dir / "train.txt").read_bytes())
    for cid in (corpus_dir / "train.txt").read_text().split():
        p = corpus_dir / "texts" / f"{cid}.txt"
        h.update(p.read_bytes() if p.is_file() else b"-")
    return h.hexdigest()


@dataclass
class LatentCorpus:
    """Encoded training items.

    Attributes:
        latents: ``(N_tokens, D)`` autoencoder latents (unnormalised), items concatenated.
        offsets: ``(items + 1,)`` long, item ``i`` is ``latents[offsets[i]:offsets[i+1]]``.
        captions: per item, the row indices of its captions in ``text_emb``.
        text_emb: ``(U, text_dim)`` sentence embeddings of the distinct captions.
        texts: the distinct captions (row order of ``text_emb``).
        ids: per item, ``clip id`` (``M`` prefix for mirrored copies).
    """

    latents: torch.Tensor
    offsets: torch.Tensor
    captions: list[list[int]]
    text_emb: torch.Tensor
    texts: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.captions)

    def item(self, index: int, generator: torch.Generator, window: int) -> dict:
        """Item ``index``: a random window of at most ``window`` tokens ``(w, D)``, one of its captions
        ``cond (text_dim,)`` and a training mask ``(w,)`` (:func:`humo.models.coamd.sample_token_mask`),
        all drawn from ``generator``."""
        from humo.models.coamd import sample_token_mask

        o, n = int(self.offsets[index]), int(self.offsets[index + 1] - self.offsets[index])
        start = int(torch.randint(n - window + 1, (1,), generator=generator)) if n > window else 0
        tokens = self.latents[o + start:o + start + min(n, window)]
        caps = self.captions[index]
        cond = self.text_emb[caps[int(torch.randint(len(caps), (1,), generator=generator))]]
        mask = sample_token_mask(torch.ones(1, tokens.shape[0], dtype=torch.bool), generator)[0]
        return {"tokens": tokens, "cond": cond, "mask": mask}


class WindowSource:
    """``item(index, generator)`` over a :class:`LatentCorpus` with a fixed window (the engine's source)."""

    def __init__(self, corpus: LatentCorpus, window: int):
        self.corpus, self.window = corpus, window

    def __len__(self) -> int:
        return len(self.corpus)

    def item(self, index: int, generator: torch.Generator) -> dict:
        return self.corpus.item(index, generator, self.window)


def collate_windows(items: list[dict]) -> dict:
    """Pad items to the longest window: ``tokens (B, W, D)``, ``valid (B, W)``, ``mask (B, W)`` (True =
    masked, only on valid tokens), ``cond (B, text_dim)``."""
    w = max(it["tokens"].shape[0] for it in items)
    tokens = torch.zeros(len(items), w, items[0]["tokens"].shape[1])
    valid = torch.zeros(len(items), w, dtype=torch.bool)
    mask = torch.zeros(len(items), w, dtype=torch.bool)
    for b, it in enumerate(items):
        n = it["tokens"].shape[0]
        tokens[b, :n], valid[b, :n], mask[b, :n] = it["tokens"], True, it["mask"]
    return {"tokens": tokens, "valid": valid, "mask": mask, "cond": torch.stack([it["cond"] for it in items])}


@torch.no_grad()
def build_latent_corpus(corpus_dir: str | Path, autoencoder, autoencoder_file: Path, text_encoder,
                        cache_dir: Path, mirror: bool = True, log=print) -> LatentCorpus:
    """Encode the train split once (or load the cache); see the module docstring."""
    corpus_dir = Path(corpus_dir)
    name = getattr(text_encoder, "name", type(text_encoder).__name__)
    fp = _fingerprint(corpus_dir, autoencoder_file, mirror, name)
    items_path, lat_path, text_path = cache_dir / "items.json", cache_dir / "latents.safetensors", \
        cache_dir / "text.safetensors"
    if items_path.is_file() and lat_path.is_file():
        meta = json.loads(items_path.read_text())
        if meta.get("fingerprint") == fp:
            from safetensors.torch import load_file

            lat = load_file(str(lat_path))
            texts = meta["texts"]
            log(f"loaded the latent cache {cache_dir} ({len(meta['ids'])} items)")
            return LatentCorpus(lat["latents"], lat["offsets"], meta["captions"],
                                _caption_table(texts, text_encoder, text_path, name, log), texts, meta["ids"])
    from humo.representations.humanml3d import mirror_joints

    ids, clips = load_clips(corpus_dir, "train")
    dev = next(autoencoder.parameters()).device
    ds = int(getattr(autoencoder, "downsample", 4))
    chunks, item_caps, item_ids = [], [], []
    for cid, clip in zip(ids, clips, strict=True):
        groups: dict[tuple[float, float], list[str]] = {}
        for text, start, end in read_captions(corpus_dir, cid):
            groups.setdefault((start, end) if end > start else (0.0, 0.0), []).append(text)
        for (start, end), caps in groups.items():
            joints = torch.from_numpy(clip)
            if end > start:
                joints = joints[int(round(start * FPS)):int(round(end * FPS))]
            t = joints.shape[0] - joints.shape[0] % ds
            if t < ds:
                continue
            variants = [(joints[:t], caps, cid)]
            if mirror:
                variants.append((mirror_joints(joints[:t]), [swap_left_right(c) for c in caps], f"M{cid}"))
            for j, c, name_ in variants:
                chunks.append(autoencoder.encode(j.to(dev)[None])[0].float().cpu())  # (T/4, D)
                item_caps.append(c)
                item_ids.append(name_)
    if not chunks:
        raise ValueError(f"no captioned clip of at least {ds} frames in the train split of {corpus_dir}")
    log(f"encoded {len(chunks)} items ({sum(len(c) for c in chunks)} tokens) with the autoencoder")
    texts = list(dict.fromkeys(" ".join(c.split()) for caps in item_caps for c in caps))
    row = {t: i for i, t in enumerate(texts)}
    captions = [[row[" ".join(c.split())] for c in caps] for caps in item_caps]
    latents = torch.cat(chunks)
    offsets = torch.tensor([0] + [len(c) for c in chunks]).cumsum(0)
    cache_dir.mkdir(parents=True, exist_ok=True)
    text_emb = _caption_table(texts, text_encoder, text_path, name, log)
    from safetensors.torch import save_file

    save_file({"latents": latents.contiguous(), "offsets": offsets}, str(lat_path))
    items_path.write_text(json.dumps({"fingerprint": fp, "ids": item_ids, "captions": captions,
                                      "texts": texts}))
    return LatentCorpus(latents, offsets, captions, text_emb, texts, item_ids)
