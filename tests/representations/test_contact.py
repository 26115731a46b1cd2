"""Grounding, contact labels, two-bone IK and foot locking on synthetic clips with known sliding."""

from __future__ import annotations

import math

import pytest
import torch

from humo.metrics.kinematics import bone_std, foot_skating
from humo.representations.contact import contact_labels, foot_lock, ground, two_bone_ik
from humo.representations.humanml3d import bone_lengths
from tests.helpers import synthetic_joints


def sliding_clip(frames: int = 40, slide: float = 0.5) -> torch.Tensor:
    """A still body whose left foot (ankle and toe) slides back and forth on the floor (4 cm at 2 Hz:
    ``slide`` m/s at the peak), the leg following by two-bone IK (bone lengths kept); the right foot is
    lifted throughout."""
    pose = ground(synthetic_joints(1, seed=3))[0]  # (22, 3)
    x = pose.expand(frames, 22, 3).clone()
    x[:, [8, 11], 1] += 0.2  # right foot lifted
    shift = torch.zeros(frames, 3, dtype=x.dtype)
    t = torch.arange(frames, dtype=x.dtype)
    shift[:, 2] = slide / (4 * math.pi) * torch.sin(4 * math.pi * t / 20)
    target = x[:, 7] + shift
    upper, lower = (x[:, 4] - x[:, 1]).norm(dim=-1), (x[:, 7] - x[:, 4]).norm(dim=-1)
    knee, ankle = two_bone_ik(x[:, 1], x[:, 4], x[:, 7], target, upper, lower)
    x[:, 10] = x[:, 10] + (ankle - x[:, 7])
    x[:, 4], x[:, 7] = knee, ankle
    return x


def test_ground_puts_the_lowest_joint_on_the_floor():
    x = synthetic_joints(20, batch=(2,)) + torch.tensor([0.0, 0.37, 0.0], dtype=torch.float64)
    g = ground(x)
    torch.testing.assert_close(g[..., 1].amin(dim=(-1, -2)), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(g[..., [0, 2]], x[..., [0, 2]])


def test_two_bone_ik_reaches_targets_and_keeps_lengths():
    g = torch.Generator().manual_seed(0)
    hip = torch.zeros(50, 3, dtype=torch.float64)
    knee = torch.tensor([0.05, -0.4, 0.1], dtype=torch.float64).expand(50, 3)
    ankle = torch.tensor([0.0, -0.8, 0.0], dtype=torch.float64).expand(50, 3)
    target = torch.randn(50, 3, generator=g, dtype=torch.float64)
    reach = 0.1 + 0.6 * torch.rand(50, 1, generator=g, dtype=torch.float64)
    target = target / target.norm(dim=-1, keepdim=True) * reach
    upper, lower = (knee - hip).norm(dim=-1), (ankle - knee).norm(dim=-1)
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, target, upper, lower)
    torch.testing.assert_close(new_ankle, target)
    torch.testing.assert_close((new_knee - hip).norm(dim=-1), upper)
    torch.testing.assert_close((new_ankle - new_knee).norm(dim=-1), lower)
    away = torch.tensor([0.0, -5.0, 0.0], dtype=torch.float64).expand(50, 3)
    far = two_bone_ik(hip, knee, ankle, away, upper, lower)[1]
    assert torch.allclose(far.norm(dim=-1), upper + lower, atol=1e-3)  # out of reach: stretched towards it


def test_contact_labels_need_a_low_and_slow_foot():
    x = sliding_clip(slide=0.5)
    c = contact_labels(x)
    assert c.shape == (40, 4)
    assert bool(c[:, 0].all()) and bool(c[:, 1].all())  # the left foot is on the floor, below 0.89 m/s
    assert not bool(c[:, 2:].any())  # the right foot is 20 cm up
    fast = contact_labels(sliding_clip(slide=3.0))
    assert fast[:, 0].float().mean() < 0.5


def test_foot_lock_removes_sliding_and_keeps_bone_lengths():
    x = sliding_clip()
    assert float(foot_skating(x)) > 0.2
    locked = foot_lock(x, contact_labels(x))
    speed = (locked[1:, 7, [0, 2]] - locked[:-1, 7, [0, 2]]).norm(dim=-1) * 20
    assert float(speed.max()) < 0.02  # pinned over the whole contact (one segment)
    assert float(foot_skating(locked)) < 0.02
    torch.testing.assert_close(bone_lengths(locked), bone_lengths(x))
    assert float(bone_std(locked)) < 1e-9
    untouched = [j for j in range(22) if j not in (4, 7, 10)]
    torch.testing.assert_close(locked[:, untouched], x[:, untouched])
    # no contact: the clip is unchanged
    torch.testing.assert_close(foot_lock(x, torch.zeros(40, 4, dtype=torch.bool)), x)


