import json

import numpy as np
import pytest
import torch

from humo.data.bvh import read_bvh, write_bvh
from humo.data.retarget import (
    PRESETS,
    SPINE_FRACTIONS,
    along_chain,
    detect_preset,
    left_right_agreement,
    load_joint_map,
    map_joints,
    resample,
    retarget,
    retarget_file,
    trim_jumps,
)
from humo.representations.skeleton import SMPL22
from tests.data.bvh_factory import bandai_like, rigid_smpl_clip

J = {n: i for i, n in enumerate(SMPL22.joint_names)}


def test_bandai_like_to_smpl22_metres_y_up_20fps():
    bvh = bandai_like(frames=46, fps=30.0, speed_cm=120.0)
    x = retarget(bvh, "bandai-namco")
    assert x.shape == (31, 22, 3) and x.dtype == torch.float32  # 45 steps at 30 fps -> 30 steps at 20 fps
    assert float(x[0, J["pelvis"], 1]) == pytest.approx(0.95, abs=1e-5)  # cm -> m
    assert float(x[0, J["left_hip"], 0]) > 0 > float(x[0, J["right_hip"], 0])  # left = +x facing +z
    assert float(x[0, J["left_foot"], 2]) > float(x[0, J["left_ankle"], 2])  # toes point +z
    speed = (x[1:, 0] - x[:-1, 0]).norm(dim=-1).mean() * 20
    assert float(speed) == pytest.approx(1.2, rel=1e-4)
    assert left_right_agreement(x.double()) == 1.0
    # every SMPL joint comes from its Bandai counterpart (cm -> m)
    src = torch.as_tensor(read_pos(bvh))[::3] * 0.01  # 30 -> 20 fps keeps every 3rd frame at even times
    np.testing.assert_allclose(x[::2, J["left_wrist"]], src[:, bvh.index("Hand_L")], atol=1e-5)
    np.testing.assert_allclose(x[::2, J["right_foot"]], src[:, bvh.index("Toes_R")], atol=1e-5)


def read_pos(bvh):
    from humo.data.bvh import bvh_to_positions

    return bvh_to_positions(bvh, dtype=torch.float64).numpy()


def test_spine_and_collars_are_interpolated():
    bvh = bandai_like(frames=3)
    x = map_joints(bvh, "bandai-namco").numpy()
    hips, neck = x[0, J["pelvis"]], x[0, J["neck"]]  # the synthetic spine is straight and vertical
    for name, frac in SPINE_FRACTIONS.items():
        np.testing.assert_allclose(x[0, J[name]], hips + frac * (neck - hips), atol=1e-9)
    # the map gives the collars explicitly (Shoulder_L/R); without them they follow the formula
    custom = {k: v for k, v in PRESETS["bandai-namco"].joints.items() if "collar" not in k}
    y = map_joints(bvh, custom).numpy()
    expected = 0.15 * y[0, J["spine3"]] + 0.5 * y[0, J["left_shoulder"]] + 0.35 * y[0, J["neck"]]
    np.testing.assert_allclose(y[0, J["left_collar"]], expected, atol=1e-9)


def test_up_axis_detected_and_mislabelled_sides_caught():
    y_up = retarget(bandai_like(frames=20), "bandai-namco")
    z_up = retarget(bandai_like(frames=20, z_up=True), "bandai-namco")
    np.testing.assert_allclose(z_up, y_up, atol=1e-5)
    np.testing.assert_allclose(retarget(bandai_like(frames=20, z_up=True), "bandai-namco", up="+z"), y_up,
                               atol=1e-5)
    swapped = retarget(bandai_like(frames=20, swap_lr=True), "bandai-namco")
    assert left_right_agreement(swapped.double()) == 0.0


def test_user_maps_dict_and_json(tmp_path):
    bvh = bandai_like(frames=10)
    as_dict = dict(PRESETS["bandai-namco"].joints)
    as_dict["head"] = [["Head", 0.5], ["Neck", 0.5]]
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"joints": as_dict, "scale": "cm"}))
    a, b = retarget(bvh, as_dict, scale=0.01), retarget(bvh, path)
    np.testing.assert_allclose(a, b)
    plain_head = retarget(bvh)[:, J["head"]]
    np.testing.assert_allclose(a[:, J["head"]], 0.5 * (a[:, J["neck"]] + plain_head), atol=1e-6)
    with pytest.raises(ValueError, match="no source for SMPL-22 joints"):
        retarget(bvh, {k: v for k, v in as_dict.items() if k != "left_wrist"})
    with pytest.raises(ValueError, match="unknown SMPL-22 joints"):
        load_joint_map({"tail": "Hips"})
    with pytest.raises(ValueError, match="sum to 1"):
        retarget(bvh, {**as_dict, "head": [["Head", 0.5]]})
    with pytest.raises(ValueError, match="unknown unit"):
        load_joint_map("bandai-namco", scale="furlong")
    with pytest.raises(ValueError, match="not in this BVH"):
        retarget(bvh, "cmu")


