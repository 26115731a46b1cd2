"""HumanML3D's 263-d motion features, to and from joints, in batched torch.

Facts follow the HumanML3D release (Guo et al., CVPR 2022); see ``docs/representations.md``. Every
function works on any leading dims (``(..., T, 22, 3)``), on CPU and GPU, in the input's dtype.

Feature layout for a clip of ``T`` joint frames (``T - 1`` rows)::

    [0]        root angular velocity about Y (half-angle, arcsin of the relative quaternion's y)
    [1:3]      root linear velocity on XZ in the root heading frame
    [3]        root height
    [4:67]     "ric": joints 1..21 relative to the root on XZ, rotated to face +Z (21 x 3)
    [67:193]   local joint rotations from naive IK, 6-D (21 x 6)
    [193:259]  joint velocities in the root heading frame (22 x 3)
    [259:263]  foot contacts: left (ankle, foot), right (ankle, foot)

Reference quirks kept for exactness: the IK facing vector uses the hips in swapped order, and the
first root rotation is the identity (so ``features[..., 0, 0]`` carries a spurious value). One reference
bug is fixed: root quaternions are kept sign-continuous, so headings that cross 180 degrees no longer
corrupt the root angular velocity (identical output on every clip where that does not happen).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from humo.representations._checks import check_tensor
from humo.representations._coords import (
    _const,
    _coords,
    _local_quats,
    _norm3,
    _tree_matrices,
    _yaw_cs,
    _yaw_of,
)
from humo.representations.skeleton import SMPL22, Skeleton, get_skeleton

FEATURE_DIM = 263
RIC_DIM = 67  # dims used by features_to_joints (root 4 + ric 63)

# Default uniform-skeleton target: bone lengths (metres, per child joint) of the released HumanML3D clip
# 012314, which the release produced with the reference target (clip 000021, frame 0); they are constant
# over that clip to 2.4e-7 m, so they are the reference target's bone lengths. Index 0 (root) is unused.
DEFAULT_TARGET_BONE_LENGTHS = (
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434,
    0.0573647, 0.1433818, 0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140,
    0.1229844, 0.2568399, 0.2630919, 0.2660118, 0.2698763,
)

def _check_joints(joints, skeleton: Skeleton, min_frames: int = 1) -> torch.Tensor:
    return check_tensor(joints, "joints", min_dim=3, trailing=(skeleton.num_joints, 3),
                        min_frames=min_frames, frame_dim=-3)


def bone_lengths(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Bone length per child joint ``(..., J)`` for ``joints (..., J, 3)``; the root's entry is 0."""
    sk = get_skeleton(skeleton)
    parents = torch.tensor([max(p, 0) for p in sk.parents], device=joints.device)
    return (joints - joints[..., parents, :]).norm(dim=-1)


