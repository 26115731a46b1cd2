"""``Motion``: one generated (or loaded) motion with its caption and seed, savable by file suffix.

    m = Motion(joints, text="a person kicks", seed=3)     # joints (T, 22, 3), metres, Y up, 20 fps
    m.save("kick.mp4"); m.save("kick.bvh"); m.save("kick.json")
    m = Motion.load("kick.json")
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humo.data.atomic import atomic_write_bytes
from humo.representations._checks import check_tensor
from humo.representations.skeleton import SMPL22

SAVE_SUFFIXES = (".npy", ".json", ".bvh", ".mp4", ".gif", ".png")
LOAD_SUFFIXES = (".npy", ".json", ".bvh", ".amc")
_FEATURE_DIM = 263


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    name = path.name.lower()
    suffix = next((s for s in (".bvh", ".amc") if name.endswith(s + ".gz")), path.suffix.lower())  # gzipped
    if suffix not in allowed:
        raise ValueError(f"{path}: cannot {what} {suffix or 'files without a suffix'!r}; "
                         f"supported: {', '.join(allowed)}")
    return suffix


@dataclass(eq=False)
class Motion:
    """One motion clip.

    Attributes:
        joints: ``(T, 22, 3)`` float32 tensor, SMPL-22 order, metres, Y up (kept on its device).
        fps: frames per second (HumanML3D: 20).
        text: the caption it was generated from (or describes it), if any.
        seed: the random seed that produced it, if any.
        meta: free-form JSON-able details (model name, guidance scale, source file, ...).
    """

    joints: torch.Tensor
    fps: float = 20.0
    text: str | None = None
    seed: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        joints = self.joints
        if isinstance(joints, np.ndarray):
            joints = np.ascontiguousarray(joints)
        joints = check_tensor(joints, "joints", trailing=(SMPL22.num_joints, 3), min_frames=1, frame_dim=-3)
        if joints.ndim != 3:
            raise ValueError(f"joints must be (T, 22, 3) (one motion), got shape {tuple(joints.shape)}")
        self.joints = joints.to(torch.float32)
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        self.fps = float(self.fps)
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int or None, got {self.seed!r}")
        if self.text is not None and not isinstance(self.text, str):
            raise ValueError(f"text must be a str or None, got {type(self.text).__name__}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict, got {type(self.meta).__name__}")

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds (``frames / fps``)."""
        return len(self) / self.fps

    def __repr__(self) -> str:
        parts = [f"frames={len(self)}", f"fps={self.fps:g}", f"duration={self.duration:.2f}s"]
        if self.text is not None:
            text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
            parts.append(f"text={text!r}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.meta:
            parts.append(f"meta_keys={list(self.meta)}")
        return f"Motion({', '.join(parts)})"

    def numpy(self) -> np.ndarray:
        """``(T, 22, 3)`` float32 numpy copy of the joints (on the CPU)."""
        return self.joints.detach().cpu().numpy().astype(np.float32)

    def to_features(self) -> torch.Tensor:
        """HumanML3D features ``(T-1, 263)`` (raw, not normalised); needs at least 2 frames."""
        from humo.representations.humanml3d import joints_to_features

        return joints_to_features(self.joints)

    @classmethod
    def from_features(cls, features, fps: float = 20.0, text: str | None = None, seed: int | None = None,
                      meta: dict | None = None) -> Motion:
        """Build a Motion from HumanML3D features ``(T, 263)`` (via ``features_to_joints``)."""
        from humo.representations.humanml3d import features_to_joints

        if isinstance(features, np.ndarray):
            features = np.ascontiguousarray(features)
        features = check_tensor(features, "features", trailing=(_FEATURE_DIM,), min_frames=1, frame_dim=-2)
        if features.ndim != 2:
            raise ValueError(f"features must be (T, {_FEATURE_DIM}) (one motion), "
                             f"got {tuple(features.shape)}")
        return cls(features_to_joints(features.float()), fps=fps, text=text, seed=seed, meta=dict(meta or {}))

    def to_dict(self) -> dict:
        """JSON-able dict: ``joints`` as nested lists, plus fps, text, seed, meta."""
        return {"joints": self.numpy().tolist(), "fps": self.fps, "text": self.text, "seed": self.seed,
                "meta": self.meta}

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the motion; the suffix picks the format.

        ``.npy`` joints ``(T, 22, 3)``; ``.json`` joints + fps/text/seed/meta; ``.bvh`` (or ``.bvh.gz``)
        a fitted SMPL-22 skeleton (:func:`humo.data.bvh.write_bvh`); ``.mp4``/``.gif`` a rendered video;
        ``.png`` a contact sheet. The file is written atomically (temp file beside it, then renamed).

        Raises:
            ValueError: unsupported suffix, or ``meta`` not JSON-able (``.json``).
            FileExistsError: ``path`` exists and ``overwrite`` is False.
            FileNotFoundError: the output folder does not exist.
        """
        path = Path(path)
        suffix = _suffix(path, SAVE_SUFFIXES, "save")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"output folder {path.parent} does not exist")
        if suffix == ".npy":
            buf = io.BytesIO()
            np.save(buf, self.numpy())
            atomic_write_bytes(path, buf.getvalue())
        elif suffix == ".json":
            try:
                text = json.dumps(self.to_dict())
            except (TypeError, ValueError) as e:
                raise ValueError(f"cannot save {path}: meta is not JSON-serialisable ({e})") from None
            atomic_write_bytes(path, text.encode("utf-8"))
        elif suffix == ".bvh":
            from humo.data.bvh import write_bvh

            write_bvh(path, self.joints, self.fps, overwrite=overwrite)
        elif suffix in (".mp4", ".gif"):
            from humo.viz import render_video

            render_video(self.joints, path, fps=self.fps, titles=[self.text], overwrite=overwrite)
        else:
            from humo.viz import render_contact_sheet

            render_contact_sheet(self.joints, path, titles=[self.text], fps=self.fps, overwrite=overwrite)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, fps: float | None = None, joint_map=None,
             asf: str | os.PathLike | None = None) -> Motion:
        """Read a motion from ``.npy``, ``.json``, ``.bvh`` / ``.bvh.gz`` or ``.amc`` / ``.amc.gz``.

        ``.npy`` holds joints ``(T, 22, 3)`` or HumanML3D features ``(T, 263)`` (told apart by shape,
        features converted with ``features_to_joints``); ``.json`` is what :meth:`save` writes. A ``.bvh``
        with SMPL-22 joint names (as :meth:`save` writes it) is read as is; any other rig is retargeted
        (:func:`humo.data.retarget.retarget`) with ``joint_map`` (preset name, dict or JSON path;
        default: the detected preset) and resampled to ``fps`` (default 20). ``fps`` otherwise
        overrides the file's rate (default: the file's, else 20). An ``.amc`` motion needs its ASF skeleton
        ``asf`` (default: the only ``.asf`` beside it; :mod:`humo.data.asf`), is taken as 120 fps (the CMU
        and HDM05 rate) and Y up, and is retargeted like a BVH (preset ``"asf"``).

        Raises:
            FileNotFoundError: no such file.
            ValueError: unsupported suffix or contents of the wrong shape.
        """
        path = Path(path)
        suffix = _suffix(path, LOAD_SUFFIXES, "load")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        meta = {"source": str(path)}
        if suffix == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as e:
                raise ValueError(f"{path}: not a plain numpy array ({e})") from None
            rate = fps or SMPL22.fps
            if arr.ndim == 2 and arr.shape[-1] == _FEATURE_DIM:
                return cls.from_features(arr.astype(np.float32), fps=rate, meta=meta)
            if arr.ndim != 3 or arr.shape[1:] != (SMPL22.num_joints, 3):
                raise ValueError(f"{path}: expected joints (T, 22, 3) or features (T, {_FEATURE_DIM}), "
                                 f"got shape {arr.shape}")
            return cls(arr.astype(np.float32), fps=rate, meta=meta)
        if suffix == ".json":
            try:
                d = json.loads(path.read_text(encoding="utf-8"))
                joints = np.asarray(d["joints"], dtype=np.float32)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
            except (KeyError, TypeError) as e:
                raise ValueError(f"{path}: expected an object with a 'joints' list ({e})") from None
            if joints.ndim != 3 or joints.shape[1:] != (SMPL22.num_joints, 3):
                raise ValueError(f"{path}: joints must be (T, 22, 3), got shape {joints.shape}")
            return cls(joints, fps=fps or d.get("fps", SMPL22.fps), text=d.get("text"), seed=d.get("seed"),
                       meta=dict(d.get("meta") or {}))
        from humo.data.bvh import bvh_to_positions, read_bvh

        up = "auto"
        if suffix == ".amc":
            from humo.data.asf import find_asf, read_asf_amc

            meta["skeleton"] = str(asf if asf is not None else find_asf(path))
            bvh, up = read_asf_amc(path, meta["skeleton"]), "y"  # lying-down clips would fool an up-axis guess
        else:
            bvh = read_bvh(path)
        if joint_map is None and set(SMPL22.joint_names) <= set(bvh.names):  # humo's own SMPL-22 BVH
            order = [bvh.index(n) for n in SMPL22.joint_names]  # file order (depth first) -> SMPL-22 order
            return cls(bvh_to_positions(bvh)[:, order], fps=fps or bvh.fps, meta=meta)
        from humo.data.retarget import detect_preset, retarget

        joint_map = joint_map or detect_preset(bvh)  # ValueError naming the presets if none fits
        rate = fps or SMPL22.fps
        return cls(retarget(bvh, joint_map, fps=rate, up=up), fps=rate,
                   meta={**meta, "joint_map": str(joint_map)})
