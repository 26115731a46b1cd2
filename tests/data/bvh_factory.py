"""Tiny synthetic BVH skeletons for the data tests (written by the tests themselves)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from humo.data.bvh import BVH, forward_kinematics, save_bvh
from humo.representations.humanml3d import DEFAULT_TARGET_BONE_LENGTHS
from humo.representations.skeleton import SMPL22

# Bandai-Namco-like rig in centimetres, Y up, facing +Z, left = +X: (name, parent, offset)
_BANDAI = [
    ("joint_Root", -1, (0, 0, 0)), ("Hips", 0, (0, 95, 0)), ("Spine", 1, (0, 12, 0)),
    ("Chest", 2, (0, 12, 0)), ("Neck", 3, (0, 18, 0)), ("Head", 4, (0, 10, 0)),
    ("Shoulder_L", 3, (3, 15, 0)), ("UpperArm_L", 6, (12, 0, 0)), ("LowerArm_L", 7, (26, 0, 0)),
    ("Hand_L", 8, (24, 0, 0)),
    ("Shoulder_R", 3, (-3, 15, 0)), ("UpperArm_R", 10, (-12, 0, 0)), ("LowerArm_R", 11, (-26, 0, 0)),
    ("Hand_R", 12, (-24, 0, 0)),
    ("UpperLeg_L", 1, (9, -5, 0)), ("LowerLeg_L", 14, (0, -42, 0)), ("Foot_L", 15, (0, -42, 0)),
    ("Toes_L", 16, (0, -6, 14)),
    ("UpperLeg_R", 1, (-9, -5, 0)), ("LowerLeg_R", 18, (0, -42, 0)), ("Foot_R", 19, (0, -42, 0)),
    ("Toes_R", 20, (0, -6, 14)),
]
SIX = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")


def bandai_like(frames: int = 45, fps: float = 30.0, speed_cm: float = 120.0, z_up: bool = False,
                swap_lr: bool = False, phase: float = 0.0) -> BVH:
    """A walking Bandai-Namco-like clip: 6 channels on every joint, ZXY, cm; the legs swing about X."""
    names = [n for n, _, _ in _BANDAI]
    if swap_lr:  # mislabelled rig: left and right names exchanged
        names = [n[:-1] + {"L": "R", "R": "L"}[n[-1]] if n[-2:] in ("_L", "_R") else n for n in names]
    parents = [p for _, p, _ in _BANDAI]
    offsets = np.array([o for _, _, o in _BANDAI], dtype=np.float64)
    t = np.arange(frames) / fps
    positions = np.repeat(offsets[None], frames, axis=0)
    positions[:, 1, 2] = speed_cm * t  # the hips walk along +Z
    rotations = np.zeros((frames, len(names), 3))
    swing = 25.0 * np.sin(2 * np.pi * 1.0 * t + phase)
    rotations[:, 14, 1], rotations[:, 18, 1] = swing, -swing  # X is the 2nd channel of ZXY
    rotations[:, 15, 1] = rotations[:, 19, 1] = 10.0 + 5.0 * np.sin(2 * np.pi * t)  # knees
    rotations[:, 7, 0], rotations[:, 11, 0] = -70.0, 70.0  # arms down (about Z)
    if z_up:
        rotations[:, 0, 1] = 90.0  # the root turns Y up into Z up
    return BVH(names=names, parents=parents, offsets=offsets, channels=[SIX] * len(names),
               rotations=rotations, positions=positions, frame_time=1.0 / fps, orders=["ZXY"] * len(names),
               end_sites=[(5, np.array([0, 10.0, 0])), (9, np.zeros(3)), (13, np.zeros(3)), (17, np.zeros(3)),
                          (21, np.zeros(3))])


def write_bandai_source(root, clips, fps: float = 30.0):
    """A Bandai-Namco-like source folder: ``dataset-2/{cfg,data}`` with JSON labels and gzipped BVHs.

    ``clips``: ``[(action, style, take_number, frames), ...]``.
    """
    actions = sorted({c[0] for c in clips})
    styles = sorted({c[1] for c in clips})
    cfg, data = root / "dataset-2" / "cfg", root / "dataset-2" / "data"
    cfg.mkdir(parents=True)
    data.mkdir(parents=True)
    (cfg / "content_label.txt").write_text("\n".join(f"dataset-2_{a}" for a in actions))
    (cfg / "style_label.txt").write_text("\n".join(f"dataset-2_{s}" for s in styles))
    for k, (action, style, take, frames) in enumerate(clips):
        stem = f"dataset-2_{action}_{style}_{take:03d}"
        (data / f"{stem}.json").write_text(
            f'{{"content": {actions.index(action)}, "style": {styles.index(style)}}}')
        save_bvh(data / f"{stem}.bvh.gz", bandai_like(frames=frames, fps=fps, phase=0.7 * k), precision=4)
    return root


def rigid_smpl_clip(frames: int = 30, seed: int = 0):
    """SMPL-22 joints made by FK of random local rotations on a fixed skeleton (so bones are rigid)."""
    g = torch.Generator().manual_seed(seed)
    raw = torch.tensor(SMPL22.raw_offsets, dtype=torch.float64)
    offsets = raw * torch.tensor(DEFAULT_TARGET_BONE_LENGTHS, dtype=torch.float64)[:, None]
    offsets[1:3] += torch.tensor([0.0, -0.08, 0.01])  # hips below the pelvis, like SMPL
    t = torch.linspace(0, 1, frames, dtype=torch.float64)[:, None, None]
    amp = torch.rand(1, 22, 3, generator=g, dtype=torch.float64) * 1.2
    rotvec = amp * torch.sin(6.0 * t + torch.rand(1, 22, 3, generator=g, dtype=torch.float64) * 6)
    rot = Rotation.from_rotvec(rotvec.reshape(-1, 3).numpy()).as_matrix()
    rot = torch.as_tensor(rot).reshape(frames, 22, 3, 3)
    trans = offsets.expand(frames, 22, 3).clone()
    trans[:, 0] = torch.cat([t[:, 0] * 1.5, 0.9 + 0 * t[:, 0], t[:, 0] * 0.3], -1)
    return forward_kinematics(rot, trans, SMPL22.parents)[1]
