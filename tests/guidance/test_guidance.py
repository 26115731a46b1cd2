"""Guidance objects: CFG maths, schedule, window and passes; auto-guidance; recognizer guidance."""

from __future__ import annotations

import pytest
import torch

from humo.guidance import (
    AutoGuidance,
    ClassifierFreeGuidance,
    LatentGuidance,
    PredictionGuidance,
    RecognizerGuidance,
    split_guidance,
)


def test_cfg_math_and_passes():
    c, u = torch.randn(3, 4), torch.randn(3, 4)
    g = ClassifierFreeGuidance(3.0)
    assert torch.allclose(g(c, u, 0, 10), u + 3.0 * (c - u))
    assert g.num_passes(0, 10) == 2
    one = ClassifierFreeGuidance(1.0)
    assert one.num_passes(4, 10) == 1 and torch.equal(one(c, u, 4, 10), c)
    zero = ClassifierFreeGuidance(0.0)
    assert torch.allclose(zero(c, u, 0, 10), u)


def test_cfg_linear_schedule_mar():
    c, u = torch.ones(2), torch.zeros(2)
    g = ClassifierFreeGuidance(5.0, schedule="linear")
    assert g.scale_at(4, 10) == pytest.approx(1 + 4.0 * 5 / 10)  # default progress (step + 1) / n
    assert g.scale_at(0, 18, progress=0.25) == pytest.approx(2.0)  # revealed / total given by the loop
    assert torch.allclose(g(c, u, 9, 10), torch.full((2,), 5.0))
    assert g.num_passes(0, 10, progress=0.0) == 1  # weight exactly 1 -> skip the uncond pass


def test_cfg_window():
    c, u = torch.randn(5), torch.randn(5)
    g = ClassifierFreeGuidance(4.0, start=0.2, stop=0.6)
    active = [g.num_passes(k, 10) == 2 for k in range(10)]
    assert active == [False, False, True, True, True, True, False, False, False, False]
    assert torch.equal(g(c, u, 0, 10), c) and torch.equal(g(c, u, 9, 10), c)
    assert torch.allclose(g(c, u, 3, 10), u + 4.0 * (c - u))


def test_cfg_errors():
    with pytest.raises(ValueError, match="schedule"):
        ClassifierFreeGuidance(2.0, schedule="cubic")
    with pytest.raises(ValueError, match="start"):
        ClassifierFreeGuidance(2.0, start=0.8, stop=0.2)
    with pytest.raises(ValueError, match="step"):
        ClassifierFreeGuidance(2.0).num_passes(10, 10)


def test_cfg_second_condition_is_null():
    cond, null = torch.randn(3, 8), torch.randn(1, 8)
    out = ClassifierFreeGuidance(2.0).second_condition(cond, null.expand(3, -1))
    assert torch.equal(out, null.expand(3, -1))


def test_autoguidance_math_and_passes():
    s, w = torch.randn(3, 4), torch.randn(3, 4)
    g = AutoGuidance("dropout", strength=0.05, scale=1.25)
    assert torch.allclose(g(s, w, 0, 5), 2.25 * s - 1.25 * w)
    assert g.num_passes(0, 5) == 2
    off = AutoGuidance("noise", strength=0.1, scale=0.0)
    assert off.num_passes(0, 5) == 1 and torch.equal(off(s, w, 0, 5), s)


def test_autoguidance_degrade():
    cond = torch.ones(4, 1000)
    gen = torch.Generator().manual_seed(0)
    d = AutoGuidance("dropout", strength=0.2).degrade(cond, gen)
    dropped = (d == 0).float().mean()
    assert 0.15 < dropped < 0.25
    assert torch.allclose(d[d != 0], torch.full_like(d[d != 0], 1 / 0.8))  # inverted dropout
    n1 = AutoGuidance("noise", strength=0.5).degrade(cond, torch.Generator().manual_seed(1))
    n2 = AutoGuidance("noise", strength=0.5).degrade(cond, torch.Generator().manual_seed(1))
    assert torch.equal(n1, n2)
    assert (n1 - cond).std().item() == pytest.approx(0.5, rel=0.05)
    g = AutoGuidance("noise", strength=0.5)
    assert torch.equal(g.second_condition(cond, torch.zeros_like(cond), torch.Generator().manual_seed(1)), n1)
    with pytest.raises(ValueError, match="mode"):
        AutoGuidance("blur")
    with pytest.raises(ValueError, match="dropout strength"):
        AutoGuidance("dropout", strength=1.0)


