"""``Motion``: one generated (or loaded) motion with its caption and seed, savable by file suffix.

    m = Motion(joints, text="a person kicks", seed=3)     # joints (T, 22, 3), metres, Y up, 20 fps
    m.save("kick.mp4"); m.save("kick.bvh"); m.save("kick.json")
    m = Motion.load("kick.json")
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

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


def load_array(path: str | os.PathLike) -> np.ndarray:
    """A user's ``.npy`` as a numpy array (never unpickles); an empty, truncated or pickled file is a
    ``ValueError`` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a .npy array")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numpy array ({e})") from None
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a valid .npy file (truncated or another format: {e})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{path}: holds several arrays (.npz); give one .npy array")
    if arr.size == 0:
        raise ValueError(f"{path} holds an empty array of shape {arr.shape}")
    return arr


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

    def writer(self, suffix: str, progress=None):
        """A function writing this motion in the format of ``suffix`` to a given (temp) path, for
        :func:`humo.data.atomic.atomic_write_group` (``save`` uses it; no checks, no commit)."""
        if suffix == ".npy":
            def write(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.save(fh, self.numpy())
        elif suffix == ".json":
            try:
                text = json.dumps(self.to_dict())
            except (TypeError, ValueError) as e:
                raise ValueError(f"meta is not JSON-serialisable ({e})") from None

            def write(tmp: Path) -> None:
                tmp.write_text(text, encoding="utf-8")
        elif suffix == ".bvh":
            from humo.data.bvh import write_bvh

            def write(tmp: Path) -> None:
                write_bvh(tmp, self.joints, self.fps, overwrite=True)
        elif suffix in (".mp4", ".gif"):
            from humo.viz import render_video

            def write(tmp: Path) -> None:
                render_video(self.joints, tmp, fps=self.fps, titles=[self.text], overwrite=True, progress=progress)
        else:
            from humo.viz import render_contact_sheet

            def write(tmp: Path) -> None:
                render_contact_sheet(self.joints, tmp, titles=[self.text], fps=self.fps, overwrite=True)
        return write

    def save(self, path: str | os.PathLike, overwrite: bool = False, with_joints: bool = False,
             progress=None) -> Path:
        """Write the motion; the suffix picks the format.

        ``.npy`` joints ``(T, 22, 3)``; ``.json`` joints + fps/text/seed/meta; ``.bvh`` (or ``.bvh.gz``)
        a fitted SMPL-22 skeleton (:func:`humo.data.bvh.write_bvh`); ``.mp4``/``.gif`` a rendered video;
        ``.png`` a contact sheet. The file is written atomically (temp file beside it, then linked into
        place); without ``overwrite`` a file that appears meanwhile is never replaced.

        Args:
            with_joints: also write the joints beside it as ``.npy`` (same name), the two as one unit:
                both are written, or neither.
            progress: for videos, called as ``progress(frames_done, frames_total)`` while rendering.

        Raises:
            ValueError: unsupported suffix, or ``meta`` not JSON-able (``.json``).
            FileExistsError: ``path`` (or its ``.npy``) exists and ``overwrite`` is False.
            FileNotFoundError: the output folder does not exist.
        """
        from humo.data.atomic import atomic_write_group

        path = Path(path)
        suffix = _suffix(path, SAVE_SUFFIXES, "save")
        targets = [path] + ([path.with_suffix(".npy")] if with_joints and suffix != ".npy" else [])
        for target in targets:
            if target.exists() and not overwrite:
                raise FileExistsError(f"{target} already exists; pass overwrite=True (--force) to replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"output folder {path.parent} does not exist")
        try:
            writers = [self.writer(suffix, progress)] + [self.writer(".npy")] * (len(targets) - 1)
        except ValueError as e:
            raise ValueError(f"cannot save {path}: {e}") from None
        atomic_write_group(list(zip(targets, writers, strict=True)), overwrite=overwrite)
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
            arr = load_array(path)
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
