import gzip

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from humo.data.bvh import BVH, bvh_to_positions, format_bvh, parse_bvh, read_bvh, save_bvh, write_bvh
from humo.data.bvh_ik import swing
from humo.representations.skeleton import SMPL22
from tests.data.bvh_factory import bandai_like, rigid_smpl_clip

# root (6 channels, ZXY) -> child (3 channels, XYZ) -> tip with 6 channels (offset replaced) -> End Site
KNOWN = """HIERARCHY
ROOT Root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Child
  {
    OFFSET 1 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT Tip
    {
      OFFSET 5 5 5
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 1 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 90 0 0 0 0 0 0 0 1 0 0 0
0 0 0 0 0 0 0 0 90 2 0 0 0 0 0
"""


def test_known_answer_fk():
    bvh = parse_bvh(KNOWN, "known.bvh")
    assert bvh.names == ["Root", "Child", "Tip"] and bvh.parents == [-1, 0, 1]
    assert bvh.orders == ["ZXY", "XYZ", "ZXY"] and bvh.end_sites[0][0] == 2
    assert bvh.num_frames == 2 and bvh.fps == pytest.approx(30.0, rel=1e-5)
    pos = bvh_to_positions(bvh, dtype=torch.float64).numpy()
    # frame 0: root at (1,2,3) turned 90 deg about Z; child offset (1,0,0) -> (0,1,0); the tip's position
    # channels (0,0,1) replace its offset (5,5,5) and are unchanged by the Z turn
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 3, 3], [1, 3, 4]], atol=1e-12)
    # frame 1: child turns 90 deg about Z (last of XYZ); tip (2,0,0) -> (0,2,0)
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_orders_match_scipy(order):
    rng = np.random.default_rng(0)
    angles = rng.uniform(-170, 170, size=(4, 3))
    chans = " ".join(f"{a}rotation" for a in order)
    rows = "\n".join(" ".join(f"{v:.9f}" for v in [0, 0, 0, *a]) for a in angles)
    text = (f"HIERARCHY\nROOT R\n{{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition {chans}\n"
            f"End Site\n{{\nOFFSET 0 0 0\n}}\nJOINT C\n{{\nOFFSET 0.3 -0.5 0.8\nCHANNELS 0\n"
            f"End Site\n{{\nOFFSET 0 0 0\n}}\n}}\n}}\nMOTION\nFrames: 4\nFrame Time: 0.05\n{rows}\n")
    pos = bvh_to_positions(parse_bvh(text), dtype=torch.float64).numpy()
    expected = Rotation.from_euler(order, angles, degrees=True).apply([0.3, -0.5, 0.8])  # intrinsic
    np.testing.assert_allclose(pos[:, 1], expected, atol=1e-9)


def test_plain_and_gzipped_six_channel_files(tmp_path):
    bvh = bandai_like(frames=12)
    plain, packed = tmp_path / "a.bvh", tmp_path / "a.bvh.gz"
    save_bvh(plain, bvh)
    save_bvh(packed, bvh)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    a, b = read_bvh(plain), read_bvh(packed)
    assert a.names == bvh.names and all(len(c) == 6 for c in a.channels)
    np.testing.assert_allclose(bvh_to_positions(a), bvh_to_positions(b))
    np.testing.assert_allclose(bvh_to_positions(a), bvh_to_positions(bvh), atol=1e-4)
    # gzip is detected from the bytes, not the name
    disguised = tmp_path / "b.bvh"
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_bvh(disguised).num_frames == 12