def _uniform_xyz(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, tgt: torch.Tensor, sk: Skeleton
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`uniform_skeleton` on coordinates ``(..., T, J)``."""
    bones, chain = _tree_matrices(sk, x)
    bx, by, bz = x @ bones, y @ bones, z @ bones  # (..., T, J-1)
    length = _norm3(bx, by, bz)
    a, b = sk.leg_joints
    scale = ((tgt[a] + tgt[b]) / (length[..., 0, a - 1] + length[..., 0, b - 1]))[..., None, None]
    per_bone = tgt[1:] / length.clamp_min(1e-12)  # unit direction times the target length
    out = []
    for c, bc in ((x, bx), (y, by), (z, bz)):
        res = c.new_empty(c.shape)  # root, then root + its offset for every other joint, without a cat
        res[..., :1] = c[..., :1] * scale
        res[..., 1:] = (bc * per_bone) @ chain
        res[..., 1:] += res[..., :1]
        out.append(res)
    return tuple(out)


def uniform_skeleton(joints: torch.Tensor, target_lengths=DEFAULT_TARGET_BONE_LENGTHS,
                     skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Retarget ``joints (..., T, J, 3)`` onto a skeleton with ``target_lengths`` (J,).

    Equivalent to the reference's IK-then-FK: every bone keeps its direction and takes the target
    length; the root trajectory is scaled by the leg-length ratio (frame 0 lengths of the two leg bones).
    """
    sk = get_skeleton(skeleton)
    joints = _check_joints(joints, sk)
    return torch.stack(_uniform_xyz(*_coords(joints), _target(target_lengths, sk, joints), sk), dim=-1)


def _target(target_lengths, sk: Skeleton, like: torch.Tensor) -> torch.Tensor:
    tgt = torch.as_tensor(target_lengths, dtype=like.dtype, device=like.device)
    if tgt.shape != (sk.num_joints,):
        raise ValueError(f"target_lengths must have {sk.num_joints} entries, got {tuple(tgt.shape)}")
    return tgt


def _facing_xz(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, skeleton: Skeleton, swapped_hips: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward direction ``cross(Y, unit across)`` of poses given as coordinates ``x, y, z (..., J)``,
    *not* normalised (the reference smooths it before normalising); its y is exactly 0, so only
    ``(fx, fz)`` are returned."""
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    if swapped_hips:  # the reference IK unpacks the face joints as (l_hip, r_hip, ...)
        r_hip, l_hip = l_hip, r_hip
    ax, ay, az = ((c[..., r_hip] - c[..., l_hip]) + (c[..., r_sdr] - c[..., l_sdr]) for c in (x, y, z))
    norm = _norm3(ax, ay, az).clamp_min(1e-12)
    return az / norm, -ax / norm


def _canonical_xyz(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, sk: Skeleton
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`canonicalize` on coordinates ``x, y, z (..., T, J)``."""
    floor = y.amin(dim=(-1, -2))[..., None, None]  # (...)
    x, y, z = x - x[..., :1, :1], y - floor, z - z[..., :1, :1]
    fx, fz = _facing_xz(x[..., 0, :], y[..., 0, :], z[..., 0, :], sk, swapped_hips=False)
    norm = torch.sqrt(fx * fx + fz * fz).clamp_min(1e-12)
    c, s = _yaw_cs(*_yaw_of(fx / norm, fz / norm))
    c, s = c[..., None, None], s[..., None, None]
    return torch.mul(x, c).addcmul_(z, s), y, torch.mul(z, c).addcmul_(x, s, value=-1.0)


def canonicalize(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Floor at y=0 (global minimum), frame-0 root at the XZ origin, frame-0 facing +Z.

    ``joints (..., T, J, 3) -> (..., T, J, 3)``; this is what ``features_to_joints(joints_to_features(J))``
    returns when ``J`` already has the target bone lengths.
    """
    sk = get_skeleton(skeleton)
    return torch.stack(_canonical_xyz(*_coords(_check_joints(joints, sk)), sk), dim=-1)


def gaussian_smooth(x: torch.Tensor, sigma: float, dim: int = -2, truncate: float = 4.0) -> torch.Tensor:
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis=dim, mode='nearest') in torch.

    Up to ``_SMOOTH_MATRIX_MAX`` samples along ``dim`` the filter (edges included) is one cached
    ``(T, T)`` matrix and the smoothing one matmul (~15x faster than the padded convolution at T = 196);
    longer signals use the convolution.
    """
    radius = int(truncate * sigma + 0.5)
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, moved.shape[-1])  # (N, T)
    if flat.shape[-1] <= _SMOOTH_MATRIX_MAX:
        out = flat @ _smooth_matrix(flat.shape[-1], float(sigma), radius, x.dtype, x.device)
        return out.reshape(moved.shape).movedim(-1, dim)
    flat = flat[:, None]  # (N, 1, T)
    # 'nearest' = replicate the edge values; pad in chunks because replicate padding must be < T
    flat = torch.cat([flat[..., :1].expand(-1, -1, radius), flat, flat[..., -1:].expand(-1, -1, radius)], -1)
    out = F.conv1d(flat, _gaussian_kernel(sigma, radius, x.dtype, x.device).view(1, 1, -1)).reshape(moved.shape)
    return out.movedim(-1, dim)


_SMOOTH_MATRIX_MAX = 512


def _gaussian_kernel(sigma: float, radius: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=16)
def _smooth_matrix(length: int, sigma: float, radius: int, dtype: torch.dtype, device: torch.device
                   ) -> torch.Tensor:
    """``(T, T)`` matrix ``M`` with ``signal (N, T) @ M`` = the edge-replicating Gaussian filter (read-only)."""
    kernel = _gaussian_kernel(sigma, radius, torch.float64, torch.device("cpu"))
    out_t = torch.arange(length)[None, :].expand(2 * radius + 1, -1)  # (K, T) output sample
    in_t = (out_t + torch.arange(-radius, radius + 1)[:, None]).clamp(0, length - 1)  # its input sample
    m = torch.zeros(length, length, dtype=torch.float64)
    m.index_put_((in_t.reshape(-1), out_t.reshape(-1)), kernel[:, None].expand(-1, length).reshape(-1),
                 accumulate=True)
    return m.to(dtype=dtype, device=device)


def _root_yaw(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, sk: Skeleton, sigma: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`root_rotations` from coordinates ``(..., T, J)``, as the quaternions' ``(w, y)`` ``(..., T)``."""
    fx, fz = _facing_xz(x, y, z, sk, swapped_hips=True)  # (..., T)
    if sigma > 0:
        fx, fz = gaussian_smooth(torch.stack([fx, fz], -2), sigma, dim=-1).unbind(-2)
    norm = torch.sqrt(fx * fx + fz * fz).clamp_min(1e-12)
    w, qy = _yaw_of(fx / norm, fz / norm)
    w = torch.cat([torch.ones_like(w[..., :1]), w[..., 1:]], dim=-1)  # frame 0 forced to the identity
    qy = torch.cat([torch.zeros_like(qy[..., :1]), qy[..., 1:]], dim=-1)
    # Keep the quaternion sign continuous over time. The shortest arc has w >= 0, so a heading that
    # crosses 180 degrees flips the sign between two frames and the reference's arcsin(relative y) then
    # gets the wrong angular velocity (drift of up to 0.4 m in fast turns). Same rotations, same
    # features wherever no flip occurs.
    dot = w[..., 1:] * w[..., :-1] + qy[..., 1:] * qy[..., :-1]
    flips = (dot < 0).to(w.dtype).cumsum(-1) % 2  # (..., T-1)
    sign = torch.cat([torch.ones_like(flips[..., :1]), 1 - 2 * flips], dim=-1)
    return w * sign, qy * sign


def root_rotations(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22, sigma: float = 20.0) -> torch.Tensor:
    """Root heading quaternions ``(..., T, 4)`` rotating the smoothed forward vector onto +Z.

    Follows the reference IK: swapped hip order, Gaussian-smoothed forward (sigma 20 frames),
    and frame 0 forced to the identity.
    """
    sk = get_skeleton(skeleton)
    w, y = _root_yaw(*_coords(joints), sk, sigma)
    zero = torch.zeros_like(w)
    return torch.stack([w, zero, y, zero], dim=-1)


def local_rotations(joints: torch.Tensor, root_quat: torch.Tensor, skeleton: Skeleton | str = SMPL22
                    ) -> torch.Tensor:
    """Naive IK: local quaternions ``(..., T, J, 4)`` turning each raw rest offset onto the bone direction.

    ``root_quat (..., T, 4)`` are root heading quaternions (:func:`root_rotations`, rotations about Y).
    Each chain starts from the root rotation, as in the reference (arm chains skip the spine's rotation).
    """
    sk = get_skeleton(skeleton)
    local = torch.stack(_local_quats(*_coords(joints), root_quat[..., 0], root_quat[..., 2], sk), dim=-1)
    return torch.cat([root_quat[..., None, :], local], dim=-2)


def foot_contacts(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22, threshold: float = 0.002
                  ) -> torch.Tensor:
    """Contacts ``(..., T-1, 4)`` (left ankle, left foot, right ankle, right foot): 1 where the squared
    frame-to-frame displacement is below ``threshold``."""
    sk = get_skeleton(skeleton)
    feet = list(sk.feet_left) + list(sk.feet_right)
    disp = joints[..., 1:, feet, :] - joints[..., :-1, feet, :]
    return ((disp**2).sum(-1) < threshold).to(joints.dtype)


def joints_to_features(joints: torch.Tensor, *, target_lengths=DEFAULT_TARGET_BONE_LENGTHS,
                       skeleton: Skeleton | str = SMPL22, feet_threshold: float = 0.002,
                       smooth_sigma: float = 20.0) -> torch.Tensor:
    """The reference pipeline: ``joints (..., T, 22, 3) -> features (..., T-1, 263)``.

    Args:
        joints: global joint positions in metres, Y up, at least 2 frames.
        target_lengths: bone lengths of the uniform skeleton (default: HumanML3D's); ``None`` skips
            the retargeting (the clip keeps its own bone lengths).
        feet_threshold: squared-displacement threshold for foot contacts.
        smooth_sigma: Gaussian sigma (frames) of the IK forward vector.

    Every rotation in the pipeline is a yaw (about Y), so it is applied as ``(c x + s z, c z - s x)``
    on coordinate tensors ``(..., T, J)``; the clip batch goes through each step at once, in slices of
    about :data:`_CHUNK_ELEMENTS` joint positions so the per-coordinate planes stay in the CPU's cache.
    """
    sk = get_skeleton(skeleton)
    joints = _check_joints(joints, sk, min_frames=2)
    target = None if target_lengths is None else _target(target_lengths, sk, joints)
    lead, t = joints.shape[:-3], joints.shape[-3]
    flat = joints.reshape((-1,) + joints.shape[-3:])  # (N, T, J, 3)
    per = max(1, _CHUNK_ELEMENTS // (t * sk.num_joints))
    if flat.shape[0] <= per or joints.requires_grad or joints.device.type != "cpu":
        return _features(joints, target, sk, feet_threshold, smooth_sigma)
    out = joints.new_empty((flat.shape[0], t - 1, feature_blocks(sk.num_joints)["contacts"].stop))
    for i in range(0, flat.shape[0], per):
        _features(flat[i:i + per], target, sk, feet_threshold, smooth_sigma, out=out[i:i + per])
    return out.reshape(lead + out.shape[1:])


# joint positions per slice of joints_to_features on CPU (24 clips of 196 frames, by measurement: 8-64 tried).
# A slice's per-coordinate planes (~0.4 MB each) are reused from cache and from the allocator's free lists;
# the whole batch-64 at once allocates ~28 MB per call, which glibc hands back to the kernel between calls
# (page faults: 1,200-1,500 clips/s against 2,550-2,590 in slices; docs/representations.md)
_CHUNK_ELEMENTS = 24 * 196 * 22


def _features(joints: torch.Tensor, target: torch.Tensor | None, sk: Skeleton, feet_threshold: float,
              smooth_sigma: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`joints_to_features` on checked ``joints (..., T, J, 3)``, ``target`` the uniform offsets or None;
    written into ``out (..., T-1, 263)`` when given."""
    x, y, z = _coords(joints)  # (..., T, J) each
    if target is not None:
        x, y, z = _uniform_xyz(x, y, z, target, sk)
    x, y, z = _canonical_xyz(x, y, z, sk)  # global positions
    w, qy = _root_yaw(x, y, z, sk, smooth_sigma)  # (..., T) root quaternions (w, 0, qy, 0)
    c, s = _yaw_cs(w, qy)
    lead, n, nj = x.shape[:-2], x.shape[-2] - 1, sk.num_joints
    blocks = feature_blocks(nj)
    if out is None:
        out = x.new_empty(lead + (n, blocks["contacts"].stop))

    # root: angular velocity arcsin(y of r[t+1] r[t]^-1), velocity in the heading frame, height
    out[..., 0] = torch.asin((qy[..., 1:] * w[..., :-1] - w[..., 1:] * qy[..., :-1]).clamp(-1.0, 1.0))
    dx, dz = x[..., 1:, 0] - x[..., :-1, 0], z[..., 1:, 0] - z[..., :-1, 0]
    out[..., 1] = c[..., 1:] * dx + s[..., 1:] * dz
    out[..., 2] = c[..., 1:] * dz - s[..., 1:] * dx
    out[..., 3] = y[..., :-1, 0]
    # ric: joints 1.. relative to the root on XZ, in the heading frame (rows :-1)
    ric = out[..., blocks["ric"]].unflatten(-1, (nj - 1, 3))
    cn, sn = c[..., :-1, None], s[..., :-1, None]
    rx, rz = x[..., :-1, 1:] - x[..., :-1, :1], z[..., :-1, 1:] - z[..., :-1, :1]
    ric[..., 0] = torch.mul(rx, cn).addcmul_(rz, sn)
    ric[..., 1] = y[..., :-1, 1:]
    ric[..., 2] = torch.mul(rz, cn).addcmul_(rx, sn, value=-1.0)
    # 6-D local rotations: the first two columns of the matrix (reference quaternion_to_matrix)
    qw, qx, qy_, qz = _local_quats(x[..., :-1, :], y[..., :-1, :], z[..., :-1, :], w[..., :-1], qy[..., :-1], sk)
    # R(q) with 2 / |q|^2 as the reference computes it (q is unit up to rounding), each column one fused pass
    two_s = 2.0 / torch.mul(qw, qw).addcmul_(qx, qx).addcmul_(qy_, qy_).addcmul_(qz, qz)
    rot = out[..., blocks["rot"]].unflatten(-1, (nj - 1, 6))
    rot[..., 0] = torch.mul(qy_, qy_).addcmul_(qz, qz).mul_(two_s).neg_().add_(1.0)
    rot[..., 1] = torch.mul(qx, qy_).addcmul_(qz, qw).mul_(two_s)
    rot[..., 2] = torch.mul(qx, qz).addcmul_(qy_, qw, value=-1.0).mul_(two_s)
    rot[..., 3] = torch.mul(qx, qy_).addcmul_(qz, qw, value=-1.0).mul_(two_s)
    rot[..., 4] = torch.mul(qx, qx).addcmul_(qz, qz).mul_(two_s).neg_().add_(1.0)
    rot[..., 5] = torch.mul(qy_, qz).addcmul_(qx, qw).mul_(two_s)
    # joint velocities in the heading frame of the earlier frame
    vel = out[..., blocks["vel"]].unflatten(-1, (nj, 3))
    dx, dz = x[..., 1:, :] - x[..., :-1, :], z[..., 1:, :] - z[..., :-1, :]
    vel[..., 0] = torch.mul(dx, cn).addcmul_(dz, sn)
    vel[..., 1] = y[..., 1:, :] - y[..., :-1, :]
    vel[..., 2] = torch.mul(dz, cn).addcmul_(dx, sn, value=-1.0)
    # foot contacts: squared displacement below the threshold
    feet = list(sk.feet_left) + list(sk.feet_right)
    step = [cc[..., 1:, feet] - cc[..., :-1, feet] for cc in (x, y, z)]
    out[..., blocks["contacts"]] = (step[0] * step[0] + step[1] * step[1] + step[2] * step[2] < feet_threshold
                                    ).to(x.dtype)
    return out


def _check_features(features) -> torch.Tensor:
    features = check_tensor(features, "features", min_dim=2, finite=False)
    if features.shape[-1] not in (FEATURE_DIM, RIC_DIM):
        raise ValueError(f"features must have shape (..., T, {FEATURE_DIM}) (or {RIC_DIM}), "
                         f"got {tuple(features.shape)}")
    if features.shape[-2] < 1:
        raise ValueError("features need at least 1 frame")
    return features


def _root_from_features(features: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Root heading ``(w, y)`` of the quaternions ``(cos a, 0, sin a, 0)`` and root ``x, y, z``, each
    ``(..., T)`` (the reference's ``recover_root_rot_pos``)."""
    def shifted_cumsum(v: torch.Tensor) -> torch.Tensor:  # (..., T-1) -> (..., T), starting at 0
        return torch.cumsum(torch.cat([v.new_zeros(v.shape[:-1] + (1,)), v], dim=-1), dim=-1)

    angle = shifted_cumsum(features[..., :-1, 0])
    w, qy = torch.cos(angle), torch.sin(angle)
    c, s = _yaw_cs(w[..., 1:], -qy[..., 1:])  # the inverse rotation
    vx, vz = features[..., :-1, 1], features[..., :-1, 2]
    x, z = shifted_cumsum(c * vx + s * vz), shifted_cumsum(c * vz - s * vx)
    return w, qy, x, features[..., 3], z


def recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root heading quaternions ``(..., T, 4)`` and root positions ``(..., T, 3)`` from features."""
    w, qy, x, y, z = _root_from_features(features)
    zero = torch.zeros_like(w)
    return torch.stack([w, zero, qy, zero], dim=-1), torch.stack([x, y, z], dim=-1)


def features_to_joints(features: torch.Tensor, joints_num: int = 22) -> torch.Tensor:
    """The reference ``recover_from_ric``: ``features (..., T, 263) -> joints (..., T, 22, 3)``.

    Uses only the root block and the ric block (dims 0:67), so 67-d inputs work too; NaN or inf in
    those dims raises ``ValueError`` (checked on the result, at the cost of one sum).
    """
    features = _check_features(features)
    w, qy, x, y, z = _root_from_features(features)
    c, s = _yaw_cs(w, -qy)
    c, s = c[..., None], s[..., None]  # (..., T, 1)
    n = joints_num - 1
    # joints = yaw(ric) + root XZ = [c x + s z, y, c z - s x] + root XZ, with x and z of the ric block as
    # contiguous planes (..., T, n); without autograd every op writes straight into the output
    ric = features[..., 4:4 + n * 3].unflatten(-1, (n, 3))
    rx, rz = ric[..., 0].contiguous(), ric[..., 2].contiguous()
    if features.requires_grad and torch.is_grad_enabled():  # out= is not differentiable
        bx = torch.cat([x[..., None], torch.addcmul(rx * c, rz, s) + x[..., None]], dim=-1)
        bz = torch.cat([z[..., None], torch.addcmul(rz * c, rx, s, value=-1.0) + z[..., None]], dim=-1)
        out = torch.stack([bx, torch.cat([y[..., None], ric[..., 1]], dim=-1), bz], dim=-1)
    else:
        out = features.new_empty(x.shape + (joints_num, 3))
        out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = x, y, z
        out[..., 1:, 1] = ric[..., 1]
        torch.mul(rx, c, out=out[..., 1:, 0]).addcmul_(rz, s).add_(x[..., None])
        torch.mul(rz, c, out=out[..., 1:, 2]).addcmul_(rx, s, value=-1.0).add_(z[..., None])
    if out.numel() and not bool(torch.isfinite(out.sum())):
        check_tensor(features[..., :4 + n * 3], "features")  # names NaN / inf in the input
    return out


def mirror_joints(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Mirror ``joints (..., J, 3)``: x -> -x and swap left/right joints (HumanML3D's "M" clips)."""
    sk = get_skeleton(skeleton)
    joints = check_tensor(joints, "joints", min_dim=2, trailing=(sk.num_joints, 3), finite=False)
    flipped = joints * _const((-1.0, 1.0, 1.0), joints)
    return flipped[..., list(sk.mirror), :]


def mirror_features(features: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Mirror 263-d ``features (..., T, 263)`` directly (exactly equals featurising the mirrored joints
    when bone lengths are symmetric): sign flips of the x axis plus the left/right permutation."""
    sk = get_skeleton(skeleton)
    features = check_tensor(features, "features", min_dim=2, trailing=(FEATURE_DIM,), finite=False)
    j = sk.num_joints
    perm = list(sk.mirror)
    perm_nr = [p - 1 for p in perm[1:]]  # joints 1..J-1
    x_flip = _const((-1.0, 1.0, 1.0), features)
    lead = features.shape[:-1]
    root = features[..., :4] * _const((-1.0, -1.0, 1.0, 1.0), features)
    ric = features[..., 4:4 + (j - 1) * 3].reshape(lead + (j - 1, 3))[..., perm_nr, :] * x_flip
    rot = features[..., 4 + (j - 1) * 3:4 + (j - 1) * 9].reshape(lead + (j - 1, 6))[..., perm_nr, :]
    rot = rot * _const((1.0, -1.0, -1.0, -1.0, 1.0, 1.0), features)  # S R S: c0 -> -S c0, c1 -> S c1
    vel = features[..., 4 + (j - 1) * 9:4 + (j - 1) * 9 + j * 3].reshape(lead + (j, 3))[..., perm, :] * x_flip
    contacts = features[..., -4:][..., [2, 3, 0, 1]]
    return torch.cat([root, ric.reshape(lead + (-1,)), rot.reshape(lead + (-1,)), vel.reshape(lead + (-1,)),
                      contacts], dim=-1)


def feature_blocks(joints_num: int = 22) -> dict[str, slice]:
    """Named slices of the feature vector (root_rot_vel, root_lin_vel, root_y, ric, rot, vel, contacts)."""
    r = 4 + (joints_num - 1) * 3
    rot = r + (joints_num - 1) * 6
    vel = rot + joints_num * 3
    return {"root_rot_vel": slice(0, 1), "root_lin_vel": slice(1, 3), "root_y": slice(3, 4),
            "ric": slice(4, r), "rot": slice(r, rot), "vel": slice(rot, vel), "contacts": slice(vel, vel + 4)}


def block_std(std: torch.Tensor, joints_num: int = 22, feat_bias: float = 1.0) -> torch.Tensor:
    """The reference's per-block std: each block's std replaced by the block mean; ``feat_bias`` (5 for
    the T2M evaluator) divides the root blocks (0:4) and the contacts."""
    std = check_tensor(std, "std", min_dim=1)
    out = std.clone()
    for name, sl in feature_blocks(joints_num).items():
        value = std[..., sl].mean(-1, keepdim=True)
        if name in ("root_rot_vel", "root_lin_vel", "root_y", "contacts"):
            value = value / feat_bias
        out[..., sl] = value
    return out


def wrap_angle(a: torch.Tensor) -> torch.Tensor:
    """Wrap angles to ``[-pi, pi)``."""
    return (a + math.pi) % (2 * math.pi) - math.pi
