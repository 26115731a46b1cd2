"""A fixed SMPL-22 skeleton ("rig") and the inverse kinematics that puts any joint positions on it.

A rig is ``offsets (22, 3)``: the rest offset of every joint from its parent, in the parent's frame,
with the conventions of humo's BVH writer (:func:`humo.data.bvh_ik.joints_to_bvh`):

* the children of the two branching joints (pelvis -> hips + spine1, spine3 -> collars + neck) have
  their offsets in the branching joint's frame ``frame_from_axes(left - right, up)``;
* every other bone points along the SMPL-22 rest direction (``Skeleton.raw_offsets``) with its length.

Positions on a rig depend only on the root position, the orientations of the two branching joints
and the direction of every other bone, so :func:`rig_forward` takes exactly those; :func:`fit_rig`
finds them for target joints (closed form, then optionally a few batched Gauss-Newton steps on the
squared joint error). Every output of :func:`fit_rig` has the rig's bone lengths to float precision, and
writing it as BVH gives back the rig's offsets (the writer measures the same frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from humo.representations._checks import check_tensor
from humo.representations.rotation import cont6d_to_matrix, frame_from_axes, matrix_to_cont6d
from humo.representations.skeleton import SMPL22

NUM_JOINTS = 22
PARENTS = SMPL22.parents
# branching joint -> (left child, right child, "up" child): the frame its children's offsets live in
BRANCHES = {0: (1, 2, 3), 9: (13, 14, 12)}
_BRANCH_CHILD = {c: p for p, cs in BRANCHES.items() for c in cs}
# bones whose direction is free (every non-root joint that is not a child of a branching joint)
CHAIN = tuple(j for j in range(1, NUM_JOINTS) if j not in _BRANCH_CHILD)


def _check_joints(joints, name: str = "joints") -> torch.Tensor:
    return check_tensor(joints, name, min_dim=3, trailing=(NUM_JOINTS, 3), min_frames=1, frame_dim=-3)


def check_offsets(offsets, like: torch.Tensor | None = None) -> torch.Tensor:
    """Validate rig ``offsets (22, 3)`` (finite, every non-root bone longer than 1 mm)."""
    offsets = check_tensor(offsets, "offsets", min_dim=2, trailing=(NUM_JOINTS, 3))
    if offsets.ndim != 2:
        raise ValueError(f"offsets must be (22, 3), got {tuple(offsets.shape)}")
    short = [SMPL22.joint_names[j] for j in range(1, NUM_JOINTS) if float(offsets[j].norm()) < 1e-3]
    if short:
        raise ValueError(f"rig offsets give zero-length bones for {short}")
    if like is not None:
        offsets = offsets.to(like.device, like.dtype)
    return offsets


def _branch_frame(joints: torch.Tensor, j: int) -> torch.Tensor:
    left, right, up = BRANCHES[j]
    return frame_from_axes(joints[..., left, :] - joints[..., right, :], joints[..., up, :] - joints[..., j, :])


def rig_offsets(joints: torch.Tensor) -> torch.Tensor:
    """The mean rig ``(22, 3)`` of ``joints (..., T, 22, 3)`` (all leading dims and frames pooled).

    Chain bones get their mean length along the rest direction; branch children their mean offset in the
    branching frame, re-expressed so that ``frame_from_axes`` of the result is the identity (so a BVH written
    from joints on this rig has exactly these offsets). For a rigid input this reproduces its skeleton.
    """
    joints = _check_joints(joints)
    raw = torch.tensor(SMPL22.raw_offsets, dtype=joints.dtype, device=joints.device)
    flat = joints.reshape(-1, NUM_JOINTS, 3)  # (N, 22, 3): every frame of every clip
    offsets = torch.zeros(NUM_JOINTS, 3, dtype=joints.dtype, device=joints.device)
    for j in CHAIN:
        offsets[j] = raw[j] * (flat[:, j] - flat[:, PARENTS[j]]).norm(dim=-1).mean()
    for j, children in BRANCHES.items():
        g = _branch_frame(flat, j)  # (N, 3, 3)
        local = {c: (g.transpose(-1, -2) @ (flat[:, c] - flat[:, j])[..., None])[..., 0].mean(0) for c in children}
        left, right, up = children
        canon = frame_from_axes(local[left] - local[right], local[up])  # (3, 3), ~identity
        for c in children:
            offsets[c] = canon.transpose(-1, -2) @ local[c]
    return offsets


def bone_length_table(offsets: torch.Tensor) -> torch.Tensor:
    """Bone length per child joint ``(22,)`` of a rig (root 0)."""
    return check_offsets(offsets).norm(dim=-1)


def rig_forward(root: torch.Tensor, branch_rot: dict[int, torch.Tensor], directions: torch.Tensor,
                offsets: torch.Tensor) -> torch.Tensor:
    """Joint positions ``(..., T, 22, 3)`` on a rig.

    Args:
        root: ``(..., T, 3)`` pelvis positions.
        branch_rot: ``{0: (..., T, 3, 3), 9: (..., T, 3, 3)}`` orientations of the branching joints.
        directions: ``(..., T, 22, 3)`` bone directions (normalised here), used for the joints in
            :data:`CHAIN`; other rows are ignored.
        offsets: ``(22, 3)`` the rig.
    """
    lengths = offsets.norm(dim=-1)
    dirs = F.normalize(directions, dim=-1, eps=1e-9)
    out: list[torch.Tensor | None] = [None] * NUM_JOINTS
    out[0] = root
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        if j in _BRANCH_CHILD:
            out[j] = out[p] + (branch_rot[p] @ offsets[j][:, None])[..., 0]
        else:
            out[j] = out[p] + lengths[j] * dirs[..., j, :]
    return torch.stack(out, dim=-2)


def _kabsch(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Rotations ``(..., 3, 3)`` minimising ``sum_k |R src_k - dst_k|^2`` for ``src (K, 3)``, ``dst (..., K, 3)``."""
    h = src.transpose(-1, -2) @ dst  # (..., 3, 3) = sum_k src_k dst_k^T
    u, _, vh = torch.linalg.svd(h)
    v = vh.transpose(-1, -2)
    d = torch.sign(torch.det(v @ u.transpose(-1, -2)))
    fix = torch.ones(d.shape + (3,), dtype=h.dtype, device=h.device)
    fix[..., 2] = torch.where(d == 0, torch.ones_like(d), d)
    return v @ torch.diag_embed(fix) @ u.transpose(-1, -2)


