"""MotionDuet parts: DUET (shapes, text-only routing, phase-keeping FFT branch), DASH (a hand-computed
case), the VAE / denoiser / model contracts, save -> load equality and the video encoders."""

from __future__ import annotations

import math

import pytest
import torch

from humo.models.motionduet import (
    DUET,
    LatentDenoiser,
    MotionDuetModel,
    MotionVAE,
    StickVideoEncoder,
    VideoMAEEncoder,
    dash_loss,
    encode_video_input,
    load_video_encoder,
    render_stick_videos,
)
from humo.models.motionduet.duet import FourierFilter, parse_branches
from humo.models.motionduet.layers import SkipTransformer
from tests.helpers import synthetic_joints

TEXT_DIM, VIDEO_DIM = 16, 8


def tiny_model(**kw) -> MotionDuetModel:
    torch.manual_seed(0)
    return MotionDuetModel.from_preset("tiny", text_dim=TEXT_DIM, video_dim=VIDEO_DIM, max_frames=48, **kw)


# ---------------------------------------------------------------------------------------------- DUET
def test_duet_shapes_and_text_only_routing():
    torch.manual_seed(0)
    duet = DUET(TEXT_DIM, VIDEO_DIM, width=16, tokens=4, dropout=0.0).eval()
    text, video = torch.randn(3, TEXT_DIM), 3 * torch.randn(3, 7, VIDEO_DIM)
    present = torch.tensor([True, False, True])
    out = duet(text, video, present)
    for name in ("fused", "text", "video", "base"):
        assert getattr(out, name).shape == (3, 4, 16)
    assert out.video_mask.shape == (3, 4) and out.video_mask.dtype == torch.bool
    # text-only rows: V is exactly 0, F = T, the dynamic mask never picks video ...
    assert torch.equal(out.video[1], torch.zeros(4, 16)) and torch.equal(out.base[1], out.text[1])
    assert not out.video_mask[1].any()
    # ... and the row equals the output of the same text with no video at all
    alone = duet(text[1:2])
    assert torch.allclose(out.fused[1], alone.fused[0], atol=1e-6) and not alone.video_mask.any()
    # with additive fusion the closer modality is the one with the larger token norm
    bigger = out.video.norm(dim=-1) > out.text.norm(dim=-1)
    assert torch.equal(out.video_mask[present], bigger[present]) and out.video_mask.any()
    with pytest.raises(ValueError, match="video_present"):
        duet(text, None, present)
    with pytest.raises(ValueError, match="video features"):
        duet(text, torch.randn(3, 7, VIDEO_DIM + 1))


def test_duet_branches_config():
    assert parse_branches("fft, conv+dmm") == ("fft", "conv", "dmm") and parse_branches("none") == ()
    with pytest.raises(ValueError, match="unknown DUET branch"):
        parse_branches("fft,wavelet")
    plain = DUET(TEXT_DIM, 0, width=8, tokens=3, branches="", dropout=0.0)
    assert plain.fft is None and plain.conv is None and plain.dmm is None and plain.video_proj is None
    out = plain(torch.randn(2, TEXT_DIM))
    assert torch.allclose(out.fused, torch.nn.functional.layer_norm(out.base, (8,)), atol=1e-6)
    with pytest.raises(ValueError, match="video_dim=0"):
        plain(torch.randn(2, TEXT_DIM), torch.randn(2, 3, 4))


def test_fft_branch_keeps_phase():
    torch.manual_seed(0)
    filt = FourierFilter(tokens=8, width=5)
    assert torch.allclose(filt(x := torch.randn(2, 8, 5)), x, atol=1e-6)  # exp(0) = 1: identity at init
    with torch.no_grad():
        filt.log_gain.normal_()
    # a pure-phase signal: unit magnitude at every frequency, random phases (DC / Nyquist real)
    phase = 2 * math.pi * torch.rand(1, 5, 5)
    phase[:, 0], phase[:, -1] = 0.0, math.pi
    x = torch.fft.irfft(torch.polar(torch.ones_like(phase), phase), n=8, dim=1, norm="ortho")
    spec_in, spec_out = torch.fft.rfft(x, dim=1, norm="ortho"), torch.fft.rfft(filt(x), dim=1, norm="ortho")
    assert torch.allclose(spec_in.abs(), torch.ones_like(phase), atol=1e-5)
    assert torch.allclose(spec_out.abs(), filt.log_gain.exp().unsqueeze(0), atol=1e-5)  # |out| = the filter
    cos = torch.cos(spec_out.angle() - spec_in.angle())  # same phase <=> cos(difference) = 1
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


