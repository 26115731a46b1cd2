"""Coordinate-tensor building blocks of :mod:`humo.representations.humanml3d` (private).

Joints are handled as three contiguous coordinate tensors ``x, y, z (..., T, J)``: every elementwise op
then runs on contiguous memory, per-joint loops become matmuls with constant joint-axis matrices, and
the pipeline's rotations (all about Y) are written out as ``(c x + s z, c z - s x)``.
"""

from __future__ import annotations

import functools

import torch

from humo.representations.skeleton import Skeleton


def _const(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _tree_matrices(sk: Skeleton, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two constant matrices that turn per-joint loops into one matmul over the joint axis:

    * ``bones (J, J-1)``: ``coords (..., J) @ bones`` = child minus parent coordinate of joints 1..J-1;
    * ``chain (J-1, J-1)``: ``bone_coords (..., J-1) @ chain`` = each joint's offset from the root (the sum
      of the bones on its path).

    Built once per (tree, dtype, device) and cached: building them is a Python loop of ~150 scalar writes,
    which cost as much as the whole pipeline on a small batch. Treat them as read-only.
    """
    return _tree_matrices_cached(tuple(sk.parents), like.dtype, like.device)


@functools.lru_cache(maxsize=32)
def _tree_matrices_cached(parents: tuple[int, ...], dtype: torch.dtype, device: torch.device
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    num = len(parents)
    bones = torch.zeros(num, num - 1, dtype=torch.float64)
    chain = torch.zeros(num - 1, num - 1, dtype=torch.float64)
    for j in range(1, num):
        bones[j, j - 1], bones[parents[j], j - 1] = 1.0, -1.0
        k = j
        while k > 0:  # k is on the path root -> j
            chain[k - 1, j - 1] = 1.0
            k = parents[k]
    return bones.to(device=device, dtype=dtype), chain.to(device=device, dtype=dtype)


def _coords(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``joints (..., J, 3)`` as three contiguous coordinate tensors ``x, y, z (..., J)``: every later op
    then runs on contiguous memory."""
    return joints.movedim(-1, 0).contiguous().unbind(0)


def _norm3(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x * x + y * y + z * z)


def _yaw_of(forward_x: torch.Tensor, forward_z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``qbetween((fx, 0, fz), +Z)`` for horizontal forward vectors: the quaternion ``(w, 0, y, 0)`` as
    its two non-zero components ``(w, y)``, each ``(...)``."""
    w = torch.sqrt(forward_x * forward_x + forward_z * forward_z) + forward_z
    y = -forward_x
    norm = torch.sqrt(w * w + y * y)
    return w / norm, y / norm


def _yaw_cs(w: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of the rotation by the yaw quaternion ``(w, 0, y, 0)``: ``qrot`` maps ``(x, z)`` to
    ``(c x + s z, c z - s x)`` (the reference's ``qrot`` formula written out for a yaw)."""
    return 1 - 2 * y * y, 2 * w * y


def _previous_matrix(sk: Skeleton, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What each non-root joint's local rotation is taken against, as ``(prev (J-1, J-1), first (J-1,))``:
    ``bone_rot (..., J-1) @ prev + root (..., 1) * first``. The previous bone of its chain (the
    reference's running product ``R``, equal to that bone's rotation up to rounding), or the root for a
    chain's first bone, as the reference restarts every chain at the root. Cached; treat as read-only."""
    return _previous_matrix_cached(sk.num_joints, tuple(tuple(c) for c in sk.chains), like.dtype, like.device)


@functools.lru_cache(maxsize=32)
def _previous_matrix_cached(num_joints: int, chains: tuple, dtype: torch.dtype, device: torch.device
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    n = num_joints - 1
    prev, first = torch.zeros(n, n, dtype=dtype), torch.zeros(n, dtype=dtype)
    for chain in chains:
        for i, (p, child) in enumerate(zip(chain[:-1], chain[1:], strict=False)):
            if i == 0:
                first[child - 1] = 1.0
            else:
                prev[p - 1, child - 1] = 1.0
    return prev.to(device), first.to(device)


def _local_quats(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, root_w: torch.Tensor, root_y: torch.Tensor,
                 sk: Skeleton) -> tuple[torch.Tensor, ...]:
    """Naive IK of joints 1..J-1 from coordinates ``(..., T, J)`` and root quaternions ``(w, 0, y, 0)``
    ``(..., T)``: the local quaternions' ``(w, x, y, z)``, each ``(..., T, J-1)``.

    Every bone's global rotation is ``qbetween(raw offset, bone direction)``; its local rotation is
    ``qinv(previous) * rotation`` (see :func:`_previous_matrix`).
    """
    bones, _ = _tree_matrices(sk, x)
    prev, first = _previous_matrix(sk, x)
    u, u_norm = _offsets(sk, x)  # (J-1, 3), (J-1,)
    ux, uy, uz = u.unbind(-1)  # (J-1,) each
    vx, vy, vz = x @ bones, y @ bones, z @ bones  # bone vectors, not normalised:
    # qbetween(u, v) = normalize(|u| |v| + u.v, u x v) is unchanged when v is scaled by a positive factor
    # (both parts scale alike), so the bone direction never needs its own normalisation. Every line below
    # is one fused pass per output (the planes are memory-bound; temporaries cost more than the flops);
    # in-place steps only touch tensors autograd has not saved, so the function stays differentiable.
    w = torch.mul(torch.mul(vx, vx).addcmul_(vy, vy).addcmul_(vz, vz).sqrt_(), u_norm)
    w.addcmul_(ux, vx).addcmul_(uy, vy).addcmul_(uz, vz)
    rx = torch.mul(vz, uy).addcmul_(vy, uz, value=-1.0)
    ry = torch.mul(vx, uz).addcmul_(vz, ux, value=-1.0)
    rz = torch.mul(vy, ux).addcmul_(vx, uy, value=-1.0)
    inv = torch.mul(w, w).addcmul_(rx, rx).addcmul_(ry, ry).addcmul_(rz, rz).rsqrt_()
    rw, rx, ry, rz = w * inv, rx * inv, ry * inv, rz * inv
    pw = (rw @ prev).addcmul_(root_w[..., None], first)
    px = rx @ prev
    py = (ry @ prev).addcmul_(root_y[..., None], first)
    pz = rz @ prev
    # qmul(qinv(p), r)
    return (torch.mul(pw, rw).addcmul_(px, rx).addcmul_(py, ry).addcmul_(pz, rz),
            torch.mul(pw, rx).addcmul_(px, rw, value=-1.0).addcmul_(py, rz, value=-1.0).addcmul_(pz, ry),
            torch.mul(pw, ry).addcmul_(px, rz).addcmul_(py, rw, value=-1.0).addcmul_(pz, rx, value=-1.0),
            torch.mul(pw, rz).addcmul_(px, ry, value=-1.0).addcmul_(py, rx).addcmul_(pz, rw, value=-1.0))


@functools.lru_cache(maxsize=32)
def _offsets_cached(raw: tuple, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    u = torch.tensor(raw[1:], dtype=dtype, device=device)
    return u, u.norm(dim=-1)


def _offsets(sk: Skeleton, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The raw rest offsets of joints 1..J-1 ``(J-1, 3)`` and their lengths ``(J-1,)`` (cached, read-only)."""
    return _offsets_cached(tuple(tuple(o) for o in sk.raw_offsets), like.dtype, like.device)
