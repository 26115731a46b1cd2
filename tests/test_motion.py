import json
import subprocess
import sys

import imageio.v2 as iio
import numpy as np
import pytest
import torch

import humo
from humo.motion import Motion
from tests.helpers import synthetic_joints


@pytest.fixture(scope="module")
def motion() -> Motion:
    return Motion(synthetic_joints(frames=12, dtype=torch.float32), text="a person walks", seed=7,
                  meta={"model": "tiny", "cfg": 2.5})


def test_basics(motion):
    assert len(motion) == 12 and motion.duration == pytest.approx(0.6)
    assert motion.joints.dtype == torch.float32 and motion.fps == 20.0
    r = repr(motion)
    assert "frames=12" in r and "'a person walks'" in r and "seed=7" in r
    m = Motion(np.zeros((3, 22, 3), dtype=np.float64)[::-1], fps=30)  # numpy (even reversed), float64
    assert m.joints.dtype == torch.float32 and m.duration == pytest.approx(0.1)


def test_lazy_export_keeps_import_light():
    assert humo.Motion is Motion
    code = "import sys, humo; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(joints=torch.zeros(4, 21, 3)), "22, 3"),
    (dict(joints=torch.zeros(2, 4, 22, 3)), "one motion"),
    (dict(joints=torch.full((4, 22, 3), float("inf"))), "NaN or inf"),
    (dict(joints=torch.zeros(4, 22, 3), fps=0), "fps"),
    (dict(joints=torch.zeros(4, 22, 3), seed="1"), "seed"),
])
def test_invalid(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Motion(**kwargs)


def test_to_features(motion):
    feats = motion.to_features()
    assert feats.shape == (11, 263) and torch.isfinite(feats).all()


def test_npy_round_trip(motion, tmp_path):
    path = motion.save(tmp_path / "m.npy")
    assert np.load(path).shape == (12, 22, 3)
    back = Motion.load(path)
    assert torch.equal(back.joints, motion.joints) and back.fps == 20.0 and back.text is None


def test_json_round_trip(motion, tmp_path):
    path = motion.save(tmp_path / "m.json")
    d = json.loads(path.read_text())
    assert set(d) == {"joints", "fps", "text", "seed", "meta"}
    back = Motion.load(path)
    assert torch.equal(back.joints, motion.joints)
    assert (back.fps, back.text, back.seed, back.meta) == (motion.fps, motion.text, motion.seed, motion.meta)


def test_features_npy_loads_as_joints(motion, tmp_path):
    from humo.representations.humanml3d import features_to_joints

    feats = motion.to_features()
    np.save(tmp_path / "f.npy", feats.numpy())
    back = Motion.load(tmp_path / "f.npy")
    assert back.joints.shape == (11, 22, 3)
    assert torch.allclose(back.joints, features_to_joints(feats))


def test_save_renders(motion, tmp_path):
    gif = motion.save(tmp_path / "m.gif")
    assert len(iio.mimread(gif)) == 12
    png = motion.save(tmp_path / "m.png")
    assert iio.imread(png).ndim == 3


@pytest.mark.parametrize("name", ["m.bvh", "m.bvh.gz"])
def test_bvh_round_trip(motion, tmp_path, name):
    pytest.importorskip("humo.data.bvh")
    rigid = Motion(motion.joints[:1].repeat(6, 1, 1) + torch.linspace(0, 0.5, 6)[:, None, None], fps=30)
    path = rigid.save(tmp_path / name)
    back = Motion.load(path)
    assert back.fps == pytest.approx(30.0) and back.joints.shape == (6, 22, 3)
    assert (back.joints - rigid.joints).abs().max() < 1e-3


def test_load_other_rig_bvh_retargets(shared_data):
    pytest.importorskip("humo.data.retarget")
    files = sorted((shared_data / "bandai-namco").rglob("*.bvh.gz"))
    if not files:
        pytest.skip("no Bandai Namco BVH files in the shared data")
    m = Motion.load(files[0])
    assert m.joints.shape[1:] == (22, 3) and m.fps == 20.0 and m.meta["joint_map"] == "bandai-namco"
    assert 1.2 < float(m.joints[..., 1].max() - m.joints[..., 1].min()) < 2.2  # metres, Y up


def test_overwrite_and_errors(motion, tmp_path):
    path = tmp_path / "m.json"
    path.write_text("keep")
    with pytest.raises(FileExistsError, match="already exists"):
        motion.save(path)
    assert path.read_text() == "keep"
    motion.save(path, overwrite=True)
    assert Motion.load(path).seed == 7
    with pytest.raises(ValueError, match=r"supported: \.npy, \.json, \.bvh, \.mp4, \.gif, \.png"):
        motion.save(tmp_path / "m.txt")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        Motion(motion.joints, meta={"x": object()}).save(tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    with pytest.raises(FileNotFoundError):
        Motion.load(tmp_path / "missing.npy")
    np.save(tmp_path / "bad.npy", np.zeros((5, 10)))
    with pytest.raises(ValueError, match="expected joints"):
        Motion.load(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="supported"):
        Motion.load(tmp_path / "m.gif")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        Motion.load(tmp_path / "broken.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "broken.json", "m.json"]
