import imageio.v2 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import humo.cli.render  # noqa: F401  (registers `render` and `export` on the app)
from humo.cli.app import app
from humo.motion import Motion
from humo.representations.humanml3d import joints_to_features
from tests.helpers import synthetic_joints

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    joints = synthetic_joints(frames=8, dtype=torch.float32)
    np.save(root / "walk.npy", joints.numpy())
    np.save(root / "feats.npy", joints_to_features(joints).numpy())  # (7, 263)
    Motion(joints[:5], text="a person waves", seed=3).save(root / "wave.json")
    return root


def _ok(args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _fails(args, exc_type, match):
    result = runner.invoke(app, [str(a) for a in args])
    assert isinstance(result.exception, exc_type), (result.output, result.exception)
    assert match in str(result.exception)


def test_render_gif_from_joints_and_features(files, tmp_path):
    out = tmp_path / "v.gif"
    result = _ok(["render", files / "walk.npy", files / "feats.npy", "--out", out, "--title", "walk",
                  "--title", "from features"])
    assert f"wrote {out}" in result.output
    frames = iio.mimread(out)
    assert len(frames) == 8 and frames[0].shape[1] == 2 * 320


def test_render_mp4_with_contact_sheet(files, tmp_path):
    out = tmp_path / "v.mp4"
    _ok(["render", files / "wave.json", files / "walk.npy", "--out", out, "--fps", 10, "--contact-sheet",
         "--frames", 3])
    assert len(iio.mimread(out, memtest=False)) == 8
    assert iio.imread(tmp_path / "v.png").shape[1] == 3 * 240


def test_render_refuses_to_overwrite(files, tmp_path):
    out = tmp_path / "s.png"
    out.write_bytes(b"keep")
    _fails(["render", files / "walk.npy", "--out", out], FileExistsError, "--force")
    assert out.read_bytes() == b"keep"
    _ok(["render", files / "walk.npy", "--out", out, "--force", "--frames", 2])
    assert iio.imread(out).ndim == 3


def test_render_errors(files, tmp_path):
    _fails(["render", tmp_path / "nope.npy", "--out", tmp_path / "a.gif"], FileNotFoundError, "nope.npy")
    np.save(tmp_path / "bad.npy", np.zeros((8, 21, 3), dtype=np.float32))
    _fails(["render", tmp_path / "bad.npy", "--out", tmp_path / "a.gif"], ValueError, "(T, 22, 3)")
    _fails(["render", files / "walk.npy", "--out", tmp_path / "a.avi"], ValueError, ".mp4, .gif or .png")
    _fails(["render", files / "walk.npy", "--out", tmp_path / "a.gif", "--title", "a", "--title", "b"],
           ValueError, "2 --title values for 1 inputs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


def test_export_round_trip(files, tmp_path):
    _ok(["export", files / "walk.npy", "--out", tmp_path / "w.json", "--title", "a walk"])
    m = Motion.load(tmp_path / "w.json")
    assert m.text == "a walk" and torch.equal(m.joints, torch.from_numpy(np.load(files / "walk.npy")))
    _ok(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy"])
    assert np.array_equal(np.load(tmp_path / "w.npy"), np.load(files / "walk.npy"))
    _fails(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy"], FileExistsError, "already exists")
    _ok(["export", tmp_path / "w.json", "--out", tmp_path / "w.npy", "--force"])
    _fails(["export", files / "walk.npy", "--out", tmp_path / "w.txt"], ValueError, "supported: .npy")
    _fails(["export", tmp_path / "none.json", "--out", tmp_path / "x.npy"], FileNotFoundError, "none.json")
