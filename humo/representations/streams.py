"""CoAMD's three motion streams: joints J, bones B and frame-to-frame motion M.

Conventions (``joints: (..., T, J, 3)`` absolute positions):

* ``bones[..., t, j] = joints[..., t, j] - joints[..., t, parent(j)]``; the root's "bone" is the
  root position itself, so the joints can be rebuilt from the bones alone.
* ``motion[..., t] = joints[..., t] - joints[..., t - 1]`` for ``t >= 1``; the **first frame of
  motion is zero** (no displacement before the clip starts). The stream is therefore not
  invertible on its own; ``from_streams`` takes the absolute positions from ``bones`` and
  ``motion_to_joints`` rebuilds joints from motion plus a first frame.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from humo.representations._checks import check_tensor
from humo.representations.skeleton import SMPL22, Skeleton, get_skeleton


class Streams(NamedTuple):
    """The J/B/M streams, each ``(..., T, J, 3)``."""

    joints: torch.Tensor
    bones: torch.Tensor
    motion: torch.Tensor


def _parents(skeleton: Skeleton, device) -> torch.Tensor:
    p = torch.tensor(skeleton.parents, device=device)
    return p.clamp(min=0)


def joints_to_bones(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Bones ``(..., J, 3)``: child minus parent; the root keeps its absolute position."""
    sk = get_skeleton(skeleton)
    bones = joints - joints[..., _parents(sk, joints.device), :]
    return torch.cat([joints[..., :1, :], bones[..., 1:, :]], dim=-2)


def bones_to_joints(bones: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Inverse of :func:`joints_to_bones`: accumulate bones down the tree (parents precede children)."""
    sk = get_skeleton(skeleton)
    out = [bones[..., 0, :]]
    for j in range(1, sk.num_joints):
        out.append(out[sk.parents[j]] + bones[..., j, :])
    return torch.stack(out, dim=-2)


def joints_to_motion(joints: torch.Tensor) -> torch.Tensor:
    """Motion ``(..., T, J, 3)``: displacement from the previous frame; frame 0 is zero."""
    disp = joints[..., 1:, :, :] - joints[..., :-1, :, :]
    return torch.cat([torch.zeros_like(joints[..., :1, :, :]), disp], dim=-3)


def motion_to_joints(motion: torch.Tensor, first_frame: torch.Tensor) -> torch.Tensor:
    """Rebuild joints ``(..., T, J, 3)`` from motion and the first frame ``(..., J, 3)``."""
    return first_frame.unsqueeze(-3) + torch.cumsum(motion, dim=-3) - motion[..., :1, :, :]


def to_streams(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> Streams:
    """Split absolute joints ``(..., T, J, 3)`` into :class:`Streams`."""
    sk = get_skeleton(skeleton)
    joints = check_tensor(joints, "joints", min_dim=3, trailing=(sk.num_joints, 3))
    return Streams(joints, joints_to_bones(joints, sk), joints_to_motion(joints))


def from_streams(streams: Streams, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Exact inverse of :func:`to_streams`: joints ``(..., T, J, 3)`` rebuilt from the bone stream."""
    return bones_to_joints(streams.bones, skeleton)
