"""The bundled autoencoder on real clips it was not trained on (needs ../shared/data; skips without it).

HDM05's front kicks (subjects ``mm`` and ``tr``: the merged corpus' test split) lift the left foot above
1 m. The bundled autoencoder never saw a clip shorter than its 64-frame training window, so every kick,
squat and hop of the corpus (1,044 of 2,686 train clips) was missing from its training, and it brings a kick
back at 0.2-0.7 m. A decoder fine-tuned on them (``--min-window 32``) brings them back at 0.75-1.4 m but did
not improve generation with the bundled transformer (``docs/evaluation.md``, "The autoencoder never saw a
kick"), so the fix waits for a retrained pair: strict xfail until then.
"""

from __future__ import annotations

import pytest
import torch

from humo.data.asf import read_asf_amc
from humo.data.retarget import retarget
from humo.representations.humanml3d import canonicalize
from humo.training.motionduet_latents import load_autoencoder

LEFT_FOOT, RIGHT_FOOT = 10, 11


@pytest.fixture(scope="module")
def autoencoder():
    return load_autoencoder("bundled")


def _clip(shared_data, trial: str) -> torch.Tensor:
    hdm = shared_data / "hdm05"
    joints = retarget(read_asf_amc(hdm / "amc" / "test" / f"HDM_{trial}_120.amc.gz",
                                   hdm / "asf" / f"HDM_{trial.split('_')[0]}.asf"), "asf")
    joints = canonicalize(joints)
    return joints[: len(joints) // 4 * 4]


@pytest.mark.xfail(strict=True, reason="the bundled autoencoder was trained without clips under 64 frames")
@pytest.mark.parametrize("trial", ["mm_kickLFront1Reps_019", "tr_kickLFront1Reps_025"])
def test_a_held_out_high_kick_comes_back_high(autoencoder, shared_data, trial):
    x = _clip(shared_data, trial)
    with torch.no_grad():
        y = autoencoder.decode(autoencoder.encode(x[None]))[0]
    real, rec = float(x[:, LEFT_FOOT, 1].max()), float(y[:, LEFT_FOOT, 1].max())
    assert real > 1.0, real  # a high kick
    assert rec > 0.6 * real, (real, rec)  # bundled: 0.42 of 1.29, 0.67 of 1.55; fine-tuned: 0.95, 1.40
    assert float(y[:, RIGHT_FOOT, 1].max()) < 0.3  # the standing foot stays down
    assert float((y - x).norm(dim=-1).mean()) < 0.15  # MPJPE in metres
