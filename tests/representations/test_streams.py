import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from humo.representations.skeleton import KIT21, SMPL22
from humo.representations.streams import from_streams, joints_to_motion, motion_to_joints, to_streams
from tests.helpers import synthetic_joints


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 30), st.integers(0, 10_000), st.sampled_from([(), (2,), (2, 3)]))
def test_streams_round_trip_exact(frames, seed, batch):
    joints = torch.randn(batch + (frames, 22, 3), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.float64)
    s = to_streams(joints)
    torch.testing.assert_close(from_streams(s), joints, atol=1e-12, rtol=0)
    torch.testing.assert_close(motion_to_joints(s.motion, joints[..., 0, :, :]), joints, atol=1e-12, rtol=0)
    assert torch.equal(s.motion[..., 0, :, :], torch.zeros_like(s.motion[..., 0, :, :]))


def test_bones_are_child_minus_parent():
    joints = synthetic_joints(5)
    s = to_streams(joints)
    for child, parent in enumerate(SMPL22.parents):
        if parent >= 0:
            torch.testing.assert_close(s.bones[..., child, :], joints[..., child, :] - joints[..., parent, :])
    torch.testing.assert_close(s.motion[..., 1:, :, :], joints_to_motion(joints)[..., 1:, :, :])


def test_kit_skeleton_streams():
    joints = torch.randn(4, 21, 3)
    torch.testing.assert_close(from_streams(to_streams(joints, KIT21), KIT21), joints, atol=1e-6, rtol=0)


def test_streams_bad_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 22, 3\)"):
        to_streams(torch.zeros(4, 21, 3))
    with pytest.raises(ValueError, match="NaN"):
        to_streams(torch.full((4, 22, 3), float("nan")))