# ---------------------------------------------------------------------------------------------- DASH
def test_dash_hand_computed():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    out = dash_loss(z, v, margin_cos=0.1, margin_pair=0.1)
    # cos(z0, v0) = 1, cos(z1, v1) = 1/sqrt(2): token = (0 + (0.9 - 0.70711)) / 2
    assert out.token.item() == pytest.approx((0.9 - 2 ** -0.5) / 2, abs=1e-6)
    # cos(z0, z1) = 0, cos(v0, v1) = 1/sqrt(2): pair = 1/sqrt(2) - 0.1 for both ordered pairs
    assert out.pair.item() == pytest.approx(2 ** -0.5 - 0.1, abs=1e-6)
    assert out.loss.item() == pytest.approx(out.token.item() + out.pair.item(), abs=1e-7)
    # margins large enough: no loss; one row: no pairwise term; (B, L, D) is flattened
    assert dash_loss(z, v, margin_cos=0.5, margin_pair=0.8).loss.item() == pytest.approx(0.0, abs=1e-7)
    assert dash_loss(z[:1], v[1:]).pair.item() == 0.0
    assert dash_loss(z.reshape(1, 2, 2), v.reshape(1, 2, 2)).loss.item() == pytest.approx(out.loss.item())
    zg = z.clone().requires_grad_(True)
    dash_loss(zg, v).loss.backward()
    assert zg.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="share"):
        dash_loss(z, v[:, :1])


# ------------------------------------------------------------------------------------- VAE / denoiser
def test_skip_transformer_and_denoiser_shapes():
    with pytest.raises(ValueError, match="odd"):
        SkipTransformer(8, 4, 2, 16)
    den = LatentDenoiser(latent_tokens=2, latent_dim=6, cond_tokens=3, cond_dim=10, width=8, layers=3,
                         heads=2, ff=16)
    out = den(torch.randn(4, 2, 6), torch.tensor([0, 10, 500, 999]), torch.randn(4, 3, 10))
    assert out.prediction.shape == (4, 2, 6) and out.hidden.shape == (4, 2, 8)
    assert den(torch.randn(4, 2, 6), torch.tensor(3), torch.randn(4, 3, 10)).prediction.shape == (4, 2, 6)
    with pytest.raises(ValueError, match="cond must be"):
        den(torch.randn(4, 2, 6), torch.tensor(3), torch.randn(4, 2, 10))


def test_vae_masks_padding_and_decodes_any_length():
    torch.manual_seed(0)
    vae = MotionVAE(feature_dim=263, latent_tokens=1, latent_dim=16, layers=3, heads=2, ff=32, dropout=0.0,
                    max_frames=40).eval()
    x = torch.randn(2, 30, 263)
    lengths = torch.tensor([30, 17])
    post = vae.encode(x, lengths)
    assert post.mean.shape == (2, 1, 16) and post.logvar.shape == (2, 1, 16)
    padded = x.clone()
    padded[1, 17:] = 99.0  # padding content must not matter
    assert torch.allclose(vae.encode(padded, lengths).mean, post.mean, atol=1e-5)
    rec = vae.decode(post.mean, lengths)
    assert rec.shape == (2, 30, 263) and torch.equal(rec[1, 17:], torch.zeros(13, 263))
    assert vae.decode(post.mean, torch.tensor([40, 5])).shape == (2, 40, 263)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(post.sample(g()), post.sample(g()))
    out = vae(x, lengths, generator=g())
    assert out.loss.item() == pytest.approx(out.recon.item() + 1e-4 * out.kl.item(), rel=1e-6)
    with pytest.raises(ValueError, match="at most 40"):
        vae.decode(post.mean, torch.tensor([41, 3]))


