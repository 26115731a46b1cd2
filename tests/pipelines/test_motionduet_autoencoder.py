"""MotionDuet on CoAMD's autoencoder (first stage "autoencoder"): masked time-aligned latents, generation
whose per-sample output does not depend on the batch, save/load, and training from an autoencoder folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humo.guidance import ClassifierFreeGuidance, ContactGuidance, LatentGuidance
from humo.models.autoencoder import AE_PRESETS, MotionAutoencoder
from humo.models.motionduet import MotionDuetModel
from humo.pipelines.motionduet import MotionDuet
from tests.helpers import FakeTextEncoder, synthetic_joints
from tests.pipelines.test_motionduet_pipeline import TEXT_DIM, write_corpus


def make_model(video_dim: int = 0) -> MotionDuetModel:
    torch.manual_seed(0)
    model = MotionDuetModel.from_preset("tiny", text_dim=TEXT_DIM, video_dim=video_dim, max_frames=64,
                                        first_stage="autoencoder", autoencoder=dict(AE_PRESETS["tiny"]))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # off the zero init so outputs depend on the condition (as after training)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def model() -> MotionDuetModel:
    return make_model()


def test_latent_shape_follows_the_autoencoder_and_vae_calls_are_refused(model):
    assert (model.latent_tokens, model.latent_dim) == (16, AE_PRESETS["tiny"]["latent_dim"])
    assert model.vae is None and model.tokens_for(torch.tensor([4, 5, 64])).tolist() == [1, 2, 16]
    with pytest.raises(ValueError, match="first stage is 'autoencoder'"):
        model.encode(torch.zeros(1, 8, 263), torch.tensor([8]))
    with pytest.raises(ValueError, match="pass latents"):
        model(torch.zeros(1, 8, 263), torch.tensor([8]), torch.zeros(1, TEXT_DIM))
    with pytest.raises(ValueError, match="needs the autoencoder config"):
        MotionDuetModel.from_preset("tiny", first_stage="autoencoder")
    joints = synthetic_joints(frames=32, seed=0).float()[None]
    z = model.encode_joints(joints)
    assert z.shape == (1, 8, model.latent_dim) and model.decode_joints(z).shape == (1, 32, 22, 3)


def test_padding_tokens_change_nothing(model):
    """The denoiser and the diffusion loss see only each row's valid tokens."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 12, model.latent_dim, generator=g)
    mask = torch.arange(12) < torch.tensor([[7], [12]])
    cond = model.condition(torch.randn(2, TEXT_DIM, generator=g)).fused
    t = torch.tensor([10, 500])
    with torch.no_grad():
        a = model.denoise(x, t, cond, mask).prediction
        y = x.clone()
        y[0, 7:] = 100.0  # garbage in row 0's padding
        b = model.denoise(y, t, cond, mask).prediction
        torch.testing.assert_close(a[0, :7], b[0, :7])
        torch.testing.assert_close(a[1], b[1])
        kw = dict(text_emb=torch.randn(2, TEXT_DIM, generator=g))
        lengths = torch.tensor([7, 12])
        la = model(None, lengths, generator=torch.Generator().manual_seed(3), latents=x, **kw)
        lb = model(None, lengths, generator=torch.Generator().manual_seed(3), latents=y, **kw)
    torch.testing.assert_close(la.diffusion, lb.diffusion)


def test_generation_lengths_batch_independence_skeleton_and_round_trip(model, tmp_path):
    from humo.metrics.kinematics import bone_std

    pipe = MotionDuet(model, text_encoder=FakeTextEncoder())
    kw = dict(seed=3, steps=4, guidance=[ClassifierFreeGuidance(2.0)])
    both = pipe.generate(["a person walks", "a person jumps"], frames=[20, 37], **kw)
    assert [len(m) for m in both] == [20, 37]
    alone = pipe.generate(["a person jumps"], frames=[37], seed=4, steps=4, guidance=kw["guidance"])[0]
    torch.testing.assert_close(alone.joints, both[1].joints, atol=1e-3, rtol=1e-5)  # same seed, other batch
    for m in both:  # untrained: the figure may be metres tall, so the checks are relative to its size
        size = float(m.joints.abs().max())
        assert float(bone_std(m.joints)) < 1e-6 * size and abs(float(m.joints[..., 1].min())) < 1e-6 * size
        assert torch.isfinite(m.joints).all() and m.meta["model"] == "motionduet"
    feats, lengths = pipe.generate_features(["a person walks"], [19], seeds=[3], steps=4, guidance=kw["guidance"])
    assert feats.shape == (1, 19, 263) and lengths.tolist() == [19] and torch.isfinite(feats).all()
    loaded = MotionDuet.from_pretrained(pipe.save_pretrained(tmp_path / "md"), text_encoder=FakeTextEncoder())
    assert loaded.model.first_stage == "autoencoder"
    again = loaded.generate(["a person walks", "a person jumps"], frames=[20, 37], **kw)
    torch.testing.assert_close(again[1].joints, both[1].joints)
    with pytest.raises(ValueError, match="latent tokens per sample"):
        pipe.sample_latents(model.null_condition(1), [torch.Generator()], steps=2)


