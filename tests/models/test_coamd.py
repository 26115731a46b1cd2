"""CoAMD transformer + flow head: shapes, masking, training loss, save/load, determinism, errors."""

from __future__ import annotations

import math

import pytest
import torch

from humo.models.coamd import COAMD_PRESETS, CoAMDOutput, CoAMDTransformer, sample_token_mask
from humo.models.flow_head import FlowHead

D, L, TEXT = 8, 12, 16


def tiny(**kw) -> CoAMDTransformer:
    torch.manual_seed(0)
    return CoAMDTransformer.from_preset("tiny", latent_dim=D, max_tokens=L, text_dim=TEXT, **kw)


def batch(b=3, l=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    valid = torch.ones(b, l, dtype=torch.bool)
    valid[0, 6:] = False
    return torch.randn(b, l, D, generator=g), torch.randn(b, TEXT, generator=g), valid


def test_presets_and_sizes():
    assert set(COAMD_PRESETS) == {"tiny", "small", "medium", "base"}
    assert COAMD_PRESETS["base"]["width"] == 1024 and COAMD_PRESETS["base"]["depth"] == 6
    m = tiny()
    assert (m.latent_dim, m.max_tokens, m.text_dim) == (D, L, TEXT)
    with pytest.raises(ValueError, match="unknown CoAMD preset"):
        CoAMDTransformer.from_preset("huge")


def test_context_velocity_shapes():
    m = tiny().eval()
    x, c, valid = batch()
    mask = torch.zeros_like(valid)
    mask[:, ::2] = True
    h = m.context(x, c, mask, valid)
    assert h.shape == (3, 10, 32)
    v = m.velocity(torch.randn(5, D), torch.rand(5), h[0, :5])
    assert v.shape == (5, D)
    assert m.velocity(torch.randn(2, 3, D), torch.rand(2, 3), h[:2, :3]).shape == (2, 3, D)
    assert torch.all(m.predict_tokens(c) >= 1) and torch.all(m.predict_tokens(c) <= L)
    assert m.null_condition(4).shape == (4, TEXT)


def test_context_ignores_masked_and_padded_values():
    m = tiny().eval()
    x, c, valid = batch()
    mask = torch.zeros_like(valid)
    mask[:, 1] = mask[:, 4] = True
    h = m.context(x, c, mask, valid)
    y = x.clone()
    y[mask] = 100.0  # masked values are replaced by the mask token
    y[~valid] = float("nan")  # padding is never attended to
    h2 = m.context(y, c, mask, valid)
    assert torch.allclose(h[valid], h2[valid], atol=1e-6)
    # a padded sample gives the same context as the same sample cut to its length
    h_cut = m.context(x[:1, :6], c[:1], mask[:1, :6])
    assert torch.allclose(h[0, :6], h_cut[0], atol=1e-5)


def test_flow_head_starts_at_zero_and_learns():
    head = FlowHead(4, 8, width=16, depth=2)
    z, t, h = torch.randn(6, 4), torch.rand(6), torch.randn(6, 8)
    assert torch.equal(head(z, t, h), torch.zeros(6, 4))  # zero-initialised output layer
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(30):
        loss = ((head(z, t, h) - 1.0) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5
    with pytest.raises(ValueError, match="leading dims"):
        head(z, t[:3], h)


def test_sample_token_mask_cosine():
    valid = torch.ones(4000, 10, dtype=torch.bool)
    valid[:, 7:] = False
    mask = sample_token_mask(valid, torch.Generator().manual_seed(0))
    n = mask.sum(1)
    assert (n >= 1).all() and (n <= 7).all() and not mask[:, 7:].any()
    # E[ceil(7 cos(pi u / 2))] is about 7 * 2 / pi + 0.5
    assert abs(n.float().mean().item() - (7 * 2 / math.pi + 0.5)) < 0.2


def test_forward_loss_masks_and_grads():
    m = tiny().train()
    x, c, valid = batch()
    out = m(x, c, token_valid=valid, generator=torch.Generator().manual_seed(1))
    assert isinstance(out, CoAMDOutput) and out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert torch.allclose(out.loss, out.flow_loss + out.length_loss)
    assert not (out.mask_tokens & ~valid).any()
    out.loss.backward()
    assert m.head.out.weight.grad.abs().sum() > 0 and m.length_head[0].weight.grad.abs().sum() > 0
    # the same generator gives the same loss; the loss only looks at masked valid tokens' targets
    m.eval()
    mask = torch.zeros_like(valid)
    mask[:, 2] = True
    a = m(x, c, mask, valid, generator=torch.Generator().manual_seed(2)).flow_loss
    b = m(x, c, mask, valid, generator=torch.Generator().manual_seed(2)).flow_loss
    assert torch.equal(a, b)
    y = x.clone()
    y[~valid] = 5.0
    assert torch.allclose(m(y, c, mask, valid, generator=torch.Generator().manual_seed(2)).flow_loss, a)


def perturb(m: CoAMDTransformer) -> CoAMDTransformer:
    """Move the zero-initialised adaLN layers off zero (as after some training)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return m


def test_condition_dropout_trains_null_condition():
    m = perturb(tiny(cond_drop=0.9)).train()
    x, c, valid = batch(b=8)
    m(x, c, token_valid=valid, generator=torch.Generator().manual_seed(0)).loss.backward()
    assert m.null_cond.grad is not None and m.null_cond.grad.abs().sum() > 0
    m2 = perturb(tiny(cond_drop=0.9)).eval()  # eval: no dropout, the null condition is unused
    m2(x, c, token_valid=valid, generator=torch.Generator().manual_seed(0)).loss.backward()
    assert m2.null_cond.grad is None or m2.null_cond.grad.abs().sum() == 0


def test_latent_stats_round_trip():
    m = tiny()
    m.set_latent_stats(torch.arange(D).float(), torch.full((D,), 2.0))
    z = torch.randn(2, 3, D)
    assert torch.allclose(m.denormalize_latents(m.normalize_latents(z)), z, atol=1e-6)


def test_save_load_equality(tmp_path):
    m = perturb(tiny()).eval()
    m.set_latent_stats(torch.randn(D), torch.rand(D) + 0.5)
    m.save_pretrained(tmp_path / "m")
    m2 = CoAMDTransformer.from_pretrained(tmp_path / "m")
    config = CoAMDTransformer.read_config(tmp_path / "m")
    assert config == {**COAMD_PRESETS["tiny"], **CoAMDTransformer.read_config(tmp_path / "m")}
    assert (config["latent_dim"], config["max_tokens"], config["text_dim"]) == (D, L, TEXT)
    s1, s2 = m.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    x, c, valid = batch()
    mask = valid.clone()
    assert torch.equal(m.context(x, c, mask, valid), m2.context(x, c, mask, valid))


def test_input_errors():
    m = tiny()
    x, c, valid = batch()
    with pytest.raises(ValueError, match="latents must be"):
        m(x[..., :3], c)
    with pytest.raises(ValueError, match="tokens"):
        m(torch.randn(1, L + 1, D), c[:1])
    with pytest.raises(ValueError, match="cond_emb"):
        m(x, c[:, :5])
    with pytest.raises(ValueError, match="token_valid"):
        m(x, c, token_valid=valid.float())
    bad = valid.clone()
    bad[1] = False
    with pytest.raises(ValueError, match="at least one valid"):
        m(x, c, token_valid=bad)
    with pytest.raises(ValueError, match="no valid token is masked"):
        m(x, c, torch.zeros_like(valid), valid)
    with pytest.raises(ValueError, match="cond_drop"):
        tiny(cond_drop=1.0)
    with pytest.raises(ValueError, match="length head"):
        tiny(length_head=False).predict_tokens(c)


def test_flow_condition_equals_per_step_velocity():
    """The batched ODE conditioning (all solver times at once) gives the per-call velocities."""
    from humo.models.flow_head import FlowHead

    torch.manual_seed(0)
    head = FlowHead(token_dim=6, cond_dim=10, width=32, depth=2)
    for p in head.parameters():  # leave the zero init: real values everywhere
        torch.nn.init.normal_(p, std=0.3)
    times = torch.tensor([1.0, 0.7, 0.7, 0.4, 0.4, 0.1])  # repeated times, as Heun's
    z, h = torch.randn(3, 6), torch.randn(3, 10)
    cond = head.condition(times, h)
    for i, t in enumerate(times):
        want = head(z, t.expand(3), h)
        torch.testing.assert_close(head.velocity_at(z, cond, i), want, atol=1e-5, rtol=1e-5)
        assert want.abs().mean() > 0.1
