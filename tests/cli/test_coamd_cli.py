"""Smoke tests of `humo generate`, `humo edit`, `humo train coamd` (the one CoAMD test with real MiniLM)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import humo.cli.coamd  # noqa: F401  (registers `train coamd`)
import humo.cli.generate  # noqa: F401  (registers `generate` and `edit`)
from humo.cli.app import UserError
from humo.models.autoencoder import MotionAutoencoder
from humo.models.coamd import CoAMDTransformer
from humo.motion import Motion
from humo.pipelines.coamd import CoAMD
from humo.representations.humanml3d import bone_lengths
from tests.cli.runner import fails, ok
from tests.helpers import synthetic_joints

FAST = ["--steps", "4", "--flow-steps", "3"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("coamd")
    torch.manual_seed(0)
    ae = MotionAutoencoder.from_preset("tiny")
    coamd = CoAMDTransformer.from_preset("tiny", latent_dim=ae.latent_dim, max_tokens=12, text_dim=384)
    CoAMD(ae, coamd).save_pretrained(root / "run" / "final")
    return root / "run"


def test_generate_prompts_and_edit(model_dir, tmp_path):
    out = tmp_path / "walk.npy"
    res = ok(["generate", "a person walks forward", "--model", model_dir, "--seconds", "1.2", "--seed", "3",
               "--out", out, *FAST])
    assert f"wrote {out}" in res.output and np.load(out).shape == (24, 22, 3)
    fails(["generate", "a person walks", "--model", model_dir, "--seconds", "1", "--out", out, *FAST],
           FileExistsError, "--force")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person jumps#0.8\n\na person waves#1.0\n")
    ok(["generate", "--prompts", prompts, "--model", model_dir, "--out", tmp_path / "many.json", *FAST])
    assert (tmp_path / "many_000.json").is_file() and (tmp_path / "many_001.json").is_file()
    # a given skeleton (from a BVH), foot locking off, CFG rescale off: the motion has exactly that skeleton
    skel_src = tmp_path / "skel.bvh"
    Motion(synthetic_joints(frames=8, seed=5, dtype=torch.float32)).save(skel_src)
    res = ok(["generate", "a person walks", "--model", model_dir, "--seconds", "1", "--out", tmp_path / "sk.json",
              "--skeleton", skel_src, "--no-foot-lock", "--cfg-rescale", "0", *FAST])
    made = Motion.load(tmp_path / "sk.json")
    assert made.meta["cleanup"] == {"skeleton": "fixed", "plant_root": True, "foot_lock": False, "plant_sigma": 0.0,
                                    "plant_soft": True, "plant_slack": 0.02, "plant_contacts": True}
    assert "rescale=0.0" in made.meta["guidance"][0]
    assert made.meta["guidance"][1] == "ContactGuidance(steps=50, lr=0.05)"
    for steps, expect in (("0", []), ("3", ["ContactGuidance(steps=3, lr=0.05)"])):  # contact guidance off / set
        ok(["generate", "a person walks", "--model", model_dir, "--seconds", "1", "--out", tmp_path / f"c{steps}.json",
            "--contact-steps", steps, *FAST])
        assert Motion.load(tmp_path / f"c{steps}.json").meta["guidance"][1:] == expect
    torch.testing.assert_close(bone_lengths(made.joints[0]), bone_lengths(Motion.load(skel_src).joints[0]),
                               atol=1e-4, rtol=0)
    src = tmp_path / "src.npy"
    np.save(src, synthetic_joints(frames=40, dtype=torch.float32).numpy())
    res = ok(["edit", src, "a person jumps", "--span", "0.6:1.4", "--model", model_dir,
               "--out", tmp_path / "edit.npy", "--seed", "0", *FAST])
    assert np.load(tmp_path / "edit.npy").shape == (40, 22, 3) and "inpaint" in res.output


def test_cli_errors(model_dir, tmp_path):
    out = tmp_path / "x.npy"
    fails(["generate", "--model", model_dir, "--out", out], UserError, "no prompt")
    fails(["generate", "walk", "--model", model_dir, "--seconds", "0.05", "--out", out], ValueError,
           "out of range")
    fails(["generate", "walk", "--model", tmp_path, "--out", out], UserError, "no pipeline.json")
    fails(["generate", "walk", "--model", tmp_path / "missing", "--out", out], UserError, "no such folder")
    fails(["generate", "walk", "--model", model_dir, "--out", out, "--recognizer-scale", "1"], UserError,
           "recognizer")
    src = tmp_path / "src.npy"
    np.save(src, synthetic_joints(frames=40, dtype=torch.float32).numpy())
    fails(["edit", src, "jump", "--span", "1.0", "--model", model_dir, "--out", out], UserError, "START:END")
    fails(["edit", src, "jump", "--span", "0.5:1", "--mode", "paint", "--model", model_dir, "--out", out],
           ValueError, "unknown edit mode")
    fails(["train", "coamd", tmp_path / "none", tmp_path / "run", "--autoencoder", model_dir,
            "--preset", "xl"], ValueError, "unknown CoAMD preset")
