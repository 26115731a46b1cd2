"""Small synthetic motions for tests that must run without ../shared."""

from __future__ import annotations

import math
import zlib

import torch

from humo.representations.humanml3d import DEFAULT_TARGET_BONE_LENGTHS
from humo.representations.rotation import axis_rotation
from humo.representations.skeleton import SMPL22


def synthetic_joints(frames: int = 40, seed: int = 0, batch: tuple[int, ...] = (), speed: float = 1.2,
                     dtype=torch.float64) -> torch.Tensor:
    """A plausible SMPL-22 clip ``(*batch, frames, 22, 3)``: swinging limbs, walking forward on a curve.

    Bones point along SMPL's rest directions, perturbed by smooth seeded oscillations; the root walks at
    ``speed`` m/s (20 fps) while turning, at pelvis height ~0.93 m.
    """
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=dtype) / 20.0  # seconds
    n = SMPL22.num_joints
    raw = torch.tensor(SMPL22.raw_offsets, dtype=dtype)
    lengths = torch.tensor(DEFAULT_TARGET_BONE_LENGTHS, dtype=dtype)
    amp = 0.15 + 0.35 * torch.rand(batch + (n, 2), generator=g, dtype=dtype)
    phase = 2 * math.pi * torch.rand(batch + (n, 2), generator=g, dtype=dtype)
    freq = 0.8 + 0.8 * torch.rand(batch + (1, 1), generator=g, dtype=dtype)
    # per-joint swing angles about X and Z: (*batch, T, J, 2)
    ang = amp.unsqueeze(-3) * torch.sin(2 * math.pi * freq.unsqueeze(-3) * t[:, None, None] + phase.unsqueeze(-3))
    rot = axis_rotation("X", ang[..., 0]) @ axis_rotation("Z", ang[..., 1])  # (*batch, T, J, 3, 3)
    dirs = (rot @ raw[:, :, None]).squeeze(-1) * lengths[:, None]
    yaw = 0.3 * torch.sin(0.5 * t) + 0.2 * torch.rand(batch + (1,), generator=g, dtype=dtype)
    heading = torch.stack([torch.sin(yaw), torch.zeros_like(yaw), torch.cos(yaw)], -1)  # (*batch, T, 3)
    root = torch.cumsum(heading * speed / 20.0, dim=-2)
    root = root + torch.tensor([0.0, 0.93, 0.0], dtype=dtype) + 0.02 * torch.sin(4 * math.pi * t)[:, None]
    joints = [root]
    for j in range(1, n):
        joints.append(joints[SMPL22.parents[j]] + dirs[..., j, :])
    out = torch.stack(joints, dim=-2)
    r = axis_rotation("Y", yaw)[..., None, :, :]  # turn the body with its heading
    return ((r @ (out - root[..., None, :])[..., None]).squeeze(-1)) + root[..., None, :]


class FakeTextEncoder:
    """The ``TextEncoder`` interface (``name``, ``dim``, ``encode``) without a network: a seeded Gaussian
    vector per caption (``words=False``) or the sum of seeded vectors per word (``words=True``, so captions
    sharing words are similar). ``seen`` records every text encoded."""

    def __init__(self, dim: int = 16, name: str = "fake", words: bool = False):
        self.dim, self.name, self.words = dim, name, words
        self.seen: list[str] = []

    def _vector(self, key: str) -> torch.Tensor:
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(zlib.crc32(key.encode())))

    def encode(self, texts, batch_size: int = 256) -> torch.Tensor:
        """``(len(texts), dim)`` float32 embeddings of a string or a list of strings."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        self.seen += texts
        if not self.words:
            return torch.stack([self._vector(t) for t in texts])
        return torch.stack([sum((self._vector(w) for w in t.lower().split()), torch.zeros(self.dim))
                            for t in texts])


def write_tiny_corpus(root, splits: dict | None = None) -> None:
    """A HumanML3D-layout corpus of synthetic clips in ``root``: ``new_joints/<id>.npy`` (T, 22, 3)
    canonicalised, ``new_joint_vecs`` zeros of the right shape (T - 1, 263), two captions per clip and
    ``<split>.txt``; clip ``i`` has ``24 + 5 i`` frames. Default splits: train 0-5, val 6-7, test 8-9."""
    from pathlib import Path

    import numpy as np

    from humo.representations.humanml3d import canonicalize

    root = Path(root)
    splits = splits or {"train": range(6), "val": range(6, 8), "test": range(8, 10)}
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        for i in ids:
            clip = canonicalize(synthetic_joints(24 + 5 * i, seed=i, dtype=torch.float32)).numpy()
            np.save(root / "new_joints" / f"{i:06d}.npy", clip)
            np.save(root / "new_joint_vecs" / f"{i:06d}.npy", np.zeros((len(clip) - 1, 263), np.float32))
            (root / "texts" / f"{i:06d}.txt").write_text(
                f"a person walks.#a/DET person/NOUN#0.0#0.0\nsomeone walks in curve {i % 3}.#x/X#0.0#0.0\n")
        (root / f"{split}.txt").write_text("".join(f"{i:06d}\n" for i in ids))
