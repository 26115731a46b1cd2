"""The main job end to end: the bundled model through the real `humo` entry point (a subprocess)."""

import subprocess
import sys

import numpy as np
import torch

from humo.pipelines.coamd import BUNDLED_MODEL, CoAMD


def test_bundled_model_loads_and_is_deterministic():
    pipe = CoAMD.from_pretrained()
    assert pipe.recognizer is not None  # the guidance recognizer ships with it
    a = pipe.generate("a person walks forward", seconds=2, seed=3)
    b = pipe.generate("a person walks forward", seconds=2, seed=3)
    assert a.joints.shape == (40, 22, 3)
    assert torch.equal(a.joints, b.joints)
    assert torch.isfinite(a.joints).all()


def test_humo_generate_subprocess(tmp_path):
    out = tmp_path / "walk.gif"
    cmd = [sys.executable, "-m", "humo", "generate", "a person walks forward", "--seconds", "2", "--seed", "0",
           "--threads", "1", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    joints = np.load(out.with_suffix(".npy"))
    assert joints.shape == (40, 22, 3) and out.stat().st_size > 0
    assert np.isfinite(joints).all() and abs(joints[..., 1].min()) < 0.2  # standing on the floor
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    assert BUNDLED_MODEL.is_dir()


def test_humo_generate_bad_input_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "humo", "generate", "  ", "--out", str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "empty" in done.stderr and "Traceback" not in done.stderr