@pytest.mark.parametrize("mutate, message", [
    (lambda t: "", "empty file"),
    (lambda t: t.split("MOTION")[0], "no MOTION section"),
    (lambda t: t.rsplit("\n", 2)[0] + "\n", "truncated"),
    (lambda t: t.replace("0 0 0 0 0 0 0 0 90 2 0 0 0 0 0", "0 0 0 0 0 0 0 0 90 2 0 0 0 0"), "has 14 values"),
    (lambda t: t.replace("Yrotation\n  JOINT", "Wrotation\n  JOINT"), "unknown channel name 'Wrotation'"),
    (lambda t: t.replace("1 2 3 90", "1 2 x 90"), "non-numeric"),
    (lambda t: t.replace("Frames: 2", "Frames: 0"), "no motion data"),
    (lambda t: t.replace("  }\n}\nMOTION", "}\nMOTION"), "unclosed"),
])
def test_malformed_files_name_file_and_problem(tmp_path, mutate, message):
    path = tmp_path / "bad.bvh"
    path.write_text(mutate(KNOWN))
    with pytest.raises(ValueError, match=message) as info:
        read_bvh(path)
    assert str(path) in str(info.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_bvh("/nonexistent/clip.bvh")


@pytest.mark.parametrize("order", ["ZXY", "XYZ"])
def test_write_read_round_trip(tmp_path, order):
    joints = rigid_smpl_clip()
    path = tmp_path / "clip.bvh"
    written = write_bvh(path, joints.float(), fps=20, order=order)
    back = read_bvh(path)
    assert back.fps == pytest.approx(20.0) and back.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert back.orders == [order] * 22 and len(back.end_sites) == 5
    assert sorted(back.names) == sorted(SMPL22.joint_names) and written.num_frames == 30
    pos = bvh_to_positions(back, dtype=torch.float64)[:, [back.index(n) for n in SMPL22.joint_names]]
    assert float((pos - joints).abs().max()) < 1e-5  # float32 input, 6-decimal text
    text = path.read_text()
    assert "End Site" in text and "-0.000000" not in text


def test_write_refuses_to_overwrite(tmp_path):
    joints = rigid_smpl_clip(frames=3)
    path = tmp_path / "c.bvh.gz"
    write_bvh(path, joints)
    with pytest.raises(FileExistsError):
        write_bvh(path, joints)
    write_bvh(path, joints * 2, overwrite=True)
    assert read_bvh(path).num_frames == 3 and not list(tmp_path.glob("*.tmp"))


def test_write_rejects_bad_joints(tmp_path):
    with pytest.raises(ValueError, match="22, 3"):
        write_bvh(tmp_path / "x.bvh", torch.zeros(5, 21, 3))
    with pytest.raises(ValueError, match="order"):
        write_bvh(tmp_path / "x.bvh", rigid_smpl_clip(frames=2), order="XXY")


def test_swing_handles_opposite_and_zero_vectors():
    v0 = torch.tensor([[0.0, -1.0, 0.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    v1 = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    m = swing(v0, v1)
    assert torch.isfinite(m).all()
    np.testing.assert_allclose((m[0] @ v0[0]).numpy(), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(m[1].numpy(), np.eye(3), atol=1e-12)
    np.testing.assert_allclose((m[2] @ v0[2]).numpy(), [0, 0, 1], atol=1e-12)


def test_format_follows_hierarchy_order():
    """Columns follow the depth-first file order even when the joints are stored breadth first."""
    bvh = BVH(names=["r", "a", "b", "a2"], parents=[-1, 0, 0, 1], offsets=np.eye(4, 3),
              channels=[("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")]
              + [("Zrotation", "Xrotation", "Yrotation")] * 3,
              rotations=np.array([[[0, 0, 0], [10, 0, 0], [20, 0, 0], [30, 0, 0]]], dtype=float),
              positions=np.zeros((1, 4, 3)), frame_time=0.05, orders=["ZXY"] * 4)
    back = parse_bvh(format_bvh(bvh))
    assert back.names == ["r", "a", "a2", "b"]
    np.testing.assert_allclose(back.rotations[0, :, 0], [0, 10, 30, 20])


def test_real_humanml3d_clip_round_trip(shared_data, tmp_path):
    joints = np.load(shared_data / "humanml3d" / "new_joints" / "012314.npy")
    write_bvh(tmp_path / "h.bvh", joints)
    back = read_bvh(tmp_path / "h.bvh")
    pos = bvh_to_positions(back, dtype=torch.float64)[:, [back.index(n) for n in SMPL22.joint_names]]
    assert float((pos - torch.from_numpy(joints).double()).abs().max()) < 1e-5