def test_a_final_hook_gets_each_clips_tokens_and_contact_guidance_runs(model):
    pipe = MotionDuet(model, text_encoder=FakeTextEncoder())
    seen = []

    class Final(LatentGuidance):
        final = True

        def __call__(self, latents, decode, texts, update_mask, lengths=None):
            seen.append((update_mask.clone(), lengths.tolist(), decode(latents[:, :2]).shape))
            return latents + update_mask.unsqueeze(-1)  # a mark on exactly the tokens it may change

    cond = model.condition(pipe.encode_text(["a", "b"])).fused
    kw = dict(steps=3, tokens=[5, 3])
    ref = pipe.sample_latents(cond, [torch.Generator().manual_seed(i) for i in range(2)],
                              guidance=[ClassifierFreeGuidance(2.0)], **kw)
    out = pipe.sample_latents(cond, [torch.Generator().manual_seed(i) for i in range(2)],
                              guidance=[ClassifierFreeGuidance(2.0), Final()], **kw)
    assert len(seen) == 1 and seen[0][0].sum(1).tolist() == [5, 3] and seen[0][1] == [20, 12]
    assert seen[0][2] == (2, 8, 22, 3)  # decode: model-space tokens -> joints, 4 frames a token
    torch.testing.assert_close(out - ref, seen[0][0].unsqueeze(-1).float().expand_as(ref))
    joints = pipe.generate("a person walks", frames=20, seed=0, steps=3, guidance=[ContactGuidance(steps=2)]).joints
    assert joints.shape == (20, 22, 3) and torch.isfinite(joints).all()


def test_train_on_an_autoencoder_folder(tmp_path):
    from humo.training.motionduet import train_motionduet
    from humo.training.motionduet_latents import encode_segments

    write_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    ae = MotionAutoencoder.from_preset("tiny")
    clips = [torch.from_numpy(np.load(p)).float() for p in sorted((tmp_path / "corpus" / "new_joints").glob("*.npy"))]
    ae.fit_normalization(clips)
    ae.save_pretrained(tmp_path / "ae")
    kw = dict(preset="tiny", batch_size=4, device="cpu", seed=0, text_encoder=FakeTextEncoder(), progress=False,
              log_every=2, checkpoint_every=2, use_video=False, dash_lambda=0.0)
    r = train_motionduet(tmp_path / "corpus", tmp_path / "run", steps=3, autoencoder_from=tmp_path / "ae", **kw)
    assert r.steps == {"denoiser": 3} and "vae" not in r.metrics
    first = r.metrics["first_stage"]
    assert first["split"] == "val" and first["clips"] == 2 and 0 < first["local_mpjpe_mm"] < 5000
    cache = tmp_path / "run" / "cache" / "latents-train.safetensors"
    assert cache.is_file()
    pipe = MotionDuet.from_pretrained(r.final_dir, text_encoder=FakeTextEncoder())
    assert pipe.model.first_stage == "autoencoder" and not torch.equal(pipe.model.latent_std,
                                                                        torch.ones(pipe.model.latent_dim))
    m = pipe.generate("a person walks at pace 1", seconds=2.0, seed=7, steps=4)
    assert len(m) == 40 and torch.isfinite(m.joints).all()
    # the latent cache is read back (same ids, lengths, weights) and rebuilt for other weights
    ids = [f"{i:03d}" for i in range(2)]
    first_call = encode_segments(ae, clips[:2], ids, tmp_path / "c.safetensors")
    again = encode_segments(ae, clips[:2], ids, tmp_path / "c.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(first_call, again, strict=True))
    with torch.no_grad():
        ae.decoder[0].weight.add_(1.0)
        ae.encoder[-1].bias.add_(1.0)
    changed = encode_segments(ae, clips[:2], ids, tmp_path / "c.safetensors")
    assert not torch.equal(changed[0], first_call[0])
    with pytest.raises(ValueError, match="replaces the VAE"):
        train_motionduet(tmp_path / "corpus", tmp_path / "x", stage="vae", steps=1,
                         autoencoder_from=tmp_path / "ae", **kw)
    with pytest.raises(FileNotFoundError, match="no autoencoder there"):
        train_motionduet(tmp_path / "corpus", tmp_path / "y", steps=1, autoencoder_from=tmp_path / "none", **kw)
    with pytest.raises(ValueError, match="dash_margin_cos must be >= 0"):  # before any cache is built
        train_motionduet(tmp_path / "corpus", tmp_path / "z", steps=1, model_kwargs={"dash_margin_cos": -0.1}, **kw)
    assert not (tmp_path / "z").exists()


def test_mirrored_training_segments(tmp_path):
    from humo.representations.humanml3d import mirror_joints
    from humo.training.motionduet_data import build_cache

    write_corpus(tmp_path / "corpus")
    (tmp_path / "corpus" / "texts" / "000.txt").write_text("a person waves the left hand#x/X#0.0#0.0\n")
    plain = build_cache(tmp_path / "corpus", "train", FakeTextEncoder())
    both = build_cache(tmp_path / "corpus", "train", FakeTextEncoder(), mirror=True)
    n = len(plain)
    assert len(both) == 2 * n and both.ids[n:] == ["M" + i for i in plain.ids]
    torch.testing.assert_close(both.joints[n], mirror_joints(plain.joints[0]))
    mirrored_caps = {both.texts[i] for i in both.captions[plain.ids.index("000") + n]}
    assert mirrored_caps == {"a person waves the right hand"}
    assert both.text_emb.shape[0] == len(both.texts) > len(plain.texts)
