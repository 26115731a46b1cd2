"""MotionCleanup: fixed skeleton, floor and foot lock on decoded joints; skeleton files."""

from __future__ import annotations

import json

import pytest
import torch

from humo.metrics.kinematics import bone_std, lowest_foot
from humo.motion import Motion
from humo.pipelines.cleanup import MotionCleanup, load_skeleton, save_skeleton
from humo.representations.rig import rig_offsets
from tests.helpers import synthetic_joints


def wobbly(batch: int = 2, frames: int = 30) -> torch.Tensor:
    """Decoder-like joints: a synthetic walk with bones stretching by up to 8% and floating 12 cm up."""
    x = synthetic_joints(frames, seed=4, batch=(batch,), dtype=torch.float32)
    stretch = 1 + 0.08 * torch.sin(torch.arange(frames) / 2.0)[:, None, None]
    return x[..., :1, :] + (x - x[..., :1, :]) * stretch + torch.tensor([0.0, 0.12, 0.0])


@pytest.mark.parametrize("fixed", [True, False])
def test_cleanup_gives_rigid_grounded_motion(fixed):
    x = wobbly()
    offsets = rig_offsets(synthetic_joints(10, seed=9)) if fixed else None
    out = MotionCleanup(offsets=offsets)(x)
    assert out.shape == x.shape
    assert float(bone_std(x).min()) > 0.005
    assert float(bone_std(out).max()) < 1e-5
    assert torch.allclose(lowest_foot(out), torch.zeros(2), atol=0.01)
    if fixed:  # every clip on the given skeleton
        torch.testing.assert_close(rig_offsets(out), offsets.float(), atol=1e-4, rtol=0)
    no_lock = MotionCleanup(offsets=offsets)(x, foot_lock=False)
    assert float(bone_std(no_lock).max()) < 1e-5
    assert MotionCleanup(offsets=offsets).describe(False) == {"skeleton": "fixed" if fixed else "per-clip mean",
                                                              "plant_root": True, "foot_lock": False,
                                                              "plant_sigma": 0.0, "plant_soft": True,
                                                              "plant_slack": 0.02, "plant_contacts": True}


def test_apply_groups_lengths_and_matches_single_calls():
    cleanup = MotionCleanup(offsets=rig_offsets(synthetic_joints(10, seed=9)))
    x = wobbly(3)
    clips = [x[0], x[1, :20], x[2]]
    out = cleanup.apply(clips)
    assert [c.shape[0] for c in out] == [30, 20, 30]
    torch.testing.assert_close(out[1], cleanup(x[1:2, :20])[0])
    with pytest.raises(ValueError, match=r"\(B, T, 22, 3\)"):
        cleanup(x[0])


def test_skeleton_files_round_trip(tmp_path):
    offsets = rig_offsets(synthetic_joints(10, seed=9)).float()
    path = save_skeleton(tmp_path / "skeleton.json", offsets, source="test")
    assert json.loads(path.read_text())["source"] == "test"
    torch.testing.assert_close(load_skeleton(path), offsets, atol=1e-6, rtol=0)
    assert MotionCleanup.from_folder(tmp_path).offsets is not None
    assert MotionCleanup.from_folder(tmp_path / "nowhere").offsets is None
    # from a motion file: its own mean skeleton
    rigid = MotionCleanup(offsets=offsets)(wobbly(1), foot_lock=False)[0]
    Motion(rigid).save(tmp_path / "m.bvh")
    torch.testing.assert_close(load_skeleton(tmp_path / "m.bvh"), offsets, atol=1e-4, rtol=0)
    (tmp_path / "bad.json").write_text('{"offsets": [[0, 0, 0]]}')
    with pytest.raises(ValueError, match="bad skeleton offsets"):
        load_skeleton(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        load_skeleton(tmp_path / "missing.json")


@pytest.mark.parametrize("lock", [True, False])
def test_smoothed_planting_is_kept_only_where_the_feet_do_not_slide_more(lock):
    from humo.metrics.kinematics import foot_skating

    x = wobbly(batch=4, frames=40)
    hard = MotionCleanup(plant_soft=False)(x, foot_lock=lock)
    smooth = MotionCleanup(plant_sigma=2.0, plant_soft=False, plant_slack=float("inf"))(x, foot_lock=lock)
    assert not torch.equal(smooth, hard)  # every clip smoothed
    assert MotionCleanup(plant_sigma=2.0).describe()["plant_sigma"] == 2.0  # recorded in a motion's meta
    for slack in (0.0, 0.01, 0.04):
        out = MotionCleanup(plant_sigma=2.0, plant_soft=False, plant_slack=slack)(x, foot_lock=lock)
        assert float(bone_std(out).max()) < 1e-5
        assert bool((foot_skating(out) <= foot_skating(hard) + slack + 1e-6).all())
        for i in range(len(x)):  # each clip is one of the two results, whole
            assert torch.equal(out[i], hard[i]) or torch.equal(out[i], smooth[i])


@pytest.mark.parametrize("lock", [True, False])
def test_the_default_plants_softly_where_the_feet_stay_planted(lock):
    from humo.metrics.kinematics import foot_skating

    x = wobbly(batch=4, frames=40)
    default = MotionCleanup()
    assert default.plant_soft and default.plant_slack == 0.02 and default.describe()["plant_soft"] is True
    assert default.plant_contacts and default.describe()["plant_contacts"] is True
    hard = MotionCleanup(plant_soft=False, plant_contacts=False)(x, foot_lock=lock)
    soft = MotionCleanup(plant_slack=float("inf"), plant_contacts=False)(x, foot_lock=lock)
    gated = MotionCleanup(plant_slack=float("inf"))(x, foot_lock=lock)  # every clip: the contact-gated candidate
    out = default(x, foot_lock=lock)
    assert bool((foot_skating(out) <= foot_skating(hard) + 0.02 + 1e-6).all())
    for i in range(len(x)):
        assert torch.equal(out[i], hard[i]) or torch.equal(out[i], soft[i]) or torch.equal(out[i], gated[i])


@pytest.mark.parametrize("lock", [True, False])
def test_contact_gated_planting_lets_a_fast_foot_go_and_the_slack_decides(lock):
    """A standing pose gliding at 3 m/s, feet on the floor all clip: no frame is a contact by the velocity
    rule, so the gated candidate keeps the body's speed, where the ungated rule stops the body. Its feet then
    slide at 3 m/s, so under the default slack (0.02 m/s over the hard rule's) the clip gets the hard result."""
    from humo.metrics.kinematics import root_speed
    from humo.representations.contact import ground

    pose = ground(synthetic_joints(frames=1, seed=3, dtype=torch.float32))[0]
    x = pose + torch.tensor([0.0, 0.0, 3.0 / 20.0]) * torch.arange(40.0)[:, None, None]  # (40, 22, 3)
    x = x[None]
    gated = MotionCleanup(plant_slack=float("inf"))(x, foot_lock=lock)
    ungated = MotionCleanup(plant_contacts=False)(x, foot_lock=lock)
    assert float(root_speed(gated)) > 2.9 and float(root_speed(ungated)) < 0.01
    torch.testing.assert_close(MotionCleanup()(x, foot_lock=lock), ungated)
