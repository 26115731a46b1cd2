"""MotionDuet: guidance passes, seeding, text-only vs text+video, save/load, errors, the CLI, and a
tiny end-to-end run (synthetic corpus -> train both stages -> resume -> reload -> generate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humo.guidance import AutoGuidance, ClassifierFreeGuidance, ContactGuidance, RecognizerGuidance
from humo.models.motionduet import MotionDuetModel, load_video_encoder
from humo.motion import Motion
from humo.pipelines.motionduet import MotionDuet
from humo.representations.humanml3d import joints_to_features
from tests.helpers import FakeTextEncoder, synthetic_joints

TEXT_DIM = 16


def make_pipeline(video: bool = True) -> MotionDuet:
    torch.manual_seed(0)
    enc = load_video_encoder("stick-tiny") if video else None
    model = MotionDuetModel.from_preset("tiny", text_dim=TEXT_DIM, video_dim=enc.dim if video else 0,
                                   video_encoder="stick-tiny", max_frames=64)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # off the zero init so outputs depend on the condition (as after training)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return MotionDuet(model, text_encoder=FakeTextEncoder(), video_encoder=enc)


@pytest.fixture(scope="module")
def pipe() -> MotionDuet:
    return make_pipeline()


class CountingDenoiser(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.batches = inner, []

    def forward(self, x, t, cond, mask=None):
        self.batches.append(x.shape[0])
        return self.inner(x, t, cond, mask)


def test_guidance_decides_the_number_of_passes(pipe):
    counting = CountingDenoiser(pipe.model.denoiser)
    pipe.model.denoiser = counting
    try:
        cases = (([ClassifierFreeGuidance(7.5)], 4), ([ClassifierFreeGuidance(1.0)], 2), ([], 2),
                 ([AutoGuidance(mode="dropout", strength=0.05, scale=1.25)], 4),
                 ([ClassifierFreeGuidance(7.5, stop=0.5)], None))
        for guidance, batch in cases:
            counting.batches.clear()
            pipe.generate(["a", "b"], frames=16, seed=0, steps=6, guidance=guidance)
            assert len(counting.batches) == 6
            if batch is not None:
                assert set(counting.batches) == {batch}
            else:  # window: guided (2 passes) for the first half only
                assert counting.batches == [4, 4, 4, 2, 2, 2]
    finally:
        pipe.model.denoiser = counting.inner


def test_seeds_are_per_sample_and_guidance_changes_the_result(pipe):
    both = pipe.generate(["a person waves", "a person jumps"], frames=20, seed=3, steps=5)
    alone = pipe.generate("a person jumps", frames=20, seed=4, steps=5)
    assert isinstance(alone, Motion) and len(alone) == 20 and alone.seed == 4
    # joints to 2 mm: the cleanup puts a pinned toe at height sqrt(L^2 - d^2) under the ankle, which turns the
    # batch-2 vs batch-1 rounding (4e-5 m here) into 1.1 mm on this random model's nearly level toe
    assert alone.text == "a person jumps" and torch.allclose(both[1].joints, alone.joints, atol=2e-3)
    f_both, _ = pipe.generate_features(["a person waves", "a person jumps"], [20, 20], seeds=[3, 4], steps=5)
    f_alone, lengths = pipe.generate_features(["a person jumps"], [20], seeds=[4], steps=5)
    assert torch.allclose(f_both[1], f_alone[0], atol=1e-5) and lengths.tolist() == [20]
    other_seed = pipe.generate("a person waves", frames=20, seed=5, steps=5)
    assert not torch.allclose(both[0].joints, other_seed.joints)
    kw = dict(frames=20, seed=3, steps=5)
    cfg = pipe.generate("a person waves", guidance=[ClassifierFreeGuidance(7.5)], **kw)
    for g in (AutoGuidance(mode="dropout", strength=0.05, scale=1.25),
              AutoGuidance(mode="noise", strength=0.1)):
        other = pipe.generate("a person waves", guidance=[g], **kw)
        assert torch.isfinite(other.joints).all() and not torch.allclose(other.joints, cfg.joints)
        assert torch.equal(other.joints, pipe.generate("a person waves", guidance=[g], **kw).joints)
    assert cfg.meta["model"] == "motionduet" and "ClassifierFreeGuidance" in cfg.meta["guidance"][0]


def test_text_only_and_text_plus_video(pipe):
    walk = synthetic_joints(40, seed=2).float()
    kw = dict(frames=24, seed=1, steps=5)
    text_only = pipe.generate("a person walks", **kw)
    with_motion = pipe.generate("a person walks", video=Motion(walk), **kw)
    with_joints = pipe.generate("a person walks", video=walk, **kw)
    feats = pipe.video_encoder.encode_motion(walk.unsqueeze(0))[0]  # precomputed (Lv, D)
    with_feats = pipe.generate("a person walks", video=feats, **kw)
    assert with_motion.meta["video"] and not text_only.meta["video"]
    assert torch.equal(with_motion.joints, with_joints.joints)
    assert torch.allclose(with_feats.joints, with_joints.joints, atol=1e-5)
    assert not torch.allclose(text_only.joints, with_motion.joints)
    mixed = pipe.generate(["a person walks", "a person walks"], video=[None, feats], **{**kw, "seed": None},
                          generator=torch.Generator().manual_seed(0))
    again = pipe.generate(["a person walks", "a person walks"], video=[None, feats], frames=24, steps=5,
                          generator=torch.Generator().manual_seed(0))
    assert torch.equal(mixed[0].joints, again[0].joints)
    assert mixed[1].meta["video"] and not mixed[0].meta["video"]


def test_video_gets_its_own_guidance_weight(pipe):
    """CFG with ``video_scale``: three passes where a video is given, ``uncond + w (text - uncond) + v
    (text_video - text)``; at ``v = w`` that is plain CFG on the joint condition (the same motion)."""
    walk = synthetic_joints(40, seed=2).float()
    kw = dict(frames=24, seed=1, steps=4, video=walk)
    plain = pipe.generate("a person walks", guidance=[ClassifierFreeGuidance(3.0)], **kw)
    same = pipe.generate("a person walks", guidance=[ClassifierFreeGuidance(3.0, video_scale=3.0)], **kw)
    assert torch.allclose(plain.joints, same.joints, atol=1e-4)
    counting = CountingDenoiser(pipe.model.denoiser)
    pipe.model.denoiser = counting
    try:
        weak = pipe.generate("a person walks", guidance=[ClassifierFreeGuidance(3.0, video_scale=0.5)], **kw)
        assert counting.batches == [3] * 4  # conditional, null, text alone
        counting.batches.clear()  # no video: nothing to weigh, two passes
        pipe.generate("a person walks", guidance=[ClassifierFreeGuidance(3.0, video_scale=0.5)],
                      **{**kw, "video": None})
        assert counting.batches == [2] * 4
    finally:
        pipe.model.denoiser = counting.inner
    assert not torch.allclose(weak.joints, plain.joints, atol=1e-3)
    # video_scale 0: the text-guided prediction of the text alone plus nothing of the video's difference
    g = ClassifierFreeGuidance(2.0, video_scale=0.0)
    cond, uncond, text = torch.randn(3, 2, 5).unbind(0)
    assert torch.allclose(g(cond, uncond, 0, 4, pred_text=text), uncond + 2.0 * (text - uncond))
    with pytest.raises(ValueError, match="video_scale"):
        ClassifierFreeGuidance(2.0, video_scale=-1.0)
    with pytest.raises(ValueError, match="text-only"):
        make_pipeline(video=False).default_guidance(video_scale=1.0)
    assert pipe.default_guidance(video_scale=1.0)[0].video_scale == 1.0


def test_save_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    loaded = MotionDuet.from_pretrained(tmp_path / "p", text_encoder=FakeTextEncoder())
    assert loaded.scheduler.config() == pipe.scheduler.config()
    assert loaded.video_encoder.source == "stick-tiny"  # rebuilt from the model config, identical weights
    kw = dict(frames=16, seed=2, steps=4, video=synthetic_joints(30).float())
    assert torch.equal(pipe.generate("x", **kw).joints, loaded.generate("x", **kw).joints)
    bare = MotionDuet.from_pretrained(tmp_path / "p" / "model", text_encoder=FakeTextEncoder())
    assert torch.equal(bare.generate("x", **kw).joints, loaded.generate("x", **kw).joints)
    with pytest.raises(FileNotFoundError, match="neither"):
        MotionDuet.from_pretrained(tmp_path)
    # the video's own guidance weight is part of the saved default
    weighted = MotionDuet(pipe.model, text_encoder=FakeTextEncoder(), video_encoder=pipe.video_encoder,
                          video_scale=1.0)
    weighted.save_pretrained(tmp_path / "w")
    again = MotionDuet.from_pretrained(tmp_path / "w", text_encoder=FakeTextEncoder())
    assert again.DEFAULT_VIDEO_SCALE == 1.0 and again.default_guidance()[0].video_scale == 1.0
    assert loaded.DEFAULT_VIDEO_SCALE is None and loaded.default_guidance()[0].video_scale is None
    with pytest.raises(ValueError, match="text-only"):
        MotionDuet(make_pipeline(video=False).model, video_scale=1.0)


def test_user_errors(pipe):
    with pytest.raises(ValueError, match="seconds or frames"):
        pipe.generate("a", seconds=1.0, frames=20)
    with pytest.raises(ValueError, match="out of range"):
        pipe.generate("a", frames=65)
    with pytest.raises(ValueError, match="videos for"):
        pipe.generate(["a", "b"], video=[None], frames=8)
    with pytest.raises(ValueError, match="prediction guidance"):
        pipe.generate("a", frames=8, steps=2, guidance=[RecognizerGuidance(type("R", (), {"score": None})())])
    with pytest.raises(ValueError, match="autoencoder first stage"):  # this one decodes features with a VAE
        pipe.generate("a", frames=8, steps=2, guidance=[ContactGuidance()])
    assert [type(g) for g in pipe.default_guidance()] == [ClassifierFreeGuidance]  # no contact guidance on a VAE
    with pytest.raises(ValueError, match="autoencoder first stage"):
        pipe.default_guidance(contact_steps=5)
    with pytest.raises(ValueError, match="CoAMD's"):
        pipe.default_guidance(recognizer_scale=1.0)
    with pytest.raises(ValueError, match="video_dim=0"):
        make_pipeline(video=False).generate("a", frames=8, video=torch.zeros(4, 16))
    with pytest.raises(ValueError, match="expects"):
        MotionDuet(pipe.model, video_encoder=load_video_encoder("stick"))


# ---------------------------------------------------------------------------------------------- end to end
def write_corpus(root, clips: int = 10) -> None:
    """A tiny HumanML3D-layout corpus of synthetic walks (2 captions each), split 6/2/2, with Mean/Std."""
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    ids = [f"{i:03d}" for i in range(clips)]
    feats = []
    for i, cid in enumerate(ids):
        joints = synthetic_joints(frames=44 + 4 * i, seed=i, speed=0.5 + 0.2 * i).float()
        f = joints_to_features(joints).numpy()
        np.save(root / "new_joints" / f"{cid}.npy", joints.numpy())
        np.save(root / "new_joint_vecs" / f"{cid}.npy", f)
        feats.append(f)
        lines = [f"a person walks at pace {i % 3}#a/DET#0.0#0.0", "someone moves forward#x/X#0.0#0.0"]
        (root / "texts" / f"{cid}.txt").write_text("\n".join(lines) + "\n")
    for split, part in (("train", ids[:6]), ("val", ids[6:8]), ("test", ids[8:])):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
    stacked = np.concatenate(feats)
    np.save(root / "Mean.npy", stacked.mean(0).astype(np.float32))
    np.save(root / "Std.npy", (stacked.std(0) + 1e-2).astype(np.float32))


def test_end_to_end_train_resume_reload_generate(tmp_path):
    from humo.training.motionduet import train_motionduet

    write_corpus(tmp_path / "corpus")
    kw = dict(preset="tiny", batch_size=4, device="cpu", seed=0, text_encoder=FakeTextEncoder(),
              video_encoder="stick-tiny", progress=False, log_every=2, checkpoint_every=2)
    r = train_motionduet(tmp_path / "corpus", tmp_path / "run", stage="both", steps=4, vae_steps=3,
                         dash_lambda=0.1, **kw)
    assert r.final_dir == tmp_path / "run" / "final" and r.steps == {"vae": 3, "denoiser": 4}
    assert r.metrics["train_segments"] == 6 and np.isfinite(r.metrics["vae"]["val"]["mpjpe_mm"])
    assert np.isfinite(r.metrics["denoiser"]["val"]["diffusion"])
    assert all(np.isfinite(h["loss"]) for h in r.history)
    assert (tmp_path / "run" / "cache" / "video-train.safetensors").is_file()
    r2 = train_motionduet(tmp_path / "corpus", tmp_path / "run", stage="denoiser", steps=6, dash_lambda=0.1,
                          **kw)
    assert r2.metrics["denoiser"]["resumed_from"] == 4
    pipe = MotionDuet.from_pretrained(r2.final_dir, text_encoder=FakeTextEncoder())
    assert pipe.model.video_encoder_name == "stick-tiny"
    assert not torch.equal(pipe.model.latent_std, torch.ones(32))  # fitted after the VAE stage
    walk = synthetic_joints(48, seed=9).float()
    for video in (None, walk):
        a = pipe.generate("a person walks at pace 1", video=video, seconds=2.0, seed=7, steps=8)
        b = pipe.generate("a person walks at pace 1", video=video, seconds=2.0, seed=7, steps=8)
        assert torch.equal(a.joints, b.joints) and len(a) == 40 and torch.isfinite(a.joints).all()
    # a text-only model reusing the trained VAE (the ablation's path)
    r3 = train_motionduet(tmp_path / "corpus", tmp_path / "text_only", stage="denoiser", steps=2,
                          use_video=False, dash_lambda=0.0, vae_from=tmp_path / "run" / "vae" / "final", **kw)
    text_only = MotionDuet.from_pretrained(r3.final_dir, text_encoder=FakeTextEncoder())
    assert text_only.model.video_dim == 0
    assert len(text_only.generate("a person walks", frames=12, steps=3)) == 12
    # the VAE alone, with another latent shape (the sweep's path): global and root-relative MPJPE
    r4 = train_motionduet(tmp_path / "corpus", tmp_path / "vae_l2", stage="vae", steps=2,
                          model_kwargs={"latent_tokens": 2, "kl_weight": 1e-3}, use_video=False, **kw)
    val = r4.metrics["vae"]["val"]
    assert r4.final_dir == tmp_path / "vae_l2" / "vae" / "final" and r4.steps == {"vae": 2}
    assert 0 < val["local_mpjpe_mm"] and np.isfinite(val["mpjpe_mm"])
    vae_only = MotionDuet.from_pretrained(r4.final_dir, text_encoder=FakeTextEncoder())
    assert vae_only.model.latent_tokens == 2 and vae_only.model.vae.kl_weight == 1e-3
    with pytest.raises(FileNotFoundError, match="train the VAE first"):
        train_motionduet(tmp_path / "corpus", tmp_path / "nowhere", stage="denoiser", steps=1, **kw)
    with pytest.raises(ValueError, match="unknown stage"):
        train_motionduet(tmp_path / "corpus", tmp_path / "x", stage="all", steps=1, **kw)


def test_cli_registers_and_reports_errors(tmp_path):
    from typer.testing import CliRunner

    import humo.cli.motionduet  # noqa: F401 - registers `humo train motionduet`
    from humo.cli.app import get_app

    runner = CliRunner()
    out = runner.invoke(get_app(), ["train", "motionduet", "--help"])
    assert out.exit_code == 0 and "--dash-lambda" in out.output and "--no-video" in out.output
    out = runner.invoke(get_app(), ["train", "motionduet", str(tmp_path / "missing"), str(tmp_path / "run")])
    assert isinstance(out.exception, FileNotFoundError) and "corpus folder" in str(out.exception)
    for flag, value in (("--latent-tokens", "0"), ("--kl-weight", "-1")):  # refused before any data is read
        out = runner.invoke(get_app(), ["train", "motionduet", str(tmp_path / "missing"), str(tmp_path / "run"),
                                        flag, value])
        assert isinstance(out.exception, ValueError) and flag[2:].replace("-", "_") in str(out.exception)


def test_humo_generate_model_motionduet_folder(pipe, tmp_path, monkeypatch):
    """`humo generate --model FOLDER` picks the MotionDuet pipeline from the folder, `--video` takes a video file;
    `--model motionduet` without a bundled model says so, before any work."""
    import numpy as np
    from typer.testing import CliRunner

    import humo.models.text_encoder
    from humo.cli.app import UserError, get_app
    from tests.helpers import FakeTextEncoder

    monkeypatch.setattr(humo.models.text_encoder, "TextEncoder", lambda name: FakeTextEncoder(dim=TEXT_DIM))
    pipe.save_pretrained(tmp_path / "md")
    runner = CliRunner()
    out = tmp_path / "m.npy"
    res = runner.invoke(get_app(), ["generate", "a person runs", "--model", str(tmp_path / "md"), "--seconds", "2",
                                    "--seed", "3", "--steps", "3", "--out", str(out), "-q"])
    assert res.exit_code == 0, (res.output, res.exception)
    joints = np.load(out)
    expected = pipe.generate("a person runs", seconds=2, seed=3, steps=3).joints.numpy()
    assert joints.shape == (40, 22, 3) and np.allclose(joints, expected, atol=1e-5)
    # --video with an mp4 (a stick-figure render, as the encoder saw in training)
    import imageio.v3 as iio

    from humo.data.video_io import read_video_clip
    from humo.models.motionduet.video import render_stick_videos

    enc = pipe.video_encoder
    clip = render_stick_videos(synthetic_joints(40, seed=2).float(), frames=enc.frames, size=enc.size)[0]
    rgb = (clip[..., None].expand(-1, -1, -1, 3).numpy() * 255).round().astype(np.uint8)
    iio.imwrite(tmp_path / "ref.mp4", rgb, fps=8, macro_block_size=1)
    out2 = tmp_path / "v.npy"
    res = runner.invoke(get_app(), ["generate", "a person runs", "--model", str(tmp_path / "md"), "--seconds", "2",
                                    "--seed", "3", "--steps", "3", "--video", str(tmp_path / "ref.mp4"), "--out",
                                    str(out2), "-q"])
    assert res.exit_code == 0, (res.output, res.exception)
    video = read_video_clip(tmp_path / "ref.mp4", frames=enc.frames, size=enc.size)[None]
    expected = pipe.generate("a person runs", video=video, seconds=2, seed=3, steps=3).joints.numpy()
    assert np.allclose(np.load(out2), expected, atol=1e-5)
    out3 = tmp_path / "vs.npy"  # the video with its own weight
    res = runner.invoke(get_app(), ["generate", "a person runs", "--model", str(tmp_path / "md"), "--seconds", "2",
                                    "--seed", "3", "--steps", "3", "--video", str(tmp_path / "ref.mp4"),
                                    "--video-scale", "1.5", "--out", str(out3), "-q"])
    assert res.exit_code == 0, (res.output, res.exception)
    expected = pipe.generate("a person runs", video=video, seconds=2, seed=3, steps=3,
                             guidance=pipe.default_guidance(video_scale=1.5)).joints.numpy()
    assert np.allclose(np.load(out3), expected, atol=1e-5)
    res = runner.invoke(get_app(), ["generate", "walk", "--model", str(tmp_path / "md"), "--video-scale", "1",
                                    "--out", str(tmp_path / "x.npy")])
    assert isinstance(res.exception, UserError) and "--video-scale" in str(res.exception)
    import humo.models.hub

    monkeypatch.setattr(humo.models.hub, "BUNDLED_MOTIONDUET", tmp_path / "no-bundle")
    res = runner.invoke(get_app(), ["generate", "walk", "--model", "motionduet", "--out", str(tmp_path / "x.npy")])
    assert isinstance(res.exception, UserError) and "no bundled MotionDuet" in str(res.exception)
    res = runner.invoke(get_app(), ["generate", "walk", "--model", str(tmp_path / "md"), "--flow-steps", "3",
                                    "--out", str(tmp_path / "x.npy")])
    assert isinstance(res.exception, UserError) and "CoAMD options" in str(res.exception)


def test_generated_motion_is_on_one_skeleton_and_the_floor(pipe, tmp_path):
    from humo.metrics.kinematics import bone_std
    from humo.representations.rig import rig_offsets

    m = pipe.generate(["a person waves", "a person jumps"], frames=[20, 24], seed=1, steps=4)
    for x in m:
        # an untrained model: the lowest joint (not necessarily a foot) is on the floor
        assert float(bone_std(x.joints)) < 1e-5 and abs(float(x.joints[..., 1].min())) < 1e-6
        assert x.meta["cleanup"] == {"skeleton": "per-clip mean", "plant_root": True, "foot_lock": True,
                                     "plant_sigma": 0.0, "plant_soft": True, "plant_slack": 0.02,
                                     "plant_contacts": True}
    pipe.cleanup.offsets = rig_offsets(m[0].joints)  # a given skeleton travels with save_pretrained
    try:
        loaded = MotionDuet.from_pretrained(pipe.save_pretrained(tmp_path / "md"))
        torch.testing.assert_close(loaded.cleanup.offsets, pipe.cleanup.offsets, atol=1e-6, rtol=0)
    finally:
        pipe.cleanup.offsets = None
