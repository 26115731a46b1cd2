import gzip

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from humo.data.asf import (
    amc_positions,
    amc_to_bvh,
    find_asf,
    local_transforms,
    parse_amc,
    parse_asf,
    read_amc,
    read_asf,
    read_asf_amc,
)
from humo.data.bvh import bvh_to_positions, format_bvh, parse_bvh
from humo.data.retarget import detect_preset, left_right_agreement, retarget
from tests.data.asf_factory import SCALE, amc_text, asf_text, walk_values, write_asf_amc

TINY_ASF = """:units
  length 0.45
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  orientation 0 0 0
:bonedata
  begin
    name thigh
    direction 1 0 0
    length 2
    axis 0 0 90 XYZ
    dof rx
    limits (-180 180)
  end
  begin
    name shin
    direction 0 -1 0
    length 3
    axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root thigh
    thigh shin
  end
"""
TINY_AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
thigh 90
2
root 0 0 0 0 0 90
thigh 0
"""


def test_known_answer_fk():
    asf = parse_asf(TINY_ASF, "tiny.asf")
    assert asf.names == ["root", "thigh", "shin"] and asf.parents == [-1, 0, 1]
    assert asf.scale == pytest.approx(0.0254 / 0.45) and asf.dofs[1] == ("rx",)
    amc = parse_amc(TINY_AMC, asf, "tiny.amc")
    pos = amc_positions(asf, amc, dtype=torch.float64).numpy() / asf.scale
    # frame 1: thigh's axis is Rz(90), so its rx of 90 deg turns about world Y: (2, 0, 0) -> (0, 0, -2)
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 2, 3], [1, 2, 1]], atol=1e-9)
    # frame 2: the root's RZ of 90 deg turns the thigh (2, 0, 0) -> (0, 2, 0)
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [0, 0, 0], [0, 2, 0]], atol=1e-9)


def test_rotation_convention_matches_scipy():
    """dof rx ry rz and axis XYZ apply X first: R = Rz Ry Rx (scipy's extrinsic "xyz"), L = C M C^T."""
    rng = np.random.default_rng(0)
    axis, dof = rng.uniform(-90, 90, 3), rng.uniform(-150, 150, (5, 3))
    text = TINY_ASF.replace("axis 0 0 90 XYZ\n    dof rx\n    limits (-180 180)",
                            "axis {} {} {} XYZ\n    dof rx ry rz".format(*axis))
    asf = parse_asf(text)
    body = "".join(f"{f + 1}\nroot 0 0 0 0 0 0\nthigh {a} {b} {c}\n" for f, (a, b, c) in enumerate(dof))
    rot, _ = local_transforms(asf, parse_amc(body, asf))
    c = Rotation.from_euler("xyz", axis, degrees=True).as_matrix()
    m = Rotation.from_euler("xyz", dof, degrees=True).as_matrix()
    np.testing.assert_allclose(rot[:, 1].numpy(), c @ m @ c.T, atol=1e-12)


def test_bvh_conversion_reproduces_the_positions(tmp_path):
    asf_path, amc_path = write_asf_amc(tmp_path, turn=120.0)
    asf = read_asf(asf_path)
    amc = read_amc(amc_path, asf)
    pos = amc_positions(asf, amc, dtype=torch.float64)
    assert pos.shape == (240, len(asf.names), 3)
    bvh = amc_to_bvh(asf, amc)
    assert bvh.names == asf.names and bvh.fps == pytest.approx(120.0)
    np.testing.assert_allclose(bvh_to_positions(bvh, torch.float64), pos, atol=1e-12)
    again = parse_bvh(format_bvh(bvh, precision=9), "again.bvh")  # the text a user gets from an export
    np.testing.assert_allclose(bvh_to_positions(again, torch.float64), pos, atol=1e-6)
    # bones start where their parents end: the knee is a femur length below the hip at rest-like frames
    thigh = (pos[:, asf.index("ltibia")] - pos[:, asf.index("lfemur")]).norm(dim=-1)
    np.testing.assert_allclose(thigh, 7.5 * SCALE, rtol=1e-9)


def test_gzip_and_plain_agree_and_the_skeleton_is_found(tmp_path):
    _, plain = write_asf_amc(tmp_path / "a")
    _, zipped = write_asf_amc(tmp_path / "b", gz=True)
    a, b = read_asf_amc(plain), read_asf_amc(zipped)  # the only .asf beside each AMC
    np.testing.assert_array_equal(a.rotations, b.rotations)
    (tmp_path / "b" / "OTHER.asf").write_text(asf_text())
    with pytest.raises(ValueError, match="2 .asf files beside it; pass the skeleton"):
        find_asf(zipped)


def test_retargets_to_smpl22_with_the_asf_preset(tmp_path):
    asf_path, amc_path = write_asf_amc(tmp_path)
    bvh = read_asf_amc(amc_path, asf_path)
    assert detect_preset(bvh) == "asf"
    joints = retarget(bvh, "asf", up="y").double()
    assert joints.shape == (40, 22, 3)  # 240 frames at 120 fps -> 40 at 20 fps
    assert left_right_agreement(joints) == 1.0
    speed = (joints[-1, 0, 2] - joints[0, 0, 2]) / (39 / 20.0)
    assert float(speed) == pytest.approx(1.2, rel=1e-3)  # root translation in metres along +Z
    assert 0.9 < float(joints[:, 15, 1].mean() - joints[:, 10, 1].mean()) < 1.6  # head above the toes


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


ASF_ERRORS = [
    (lambda t: t.split(":bonedata")[0], "no :bonedata section"),
    (lambda t: t.split(":hierarchy")[0], "no :hierarchy section"),
    (lambda t: t[: t.index("name lfemur") + 40], "truncated: the block of bone 'lfemur' has no 'end'"),
    (lambda t: _mutate(t, "length 7.5", "length seven"), "non-numeric length of bone lfemur"),
    (lambda t: _mutate(t, "lfemur ltibia", "lfemur lshin"), "unknown bone 'lshin'"),
    (lambda t: _mutate(t, "dof rx ry rz", "dof rx rq"), "bad dof"),
    (lambda t: "", "empty file"),
]


@pytest.mark.parametrize(("mutate", "message"), ASF_ERRORS)
def test_bad_asf_is_one_clear_line(mutate, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_asf(mutate(asf_text()), "bad.asf")
    assert str(err.value).startswith("bad.asf: ") and "\n" not in str(err.value)


AMC_ERRORS = [
    (lambda t: t[: t.rindex("lfoot")], "truncated: last frame 240 has"),
    (lambda t: t[: t.rindex("\n", 0, len(t) - 1)] + "\nrthumb 1\n", "truncated: frame 240: bone rthumb has 1"),
    (lambda t: _mutate(t, "\nltibia 20.000000", "\nltibia 20.000000 1.0"), "frame 1: bone ltibia has 2 values"),
    (lambda t: _mutate(t, "\nltibia", "\nlshin"), "frame 1: unknown bone 'lshin'"),
    (lambda t: _mutate(t, "\nltibia 20.000000", "\nltibia abc"), "non-numeric value in frame 1, bone ltibia"),
    (lambda t: _mutate(t, "\nltibia 20.000000", "\nltibia nan"), "NaN or inf"),
    (lambda t: t.replace("\nlthumb", "\n#lthumb"), "bones \\['lthumb'\\] have dofs in the ASF"),
    (lambda t: "# only a comment\n", "no frame number"),
]


@pytest.mark.parametrize(("mutate", "message"), AMC_ERRORS)
def test_bad_amc_is_one_clear_line(mutate, message):
    asf = parse_asf(asf_text())
    with pytest.raises(ValueError, match=message) as err:
        parse_amc(mutate(amc_text(walk_values())), asf, "bad.amc")
    assert str(err.value).startswith("bad.amc: ") and "\n" not in str(err.value)


def test_corrupt_gzip_and_missing_files(tmp_path):
    asf_path, amc_path = write_asf_amc(tmp_path, gz=True)
    broken = tmp_path / "broken.amc.gz"
    broken.write_bytes(amc_path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_asf_amc(broken, asf_path)
    with pytest.raises(FileNotFoundError, match="no such ASF file"):
        read_asf(tmp_path / "nope.asf")
    assert gzip.decompress(amc_path.read_bytes()).startswith(b"# written by the humo tests")


def test_radians_are_read_as_radians():
    asf = parse_asf(TINY_ASF)
    deg = parse_amc(TINY_AMC, asf)
    rad = parse_amc(TINY_AMC.replace(":DEGREES", ":RADIANS").replace("thigh 90", f"thigh {np.pi / 2}")
                    .replace("0 0 0 0 0 90", f"0 0 0 0 0 {np.pi / 2}"), asf)
    np.testing.assert_allclose(amc_positions(asf, rad), amc_positions(asf, deg), atol=1e-6)


# --- the real CMU trial 02_01 on two independent paths: ASF/AMC here vs the cgspeed BVH conversion ----------
LIMBS = {"thigh": (1, 4), "shin": (4, 7), "upper arm": (16, 18), "forearm": (18, 20), "spine": (0, 12),
         "foot": (7, 10), "neck-head": (12, 15)}


def agreement_02_01(shared_data) -> dict:
    from humo.data.bvh import read_bvh

    amc = retarget(read_asf_amc(shared_data / "cmu/amc/02_01.amc", shared_data / "cmu/amc/12.asf"), "asf")
    bvh = retarget(read_bvh(shared_data / "cmu/cgspeed-motionbuilder/02_01.bvh.gz"), "cmu")
    n = min(len(amc), len(bvh))  # 58 vs 57 frames: the BVH's "Frame Time 0.008333" is not quite 1/120
    a, b = amc[:n].double(), bvh[:n].double()
    da, db = a[:, 0] - a[:1, 0], b[:, 0] - b[:1, 0]
    scale = float((da * db).sum() / (da * da).sum())  # the cgspeed rig is a scaled skeleton
    out = {"frames": n, "root_scale": scale, "root_path_m": float(da[-1].norm()),
           "root_error_m": float((scale * da - db).norm(dim=-1).max())}
    for name, (i, j) in LIMBS.items():
        cos = torch.nn.functional.cosine_similarity(a[:, j] - a[:, i], b[:, j] - b[:, i], dim=-1)
        out[f"{name}_deg"] = float(torch.rad2deg(torch.acos(cos.clamp(-1, 1))).mean())
    return out


def test_real_cmu_02_01_amc_agrees_with_the_cgspeed_bvh(shared_data):
    fig = agreement_02_01(shared_data)
    print(fig)
    # the root trajectories agree to a fraction of a millimetre up to the two skeletons' scale (6%)
    assert 1.0 < fig["root_scale"] < 1.1 and fig["root_path_m"] > 3.0 and fig["root_error_m"] < 1e-3
    # limb directions: legs, arms and spine within a few degrees (each rig's rest pose differs a little);
    # the feet (ankle -> toe base) differ most, by ~20 degrees, the cgspeed rig's own foot orientation
    for limb in ("thigh", "shin", "upper arm", "forearm", "spine"):
        assert fig[f"{limb}_deg"] < 6.0, (limb, fig)
    assert fig["neck-head_deg"] < 10.0 and fig["foot_deg"] < 30.0


def test_real_hdm05_skeletons_are_human_sized(shared_data):
    for actor in ("bd", "bk", "dg", "mm", "tr"):
        asf = read_asf(shared_data / f"hdm05/asf/HDM_{actor}.asf")
        rest = asf.rest_positions() * asf.scale
        height = rest[asf.index("head"), 1] - rest[asf.index("ltoes"), 1]  # head joint to toe base
        assert 1.3 < height < 1.8, (actor, height)