# ---------------------------------------------------------------------------------------------- MotionDuet
def test_model_losses_conditioning_and_dash():
    model = tiny_model()
    feats, lengths = torch.randn(4, 24, 263), torch.tensor([24, 20, 16, 12])
    text, video = torch.randn(4, TEXT_DIM), torch.randn(4, 5, VIDEO_DIM)
    vae = model.vae_loss(feats, lengths, generator=torch.Generator().manual_seed(0))
    assert vae.features.shape == (4, 24, 263) and torch.isfinite(vae.loss)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = model(feats, lengths, text, video, dash_lambda=0.1, generator=g())
    b = model(feats, lengths, text, video, dash_lambda=0.1, generator=g())
    assert torch.equal(a.loss, b.loss) and a.prediction.shape == (4, 1, 32) and a.timesteps.shape == (4,)
    assert a.dash.item() > 0
    assert a.loss.item() == pytest.approx(a.diffusion.item() + 0.1 * a.dash.item(), rel=1e-5)
    assert model(feats, lengths, text, None, dash_lambda=0.1, generator=g()).dash.item() == 0.0
    a.loss.backward()
    assert model.dash_head[0].weight.grad is not None and model.null_text.grad is not None
    assert model.null_condition(3).shape == (3, 4, 32)
    assert model.condition(text, video).fused.shape == (4, 4, 32)
    text_only = MotionDuetModel.from_preset("tiny", text_dim=TEXT_DIM, video_dim=0, max_frames=48)
    assert text_only.dash_head is None
    assert torch.isfinite(text_only(feats, lengths, text, dash_lambda=0.1).loss)
    with pytest.raises(ValueError, match="preset"):
        MotionDuetModel.from_preset("huge")
    with pytest.raises(ValueError, match="cond_drop"):
        MotionDuetModel.from_preset("tiny", cond_drop=1.0)


def test_normalization_and_latent_stats_round_trip():
    model = tiny_model().eval()
    model.set_normalization(torch.randn(263), torch.rand(263) + 0.5)
    model.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
    x = torch.randn(2, 10, 263)
    assert torch.allclose(model.denormalize_features(model.normalize_features(x)), x, atol=1e-5)
    z = torch.randn(2, 1, 32)
    assert torch.allclose(model.normalize_latents(model.denormalize_latents(z)), z, atol=1e-5)
    raw = model.decode(z, torch.tensor([10, 6]))
    assert raw.shape == (2, 10, 263) and torch.equal(raw[1, 6:], torch.zeros(4, 263))
    with pytest.raises(ValueError, match="263 values"):
        model.set_normalization(torch.zeros(3), torch.ones(3))


def test_save_load_equality(tmp_path):
    model = tiny_model(branches="fft,dmm", video_encoder="stick-tiny").eval()
    model.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
    model.save_pretrained(tmp_path / "m")
    loaded = MotionDuetModel.from_pretrained(tmp_path / "m")
    assert loaded.duet.conv is None and loaded.video_encoder_name == "stick-tiny"
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    h = model.condition(torch.randn(2, TEXT_DIM), torch.randn(2, 3, VIDEO_DIM)).fused
    x, t = torch.randn(2, 1, 32), torch.tensor([5, 700])
    assert torch.equal(model.denoise(x, t, h).prediction, loaded.denoise(x, t, h).prediction)
    other = MotionDuetModel.from_preset("tiny", text_dim=TEXT_DIM, video_dim=VIDEO_DIM + 1, max_frames=48)
    other.save_pretrained(tmp_path / "o")
    with pytest.raises(ValueError, match="does not match"):
        MotionDuetModel.from_pretrained(tmp_path / "o", video_dim=VIDEO_DIM)


