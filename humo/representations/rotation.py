"""Rotation maths in torch, batched over any leading dims: quaternions (w-first), matrices,
the continuous 6-D representation and Euler angles (BVH channel orders).

Conventions:
* quaternions ``(..., 4)`` are ``(w, x, y, z)`` and act on column vectors: ``qrot(q, v) = q v q^-1``;
* matrices ``(..., 3, 3)`` act on column vectors;
* 6-D = the first two *columns* of the matrix, concatenated ``(c0, c1)`` as in HumanML3D;
* Euler ``angles (..., 3)`` in radians for an order like ``"ZXY"`` mean ``R = R_Z(a0) @ R_X(a1) @ R_Y(a2)``
  (intrinsic rotations in the listed order: the BVH convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def qnormalize(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``(..., 4)``."""
    return q / q.norm(dim=-1, keepdim=True)


def qinv(q: torch.Tensor) -> torch.Tensor:
    """Inverse (conjugate) of unit quaternions ``(..., 4)``."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


def qmul(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``q * r`` of ``(..., 4)`` quaternions (broadcasting)."""
    w1, x1, y1, z1 = q.unbind(-1)
    w2, x2, y2, z2 = r.unbind(-1)
    return torch.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], dim=-1)


def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v (..., 3)`` by quaternions ``q (..., 4)`` (broadcasting)."""
    q, v = torch.broadcast_tensors(q, torch.cat([torch.zeros_like(v[..., :1]), v], -1))
    u = q[..., 1:]
    v = v[..., 1:]
    uv = torch.linalg.cross(u, v, dim=-1)
    uuv = torch.linalg.cross(u, uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)


def qbetween(v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """Shortest-arc unit quaternion ``(..., 4)`` rotating direction ``v0`` onto ``v1`` (both ``(..., 3)``).

    Undefined (NaN) for exactly opposite vectors, as in the reference implementation.
    """
    v = torch.linalg.cross(v0, v1, dim=-1)
    w = torch.sqrt((v0**2).sum(-1, keepdim=True) * (v1**2).sum(-1, keepdim=True)) + (v0 * v1).sum(-1, keepdim=True)
    return qnormalize(torch.cat([w, v], dim=-1))


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` from quaternions ``(..., 4)`` (normalised first)."""
    w, x, y, z = qnormalize(q).unbind(-1)
    m = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(..., 4)`` with ``w >= 0`` from rotation matrices ``(..., 3, 3)`` (numerically stable:
    the best-conditioned of the four candidate formulas is chosen per element)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # |w|, |x|, |y|, |z| times 2, from the diagonal
    abs4 = torch.sqrt(torch.clamp(torch.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1), min=0))
    cands = torch.stack([
        torch.stack([abs4[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], -1),
        torch.stack([m21 - m12, abs4[..., 1] ** 2, m10 + m01, m02 + m20], -1),
        torch.stack([m02 - m20, m10 + m01, abs4[..., 2] ** 2, m12 + m21], -1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, abs4[..., 3] ** 2], -1),
    ], -2) / (2.0 * abs4.clamp(min=0.1)[..., None])
    best = abs4.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = qnormalize(q)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_cont6d(m: torch.Tensor) -> torch.Tensor:
    """6-D ``(..., 6)``: the first two columns of ``m (..., 3, 3)``."""
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def cont6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` from 6-D ``(..., 6)`` by Gram-Schmidt (columns c0, c1, c0 x c1)."""
    a, b = d6[..., :3], d6[..., 3:]
    c0 = F.normalize(a, dim=-1)
    c1 = F.normalize(b - (c0 * b).sum(-1, keepdim=True) * c0, dim=-1)
    c2 = torch.linalg.cross(c0, c1, dim=-1)
    return torch.stack([c0, c1, c2], dim=-1)


def quat_to_cont6d(q: torch.Tensor) -> torch.Tensor:
    """6-D ``(..., 6)`` from quaternions ``(..., 4)``."""
    return matrix_to_cont6d(quat_to_matrix(q))


def axis_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Matrices ``(..., 3, 3)`` for a rotation of ``angle (...)`` radians about ``axis`` in "XYZ"."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        rows = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        rows = (c, zero, s, zero, one, zero, -s, zero, c)
    elif axis == "Z":
        rows = (c, -s, zero, s, c, zero, zero, zero, one)
    else:
        raise ValueError(f"axis must be 'X', 'Y' or 'Z', got {axis!r}")
    return torch.stack(rows, -1).reshape(angle.shape + (3, 3))


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) - set("XYZ") or order[0] == order[1] or order[1] == order[2]:
        raise ValueError(f"Euler order must be three of X/Y/Z with no axis twice in a row, got {order!r}")
    return order


def euler_to_matrix(angles: torch.Tensor, order: str) -> torch.Tensor:
    """``R = R_{order[0]}(a0) @ R_{order[1]}(a1) @ R_{order[2]}(a2)`` for ``angles (..., 3)`` in radians."""
    order = _check_order(order)
    mats = [axis_rotation(a, angles[..., i]) for i, a in enumerate(order)]
    return mats[0] @ mats[1] @ mats[2]


_IDX = {"X": 0, "Y": 1, "Z": 2}


def matrix_to_euler(m: torch.Tensor, order: str) -> torch.Tensor:
    """Inverse of :func:`euler_to_matrix` for Tait-Bryan orders (all three axes distinct).

    Returns ``(..., 3)`` radians with the middle angle in ``[-pi/2, pi/2]``.
    """
    order = _check_order(order)
    if len(set(order)) != 3:
        raise ValueError(f"matrix_to_euler supports Tait-Bryan orders (three distinct axes), got {order!r}")
    i, j, k = (_IDX[a] for a in order)
    # sign of the permutation (i, j, k): +1 for XYZ, YZX, ZXY
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    # For R = Ri(a) Rj(b) Rk(c): R[i, k] = sign * sin(b)
    b = torch.asin(torch.clamp(sign * m[..., i, k], -1.0, 1.0))
    a = torch.atan2(-sign * m[..., j, k], m[..., k, k])
    c = torch.atan2(-sign * m[..., i, j], m[..., i, i])
    # Gimbal lock (cos b ~ 0): put everything into a and set c = 0.
    lock = torch.abs(sign * m[..., i, k]) > 1 - 1e-7
    a_lock = torch.atan2(sign * m[..., k, j], m[..., j, j])
    a = torch.where(lock, a_lock, a)
    c = torch.where(lock, torch.zeros_like(c), c)
    return torch.stack([a, b, c], dim=-1)


def frame_from_axes(across: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` whose columns are x = across, y = up (orthogonalised), z = x cross y.

    ``across (..., 3)`` points to the character's left, ``up (..., 3)`` along the spine; z is then the
    facing direction (SMPL convention: left = +x when facing +z).
    """
    x = F.normalize(across, dim=-1, eps=1e-9)
    z = F.normalize(torch.linalg.cross(x, up, dim=-1), dim=-1, eps=1e-9)
    y = torch.linalg.cross(z, x, dim=-1)
    return torch.stack([x, y, z], dim=-1)
