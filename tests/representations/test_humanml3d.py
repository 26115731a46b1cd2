import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter1d

from humo.representations import humanml3d as H
from humo.representations.normalizer import Normalizer
from tests.helpers import synthetic_joints


@pytest.fixture(scope="module")
def release(shared_data):
    root = shared_data / "humanml3d"
    joints = torch.from_numpy(np.load(root / "new_joints" / "012314.npy"))
    feats = torch.from_numpy(np.load(root / "new_joint_vecs" / "012314.npy"))
    return joints, feats


def test_features_to_joints_matches_release(release):
    joints, feats = release
    assert (H.features_to_joints(feats) - joints).abs().max() < 1e-4


def test_joints_to_features_reproduces_release(release):
    """The released clip (re-featurised from its own joints) matches the released features wherever the
    sigma-20 smoothing window does not reach the clip's missing last source frame (81 frames)."""
    joints, feats = release
    ours = H.joints_to_features(joints.double()).float()
    valid = ours.shape[0] - 81
    assert valid > 80
    assert (ours[:valid] - feats[:valid]).abs().max() < 1e-4
    assert torch.equal(ours[:, -4:], feats[:-1, -4:])  # contacts everywhere
    assert (ours[:, 3] - feats[:-1, 3]).abs().max() < 1e-5  # root height everywhere


def test_round_trip_real_clip_after_rigid_change(release):
    joints, _ = release
    j = joints.double()
    yaw = torch.tensor(0.7, dtype=torch.float64)
    c, s = torch.cos(yaw), torch.sin(yaw)
    rot = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    moved = (j @ rot.T) * 1.13 + torch.tensor([2.0, 0.4, -1.0], dtype=torch.float64)  # rotate, scale, shift
    recovered = H.features_to_joints(H.joints_to_features(moved))
    expected = H.canonicalize(H.uniform_skeleton(moved))[:-1]
    assert (recovered - expected).abs().max() < 1e-6
    assert (recovered - j[:-1]).abs().max() < 1e-5  # the release is already canonical with these bones


def test_round_trip_synthetic():
    joints = synthetic_joints(60)
    recovered = H.features_to_joints(H.joints_to_features(joints))
    expected = H.canonicalize(H.uniform_skeleton(joints))[:-1]
    assert (recovered - expected).abs().max() < 1e-8
    # canonical: floor at 0, root at the XZ origin, facing +Z at frame 0
    assert abs(expected[..., 1].min()) < 1e-9
    assert expected[0, 0, [0, 2]].abs().max() < 1e-9


def test_uniform_skeleton_sets_bone_lengths():
    out = H.uniform_skeleton(synthetic_joints(10) * 1.3)
    lengths = H.bone_lengths(out)
    torch.testing.assert_close(lengths, torch.tensor(H.DEFAULT_TARGET_BONE_LENGTHS,
                                                     dtype=out.dtype).expand_as(lengths), atol=1e-9, rtol=0)


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 50), st.integers(0, 1000))
def test_batched_equals_per_clip(frames, seed):
    batch = synthetic_joints(frames, seed=seed, batch=(3,))
    feats = H.joints_to_features(batch)
    for i in range(3):
        torch.testing.assert_close(feats[i], H.joints_to_features(batch[i]), atol=1e-10, rtol=0)
        torch.testing.assert_close(H.features_to_joints(feats)[i], H.features_to_joints(feats[i]), atol=1e-10, rtol=0)


def test_slices_of_a_large_batch_equal_one_pass(monkeypatch):
    # a (2, 7) batch cut into slices of 3 clips (the last one short) gives the one-pass result
    batch = synthetic_joints(30, seed=4, batch=(2, 7))
    whole = H._features(batch, H._target(H.DEFAULT_TARGET_BONE_LENGTHS, H.SMPL22, batch), H.SMPL22, 0.002, 20.0)
    monkeypatch.setattr(H, "_CHUNK_ELEMENTS", 3 * 30 * 22)
    sliced = H.joints_to_features(batch)
    assert sliced.shape == (2, 7, 29, 263)
    torch.testing.assert_close(sliced, whole, atol=1e-12, rtol=0)  # matmul rounding differs by batch size


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 40), st.integers(0, 1000))
def test_mirror_twice_is_identity(frames, seed):
    joints = synthetic_joints(frames, seed=seed)
    torch.testing.assert_close(H.mirror_joints(H.mirror_joints(joints)), joints, atol=0, rtol=0)
    feats = H.joints_to_features(joints)
    torch.testing.assert_close(H.mirror_features(H.mirror_features(feats)), feats, atol=0, rtol=0)