def _closed_form(target: torch.Tensor, offsets: torch.Tensor):
    """Root, branch rotations and bone directions aiming each bone from the *fitted* parent at the target child."""
    lengths = offsets.norm(dim=-1)
    out: list[torch.Tensor | None] = [None] * NUM_JOINTS
    out[0] = target[..., 0, :]
    rots: dict[int, torch.Tensor] = {}
    dirs = torch.zeros_like(target)
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        if j in _BRANCH_CHILD:
            if p not in rots:
                children = list(BRANCHES[p])
                rots[p] = _kabsch(offsets[children], target[..., children, :] - out[p][..., None, :])
            out[j] = out[p] + (rots[p] @ offsets[j][:, None])[..., 0]
        else:
            d = F.normalize(target[..., j, :] - out[p], dim=-1, eps=1e-9)
            dirs[..., j, :] = d
            out[j] = out[p] + lengths[j] * d
    return out[0], rots, dirs


def _frame_positions(params: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """One frame: ``params (60,)`` = root (3), pelvis and spine3 rotations (6-D each), chain bone directions
    (15 x 3) -> joint positions ``(22, 3)`` (for ``torch.func`` transforms)."""
    root, r0, r9 = params[:3], cont6d_to_matrix(params[3:9]), cont6d_to_matrix(params[9:15])
    dirs = params[15:].reshape(len(CHAIN), 3)
    full = torch.zeros(NUM_JOINTS, 3, dtype=params.dtype, device=params.device).index_add(
        0, torch.tensor(CHAIN, device=params.device), dirs)  # chain rows filled, others unused
    return rig_forward(root, {0: r0, 9: r9}, full, offsets)


def fit_rig(joints: torch.Tensor, offsets: torch.Tensor, steps: int = 0, damping: float = 1e-3,
            weights: torch.Tensor | None = None) -> torch.Tensor:
    """Put ``joints (..., T, 22, 3)`` on the rig ``offsets (22, 3)``; returns ``(..., T, 22, 3)``.

    The closed form keeps the pelvis where it is, orients both branching joints by a least-squares
    (Kabsch) fit of their children and aims every other bone from its fitted parent at its target
    child. ``steps > 0`` then runs that many damped Gauss-Newton (Levenberg-Marquardt) iterations per
    frame on the root, the branch rotations (6-D) and the bone directions, minimising the
    (``weights (22,)``-weighted) squared joint error; a frame keeps a step only if it lowers its error,
    so the error never rises and every frame is fitted independently of the batch. Bone lengths equal
    the rig's in every frame whatever ``steps`` is.
    """
    joints = _check_joints(joints)
    offsets = check_offsets(offsets, like=joints)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    target = joints.detach()
    root, rots, dirs = _closed_form(target, offsets)
    if steps == 0:
        return rig_forward(root, rots, dirs, offsets)
    from torch.func import jacfwd, vmap

    lead = target.shape[:-2]
    x = target.reshape(-1, NUM_JOINTS, 3)  # (N, 22, 3): every frame is its own problem
    p = torch.cat([root.reshape(-1, 3), matrix_to_cont6d(rots[0]).reshape(-1, 6),
                   matrix_to_cont6d(rots[9]).reshape(-1, 6), dirs[..., list(CHAIN), :].reshape(x.shape[0], -1)], -1)
    w = torch.ones(NUM_JOINTS, dtype=x.dtype, device=x.device) if weights is None else \
        torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    sw = w.sqrt()[:, None]  # (22, 1)

    def residual(params, tgt):  # (60,), (22, 3) -> (66,)
        return ((_frame_positions(params, offsets) - tgt) * sw).reshape(-1)

    res = vmap(residual)
    r = res(p, x)  # (N, 66)
    eye = torch.eye(p.shape[-1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        jac = vmap(jacfwd(residual))(p, x)  # (N, 66, 60)
        jtj = jac.transpose(1, 2) @ jac
        lhs = jtj + damping * torch.diag_embed(torch.diagonal(jtj, dim1=1, dim2=2)) + 1e-6 * eye
        step = torch.linalg.solve(lhs, -(jac.transpose(1, 2) @ r[..., None]))[..., 0]
        r_new = res(p + step, x)
        better = ((r_new**2).sum(-1) < (r**2).sum(-1))[:, None]
        p = torch.where(better, p + step, p)
        r = torch.where(better, r_new, r)
    return vmap(lambda q: _frame_positions(q, offsets))(p).reshape(lead + (NUM_JOINTS, 3))