def test_smpl22_bvh_round_trip_through_retarget(tmp_path):
    joints = rigid_smpl_clip(frames=40).float()
    write_bvh(tmp_path / "s.bvh", joints, fps=20)
    assert detect_preset(read_bvh(tmp_path / "s.bvh")) == "smpl22"
    back = retarget_file(tmp_path / "s.bvh", "smpl22", up="y")  # SMPL order again, same joints
    assert back.shape == joints.shape and float((back - joints).abs().max()) < 1e-5


def test_bind_pose_frame_is_trimmed():
    bvh = bandai_like(frames=31)
    bvh.positions[0, 1] += [0.0, 0.0, -200.0]  # a T-pose-like frame 0, 2 m away (iClone CMU exports)
    x = retarget(bvh, "bandai-namco")
    assert x.shape[0] == 20 and float((x[1:, 0] - x[:-1, 0]).norm(dim=-1).max()) < 0.1
    assert retarget(bvh, "bandai-namco", trim=False).shape[0] == 21
    still = torch.zeros(30, 22, 3)
    still[-1] += 5.0  # a jump into the last frame is cut too; none in the middle is touched
    assert trim_jumps(still, fps=30).shape[0] == 29
    still[15:] += 5.0
    assert trim_jumps(still, fps=30).shape[0] == 29


def test_along_chain_and_resample_known_answers():
    pts = torch.tensor([[[0.0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 3, 0]]], dtype=torch.float64)
    np.testing.assert_allclose(along_chain(pts, [0.0, 0.25, 0.5, 1.0])[0, :, 1], [0, 0.75, 1.5, 3.0])
    ramp = torch.arange(7, dtype=torch.float64)[:, None]  # 7 frames at 30 fps
    np.testing.assert_allclose(resample(ramp, 30, 20)[:, 0], [0, 1.5, 3, 4.5, 6])
    np.testing.assert_allclose(resample(ramp, 30, 60)[:, 0], np.arange(13) / 2)
    with pytest.raises(ValueError):
        resample(ramp, 0, 20)


def test_real_bandai_namco_sides_match_labels(shared_data):
    data = shared_data / "bandai-namco" / "dataset-2" / "data"
    walk = retarget_file(data / "dataset-2_walk_normal_001.bvh.gz", "bandai-namco")
    assert left_right_agreement(walk.double()) > 0.95
    speed = float((walk[1:, 0, [0, 2]] - walk[:-1, 0, [0, 2]]).norm(dim=-1).mean() * 20)
    assert 0.8 < speed < 2.0
    assert 1.2 < float(walk[:, J["head"], 1].max() - walk[..., 1].min()) < 1.9
    # the clip labelled "raise up LEFT hand" lifts SMPL's left wrist
    raise_left = retarget_file(data / "dataset-2_raise-up-left-hand_normal_001.bvh.gz")
    lift = raise_left[:, [J["left_wrist"], J["right_wrist"]], 1].max(0).values
    assert float(lift[0]) > float(lift[1]) + 0.3


def test_real_cmu_rigs(shared_data):
    rigs = (("iclone-ccbase/002_01.bvh.gz", "cc-base"), ("cgspeed-motionbuilder/02_01.bvh.gz", "cmu"))
    for path, preset in rigs:
        bvh = read_bvh(shared_data / "cmu" / path)
        assert detect_preset(bvh) == preset
        x = retarget(bvh, preset)
        assert x.shape[0] == int((bvh.num_frames - 1) * 20 / bvh.fps + 1e-6) + 1
        assert left_right_agreement(x.double()) > 0.95
        height = float(x[:, J["head"], 1].max() - x[..., 1].min())
        assert 1.3 < height < 1.9, height  # head joint height of an adult, metres
