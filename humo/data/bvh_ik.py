"""Fit a BVH skeleton to SMPL-22 joint positions (inverse kinematics for :func:`humo.data.bvh.write_bvh`).

The template skeleton:

* bone lengths are the mean lengths over the clip; the rest direction of every bone on a chain is the
  SMPL-22 ``raw_offsets`` direction (legs and arms down, spine up, feet forward);
* the two branching joints (pelvis -> hips + spine1, spine3 -> neck + collars) get a full orientation from
  two vectors, so their twist is stable: the pelvis from the hips' left-right axis and the spine1
  direction (facing = across x up), spine3 from the collars' axis and the neck direction. Their
  children's rest offsets are the clip's mean offsets in that frame (the subject's own proportions), so
  rigid input (any SMPL-derived clip) is reproduced exactly;
* every other joint gets the shortest-arc (swing-only) rotation that points its bone at the child, so
  twist is inherited from the parent;
* leaves (head, feet, wrists) carry no rotation of their own and end in an ``End Site``.
"""

from __future__ import annotations

import numpy as np
import torch

from humo.data.bvh import BVH
from humo.representations._checks import check_tensor
from humo.representations.rotation import frame_from_axes, matrix_to_euler, quat_to_matrix
from humo.representations.skeleton import SMPL22

__all__ = ["frame_from_axes", "joints_to_bvh", "swing"]

# branching joint -> (left child, right child, "up" child) defining its frame
_FRAMES = {0: (1, 2, 3), 9: (13, 14, 12)}
# End Site length (metres) along the rest direction of each leaf's incoming bone
_END_SITE = {10: 0.05, 11: 0.05, 15: 0.12, 20: 0.08, 21: 0.08}
_EPS = 1e-9


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp(min=_EPS)


def swing(v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """Shortest-arc rotation matrices ``(..., 3, 3)`` taking direction ``v0`` onto ``v1`` (both ``(..., 3)``).

    Unlike ``qbetween`` this is defined for opposite vectors (a half turn about an axis perpendicular to
    ``v0``) and for zero-length ``v1`` (identity).
    """
    v0, v1 = torch.broadcast_tensors(_unit(v0), _unit(v1))
    c = (v0 * v1).sum(-1, keepdim=True)
    q = torch.cat([1.0 + c, torch.linalg.cross(v0, v1, dim=-1)], dim=-1)
    # opposite directions: rotate by pi about v0 x e, e the basis axis least aligned with v0
    e = torch.nn.functional.one_hot(v0.abs().argmin(-1), 3).to(v0.dtype)
    half_turn = torch.cat([torch.zeros_like(c), _unit(torch.linalg.cross(v0, e, dim=-1))], dim=-1)
    q = torch.where(1.0 + c < 1e-10, half_turn, q)
    zero = v1.abs().sum(-1, keepdim=True) < _EPS
    q = torch.where(zero, torch.tensor([1.0, 0, 0, 0], dtype=v0.dtype), q)
    return quat_to_matrix(q)


def joints_to_bvh(joints, fps: float = 20.0, order: str = "ZXY") -> BVH:
    """Fit the template skeleton to ``joints (T, 22, 3)`` (SMPL-22, metres, Y up) and return a :class:`BVH`.

    Channels: the root has ``Xposition Yposition Zposition`` + 3 rotations, every other joint 3 rotations,
    in ``order`` (``"ZXY"`` or ``"XYZ"`` or any Tait-Bryan order). Units stay metres.
    """
    x = check_tensor(joints, "joints", trailing=(22, 3), min_frames=1, frame_dim=-3)
    if x.ndim != 3:
        raise ValueError(f"joints must be (T, 22, 3), got shape {tuple(x.shape)}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"order must be a permutation of 'XYZ' (e.g. 'ZXY'), got {order!r}")
    x = x.detach().to(torch.float64).cpu()
    parents = SMPL22.parents
    T, J = x.shape[0], len(parents)
    children: dict[int, list[int]] = {j: [] for j in range(J)}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)

    raw = torch.tensor(SMPL22.raw_offsets, dtype=torch.float64)
    offsets = torch.zeros(J, 3, dtype=torch.float64)
    local = torch.eye(3, dtype=torch.float64).repeat(T, J, 1, 1)
    glob = [None] * J
    for j in range(J):
        p = parents[j]
        g_parent = glob[p] if p >= 0 else torch.eye(3, dtype=torch.float64).expand(T, 3, 3)
        if j in _FRAMES:
            left, right, up = _FRAMES[j]
            g = frame_from_axes(x[:, left] - x[:, right], x[:, up] - x[:, j])
            for c in children[j]:  # subject's own offsets, measured in this frame
                offsets[c] = (g.transpose(-1, -2) @ (x[:, c] - x[:, j])[..., None])[..., 0].mean(0)
        elif len(children[j]) == 1:
            c = children[j][0]
            bone = x[:, c] - x[:, j]
            offsets[c] = raw[c] * bone.norm(dim=-1).mean()
            d_local = (g_parent.transpose(-1, -2) @ bone[..., None])[..., 0]
            g = g_parent @ swing(raw[c].expand_as(d_local), d_local)
        else:  # leaf
            g = g_parent
        glob[j] = g
        local[:, j] = g_parent.transpose(-1, -2) @ g

    euler = np.rad2deg(matrix_to_euler(local, order).numpy())
    euler = np.unwrap(euler, period=360.0, axis=0)  # continuous curves for animation editors
    positions = offsets.numpy()[None].repeat(T, 0)
    positions[:, 0] = x[:, 0].numpy()
    rot_channels = tuple(f"{a}rotation" for a in order)
    channels = [("Xposition", "Yposition", "Zposition") + rot_channels] + [rot_channels] * (J - 1)
    end_sites = [(j, (raw[j] * length).numpy()) for j, length in _END_SITE.items()]
    return BVH(names=list(SMPL22.joint_names), parents=list(parents), offsets=offsets.numpy(),
               channels=channels, rotations=euler, positions=positions, frame_time=1.0 / fps,
               orders=[order] * J, end_sites=end_sites)
