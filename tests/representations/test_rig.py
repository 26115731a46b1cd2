"""The fixed-skeleton fit: rigid input reproduced exactly, constant bone lengths on any input, BVH round trip."""

from __future__ import annotations

import pytest
import torch

from humo.data.bvh import bvh_to_positions, read_bvh, write_bvh
from humo.metrics.kinematics import bone_std
from humo.representations.humanml3d import bone_lengths
from humo.representations.rig import BRANCHES, check_offsets, fit_rig, rig_forward, rig_offsets
from humo.representations.rotation import cont6d_to_matrix
from humo.representations.skeleton import SMPL22
from tests.helpers import synthetic_joints


def rigid_clip(frames: int = 30, batch: tuple[int, ...] = (), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints on one rig (the mean rig of a synthetic clip), moved by random smooth rotations."""
    g = torch.Generator().manual_seed(seed)
    offsets = rig_offsets(synthetic_joints(40, seed=seed)).double()
    t = torch.linspace(0, 1, frames, dtype=torch.float64)[:, None, None]
    a, b = (torch.randn(batch + (1, 22, 3), generator=g, dtype=torch.float64) for _ in range(2))
    dirs = a + t * b  # (*batch, T, 22, 3) smoothly varying bone directions
    rots = {k: cont6d_to_matrix(torch.randn(batch + (1, 6), generator=g, dtype=torch.float64) + t[..., 0] *
                                torch.randn(batch + (1, 6), generator=g, dtype=torch.float64)) for k in BRANCHES}
    root = torch.cat([t[..., 0] * 2.0, torch.full_like(t[..., 0], 0.9), t[..., 0]], -1).expand(batch + (frames, 3))
    return rig_forward(root, rots, dirs, offsets), offsets


def test_rigid_input_is_reproduced_exactly():
    joints, offsets = rigid_clip(batch=(2,))
    torch.testing.assert_close(rig_offsets(joints), offsets, atol=1e-9, rtol=0)
    for steps in (0, 5):
        torch.testing.assert_close(fit_rig(joints, offsets, steps=steps), joints, atol=1e-6, rtol=0)


def test_any_input_gets_the_rig_bone_lengths_and_refinement_lowers_the_error():
    g = torch.Generator().manual_seed(1)
    clean = synthetic_joints(40, seed=2, batch=(3,))
    stretch = 1 + 0.1 * torch.sin(torch.arange(40, dtype=torch.float64) / 3)[:, None, None]  # arms grow and shrink
    noisy = clean[..., :1, :] + (clean - clean[..., :1, :]) * stretch + 0.01 * torch.randn(clean.shape, generator=g,
                                                                                           dtype=torch.float64)
    assert float(bone_std(noisy).min()) > 0.01
    offsets = rig_offsets(clean)
    closed = fit_rig(noisy, offsets)
    refined = fit_rig(noisy, offsets, steps=3)
    for fitted in (closed, refined):
        torch.testing.assert_close(bone_lengths(fitted), offsets.norm(dim=-1).expand_as(bone_lengths(fitted)),
                                   atol=1e-9, rtol=0)
    err = [float((f - noisy).norm(dim=-1).mean()) for f in (closed, refined)]
    assert err[1] < err[0] < 0.05
    torch.testing.assert_close(fit_rig(noisy[1:2], offsets, steps=3), refined[1:2])  # batch-independent


def test_bvh_of_a_fitted_motion_has_exactly_the_rig(tmp_path):
    joints, offsets = rigid_clip(frames=12)
    from humo.pipelines.cleanup import load_skeleton

    path = tmp_path / "x.bvh"
    write_bvh(path, joints.float(), fps=20)
    bvh = read_bvh(path)
    order = [bvh.index(n) for n in SMPL22.joint_names]  # file order (depth first) -> SMPL-22 order
    torch.testing.assert_close(torch.as_tensor(bvh.offsets, dtype=torch.float64)[order].norm(dim=-1)[1:],
                               offsets.norm(dim=-1)[1:], atol=2e-6, rtol=0)
    back = bvh_to_positions(bvh)[:, order]
    assert float((back - joints.float()).abs().max()) < 1e-4
    torch.testing.assert_close(load_skeleton(path).double(), offsets, atol=2e-5, rtol=0)


def test_bad_offsets_are_refused():
    with pytest.raises(ValueError, match="zero-length"):
        check_offsets(torch.zeros(22, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 22, 3\)"):
        check_offsets(torch.ones(21, 3))
    with pytest.raises(ValueError, match="steps"):
        fit_rig(synthetic_joints(4), rig_offsets(synthetic_joints(4)), steps=-1)