# ---------------------------------------------------------------------------------------------- video
def test_render_stick_videos():
    joints = synthetic_joints(30, batch=(2,)).float()
    clips = render_stick_videos(joints, torch.tensor([30, 12]), frames=6, size=32)
    assert clips.shape == (2, 6, 32, 32) and clips.min() >= 0 and clips.max() == 1.0
    assert (clips.flatten(2).sum(-1) > 10).all()  # every frame shows a figure
    assert not torch.equal(clips[0, 0], clips[0, -1])  # the figure moves
    assert torch.equal(render_stick_videos(joints[0], frames=6, size=32)[0], clips[0])
    with pytest.raises(ValueError, match="lengths"):
        render_stick_videos(joints, torch.tensor([31, 3]))


def test_stick_encoder_is_frozen_and_seeded():
    enc, again = load_video_encoder("stick-tiny"), load_video_encoder("stick-tiny")
    assert enc.source == "stick-tiny" and not any(p.requires_grad for p in enc.parameters())
    joints = synthetic_joints(24, batch=(3,)).float()
    feats = enc.encode_motion(joints)
    assert feats.shape == (3, enc.tokens, enc.dim) == (3, 4, 16)
    assert torch.equal(feats, again.encode_motion(joints))
    other_seed = StickVideoEncoder(frames=8, size=32, widths=(4, 8, 8), seed=1)
    assert not torch.allclose(other_seed.encode_motion(joints), feats)
    assert torch.allclose(encode_video_input(joints[0], enc, batch=2), feats[:1].expand(2, -1, -1), atol=1e-5)
    assert torch.equal(encode_video_input(feats[0], enc, batch=2), feats[:1].expand(2, -1, -1))
    with pytest.raises(ValueError, match="channels"):
        encode_video_input(torch.randn(4, 3), enc)
    with pytest.raises(FileNotFoundError, match="unknown video encoder"):
        load_video_encoder("no-such-encoder")


def test_videomae_encoder_from_a_tiny_random_checkpoint(tmp_path):
    from transformers import VideoMAEConfig, VideoMAEModel

    cfg = VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=16,
                         num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    VideoMAEModel(cfg).save_pretrained(tmp_path / "videomae")
    enc = load_video_encoder(str(tmp_path / "videomae"))
    assert isinstance(enc, VideoMAEEncoder) and enc.dim == 16 and enc.tokens == 2
    assert enc.state_dict() == {}  # frozen external: never in a state dict
    joints = synthetic_joints(20, batch=(2,)).float()
    feats = enc.encode_motion(joints, torch.tensor([20, 9]))
    assert feats.shape == (2, 2, 16) and torch.isfinite(feats).all()
    again = VideoMAEEncoder(tmp_path / "videomae")
    assert torch.equal(feats, again.encode_motion(joints, torch.tensor([20, 9])))
    with pytest.raises(FileNotFoundError, match="VideoMAE"):
        VideoMAEEncoder(tmp_path)


def test_vae_joint_loss_adds_the_global_joint_error():
    from humo.representations.humanml3d import joints_to_features
    from tests.helpers import synthetic_joints

    torch.manual_seed(0)
    plain = MotionDuetModel.from_preset("tiny", max_frames=64)
    with_joints = MotionDuetModel.from_preset("tiny", max_frames=64, joint_weight=2.0)
    with_joints.load_state_dict(plain.state_dict())
    feats = torch.stack([joints_to_features(synthetic_joints(41, seed=s).float()) for s in range(2)])
    lengths = torch.tensor([40, 31])
    a = plain.vae_loss(feats, lengths, generator=torch.Generator().manual_seed(0))
    b = with_joints.vae_loss(feats, lengths, generator=torch.Generator().manual_seed(0))
    assert a.joints is None and b.joints is not None and b.joints > 0
    assert torch.allclose(b.loss, a.loss + 2.0 * b.joints)
    b.loss.backward()
    assert with_joints.vae.out_proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="joint_weight"):
        MotionDuetModel.from_preset("tiny", joint_weight=-1.0)