class QuadraticRecognizer:
    """score = -||X - target||^2 summed per sample (differentiable w.r.t. the joints)."""

    def __init__(self):
        self.calls = []

    def score(self, joints, texts, weights=(1, 1, 1, 1), lengths=None):
        self.calls.append((list(texts), tuple(weights), lengths))
        return -((joints - 1.0) ** 2).flatten(1).sum(1) * weights[0]


def decode(z):  # (B, L, D) -> (B, 4L, 22, 3) linear stand-in
    b, l, d = z.shape
    return z.repeat_interleave(4, dim=1)[..., :1].expand(b, 4 * l, 66).reshape(b, 4 * l, 22, 3)


def test_recognizer_guidance_changes_only_masked_tokens():
    rec = QuadraticRecognizer()
    g = RecognizerGuidance(rec, scale=0.5, weights=(2, 1, 1, 1))
    z = torch.randn(2, 6, 5)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 1] = mask[0, 4] = mask[1, 0] = True
    out = g(z, decode, ["kick", "jump"], mask, lengths=torch.tensor([24, 24]))
    assert torch.equal(out[~mask], z[~mask])
    assert not torch.equal(out[mask], z[mask])
    assert rec.calls[0] == (["kick", "jump"], (2.0, 1.0, 1.0, 1.0), rec.calls[0][2])
    # the step is along the normalised gradient: moves towards the recognizer's optimum (channel 0 -> 1)
    assert ((out[mask][:, 0] - 1).abs() < (z[mask][:, 0] - 1).abs()).all()
    grad = g.gradient(z, decode, ["kick", "jump"])
    assert torch.allclose(grad.flatten(1).norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(out - z, 0.5 * grad * mask.unsqueeze(-1))


def test_recognizer_guidance_noop_and_errors():
    g = RecognizerGuidance(QuadraticRecognizer(), scale=1.0)
    z = torch.randn(1, 3, 2)
    assert torch.equal(g(z, decode, ["a"], torch.zeros(1, 3, dtype=torch.bool)), z)
    with pytest.raises(ValueError, match="update_mask"):
        g(z, decode, ["a"], torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="score"):
        RecognizerGuidance(object())
    with pytest.raises(ValueError, match="4 entries"):
        RecognizerGuidance(QuadraticRecognizer(), weights=(1, 1))


def test_split_guidance():
    cfg, rec = ClassifierFreeGuidance(2.0), RecognizerGuidance(QuadraticRecognizer())
    assert split_guidance([cfg, rec]) == (cfg, [rec])
    assert split_guidance(None) == (None, [])
    assert split_guidance(cfg) == (cfg, [])
    assert isinstance(cfg, PredictionGuidance) and isinstance(rec, LatentGuidance)
    with pytest.raises(ValueError, match="at most one"):
        split_guidance([cfg, AutoGuidance()])
    with pytest.raises(ValueError, match="not a guidance"):
        split_guidance([cfg, "cfg"])


def test_cfg_rescale_restores_the_conditional_std():
    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    plain = ClassifierFreeGuidance(4.5)(cond, uncond, 0, 4)
    full = ClassifierFreeGuidance(4.5, rescale=1.0)(cond, uncond, 0, 4)
    torch.testing.assert_close(full.std(dim=1), cond.std(dim=1))  # per sample
    torch.testing.assert_close(full / full.std(dim=1, keepdim=True), plain / plain.std(dim=1, keepdim=True))
    half = ClassifierFreeGuidance(4.5, rescale=0.5)(cond, uncond, 0, 4)
    torch.testing.assert_close(half, 0.5 * full + 0.5 * plain)
    assert torch.equal(ClassifierFreeGuidance(1.0, rescale=1.0)(cond, uncond, 0, 4), cond)
    with pytest.raises(ValueError, match="rescale"):
        ClassifierFreeGuidance(4.5, rescale=1.5)


def test_default_guidance_is_cfg_with_rescale_then_contact():
    from humo.guidance import (
        DEFAULT_CFG_RESCALE,
        DEFAULT_CFG_SCALE,
        DEFAULT_CONTACT_STEPS,
        ContactGuidance,
        default_guidance,
    )

    g, c = default_guidance()
    assert isinstance(g, ClassifierFreeGuidance)
    assert (g.scale, g.rescale) == (DEFAULT_CFG_SCALE, DEFAULT_CFG_RESCALE) and 0 < g.rescale <= 1
    assert isinstance(c, ContactGuidance) and c.final and c.steps == DEFAULT_CONTACT_STEPS > 0
    pred, hooks = split_guidance(default_guidance())
    assert isinstance(pred, ClassifierFreeGuidance) and [type(h) for h in hooks] == [ContactGuidance]
    assert [type(x) for x in default_guidance(contact_steps=0)] == [ClassifierFreeGuidance]
    assert default_guidance() is not default_guidance()