def test_mirror_features_equals_featurising_mirrored_joints():
    joints = synthetic_joints(50, seed=3)
    direct = H.mirror_features(H.joints_to_features(joints, target_lengths=None))
    via_joints = H.joints_to_features(H.mirror_joints(joints), target_lengths=None)
    torch.testing.assert_close(direct, via_joints, atol=1e-9, rtol=0)


def test_features_to_joints_is_differentiable():
    feats = H.joints_to_features(synthetic_joints(20, seed=1)).requires_grad_(True)
    joints = H.features_to_joints(feats)
    with torch.no_grad():
        torch.testing.assert_close(joints, H.features_to_joints(feats), atol=0, rtol=0)
    joints[..., 5, :].sum().backward()
    assert feats.grad is not None and feats.grad[:, 4 + 4 * 3:4 + 5 * 3].abs().sum() > 0  # joint 5's ric
    assert feats.grad[:, 67:].abs().sum() == 0  # only dims 0:67 are read


@pytest.mark.parametrize("frames", [1, 30, 196, 700])  # 700: past the cached-matrix size, the convolution
def test_gaussian_smooth_matches_scipy(frames):
    x = torch.randn(2, frames, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = H.gaussian_smooth(x, 20.0, dim=-2).numpy()
    np.testing.assert_allclose(ours, gaussian_filter1d(x.numpy(), 20, axis=-2, mode="nearest"), atol=1e-12)


@pytest.mark.parametrize(("bad", "message"), [
    (torch.zeros(10, 21, 3), r"\(\.\.\., 22, 3\)"),
    (torch.zeros(1, 22, 3), "at least 2 frames"),
    (torch.zeros(10, 22, 3, dtype=torch.int64), "floating-point"),
    (torch.full((10, 22, 3), float("nan")), "NaN"),
    (torch.full((10, 22, 3), float("inf")), "NaN or inf"),
])
def test_joints_to_features_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        H.joints_to_features(bad)


def test_features_to_joints_bad_input():
    with pytest.raises(ValueError, match="263"):
        H.features_to_joints(torch.zeros(10, 100))
    with pytest.raises(ValueError, match="NaN"):
        H.features_to_joints(torch.full((10, 263), float("nan")))
    # 67-d (root + ric) inputs are accepted, as MARDM/ACMDM use them
    assert H.features_to_joints(torch.zeros(5, 67)).shape == (5, 22, 3)


def test_gpu_if_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    joints = synthetic_joints(30).cuda()
    feats = H.joints_to_features(joints)
    assert feats.is_cuda
    torch.testing.assert_close(feats.cpu(), H.joints_to_features(joints.cpu()), atol=1e-8, rtol=0)


def test_normalizer_reference_std_and_round_trip():
    feats = [H.joints_to_features(synthetic_joints(40, seed=s)).float() for s in range(4)]
    norm = Normalizer.from_features(feats)
    blocks = H.feature_blocks()
    for sl in blocks.values():  # one std value per block, as in the reference
        assert torch.unique(norm.std[sl]).numel() == 1
    x = feats[0]
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x, atol=1e-5, rtol=0)
    ev = norm.evaluator_variant(5.0)
    torch.testing.assert_close(ev.std[:4], norm.std[:4] / 5)
    torch.testing.assert_close(ev.std[4:259], norm.std[4:259])
    with pytest.raises(ValueError, match="expected features"):
        norm.normalize(torch.zeros(3, 10))


def test_fast_turn_through_180_degrees_round_trips():
    """A clip turning 270 degrees: the heading crosses 180 and the root must not drift."""
    import math

    from humo.representations.rotation import axis_rotation

    base = synthetic_joints(80, seed=5, speed=0.0)
    yaw = torch.linspace(0, 1.5 * math.pi, 80, dtype=base.dtype)
    root = base[:, :1, :]
    turned = (axis_rotation("Y", yaw)[:, None] @ (base - root)[..., None]).squeeze(-1) + root
    turned = turned + torch.stack([torch.sin(yaw), 0 * yaw, torch.cos(yaw)], -1)[:, None] * 0.5
    recovered = H.features_to_joints(H.joints_to_features(turned))
    expected = H.canonicalize(H.uniform_skeleton(turned))[:-1]
    assert (recovered - expected).abs().max() < 1e-6


def test_joints_to_features_is_differentiable():
    """The fused in-place passes never overwrite a tensor autograd saved: gradients match finite differences."""
    joints = synthetic_joints(3, seed=2).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda j: H.joints_to_features(j, smooth_sigma=1.0), (joints,), eps=1e-6,
                                    atol=1e-5, fast_mode=True)
    assert torch.autograd.gradcheck(H.canonicalize, (joints,), eps=1e-6, atol=1e-5, fast_mode=True)
