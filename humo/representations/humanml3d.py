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

import math

import torch
import torch.nn.functional as F

from humo.representations._checks import check_tensor
from humo.representations.rotation import qbetween, qinv, qmul, qrot, quat_to_cont6d
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

_Y = (0.0, 1.0, 0.0)
_Z = (0.0, 0.0, 1.0)


def _const(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _check_joints(joints, skeleton: Skeleton, min_frames: int = 1) -> torch.Tensor:
    return check_tensor(joints, "joints", min_dim=3, trailing=(skeleton.num_joints, 3),
                        min_frames=min_frames, frame_dim=-3)


def bone_lengths(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Bone length per child joint ``(..., J)`` for ``joints (..., J, 3)``; the root's entry is 0."""
    sk = get_skeleton(skeleton)
    parents = torch.tensor([max(p, 0) for p in sk.parents], device=joints.device)
    return (joints - joints[..., parents, :]).norm(dim=-1)


def uniform_skeleton(joints: torch.Tensor, target_lengths=DEFAULT_TARGET_BONE_LENGTHS,
                     skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Retarget ``joints (..., T, J, 3)`` onto a skeleton with ``target_lengths`` (J,).

    Equivalent to the reference's IK-then-FK: every bone keeps its direction and takes the target
    length; the root trajectory is scaled by the leg-length ratio (frame 0 lengths of the two leg bones).
    """
    sk = get_skeleton(skeleton)
    joints = _check_joints(joints, sk)
    tgt = torch.as_tensor(target_lengths, dtype=joints.dtype, device=joints.device)
    if tgt.shape != (sk.num_joints,):
        raise ValueError(f"target_lengths must have {sk.num_joints} entries, got {tuple(tgt.shape)}")
    src = bone_lengths(joints[..., 0, :, :], sk)  # (..., J) at frame 0
    a, b = sk.leg_joints
    scale = (tgt[a] + tgt[b]) / (src[..., a] + src[..., b])  # (...)
    out = [joints[..., 0, :] * scale[..., None, None]]  # root (..., T, 3)
    for j in range(1, sk.num_joints):
        p = sk.parents[j]
        direction = F.normalize(joints[..., j, :] - joints[..., p, :], dim=-1)
        out.append(out[p] + tgt[j] * direction)
    return torch.stack(out, dim=-2)


def _facing(joints: torch.Tensor, skeleton: Skeleton, swapped_hips: bool) -> torch.Tensor:
    """Forward direction ``(..., 3)`` of poses ``(..., J, 3)``: cross(Y, unit across), *not* normalised
    (the reference smooths it before normalising, so its length weighs the smoothing)."""
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    if swapped_hips:  # the reference IK unpacks the face joints as (l_hip, r_hip, ...)
        r_hip, l_hip = l_hip, r_hip
    across = (joints[..., r_hip, :] - joints[..., l_hip, :]) + (joints[..., r_sdr, :] - joints[..., l_sdr, :])
    across = F.normalize(across, dim=-1)
    y = _const(_Y, joints).expand_as(across)
    return torch.linalg.cross(y, across, dim=-1)


def canonicalize(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22) -> torch.Tensor:
    """Floor at y=0 (global minimum), frame-0 root at the XZ origin, frame-0 facing +Z.

    ``joints (..., T, J, 3) -> (..., T, J, 3)``; this is what ``features_to_joints(joints_to_features(J))``
    returns when ``J`` already has the target bone lengths.
    """
    sk = get_skeleton(skeleton)
    joints = _check_joints(joints, sk)
    floor = joints[..., 1].amin(dim=(-1, -2))  # (...)
    offset = joints[..., 0, 0, :] * _const((1.0, 0.0, 1.0), joints)  # frame-0 root XZ
    offset = offset + floor[..., None] * _const(_Y, joints)
    joints = joints - offset[..., None, None, :]
    forward = F.normalize(_facing(joints[..., 0, :, :], sk, swapped_hips=False), dim=-1)  # (..., 3)
    q = qbetween(forward, _const(_Z, joints).expand_as(forward))  # (..., 4)
    return qrot(q[..., None, None, :], joints)


def gaussian_smooth(x: torch.Tensor, sigma: float, dim: int = -2, truncate: float = 4.0) -> torch.Tensor:
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis=dim, mode='nearest') in torch."""
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, 1, moved.shape[-1])  # (N, 1, T)
    # 'nearest' = replicate the edge values; pad in chunks because replicate padding must be < T
    flat = torch.cat([flat[..., :1].expand(-1, -1, radius), flat, flat[..., -1:].expand(-1, -1, radius)], -1)
    out = F.conv1d(flat, kernel).reshape(moved.shape)
    return out.movedim(-1, dim)


def root_rotations(joints: torch.Tensor, skeleton: Skeleton | str = SMPL22, sigma: float = 20.0) -> torch.Tensor:
    """Root heading quaternions ``(..., T, 4)`` rotating the smoothed forward vector onto +Z.

    Follows the reference IK: swapped hip order, Gaussian-smoothed forward (sigma 20 frames),
    and frame 0 forced to the identity.
    """
    sk = get_skeleton(skeleton)
    forward = _facing(joints, sk, swapped_hips=True)  # (..., T, 3)
    if sigma > 0:
        forward = gaussian_smooth(forward, sigma, dim=-2)
    forward = F.normalize(forward, dim=-1)
    q = qbetween(forward, _const(_Z, joints).expand_as(forward))
    identity = _const((1.0, 0.0, 0.0, 0.0), joints).expand_as(q[..., :1, :])
    q = torch.cat([identity, q[..., 1:, :]], dim=-2)
    # Keep the quaternion sign continuous over time. qbetween returns w >= 0, so a heading that crosses
    # 180 degrees flips the sign between two frames and the reference's arcsin(relative y) then gets
    # the wrong angular velocity (drift of up to 0.4 m in fast turns). Same rotations, same features
    # wherever no flip occurs.
    flips = ((q[..., 1:, :] * q[..., :-1, :]).sum(-1) < 0).to(q.dtype).cumsum(-1) % 2  # (..., T-1)
    sign = torch.cat([torch.ones_like(flips[..., :1]), 1 - 2 * flips], dim=-1)
    return q * sign[..., None]


def local_rotations(joints: torch.Tensor, root_quat: torch.Tensor, skeleton: Skeleton | str = SMPL22
                    ) -> torch.Tensor:
    """Naive IK: local quaternions ``(..., T, J, 4)`` turning each raw rest offset onto the bone direction.

    Each chain starts from the root rotation, as in the reference (arm chains skip the spine's rotation).
    """
    sk = get_skeleton(skeleton)
    raw = _const(sk.raw_offsets, joints)  # (J, 3)
    quats = [None] * sk.num_joints
    quats[0] = root_quat
    for chain in sk.chains:
        r = root_quat
        for parent, child in zip(chain[:-1], chain[1:], strict=False):
            v = F.normalize(joints[..., child, :] - joints[..., parent, :], dim=-1)
            rot = qbetween(raw[child].expand_as(v), v)
            local = qmul(qinv(r), rot)
            quats[child] = local
            r = qmul(r, local)
    return torch.stack(quats, dim=-2)


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
    """
    sk = get_skeleton(skeleton)
    joints = _check_joints(joints, sk, min_frames=2)
    if target_lengths is not None:
        joints = uniform_skeleton(joints, target_lengths, sk)
    pos = canonicalize(joints, sk)  # (..., T, J, 3) global positions
    contacts = foot_contacts(pos, sk, feet_threshold)  # (..., T-1, 4)
    r_rot = root_rotations(pos, sk, smooth_sigma)  # (..., T, 4)
    rot6d = quat_to_cont6d(local_rotations(pos, r_rot, sk))  # (..., T, J, 6)

    root_step = pos[..., 1:, 0, :] - pos[..., :-1, 0, :]  # (..., T-1, 3)
    lin_vel = qrot(r_rot[..., 1:, :], root_step)[..., [0, 2]]  # (..., T-1, 2)
    rel = qmul(r_rot[..., 1:, :], qinv(r_rot[..., :-1, :]))
    ang_vel = torch.asin(rel[..., 2:3].clamp(-1.0, 1.0))  # (..., T-1, 1)

    ric = pos - pos[..., :, :1, :] * _const((1.0, 0.0, 1.0), pos)  # joints relative to the root on XZ
    ric = qrot(r_rot[..., :, None, :], ric)  # (..., T, J, 3), facing +Z
    root_y = ric[..., :-1, 0, 1:2]  # (..., T-1, 1)

    vel = qrot(r_rot[..., :-1, None, :], pos[..., 1:, :, :] - pos[..., :-1, :, :])  # (..., T-1, J, 3)
    lead = pos.shape[:-3]
    n = pos.shape[-3] - 1
    return torch.cat([
        ang_vel, lin_vel, root_y,
        ric[..., :-1, 1:, :].reshape(lead + (n, -1)),
        rot6d[..., :-1, 1:, :].reshape(lead + (n, -1)),
        vel.reshape(lead + (n, -1)),
        contacts,
    ], dim=-1)


def _check_features(features, min_dim: int = RIC_DIM) -> torch.Tensor:
    features = check_tensor(features, "features", min_dim=2)
    if features.shape[-1] not in (FEATURE_DIM, RIC_DIM):
        raise ValueError(f"features must have shape (..., T, {FEATURE_DIM}) (or {RIC_DIM}), "
                         f"got {tuple(features.shape)}")
    if features.shape[-2] < 1:
        raise ValueError("features need at least 1 frame")
    return features


def recover_root(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root heading quaternions ``(..., T, 4)`` and root positions ``(..., T, 3)`` from features."""
    angle = torch.cumsum(torch.cat([torch.zeros_like(features[..., :1, 0]), features[..., :-1, 0]], -1), -1)
    zero = torch.zeros_like(angle)
    quat = torch.stack([torch.cos(angle), zero, torch.sin(angle), zero], dim=-1)  # (..., T, 4)
    step = torch.zeros(features.shape[:-1] + (3,), dtype=features.dtype, device=features.device)
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    pos = torch.cumsum(qrot(qinv(quat), step), dim=-2)
    pos = torch.cat([pos[..., :1], features[..., 3:4], pos[..., 2:]], dim=-1)
    return quat, pos


def features_to_joints(features: torch.Tensor, joints_num: int = 22) -> torch.Tensor:
    """The reference ``recover_from_ric``: ``features (..., T, 263) -> joints (..., T, 22, 3)``.

    Uses only the root block and the ric block (dims 0:67), so 67-d inputs work too.
    """
    features = _check_features(features)
    quat, root = recover_root(features)
    local = features[..., 4:4 + (joints_num - 1) * 3]
    local = local.reshape(local.shape[:-1] + (joints_num - 1, 3))
    local = qrot(qinv(quat)[..., None, :], local)
    local = local + (root * _const((1.0, 0.0, 1.0), root))[..., None, :]
    return torch.cat([root[..., None, :], local], dim=-2)


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
