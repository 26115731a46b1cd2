"""Kinematic plausibility of motion, per clip: pure batched tensor functions on SMPL-22 joints.

Every function takes ``joints (..., T, 22, 3)`` (metres, Y up, one clip per leading index, all of
length ``T``) and returns one value per clip ``(...)``. Definitions (``docs/evaluation.md``):

* ``bone_std``: the worst bone's standard deviation of length over the clip (0 for a rigid skeleton);
* ``root_speed``: mean horizontal speed of the pelvis, m/s;
* ``lowest_foot``: height of the lowest foot point (ankles and toes) over the clip, m: > 0 floats,
  < 0 penetrates the floor ``y = 0``; ``penetration``: mean depth below ``y = 0`` of the lowest foot per frame;
* ``foot_skating``: median horizontal speed of a foot joint (ankle or toe) over the frames where it is
  within ``height`` (5 cm) of the clip's lowest foot point, m/s (NaN when no foot comes that low);
* ``jerk``: mean magnitude of the third time derivative of the joint positions, m/s^3.
"""

from __future__ import annotations

import torch

from humo.representations._checks import check_tensor
from humo.representations.contact import FEET
from humo.representations.humanml3d import bone_lengths
from humo.representations.skeleton import SMPL22

STATS = ("bone_std", "root_speed", "lowest_foot", "penetration", "foot_skating", "jerk")


def _check(joints, min_frames: int = 1) -> torch.Tensor:
    return check_tensor(joints, "joints", min_dim=3, trailing=(SMPL22.num_joints, 3), min_frames=min_frames,
                        frame_dim=-3)


def bone_std(joints: torch.Tensor) -> torch.Tensor:
    """Worst bone's length std over the clip ``(...)``, metres."""
    return bone_lengths(_check(joints)).std(dim=-2, unbiased=False).amax(dim=-1)


def root_speed(joints: torch.Tensor, fps: float = 20.0) -> torch.Tensor:
    """Mean horizontal pelvis speed ``(...)``, m/s (0 for a single frame)."""
    joints = _check(joints)
    step = joints[..., 1:, 0, :] - joints[..., :-1, 0, :]
    speed = step[..., [0, 2]].norm(dim=-1) * fps  # (..., T-1)
    return speed.mean(-1) if speed.shape[-1] else torch.zeros(joints.shape[:-3], dtype=joints.dtype)


def lowest_foot(joints: torch.Tensor) -> torch.Tensor:
    """Height of the lowest foot point over the clip ``(...)``, metres (> 0 floating, < 0 penetrating)."""
    return _check(joints)[..., list(FEET), 1].amin(dim=(-1, -2))


def penetration(joints: torch.Tensor) -> torch.Tensor:
    """Mean over frames of how far the lowest foot is below ``y = 0`` ``(...)``, metres (0 if never)."""
    low = _check(joints)[..., list(FEET), 1].amin(dim=-1)  # (..., T)
    return (-low).clamp(min=0).mean(-1)


def foot_skating(joints: torch.Tensor, fps: float = 20.0, height: float = 0.05) -> torch.Tensor:
    """Median horizontal speed of foot joints near the floor ``(...)``, m/s (NaN if none is near it).

    A foot joint counts on a frame step ``t -> t+1`` when its height at ``t`` is within ``height`` of the
    lowest foot point of the clip.
    """
    joints = _check(joints, min_frames=2)
    feet = joints[..., list(FEET), :]  # (..., T, 4, 3)
    floor = feet[..., 1].amin(dim=(-1, -2))[..., None, None]  # (..., 1, 1)
    near = feet[..., :-1, :, 1] <= floor + height  # (..., T-1, 4)
    speed = (feet[..., 1:, :, :] - feet[..., :-1, :, :])[..., [0, 2]].norm(dim=-1) * fps  # (..., T-1, 4)
    masked = torch.where(near, speed, torch.full_like(speed, float("nan")))
    return masked.flatten(-2).nanmedian(dim=-1).values


def jerk(joints: torch.Tensor, fps: float = 20.0) -> torch.Tensor:
    """Mean jerk magnitude over joints and frames ``(...)``, m/s^3 (needs 4 frames)."""
    joints = _check(joints, min_frames=4)
    d3 = joints[..., 3:, :, :] - 3 * joints[..., 2:-1, :, :] + 3 * joints[..., 1:-2, :, :] - joints[..., :-3, :, :]
    return (d3.norm(dim=-1) * fps**3).mean(dim=(-1, -2))


def kinematic_stats(joints: torch.Tensor, fps: float = 20.0, height: float = 0.05) -> dict[str, torch.Tensor]:
    """All of :data:`STATS` for ``joints (..., T, 22, 3)``, each ``(...)``."""
    joints = _check(joints, min_frames=4)
    return {"bone_std": bone_std(joints), "root_speed": root_speed(joints, fps), "lowest_foot": lowest_foot(joints),
            "penetration": penetration(joints), "foot_skating": foot_skating(joints, fps, height),
            "jerk": jerk(joints, fps)}


def share_inside(values: torch.Tensor, low: torch.Tensor | float, high: torch.Tensor | float) -> torch.Tensor:
    """Fraction of finite ``values (..., N)`` inside ``[low, high]`` (broadcast to ``(...)``); NaN if none."""
    finite = torch.isfinite(values)
    inside = finite & (values >= torch.as_tensor(low)[..., None]) & (values <= torch.as_tensor(high)[..., None])
    n = finite.sum(-1)
    return torch.where(n > 0, inside.sum(-1) / n.clamp(min=1), torch.full_like(n, float("nan"), dtype=values.dtype))