def test_foot_lock_pins_the_toe_when_the_ankle_height_jitters():
    """A standing foot whose ankle bobs 5 mm (the heel lifting a little, the toe on the floor): the old
    direction rule swung the toe forward and back by the change in foot pitch (a few mm/s of sliding on
    every generated standing clip); now both joints of the foot keep their floor positions."""
    pose = ground(synthetic_joints(1, seed=3))[0]
    x = pose.expand(40, 22, 3).clone()
    x[:, [8, 11], 1] += 0.2  # right foot lifted
    lift = 0.005 * torch.sin(torch.arange(40, dtype=x.dtype) * 0.9) ** 2
    foot = x[0, 10] - x[0, 7]
    length = foot.norm()
    flat = foot[[0, 2]].norm()
    ankle = x[:, 7].clone()
    ankle[:, 1] += lift
    drop = (x[0, 10, 1] - ankle[:, 1])  # the toe stays on the floor: the foot pitches, its length kept
    reach = (length**2 - drop**2).sqrt()
    toe = ankle + torch.stack([foot[0] / flat * reach, drop, foot[2] / flat * reach], dim=-1)
    upper, lower = (x[:, 4] - x[:, 1]).norm(dim=-1), (x[:, 7] - x[:, 4]).norm(dim=-1)
    x[:, 4], x[:, 7] = two_bone_ik(x[:, 1], x[:, 4], x[:, 7], ankle, upper, lower)
    x[:, 10] = toe
    contacts = torch.zeros(40, 4, dtype=torch.bool)
    contacts[:, :2] = True
    locked = foot_lock(x, contacts)
    for j in (7, 10):
        speed = (locked[1:, j, [0, 2]] - locked[:-1, j, [0, 2]]).norm(dim=-1) * 20
        assert float(speed.max()) < 1e-4, j
    assert float(bone_std(locked)) < 1e-6
    torch.testing.assert_close((locked[:, 10] - locked[:, 7]).norm(dim=-1), length.expand(40), atol=1e-6, rtol=0)


def test_foot_lock_never_turns_a_foot_around():
    """A foot gliding forward whose toe is labelled planted early (frames 0-19) and its ankle late (10-39):
    each joint's pin is the mean of its own contact frames, so the toe's pin lies 0.25 m *behind* the
    ankle's and pointing the foot at it turned it around (2.5 rad) for those frames (a one-frame flip seen in generated
    walks: 0.2% of foot frames turned > 90 degrees, 1.7% > 45). The toe's own pin may now turn the foot by
    at most ``max_turn`` (0.5 rad)."""
    pose = ground(synthetic_joints(1, seed=3))[0]
    x = pose.expand(40, 22, 3).clone()
    x[..., 2] += 0.025 * torch.arange(40, dtype=x.dtype)[:, None]  # 0.5 m/s forward (+z, where the foot points)
    contacts = torch.zeros(40, 4, dtype=torch.bool)
    contacts[10:, 0] = True  # left ankle late
    contacts[:20, 1] = True  # left toe early

    def turn(locked):
        a, b = locked[:, 10] - locked[:, 7], x[:, 10] - x[:, 7]
        return torch.arccos(torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1, 1))

    assert float(turn(foot_lock(x, contacts, max_turn=None)).max()) > 2.0  # the old rule: turned around
    locked = foot_lock(x, contacts)
    assert float(turn(locked).max()) < 0.55
    torch.testing.assert_close((locked[:, 10] - locked[:, 7]).norm(dim=-1), (x[:, 10] - x[:, 7]).norm(dim=-1),
                               atol=1e-5, rtol=0)


def test_blend_weights_stay_on_the_input_device():
    """The blend kernel is made on the contacts' device (a CPU kernel broke foot locking on CUDA); the
    meta device stands in for a GPU here."""
    from humo.representations.contact import _blend_weights

    w = _blend_weights(torch.zeros(2, 10, dtype=torch.bool, device="meta"), 2)
    assert w.device.type == "meta" and w.shape == (2, 10)


def _gliding(frames: int = 30, speed: float = 1.0) -> torch.Tensor:
    """One fixed standing pose (feet on the floor) translated forward at ``speed`` m/s: every foot slides."""
    pose = ground(synthetic_joints(frames=1, seed=3))[0]  # (22, 3)
    t = torch.arange(frames, dtype=pose.dtype) / 20.0
    shift = torch.stack([torch.zeros_like(t), torch.zeros_like(t), speed * t], -1)  # (T, 3) along +z
    return pose[None] + shift[:, None, :]


