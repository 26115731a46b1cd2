"""Datasets over a corpus folder (HumanML3D layout, see ``docs/design.md``) and their collate function.

A split whose clip files total at most :data:`PRELOAD_BYTES` is loaded into memory once (corpora here are a
few hundred MB at most); a larger one is read from disk per access (``preload=False``: each process and
DataLoader worker holds only the clips it is reading, the operating system's page cache is shared), so a
rank of a distributed run never needs the whole corpus in memory. Per access:

* **Crop.** With ``random_crop`` a length ``L`` is drawn uniformly in ``[min_len, min(T, max_len)]`` and a
  start uniformly in ``[0, T - L]``; without it the first ``min(T, max_len)`` frames are used. ``L`` is then
  rounded down to a multiple of 4 (the autoencoders' downsampling factor). The cropped joints are
  re-canonicalised (floor, origin, facing +Z at their first frame); the features are the matching rows
  ``[start, start + L - 1)`` of the stored ``new_joint_vecs``.
* **Mirror.** With ``mirror=True`` each access is mirrored with probability 1/2: joints by
  :func:`humo.representations.humanml3d.mirror_joints`, features by ``mirror_features``, captions by
  swapping left/right words, and the action label by its mirrored class when one exists
  (``wave-left-hand`` <-> ``wave-right-hand``).
* Clips shorter than ``min_len`` joint frames are left out, as in HumanML3D's loader.

All randomness comes from the ``generator`` (``torch.Generator``; ``None`` = torch's global RNG).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from humo.data.captions import parse_caption_line, swap_left_right
from humo.representations.humanml3d import canonicalize, mirror_features, mirror_joints
from humo.representations.masks import lengths_to_mask

_UNIT = 4
PRELOAD_BYTES = 1 << 30  # preload=None: splits up to 1 GiB of clip files are held in memory


def _load_npy(path: Path, header_only: bool = False) -> np.ndarray:
    """The array of ``path`` as float32 (``header_only``: a read-only memory map, nothing read yet)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (corpus incomplete?)")
    try:
        if header_only:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        return np.load(path, allow_pickle=False).astype(np.float32, copy=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a readable .npy array ({e})") from None


class TextMotionDataset(Dataset):
    """Text-motion pairs of one split of a corpus.

    Args:
        root: corpus folder (``new_joints/``, ``new_joint_vecs/``, ``texts/``, ``labels.json``, split files).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        min_len / max_len: crop bounds in joint frames (clips shorter than ``min_len`` are dropped).
        mirror: random left/right mirroring (joints, features, captions, labels).
        random_crop: random crop length and start; else the first ``max_len`` frames.
        generator: source of all randomness.
        preload: hold every clip in memory (True), read clips from disk per access (False), or decide by
            size (None: preload when the split's clip files total at most :data:`PRELOAD_BYTES`).

    Items are dicts: ``joints (L, 22, 3)``, ``features (L-1, 263)`` (raw, not normalised), ``length`` (L),
    ``text`` (one caption drawn per access), ``texts`` (all captions), ``label`` (action class id, -1 if
    unknown), ``id``.
    """

    def __init__(self, root: str | Path, split: str, min_len: int = 40, max_len: int = 196,
                 mirror: bool = False, random_crop: bool = True, generator: torch.Generator | None = None,
                 preload: bool | None = None):
        root = Path(root)
        if not _UNIT <= min_len <= max_len:
            raise ValueError(f"need {_UNIT} <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(f"{split_file} not found (is {root} a corpus? train/val/test/all)")
        self.root, self.split = root, split
        self.min_len, self.max_len = min_len, max_len
        self.mirror, self.random_crop, self.generator = mirror, random_crop, generator
        labels_file = root / "labels.json"
        labels = json.loads(labels_file.read_text()) if labels_file.is_file() else {}
        # class ids over the whole corpus, so every split agrees
        self.classes: list[str] = sorted({v["action"] for v in labels.values() if v.get("action")})
        self._class_index = {c: i for i, c in enumerate(self.classes)}

        ids = [c for c in (ln.strip() for ln in split_file.read_text().splitlines()) if c]
        if preload is None:
            size = sum(p.stat().st_size for c in ids for p in self._paths(c) if p.is_file())
            preload = size <= PRELOAD_BYTES
        self.preload = bool(preload)
        self.ids: list[str] = []
        self._clips: list[tuple[torch.Tensor, torch.Tensor] | None] = []  # (joints, features) or None: on disk
        self._texts: list[list[str]] = []
        self._labels: list[int] = []
        self.dropped = 0
        for cid in ids:
            jpath, fpath = self._paths(cid)
            joints = _load_npy(jpath, header_only=not self.preload)
            if joints.shape[0] < min_len:
                self.dropped += 1
                continue
            feats = _load_npy(fpath, header_only=not self.preload)
            if joints.ndim != 3 or joints.shape[1:] != (22, 3) or feats.shape != (joints.shape[0] - 1, 263):
                raise ValueError(f"{root}: clip {cid} has joints {joints.shape} and features {feats.shape}; "
                                 "expected (T, 22, 3) and (T-1, 263)")
            text_file = root / "texts" / f"{cid}.txt"
            texts = [parse_caption_line(ln) for ln in text_file.read_text().splitlines() if ln.strip()] \
                if text_file.is_file() else []
            if not texts:
                raise ValueError(f"{root}: clip {cid} has no captions ({text_file})")
            self.ids.append(cid)
            self._clips.append((torch.from_numpy(joints), torch.from_numpy(feats)) if self.preload else None)
            self._texts.append(texts)
            self._labels.append(self._class_index.get((labels.get(cid) or {}).get("action"), -1))
        if not self.ids:
            raise ValueError(f"{root}: split {split!r} has no clip of at least {min_len} frames")

    def __len__(self) -> int:
        return len(self.ids)

    def _paths(self, cid: str) -> tuple[Path, Path]:
        return self.root / "new_joints" / f"{cid}.npy", self.root / "new_joint_vecs" / f"{cid}.npy"

    def clip(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole clip ``index``: joints ``(T, 22, 3)`` and features ``(T-1, 263)`` (from memory or disk)."""
        held = self._clips[index]
        if held is not None:
            return held
        jpath, fpath = self._paths(self.ids[index])
        return torch.from_numpy(_load_npy(jpath)), torch.from_numpy(_load_npy(fpath))

    def class_weights(self, balance: float) -> torch.Tensor:
        """``(N,)`` sampling weight per clip, ``count(its action) ** -balance`` (clips with no action label
        count as one group): 0 keeps clips uniform, 1 makes every action equally likely, 0.5 is between
        (rare actions -- a dozen high kicks among thousands of waves -- seen far more often than uniform)."""
        if not 0.0 <= balance <= 1.0:
            raise ValueError(f"balance must be in [0, 1], got {balance}")
        labels = torch.tensor(self._labels, dtype=torch.long)
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        return counts[inverse].double().pow(-balance)

    def _randint(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high]``."""
        return int(torch.randint(low, high + 1, (1,), generator=self.generator))

    def _mirrored_label(self, label: int) -> int:
        if label < 0:
            return label
        return self._class_index.get(swap_left_right(self.classes[label]), label)

    def __getitem__(self, index: int) -> dict:
        joints, feats = self.clip(index)
        T = joints.shape[0]
        if self.random_crop:
            length = self._randint(self.min_len, min(T, self.max_len))
        else:
            length = min(T, self.max_len)
        length -= length % _UNIT
        start = self._randint(0, T - length) if self.random_crop else 0
        joints = canonicalize(joints[start:start + length])
        feats = feats[start:start + length - 1]
        texts, label = self._texts[index], self._labels[index]
        if self.mirror and self._randint(0, 1):
            joints, feats = mirror_joints(joints), mirror_features(feats)
            texts = [swap_left_right(t) for t in texts]
            label = self._mirrored_label(label)
        text = texts[self._randint(0, len(texts) - 1)]
        return {"joints": joints, "features": feats, "length": length, "text": text, "texts": list(texts),
                "label": label, "id": self.ids[index]}


class ActionDataset(TextMotionDataset):
    """:class:`TextMotionDataset` restricted to clips with an action label (``label >= 0`` guaranteed).

    ``classes`` lists the action names; ``label`` indexes it.
    """

    def __init__(self, root: str | Path, split: str, **kwargs):
        super().__init__(root, split, **kwargs)
        keep = [i for i, lab in enumerate(self._labels) if lab >= 0]
        if not keep:
            raise ValueError(f"{root}: split {split!r} has no clip with an action label")
        for name in ("ids", "_clips", "_texts", "_labels"):
            setattr(self, name, [getattr(self, name)[i] for i in keep])


def collate(items: list[dict]) -> dict:
    """Pad items to the longest: ``joints (B, T, 22, 3)``, ``features (B, T-1, 263)``, ``lengths (B,)``,
    ``mask (B, T)`` (True = valid joint frame), ``texts`` (list[str]), ``labels (B,)``, ``ids``."""
    if not items:
        raise ValueError("cannot collate an empty list of items")
    lengths = torch.tensor([int(it["length"]) for it in items], dtype=torch.long)
    T = int(lengths.max())
    B = len(items)
    ref = items[0]["joints"]
    joints = ref.new_zeros((B, T) + tuple(ref.shape[1:]))
    feats = items[0]["features"].new_zeros((B, max(T - 1, 0), items[0]["features"].shape[-1]))
    for b, it in enumerate(items):
        n = int(it["length"])
        joints[b, :n] = it["joints"][:n]
        feats[b, :n - 1] = it["features"][:n - 1]
    return {"joints": joints, "features": feats, "lengths": lengths, "mask": lengths_to_mask(lengths, T),
            "texts": [it["text"] for it in items], "labels": torch.tensor([int(it["label"]) for it in items]),
            "ids": [it["id"] for it in items]}
