import imageio.v2 as iio
import numpy as np
import pytest
import torch

import humo.cli.render  # noqa: F401  (registers `render` and `export` on the app)
from humo.cli.app import UserError
from humo.motion import Motion
from humo.representations.humanml3d import joints_to_features
from tests.cli.runner import fails, ok
from tests.helpers import synthetic_joints


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    joints = synthetic_joints(frames=8, dtype=torch.float32)
    np.save(root / "walk.npy", joints.numpy())
    np.save(root / "feats.npy", joints_to_features(joints).numpy())  # (7, 263)
    Motion(joints[:5], text="a person waves", seed=3).save(root / "wave.json")
    return root


def test_render_gif_from_joints_and_features(files, tmp_path):
    out = tmp_path / "v.gif"
    result = ok(["render", files / "walk.npy", files / "feats.npy", "--out", out, "--title", "walk",
                  "--title", "from features"])
    assert f"wrote {out}" in result.output
    frames = iio.mimread(out)
    assert len(frames) == 8 and frames[0].shape[1] == 2 * 320


def test_render_mp4_with_contact_sheet(files, tmp_path):
    out = tmp_path / "v.mp4"
    ok(["render", files / "wave.json", files / "walk.npy", "--out", out, "--fps", 10, "--contact-sheet",
         "--frames", 3])
    assert len(iio.mimread(out, memtest=False)) == 8
    assert iio.imread(tmp_path / "v.png").shape[1] == 3 * 240


def test_render_refuses_to_overwrite(files, tmp_path):
    out = tmp_path / "s.png"
    out.write_bytes(b"keep")
    fails(["render", files / "walk.npy", "--out", out], FileExistsError, "--force")
    assert out.read_bytes() == b"keep"
    ok(["render", files / "walk.npy", "--out", out, "--force", "--frames", 2])
    assert iio.imread(out).ndim == 3


def test_render_errors(files, tmp_path):
    fails(["render", tmp_path / "nope.npy", "--out", tmp_path / "a.gif"], FileNotFoundError, "nope.npy")
    np.save(tmp_path / "bad.npy", np.zeros((8, 21, 3), dtype=np.float32))
    fails(["render", tmp_path / "bad.npy", "--out", tmp_path / "a.gif"], ValueError, "(T, 22, 3)")
    fails(["render", files / "walk.npy", "--out", tmp_path / "a.avi"], UserError, ".mp4, .gif, .png")
    fails(["render", files / "walk.npy", "--out", tmp_path / "a.gif", "--title", "a", "--title", "b"],
           ValueError, "2 --title values for 1 inputs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


def test_export_round_trip(files, tmp_path):
    ok(["export", files / "walk.npy", "--out", tmp_path / "w.json", "--title", "a walk"])
    m = Motion.load(tmp_path / "w.json")
    assert m.text == "a walk" and torch.equal(m.joints, torch.from_numpy(np.load(files / "walk.npy")))
    ok(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy"])
    assert np.array_equal(np.load(tmp_path / "w.npy"), np.load(files / "walk.npy"))
    fails(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy"], FileExistsError, "--force")
    ok(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy", "--force"])
    fails(["export", files / "walk.npy", "--out", tmp_path / "w.txt"], UserError, "unknown suffix '.txt'")
    fails(["export", tmp_path / "none.json", "--out", tmp_path / "x.npy"], FileNotFoundError, "none.json")