def test_plant_root_stops_a_gliding_figure_and_keeps_the_pose():
    from humo.representations.contact import plant_root

    joints = torch.stack([_gliding(speed=1.0), _gliding(speed=0.5)])  # (2, 30, 22, 3)
    assert float(foot_skating(joints).min()) > 0.4
    out = plant_root(joints)
    assert float(foot_skating(out).max()) < 1e-9  # the stance foot no longer moves
    assert torch.allclose(out[:, :, 0], out[:, :1, 0].expand_as(out[:, :, 0]), atol=1e-9)  # nor the body
    rel_in, rel_out = joints - joints[..., :1, :], out - out[..., :1, :]
    assert torch.allclose(rel_in, rel_out, atol=1e-12)  # poses, heights and bone lengths unchanged
    assert torch.equal(out[:, 0], joints[:, 0])  # the first frame stays where it was


def test_plant_root_leaves_a_motion_without_a_low_foot_alone():
    from humo.representations.contact import plant_root

    joints = _gliding(speed=1.0)
    lifted = joints.clone()
    lifted[..., 1] += torch.linspace(0, 2.0, 30, dtype=joints.dtype)[:, None]  # rising: no foot stays low
    out = plant_root(lifted, height=0.05)
    moved = (out - lifted)[1:, 0, [0, 2]].norm(dim=-1)
    assert float(moved.max()) < 1e-12


def test_plant_root_smoothing_keeps_the_total_move_and_spreads_the_step():
    """A figure gliding at constant speed whose feet touch the floor only in frames 10-19: the hard rule
    stops the body there at once and restarts it after (two velocity steps); with ``sigma`` the same total
    move is spread over a few frames, so the jerk drops."""
    from humo.representations.contact import plant_root

    joints = _gliding(frames=40, speed=1.0)
    joints[:10, :, 1] += 0.2  # feet off the floor outside frames 10-19
    joints[20:, :, 1] += 0.2
    hard, smooth = plant_root(joints), plant_root(joints, sigma=2.0)
    assert float((hard[19, 0, 2] - hard[10, 0, 2]).abs()) < 1e-9  # the hard rule: stopped while planted
    torch.testing.assert_close(smooth[-1, 0], hard[-1, 0], atol=1e-6, rtol=0)  # same total move
    def root_jerk(x):  # largest third difference of the root's forward position
        z = x[:, 0, 2]
        return float((z[3:] - 3 * z[2:-1] + 3 * z[1:-2] - z[:-3]).abs().max())

    assert root_jerk(smooth) < 0.5 * root_jerk(hard)


def test_plant_root_soft_weights_scale_the_correction_with_height():
    from humo.representations.contact import plant_root

    joints = _gliding(frames=30, speed=1.0)
    hovering = joints.clone()
    hovering[..., 1] += 0.025  # feet half-way into the 5 cm band all clip long: floor level is the clip's lowest
    hovering[0, :, 1] -= 0.025  # ... except frame 0, which sets the floor level
    soft = plant_root(hovering, soft=True)
    moved = soft[-1, 0, 2] - soft[1, 0, 2]
    glided = hovering[-1, 0, 2] - hovering[1, 0, 2]
    assert 0.3 < float(moved / glided) < 0.7  # about half of the glide is removed (weight 0.5)
    hard = plant_root(hovering)
    assert float((hard[-1, 0, 2] - hard[1, 0, 2]).abs()) < 1e-9  # all or nothing: all of it


def test_plant_root_with_contact_labels_pins_a_slow_glide_and_lets_a_fast_one_go():
    """A gliding figure at 0.5 m/s: its feet are "in contact" (slower than the HumanML3D 0.89 m/s rule), so the
    gated rule stops it as the ungated one does; at 3 m/s (a foot still moving as it lands) the contact labels
    are False, the gated rule leaves the body's motion alone while the ungated one stops it."""
    from humo.representations.contact import contact_labels, plant_root

    slow, fast = _gliding(speed=0.5), _gliding(speed=3.0)
    for joints, pinned in ((slow, True), (fast, False)):
        labels = contact_labels(joints)
        assert bool(labels.any()) == pinned
        out = plant_root(joints, contacts=labels)
        travel = float((out[-1, 0, 2] - out[0, 0, 2]).abs())
        assert travel < 1e-9 if pinned else abs(travel - float(joints[-1, 0, 2] - joints[0, 0, 2])) < 1e-9
        assert float((plant_root(joints)[-1, 0, 2] - joints[0, 0, 2]).abs()) < 1e-9  # ungated: always stopped
    with pytest.raises(ValueError, match=r"contacts must be \(30, 4\)"):
        plant_root(slow, contacts=torch.ones(29, 4, dtype=torch.bool))
