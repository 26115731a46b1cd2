import imageio.v2 as iio
import numpy as np
import pytest

import humo.cli.render  # noqa: F401  (registers `render` and `export` on the app)
from humo.motion import Motion
from tests.cli.runner import fails, ok
from tests.data.asf_factory import write_asf_amc


@pytest.fixture(scope="module")
def amc(tmp_path_factory):
    return write_asf_amc(tmp_path_factory.mktemp("mocap"), gz=True)


def test_export_amc_to_bvh_and_back(amc, tmp_path):
    asf, motion = amc
    out = tmp_path / "walk.bvh"
    ok(["export", motion, "--asf", asf, "--out", out])
    direct = Motion.load(motion, asf=asf)
    assert direct.meta["joint_map"] == "asf" and direct.fps == 20.0 and len(direct) == 40
    back = Motion.load(out)  # humo's own SMPL-22 BVH, read as is
    assert back.joints.shape == direct.joints.shape
    assert float((back.joints - direct.joints).norm(dim=-1).max()) < 0.02  # the fitted skeleton's IK error
    np.save(tmp_path / "j.npy", direct.numpy())
    ok(["export", motion, "--out", tmp_path / "k.npy"])  # the only .asf beside the AMC is used
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), direct.numpy())


def test_render_amc(amc, tmp_path):
    asf, motion = amc
    ok(["render", motion, "--asf", asf, "--out", tmp_path / "s.png", "--frames", 3])
    assert iio.imread(tmp_path / "s.png").ndim == 3


def test_amc_errors(amc, tmp_path):
    asf, motion = amc
    lonely = tmp_path / "lonely.amc"
    lonely.write_bytes(b"")
    fails(["export", lonely, "--out", tmp_path / "x.npy"], ValueError, "no .asf file beside it; pass the skeleton")
    fails(["export", lonely, "--asf", asf, "--out", tmp_path / "x.npy"], ValueError, "empty file")
    fails(["export", motion, "--asf", tmp_path / "none.asf", "--out", tmp_path / "x.npy"], FileNotFoundError,
          "no such ASF file")
