"""CoAMD: generation, seeding, batching, guidance passes, outpainting, editing, save/load, errors,
and a tiny end-to-end run (synthetic corpus -> train -> save -> reload -> generate / edit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from humo.guidance import (
    AutoGuidance,
    ClassifierFreeGuidance,
    ContactGuidance,
    LatentGuidance,
    RecognizerGuidance,
)
from humo.metrics.kinematics import bone_std
from humo.models.autoencoder import MotionAutoencoder
from humo.models.coamd import CoAMDTransformer
from humo.models.recognizer import RECOGNIZER_PRESETS, ActionRecognizer
from humo.motion import Motion
from humo.pipelines.cleanup import MotionCleanup
from humo.pipelines.coamd import CoAMD, keep_mask
from humo.representations.rig import fit_rig, rig_offsets
from tests.helpers import FakeTextEncoder, synthetic_joints

TEXT_DIM = 16
FAST = dict(steps=6, flow_steps=4)


def perturbed(model, scale: float = 0.05, seed: int = 0):
    """Random weights off the zero initialisation, so outputs depend on the text (as after training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return model


def make_pipeline(recognizer: bool = False) -> CoAMD:
    torch.manual_seed(0)
    ae = MotionAutoencoder.from_preset("tiny")
    coamd = perturbed(CoAMDTransformer.from_preset("tiny", latent_dim=ae.latent_dim, max_tokens=12, text_dim=TEXT_DIM))
    rec = None
    if recognizer:
        rec = ActionRecognizer(**RECOGNIZER_PRESETS["tiny"], text_dim=TEXT_DIM, embed_dim=32)
        rec.text_encoder = FakeTextEncoder()
    return CoAMD(ae, coamd, text_encoder=FakeTextEncoder(), recognizer=rec)


@pytest.fixture(scope="module")
def pipe() -> CoAMD:
    return make_pipeline()


def test_generate_types_and_lengths(pipe):
    m = pipe.generate("a person walks", seconds=2.0, seed=0, **FAST)
    assert isinstance(m, Motion) and m.joints.shape == (40, 22, 3) and m.fps == 20.0
    assert m.text == "a person walks" and m.seed == 0 and m.meta["model"] == "coamd"
    assert torch.isfinite(m.joints).all() and not m.joints.requires_grad
    ms = pipe.generate(["walk", "jump"], frames=[21, 8], seed=3, **FAST)
    assert [len(x) for x in ms] == [21, 8] and [x.seed for x in ms] == [3, 4]
    default = pipe.generate("wave", seed=1, **FAST)  # length from the length head
    assert 4 <= len(default) <= pipe.window_frames and len(default) % 4 == 0


def test_same_seed_same_motion_any_batch(pipe):
    a = pipe.generate("a person walks", seconds=1.6, seed=5, **FAST)
    b = pipe.generate("a person walks", seconds=1.6, seed=5, **FAST)
    assert torch.equal(a.joints, b.joints)
    batch = pipe.generate(["a person jumps", "a person walks"], seconds=[2.4, 1.6], seed=4, batch_size=2,
                          **FAST)
    assert torch.allclose(batch[1].joints, a.joints, atol=1e-4)  # sample 1 uses seed 4 + 1
    assert not torch.allclose(pipe.generate("a person walks", seconds=1.6, seed=6, **FAST).joints, a.joints)
    gen = pipe.generate("a person walks", seconds=1.6, generator=torch.Generator().manual_seed(0), **FAST)
    again = pipe.generate("a person walks", seconds=1.6, generator=torch.Generator().manual_seed(0), **FAST)
    assert torch.equal(gen.joints, again.joints) and gen.seed == again.seed
    other = pipe.generate("a person waves", seconds=1.6, seed=5, **FAST)
    assert not torch.allclose(other.joints, a.joints)  # the text matters


def test_guidance_decides_the_number_of_passes(pipe, monkeypatch):
    sizes = []
    context = pipe.transformer.context
    monkeypatch.setattr(pipe.transformer, "context",
                        lambda t, *a, **k: sizes.append(t.shape[0]) or context(t, *a, **k))
    pipe.generate(["a", "b"], seconds=1.2, seed=0, guidance=[ClassifierFreeGuidance(1.0)], **FAST)
    assert sizes and set(sizes) == {2}
    sizes.clear()
    pipe.generate(["a", "b"], seconds=1.2, seed=0, guidance=[ClassifierFreeGuidance(3.0)], **FAST)
    assert set(sizes) == {4}
    sizes.clear()
    pipe.generate(["a", "b"], seconds=1.2, seed=0, guidance=[ClassifierFreeGuidance(3.0, start=0.5)], **FAST)
    assert sizes[0] == 2 and sizes[-1] == 4
    sizes.clear()
    m = pipe.generate("a", seconds=1.2, seed=0, guidance=[AutoGuidance("noise", 0.5, 1.0)], solver="heun",
                      **FAST)
    assert set(sizes) == {2} and torch.isfinite(m.joints).all()
    none = pipe.generate("a", seconds=1.2, seed=0, guidance=[], **FAST)
    cfg = pipe.generate("a", seconds=1.2, seed=0, guidance=[ClassifierFreeGuidance(3.0)], **FAST)
    assert not torch.allclose(none.joints, cfg.joints)


def window(pipe, given_tokens: int, second_valid: int, b: int = 2, l: int = 10):
    """``(given, given_mask, valid)`` of a sampling window: the first ``given_tokens`` tokens given, the
    second sample ``second_valid`` tokens long."""
    given = torch.randn(b, l, pipe.transformer.latent_dim)
    given_mask = torch.zeros(b, l, dtype=torch.bool)
    given_mask[:, :given_tokens] = True
    valid = torch.ones(b, l, dtype=torch.bool)
    valid[1, second_valid:] = False
    return given, given_mask, valid


def test_given_tokens_are_kept_and_hooks_touch_only_revealed(pipe):
    b = 2
    given, given_mask, valid = window(pipe, 4, 8)
    seen = []

    class Spy(RecognizerGuidance):
        def __call__(self, latents, decode, texts, update_mask, lengths=None):
            seen.append(update_mask.clone())
            out = super().__call__(latents, decode, texts, update_mask, lengths)
            assert torch.equal(out[~update_mask], latents[~update_mask])
            return out

    class Score:  # differentiable stand-in for ActionRecognizer.score
        def score(self, joints, texts, weights=(1, 1, 1, 1), lengths=None):
            return -(joints[..., 1] - 1.0).pow(2).flatten(1).mean(1)

    gens = [torch.Generator().manual_seed(i) for i in range(b)]
    out = pipe.sample_tokens(pipe.encode_text(["a", "b"]), ["a", "b"], given, given_mask, valid, gens,
                             guidance=[ClassifierFreeGuidance(2.0), Spy(Score(), scale=0.5)], **FAST)
    assert torch.equal(out[given_mask], given[given_mask])
    revealed = torch.stack(seen).any(0)
    assert torch.equal(revealed, valid & ~given_mask)  # every unknown valid token revealed exactly once
    assert (torch.stack(seen).sum(0) <= 1).all()


def test_a_final_hook_runs_once_on_every_generated_token(pipe):
    b = 2
    given, given_mask, valid = window(pipe, 3, 7)
    calls = []

    class Final(LatentGuidance):
        final = True

        def __call__(self, latents, decode, texts, update_mask, lengths=None):
            calls.append((update_mask.clone(), lengths.tolist()))
            return latents + update_mask.unsqueeze(-1)  # a mark on exactly the tokens it may change

    args = (pipe.encode_text(["a", "b"]), ["a", "b"], given, given_mask, valid)
    plain = pipe.sample_tokens(*args, [torch.Generator().manual_seed(i) for i in range(b)], **FAST)
    out = pipe.sample_tokens(*args, [torch.Generator().manual_seed(i) for i in range(b)], guidance=[Final()],
                             **FAST)
    assert len(calls) == 1 and calls[0][1] == [40, 28]
    assert torch.equal(calls[0][0], valid & ~given_mask)
    torch.testing.assert_close(out - plain, calls[0][0].unsqueeze(-1).float().expand_as(out))
    m = pipe.generate("a person walks", seconds=1.2, seed=0, guidance=[ContactGuidance(steps=2)], **FAST)
    assert m.joints.shape == (24, 22, 3) and torch.isfinite(m.joints).all()
    assert all(p.grad is None for p in pipe.autoencoder.parameters())  # gradients for the latents only


def test_default_guidance_cfg_then_recognizer_where_there_is_one_then_contact(pipe, monkeypatch):
    kinds = [type(g) for g in pipe.default_guidance()]
    assert kinds == [ClassifierFreeGuidance, ContactGuidance]  # no recognizer in this pipeline
    with_rec = make_pipeline(recognizer=True)
    cfg, rec, contact = with_rec.default_guidance()
    assert (cfg.scale, cfg.rescale) == (CoAMD.DEFAULT_CFG, CoAMD.DEFAULT_CFG_RESCALE)
    assert isinstance(rec, RecognizerGuidance) and rec.scale == CoAMD.DEFAULT_RECOGNIZER_SCALE > 0
    assert isinstance(contact, ContactGuidance) and contact.steps == CoAMD.DEFAULT_CONTACT_STEPS
    cfg, contact = with_rec.default_guidance(cfg=2.0, rescale=0.0, recognizer_scale=0, contact_steps=7)
    assert (cfg.scale, cfg.rescale, contact.steps) == (2.0, 0.0, 7)  # parts overridden, 0 turns one off
    with pytest.raises(ValueError, match="recognizer"):
        pipe.default_guidance(recognizer_scale=1.0)
    monkeypatch.setattr(with_rec, "DEFAULT_RECOGNIZER_SCALE", 0.0)
    monkeypatch.setattr(with_rec, "DEFAULT_CONTACT_STEPS", 0)
    assert [type(g) for g in with_rec.default_guidance()] == [ClassifierFreeGuidance]
    m = make_pipeline(recognizer=True).generate("a person kicks", seconds=1.2, seed=0, **FAST)
    assert [g.split("(")[0] for g in m.meta["guidance"]] == ["ClassifierFreeGuidance", "RecognizerGuidance",
                                                             "ContactGuidance"]


def test_recognizer_guidance_with_the_real_recognizer():
    p = make_pipeline(recognizer=True)
    plain = p.generate("a person kicks", seconds=1.2, seed=0, guidance=[], **FAST)
    guided = p.generate("a person kicks", seconds=1.2, seed=0, guidance=[RecognizerGuidance(p.recognizer)],
                        **FAST)
    assert guided.joints.shape == plain.joints.shape and not torch.allclose(guided.joints, plain.joints)
    assert "RecognizerGuidance" in " ".join(guided.meta["guidance"])


def test_outpainting_continues_from_the_overlap(pipe, monkeypatch):
    calls = []
    sample = pipe.sample_tokens

    def spy(cond, texts, given, given_mask, token_valid, generators, **kw):
        out = sample(cond, texts, given, given_mask, token_valid, generators, **kw)
        calls.append((given, given_mask, token_valid, out))
        return out

    monkeypatch.setattr(pipe, "sample_tokens", spy)
    m = pipe.generate("a person runs", seconds=6.0, seed=0, **FAST)  # 120 frames > the 48-frame window
    assert len(m) == 120 and torch.isfinite(m.joints).all()
    assert len(calls) > 1
    w, overlap = pipe.transformer.max_tokens, pipe.transformer.max_tokens // 2
    (_, m0, _, out0), (g1, m1, _, _) = calls[0], calls[1]
    assert not m0.any() and m1[0, :overlap].all() and not m1[0, overlap:].any()
    assert torch.equal(g1[0, :overlap], out0[0, w - overlap:w])


def test_keep_mask_modes():
    t = 40  # 2 s
    assert keep_mask(t, "prefix", (0, 0.5)).nonzero().flatten().tolist() == list(range(10))
    assert keep_mask(t, "suffix", (1.5, None)).nonzero().flatten().tolist() == list(range(30, 40))
    assert keep_mask(t, "outpaint", (0.5, 1.0)).nonzero().flatten().tolist() == list(range(10, 20))
    inp = keep_mask(t, "inpaint", (0.5, 1.0))
    assert not inp[10:20].any() and inp[:10].all() and inp[20:].all()
    mask = torch.zeros(t, dtype=torch.bool)
    assert keep_mask(t, "inpaint", mask) is not None
    with pytest.raises(ValueError, match="unknown edit mode"):
        keep_mask(t, "paint", (0, 1))
    with pytest.raises(ValueError, match="start < end"):
        keep_mask(t, "inpaint", (1.0, 0.5))
    with pytest.raises(ValueError, match="shape"):
        keep_mask(t, "inpaint", torch.zeros(5, dtype=torch.bool))


def test_edit_keeps_known_tokens_exactly_and_frames_approximately(pipe):
    src = synthetic_joints(frames=46, seed=1, dtype=torch.float32)
    motion = Motion(src, text="a person walks")
    res = pipe.edit_latents(motion, "a person jumps", mode="prefix", keep=(0, 1.2), seed=0, **FAST)
    assert res.given.tolist() == [True] * 6 + [False] * 6
    assert torch.equal(res.latents[0, res.given], res.source[0, res.given])
    assert not torch.allclose(res.latents[0, ~res.given], res.source[0, ~res.given])
    origin = src[:1, 0] * torch.tensor([1.0, 0.0, 1.0])
    recon = pipe.autoencoder.decode(res.source, origin=origin)[0].detach()
    # a fixed skeleton, no planted root and no foot locking: the cleanup is then per frame up to one vertical
    # shift per clip
    pipe.cleanup = MotionCleanup(offsets=rig_offsets(recon), foot_lock=False, plant_root=False)
    edited = pipe.edit(motion, "a person jumps", mode="prefix", keep=(0, 1.2), seed=0, **FAST)
    assert len(edited) == 46 and edited.meta["edit"] == "prefix" and edited.seed == 0
    # kept frames away from the edited part match the autoencoder's reconstruction of the input, on the rig
    shift = edited.joints[:8] - fit_rig(recon[:8], pipe.cleanup.offsets, steps=pipe.cleanup.refine_steps)
    assert torch.allclose(shift, shift[:1, :1] * torch.tensor([0.0, 1.0, 0.0]), atol=1e-4)
    assert bone_std(edited.joints).item() < 1e-5
    pipe.cleanup = MotionCleanup()
    inpaint = pipe.edit(motion, "a person jumps", keep=(0.8, 1.6), seed=0, **FAST)
    assert len(inpaint) == 46 and torch.isfinite(inpaint.joints).all()


def test_input_errors(pipe):
    with pytest.raises(ValueError, match="empty"):
        pipe.generate("   ", seconds=1)
    with pytest.raises(ValueError, match="out of range"):
        pipe.generate("walk", seconds=0.1)
    with pytest.raises(ValueError, match="out of range"):
        pipe.generate("walk", seconds=10_000)
    with pytest.raises(ValueError, match="not both"):
        pipe.generate("walk", seconds=1, frames=20)
    with pytest.raises(ValueError, match="lengths for"):
        pipe.generate(["a", "b"], seconds=[1.0])
    with pytest.raises(ValueError, match="seed"):
        pipe.generate("walk", seconds=1, seed=-1)
    with pytest.raises(ValueError, match="not both"):
        pipe.generate("walk", seconds=1, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="at most one"):
        pipe.generate("walk", seconds=1, guidance=[ClassifierFreeGuidance(2), AutoGuidance()])
    with pytest.raises(ValueError, match="unknown solver"):
        pipe.generate("walk", seconds=1, solver="rk4")
    src = synthetic_joints(frames=40, dtype=torch.float32)
    bad = src.clone()
    bad[3, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pipe.edit(bad, "jump", keep=(0.5, 1.0))
    with pytest.raises(ValueError, match="unknown edit mode"):
        pipe.edit(src, "jump", mode="paint", keep=(0.5, 1.0))
    with pytest.raises(ValueError, match="one window"):
        pipe.edit(synthetic_joints(frames=60, dtype=torch.float32), "jump", keep=(0.5, 1.0))
    with pytest.raises(ValueError, match="nothing to generate"):
        pipe.edit(src, "jump", mode="outpaint", keep=(0, None))
    with pytest.raises(ValueError, match="fps"):
        pipe.edit(Motion(src, fps=30), "jump", keep=(0.5, 1.0))


def test_save_load_round_trip(tmp_path):
    p = make_pipeline(recognizer=True)
    p.save_pretrained(tmp_path / "pipe")
    names = {f.name for f in (tmp_path / "pipe").iterdir()}
    assert names == {"autoencoder", "coamd", "recognizer", "pipeline.json"}
    q = CoAMD.from_pretrained(tmp_path / "pipe", text_encoder=FakeTextEncoder())
    assert q._recognizer is None  # loaded on first use: generation without recognizer guidance never does
    q.generate("kick", seconds=1, seed=2, guidance=[ClassifierFreeGuidance(3.0)], **FAST)
    assert q._recognizer is None
    q.generate("kick", seconds=1, seed=2, **FAST)  # the default guidance includes recognizer guidance
    assert q._recognizer is not None and q.recognizer.text_encoder is q.text_encoder  # one shared encoder
    assert q.text_encoder_name == "minilm"
    for a, b in ((p.transformer, q.transformer), (p.autoencoder, q.autoencoder), (p.recognizer, q.recognizer)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(p.generate("kick", seconds=1, seed=2, **FAST).joints,
                       q.generate("kick", seconds=1, seed=2, **FAST).joints)
    with pytest.raises(FileNotFoundError, match="pipeline.json"):
        CoAMD.from_pretrained(tmp_path / "pipe" / "coamd")
    with pytest.raises(FileNotFoundError, match="not found"):
        CoAMD.from_pretrained(tmp_path / "missing")
    meta = json.loads((tmp_path / "pipe" / "pipeline.json").read_text())
    (tmp_path / "pipe" / "pipeline.json").write_text(json.dumps({**meta, "autoencoder": "os.system"}))
    with pytest.raises(ValueError, match="unknown component"):
        CoAMD.from_pretrained(tmp_path / "pipe")
    (tmp_path / "pipe" / "pipeline.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        CoAMD.from_pretrained(tmp_path / "pipe")
    (tmp_path / "pipe" / "pipeline.json").write_text(json.dumps(meta))
    (tmp_path / "pipe" / "recognizer" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="names a recognizer"):  # at load, not at first use
        CoAMD.from_pretrained(tmp_path / "pipe")


def write_corpus(root, clips: int = 6) -> None:
    """A tiny HumanML3D-layout corpus of synthetic walks with two captions each (one with "left")."""
    (root / "new_joints").mkdir(parents=True)
    (root / "texts").mkdir()
    ids = [f"{i:03d}" for i in range(clips)]
    for i, cid in enumerate(ids):
        joints = synthetic_joints(frames=40 + 8 * i, seed=i).float().numpy()
        np.save(root / "new_joints" / f"{cid}.npy", joints)
        lines = [f"a person walks forward {i}#a/DET#0.0#0.0", "someone turns left#x/X#0.0#0.0"]
        if i == 0:
            lines.append("a person waves#x/X#0.5#1.5")  # a segment caption: an item of its own
        (root / "texts" / f"{cid}.txt").write_text("\n".join(lines) + "\n")
    (root / "train.txt").write_text("\n".join(ids) + "\n")


def test_end_to_end_train_save_reload_generate_edit(tmp_path, capsys):
    from humo.training.coamd import train_coamd

    write_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    ae = MotionAutoencoder.from_preset("tiny")
    ae.save_pretrained(tmp_path / "ae" / "final")
    kw = dict(preset="tiny", batch_size=4, device="cpu", seed=0, text_encoder=FakeTextEncoder(),
              max_frames=48, progress=False, log_every=2, checkpoint_every=3)
    r = train_coamd(tmp_path / "corpus", tmp_path / "ae", tmp_path / "run", steps=4, **kw)
    assert r.final_dir == tmp_path / "run" / "final" and r.metrics["items"] == 6 * 2 + 2  # mirrored + segment
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 2
    assert all(np.isfinite(h["loss"]) for h in r.history)
    r2 = train_coamd(tmp_path / "corpus", tmp_path / "ae", tmp_path / "run", steps=6, **kw)
    assert r2.metrics["resumed_from"] == 4
    assert "loaded the latent cache" in capsys.readouterr().out  # the corpus was encoded once
    quick = train_coamd(tmp_path / "corpus", tmp_path / "ae", tmp_path / "run2", steps=50, max_minutes=0.0,
                        **kw)  # out of time after the first step: stops, still saves final/
    assert quick.steps == 1 and quick.metrics["stopped_early"]
    assert (quick.final_dir / "pipeline.json").is_file()
    pipe = CoAMD.from_pretrained(r2.final_dir, text_encoder=FakeTextEncoder())
    assert pipe.transformer.max_tokens == 12 and not torch.equal(pipe.transformer.latent_std, torch.ones(16))
    a = pipe.generate("a person walks forward 1", seconds=2.0, seed=7, **FAST)
    b = pipe.generate("a person walks forward 1", seconds=2.0, seed=7, **FAST)
    assert torch.equal(a.joints, b.joints) and len(a) == 40
    res = pipe.edit_latents(a, "someone turns left", mode="suffix", keep=(1.0, None), seed=1, **FAST)
    assert torch.equal(res.latents[0, res.given], res.source[0, res.given]) and res.given[-1]
    with pytest.raises(ValueError, match="unknown CoAMD preset"):
        train_coamd(tmp_path / "corpus", tmp_path / "ae", tmp_path / "x", steps=1, **{**kw, "preset": "xl"})
    with pytest.raises(FileNotFoundError, match="no autoencoder"):
        train_coamd(tmp_path / "corpus", tmp_path / "nowhere", tmp_path / "x", steps=1, **kw)


def test_a_length_that_is_not_a_number_names_the_entry(pipe):
    with pytest.raises(ValueError, match=r"seconds\[1\] must be a number, got None"):
        pipe.generate(["a", "b"], seconds=[1.0, None])
    with pytest.raises(ValueError, match=r"frames\[0\] must be a number, got '8'"):
        pipe.generate(["a"], frames=["8"])
