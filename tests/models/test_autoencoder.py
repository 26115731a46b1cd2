"""MotionAutoencoder (CoAMD AE): shapes, errors, representation, loss, save/load, determinism, overfit."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from humo.models.autoencoder import AE_PRESETS, MotionAutoencoder, ae_loss, from_local, to_local
from humo.representations.streams import joints_to_motion
from tests.helpers import synthetic_joints


def _joints(frames: int = 32, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return synthetic_joints(frames, seed=seed, batch=(batch,), dtype=torch.float32)


def _model(seed: int = 0, **kw) -> MotionAutoencoder:
    torch.manual_seed(seed)
    model = MotionAutoencoder.from_preset("tiny", **kw)
    model.fit_normalization([_joints(64, 4, seed=123)])
    return model


def test_shapes_follow_the_contract():
    model = _model()
    x = _joints(32, 3)
    z = model.encode(x)
    assert z.shape == (3, 8, AE_PRESETS["tiny"]["latent_dim"])
    assert model.decode(z).shape == (3, 32, 22, 3)
    out = model(x)
    assert out.joints.shape == x.shape and out.latents.shape == z.shape
    assert out.loss.total.ndim == 0 and torch.isfinite(out.loss.total)


def test_input_errors_are_clear():
    model = _model()
    with pytest.raises(ValueError, match="multiple of 4"):
        model.encode(_joints(30))
    bad = _joints(32)
    bad[0, 3, 5, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.encode(bad)
    with pytest.raises(ValueError, match=r"\(\.\.\., 22, 3\)"):
        model.encode(torch.zeros(2, 32, 21, 3))
    with pytest.raises(ValueError, match=r"\(B, T, 22, 3\)"):
        model.encode(torch.zeros(32, 22, 3))
    with pytest.raises(ValueError, match="latents"):
        model.decode(torch.zeros(2, 8, 7))
    with pytest.raises(ValueError, match="unknown autoencoder preset"):
        MotionAutoencoder.from_preset("huge")


@settings(max_examples=20, deadline=None)
@given(frames=st.integers(2, 40), seed=st.integers(0, 1000), dx=st.floats(-50, 50), dz=st.floats(-50, 50))
def test_local_representation_is_invertible_and_translation_free(frames, seed, dx, dz):
    x = synthetic_joints(frames, seed=seed)
    j, origin = to_local(x)
    assert torch.allclose(from_local(j, origin), x, atol=1e-9)
    shifted = x + torch.tensor([dx, 0.0, dz], dtype=x.dtype)
    j2, origin2 = to_local(shifted)
    assert torch.allclose(j2, j, atol=1e-9)
    assert torch.allclose(origin2, origin + torch.tensor([dx, 0.0, dz], dtype=x.dtype), atol=1e-9)


def test_reconstruction_is_translation_equivariant_on_the_floor_plane():
    model = _model().eval()
    x = _joints(32)
    shift = torch.tensor([3.0, 0.0, -7.0])
    with torch.no_grad():
        a, b = model(x).joints, model(x + shift).joints
    assert torch.allclose(b, a + shift, atol=1e-4)
    assert torch.allclose(model.encode(x), model.encode(x + shift), atol=1e-5)


def test_ae_loss_terms_and_mask():
    x = _joints(16)
    zero = ae_loss(x, x)
    assert zero.total == 0 and zero.joints == 0 and zero.bones == 0 and zero.motion == 0
    # a constant offset moves the joints and the root "bone" but not the motion stream
    shifted = ae_loss(x + 0.1, x)
    assert shifted.joints > 0 and shifted.bones > 0 and shifted.motion < 1e-10
    assert torch.isclose(shifted.total, shifted.joints + shifted.bones + shifted.motion)
    # padded frames (mask False) do not count
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[:, 12:] = False
    noisy = x.clone()
    noisy[:, 12:] += torch.randn_like(noisy[:, 12:])
    assert ae_loss(noisy, x, mask).total == 0
    assert ae_loss(noisy, x).total > 0
    with pytest.raises(ValueError, match="mask"):
        ae_loss(x, x, mask[:, :8])
    with pytest.raises(ValueError, match="differ in shape"):
        ae_loss(x[:, :8], x)


def test_fit_normalization_matches_the_data_and_sets_the_loss_scale():
    model = MotionAutoencoder.from_preset("tiny")
    clips = [_joints(24, 1, seed=s)[0] for s in range(3)]
    model.fit_normalization(clips)
    motion = torch.cat([joints_to_motion(c) for c in clips]).flatten(-2)  # (frames, 66)
    assert torch.allclose(model.stream_mean[2], motion.mean(0), atol=1e-5)
    assert torch.allclose(model.stream_std[2], motion.std(0, unbiased=False).clamp(min=1e-3), atol=1e-5)
    assert torch.allclose(model.loss_scale, model.stream_std.mean(1))
    with pytest.raises(ValueError, match="at least 2 frames"):
        model.fit_normalization([])


def test_latent_scale_gives_unit_variance_and_round_trips():
    model = _model().eval()
    x = _joints(32, 4)
    with torch.no_grad():
        std = model.fit_latent_scale([x])
        assert std > 0 and torch.isclose(model.latent_scale, torch.tensor(std))
        zs = model.encode(x, scaled=True)
        assert abs(zs.std(unbiased=False).item() - 1.0) < 0.05
        assert torch.allclose(model.decode(zs, scaled=True), model.decode(model.encode(x)), atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = _model(seed=3).eval()
    model.latent_scale.fill_(2.5)
    model.save_pretrained(tmp_path / "ae")
    loaded = MotionAutoencoder.from_pretrained(tmp_path / "ae")
    config = MotionAutoencoder.read_config(tmp_path / "ae")
    assert {k: config[k] for k in AE_PRESETS["tiny"]} == AE_PRESETS["tiny"]
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    x = _joints(16)
    with torch.no_grad():
        assert torch.equal(model(x).joints, loaded(x).joints)
    other = MotionAutoencoder.from_preset("tiny", latent_dim=8)
    other.save_pretrained(tmp_path / "other")
    assert MotionAutoencoder.read_config(tmp_path / "other")["latent_dim"] == 8


def test_seeded_construction_is_deterministic():
    x = _joints(16)
    with torch.no_grad():
        a, b, c = _model(seed=7)(x).joints, _model(seed=7)(x).joints, _model(seed=8)(x).joints
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_overfits_a_tiny_batch():
    model = _model(seed=0)
    x = _joints(16, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model(x).loss.total.item()
    for _ in range(40):
        loss = model(x).loss.total
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
