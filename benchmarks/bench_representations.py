"""HumanML3D features, clips per second: humo (batched) vs the reference code's calculations, same run.

    python benchmarks/bench_representations.py [--clips 64] [--frames 196] [--repeats 5] [--threads 1]

The straightforward side is embedded below: a faithful re-implementation of the HumanML3D release's
``process_file`` (numpy, one clip at a time, with its ``*_np`` quaternion helpers that round-trip
through float32 torch, its ``uniform_skeleton`` = IK then FK, its per-chain IK loop) and of
``recover_from_ric`` (torch, batched, its ``qrot`` with ``.contiguous().view(-1, 4)``). Both sides get
the same synthetic 196-frame clips; the table prints clips/s (best of ``--repeats`` rounds, both sides
timed back to back in each, so other load hits both alike), the ratio and the largest difference
between the two outputs (float32 vs the reference's float64/float32 mix).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.representations.humanml3d import (  # noqa: E402
    DEFAULT_TARGET_BONE_LENGTHS,
    features_to_joints,
    joints_to_features,
)
from humo.representations.skeleton import SMPL22  # noqa: E402
from tests.helpers import synthetic_joints  # noqa: E402

# ---------------------------------------------------------------- the reference (HumanML3D release)
RAW = np.array(SMPL22.raw_offsets, dtype=np.float64)
CHAINS = [list(c) for c in SMPL22.chains]
FACE = [2, 1, 17, 16]
FID_R, FID_L = [8, 11], [7, 10]
L_IDX1, L_IDX2 = 5, 8
TGT_OFFSETS = RAW * np.array(DEFAULT_TARGET_BONE_LENGTHS)[:, None]


def qinv(q):
    mask = torch.ones_like(q)
    mask[..., 1:] = -mask[..., 1:]
    return q * mask


def qmul(q, r):
    original_shape = q.shape
    terms = torch.bmm(r.reshape(-1, 4, 1), q.reshape(-1, 1, 4))
    w = terms[:, 0, 0] - terms[:, 1, 1] - terms[:, 2, 2] - terms[:, 3, 3]
    x = terms[:, 0, 1] + terms[:, 1, 0] - terms[:, 2, 3] + terms[:, 3, 2]
    y = terms[:, 0, 2] + terms[:, 1, 3] + terms[:, 2, 0] - terms[:, 3, 1]
    z = terms[:, 0, 3] - terms[:, 1, 2] + terms[:, 2, 1] + terms[:, 3, 0]
    return torch.stack((w, x, y, z), dim=1).view(original_shape)


def qrot(q, v):
    original_shape = list(v.shape)
    q = q.contiguous().view(-1, 4)
    v = v.contiguous().view(-1, 3)
    qvec = q[:, 1:]
    uv = torch.cross(qvec, v, dim=1)
    uuv = torch.cross(qvec, uv, dim=1)
    return (v + 2 * (q[:, :1] * uv + uuv)).view(original_shape)


def qbetween(v0, v1):
    v = torch.cross(v0, v1, dim=-1)
    w = torch.sqrt((v0**2).sum(dim=-1, keepdim=True) * (v1**2).sum(dim=-1, keepdim=True)) + (v0 * v1).sum(
        dim=-1, keepdim=True)
    q = torch.cat([w, v], dim=-1)
    return q / torch.norm(q, p=2, dim=-1, keepdim=True)


def qmul_np(q, r):
    return qmul(torch.from_numpy(q).contiguous().float(), torch.from_numpy(r).contiguous().float()).numpy()


def qrot_np(q, v):
    return qrot(torch.from_numpy(q).contiguous().float(), torch.from_numpy(v).contiguous().float()).numpy()


def qinv_np(q):
    return qinv(torch.from_numpy(q).float()).numpy()


def qbetween_np(v0, v1):
    return qbetween(torch.from_numpy(v0).float(), torch.from_numpy(v1).float()).numpy()


def quaternion_to_cont6d_np(quaternions):
    q = torch.from_numpy(quaternions).contiguous().float()
    r, i, j, k = torch.unbind(q, -1)
    two_s = 2.0 / (q * q).sum(-1)
    o = torch.stack((1 - two_s * (j * j + k * k), two_s * (i * j - k * r), two_s * (i * k + j * r),
                     two_s * (i * j + k * r), 1 - two_s * (i * i + k * k), two_s * (j * k - i * r),
                     two_s * (i * k - j * r), two_s * (j * k + i * r), 1 - two_s * (i * i + j * j)), -1)
    m = o.reshape(q.shape[:-1] + (3, 3)).numpy()
    return np.concatenate([m[..., 0], m[..., 1]], axis=-1)


def inverse_kinematics_np(joints, smooth_forward=False):
    l_hip, r_hip, sdr_r, sdr_l = FACE  # the reference's swapped unpacking
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, sdr_r] - joints[:, sdr_l])
    across = across / np.sqrt((across**2).sum(axis=-1))[:, np.newaxis]
    forward = np.cross(np.array([[0, 1, 0]]), across, axis=-1)
    if smooth_forward:
        forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    forward = forward / np.sqrt((forward**2).sum(axis=-1))[..., np.newaxis]
    target = np.array([[0, 0, 1]]).repeat(len(forward), axis=0)
    root_quat = qbetween_np(forward, target)
    quat_params = np.zeros(joints.shape[:-1] + (4,))
    root_quat[0] = np.array([[1.0, 0.0, 0.0, 0.0]])
    quat_params[:, 0] = root_quat
    for chain in CHAINS:
        r = root_quat
        for j in range(len(chain) - 1):
            u = RAW[chain[j + 1]][np.newaxis, ...].repeat(len(joints), axis=0)
            v = joints[:, chain[j + 1]] - joints[:, chain[j]]
            v = v / np.sqrt((v**2).sum(axis=-1))[:, np.newaxis]
            rot_u_v = qbetween_np(u, v)
            r_loc = qmul_np(qinv_np(r), rot_u_v)
            quat_params[:, chain[j + 1], :] = r_loc
            r = qmul_np(r, r_loc)
    return quat_params


def forward_kinematics_np(quat_params, root_pos, offsets):
    offsets = np.repeat(offsets[None], len(quat_params), axis=0)
    joints = np.zeros(quat_params.shape[:-1] + (3,))
    joints[:, 0] = root_pos
    for chain in CHAINS:
        r = quat_params[:, 0]
        for i in range(1, len(chain)):
            r = qmul_np(r, quat_params[:, chain[i]])
            joints[:, chain[i]] = qrot_np(r, offsets[:, chain[i]]) + joints[:, chain[i - 1]]
    return joints


def uniform_skeleton_np(positions):
    parents = SMPL22.parents
    src_len = np.array([0.0] + [np.linalg.norm(positions[0, j] - positions[0, parents[j]]) for j in range(1, 22)])
    src_offset = RAW * src_len[:, None]
    src_leg = np.abs(src_offset[L_IDX1]).max() + np.abs(src_offset[L_IDX2]).max()
    tgt_leg = np.abs(TGT_OFFSETS[L_IDX1]).max() + np.abs(TGT_OFFSETS[L_IDX2]).max()
    quat_params = inverse_kinematics_np(positions)
    return forward_kinematics_np(quat_params, positions[:, 0] * (tgt_leg / src_leg), TGT_OFFSETS)


def process_file(positions, feet_thre=0.002):
    positions = uniform_skeleton_np(positions)
    positions[:, :, 1] -= positions.min(axis=0).min(axis=0)[1]
    root_pos_init = positions[0]
    positions = positions - root_pos_init[0] * np.array([1, 0, 1])
    r_hip, l_hip, sdr_r, sdr_l = FACE
    across = (root_pos_init[r_hip] - root_pos_init[l_hip]) + (root_pos_init[sdr_r] - root_pos_init[sdr_l])
    across = across / np.sqrt((across**2).sum(axis=-1))[..., np.newaxis]
    forward_init = np.cross(np.array([[0, 1, 0]]), across, axis=-1)
    forward_init = forward_init / np.sqrt((forward_init**2).sum(axis=-1))[..., np.newaxis]
    root_quat_init = qbetween_np(forward_init, np.array([[0, 0, 1]]))
    root_quat_init = np.ones(positions.shape[:-1] + (4,)) * root_quat_init
    positions = qrot_np(root_quat_init, positions)
    global_positions = positions.copy()

    def foot(fid):
        d = (positions[1:, fid] - positions[:-1, fid]) ** 2
        return ((d[..., 0] + d[..., 1] + d[..., 2]) < np.array([feet_thre, feet_thre])).astype(np.float64)

    feet_l, feet_r = foot(FID_L), foot(FID_R)
    quat_params = inverse_kinematics_np(positions, smooth_forward=True)
    cont_6d_params = quaternion_to_cont6d_np(quat_params)
    r_rot = quat_params[:, 0].copy()
    velocity = qrot_np(r_rot[1:], (positions[1:, 0] - positions[:-1, 0]).copy())
    r_velocity = qmul_np(r_rot[1:], qinv_np(r_rot[:-1]))
    positions[..., 0] -= positions[:, 0:1, 0]
    positions[..., 2] -= positions[:, 0:1, 2]
    positions = qrot_np(np.repeat(r_rot[:, None], positions.shape[1], axis=1), positions)
    root_y = positions[:, 0, 1:2]
    r_velocity = np.arcsin(r_velocity[:, 2:3])
    l_velocity = velocity[:, [0, 2]]
    root_data = np.concatenate([r_velocity, l_velocity, root_y[:-1]], axis=-1)
    rot_data = cont_6d_params[:, 1:].reshape(len(cont_6d_params), -1)
    ric_data = positions[:, 1:].reshape(len(positions), -1)
    local_vel = qrot_np(np.repeat(r_rot[:-1, None], global_positions.shape[1], axis=1),
                        global_positions[1:] - global_positions[:-1]).reshape(len(global_positions) - 1, -1)
    return np.concatenate([root_data, ric_data[:-1], rot_data[:-1], local_vel, feet_l, feet_r], axis=-1)


def recover_from_ric(data, joints_num=22):
    rot_vel = data[..., 0]
    r_rot_ang = torch.zeros_like(rot_vel).to(data.device)
    r_rot_ang[..., 1:] = rot_vel[..., :-1]
    r_rot_ang = torch.cumsum(r_rot_ang, dim=-1)
    r_rot_quat = torch.zeros(data.shape[:-1] + (4,)).to(data.device)
    r_rot_quat[..., 0] = torch.cos(r_rot_ang)
    r_rot_quat[..., 2] = torch.sin(r_rot_ang)
    r_pos = torch.zeros(data.shape[:-1] + (3,)).to(data.device)
    r_pos[..., 1:, [0, 2]] = data[..., :-1, 1:3]
    r_pos = qrot(qinv(r_rot_quat), r_pos)
    r_pos = torch.cumsum(r_pos, dim=-2)
    r_pos[..., 1] = data[..., 3]
    positions = data[..., 4:(joints_num - 1) * 3 + 4]
    positions = positions.view(positions.shape[:-1] + (-1, 3))
    positions = qrot(qinv(r_rot_quat[..., None, :]).expand(positions.shape[:-1] + (4,)), positions)
    positions[..., 0] += r_pos[..., 0:1]
    positions[..., 2] += r_pos[..., 2:3]
    return torch.cat([r_pos.unsqueeze(-2), positions], dim=-2)


# ---------------------------------------------------------------- timing
def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory (no ``munmap`` / heap trim), as jemalloc or tcmalloc would.

    With the default settings, alternating the two sides makes glibc hand the batch's 13 MB output and
    temporaries back to the kernel between calls, and the next call page-faults them in again: humo's
    batched row then varies about 1.7x from one process to the next (the reference's small per-clip
    arrays do not). Returns False where this is not glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 30) and mallopt(m_trim_threshold, 1 << 30))


def best_of_pair(ours, theirs, repeats: int) -> tuple[float, float]:
    """Best time of each of two callables over ``repeats`` rounds, timed back to back in every round
    (so load from other processes on a shared machine hits both sides alike)."""
    ours(), theirs()  # warm-up
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, fn in enumerate((ours, theirs)):
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best[0], best[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--frames", type=int, default=196)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference-clips", type=int, default=8, help="clips timed through process_file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    joints = synthetic_joints(args.frames, batch=(args.clips,), dtype=torch.float32)
    feats = joints_to_features(joints)
    np_joints = joints.double().numpy()
    n_ref = min(args.reference_clips, args.clips)

    ref_feats = np.stack([process_file(np_joints[i].copy()) for i in range(n_ref)])
    f_diff = float(np.abs(ref_feats - feats[:n_ref].double().numpy()).max())
    ref_joints = recover_from_ric(feats)
    j_diff = float((ref_joints - features_to_joints(feats)).abs().max())

    def rate(ours, theirs, n_ours: int, n_theirs: int, repeats: int) -> tuple[float, float]:
        t_ours, t_theirs = best_of_pair(ours, theirs, repeats)
        return n_ours / t_ours, n_theirs / t_theirs

    rows = [
        ("joints->features", "process_file, per clip",
         *rate(lambda: joints_to_features(joints), lambda: [process_file(np_joints[i].copy()) for i in range(n_ref)],
               args.clips, n_ref, args.repeats), f_diff),
        ("features->joints", "recover_from_ric, batched",
         *rate(lambda: features_to_joints(feats), lambda: recover_from_ric(feats), args.clips, args.clips,
               args.repeats * 4), j_diff),
        ("features->joints", "recover_from_ric, per clip",
         *rate(lambda: features_to_joints(feats[0]), lambda: recover_from_ric(feats[0]), 1, 1, args.repeats * 20),
         j_diff),
    ]
    if retain_freed_memory():  # the same first row again, with freed memory kept by the allocator
        rows.append(("joints->features, allocator keeps freed memory", "process_file, per clip",
                     *rate(lambda: joints_to_features(joints),
                           lambda: [process_file(np_joints[i].copy()) for i in range(n_ref)],
                           args.clips, n_ref, args.repeats), f_diff))
    print(f"threads={torch.get_num_threads()} clips={args.clips} frames={args.frames} float32 "
          f"(humo batch {args.clips} except the per-clip row)")
    print("| work | reference | humo clips/s | reference clips/s | ratio | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    for work, ref, ours, theirs, diff in rows:
        print(f"| {work} | {ref} | {ours:.0f} | {theirs:.1f} | {ours / theirs:.1f}x | {diff:.1e} |")



if __name__ == "__main__":
    main()
