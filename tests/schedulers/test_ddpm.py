"""DDPMScheduler: the shared scheduler interface, the noising process, DDIM steps and determinism."""

from __future__ import annotations

import pytest
import torch

from humo.schedulers import DDPMScheduler, FlowMatchingScheduler, SchedulerOutput
from humo.schedulers.ddpm import make_betas


def test_shares_the_flow_matching_interface():
    for name in ("set_timesteps", "step", "sample_timesteps", "add_noise", "target"):
        assert callable(getattr(DDPMScheduler(), name)) and callable(getattr(FlowMatchingScheduler(), name))
    s = DDPMScheduler()
    assert s.timesteps.tolist()[:3] == [999, 979, 959] and s.timesteps[-1] == 19 and len(s.timesteps) == 50
    s.set_timesteps(1000)
    assert s.timesteps.tolist() == list(range(999, -1, -1))
    s.set_timesteps(1)
    assert s.timesteps.tolist() == [999]


def test_betas_schedules():
    lin = make_betas(1000, "linear", 1e-4, 0.02)
    scaled = make_betas(1000, "scaled_linear", 0.00085, 0.012)
    assert lin[0] == pytest.approx(1e-4) and lin[-1] == pytest.approx(0.02)
    assert scaled[0] == pytest.approx(0.00085) and scaled[-1] == pytest.approx(0.012)
    assert scaled[500].sqrt() == pytest.approx((0.00085 ** 0.5 + 0.012 ** 0.5) / 2, rel=1e-3)
    assert torch.all(DDPMScheduler().alphas_cumprod.diff() < 0)


def test_add_noise_and_target():
    s = DDPMScheduler(beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    x0, noise = torch.randn(3, 2, 5), torch.randn(3, 2, 5)
    t = torch.tensor([0, 500, 999])
    xt = s.add_noise(x0, noise, t)
    a = s.alphas_cumprod[t].float()
    expect = a.sqrt()[:, None, None] * x0 + (1 - a).sqrt()[:, None, None] * noise
    assert torch.allclose(xt, expect, atol=1e-6)
    assert torch.equal(s.target(x0, noise), noise)
    assert torch.allclose(s.add_noise(x0, noise, 7), s.add_noise(x0, noise, torch.full((3,), 7)))
    g = torch.Generator().manual_seed(0)
    ts = s.sample_timesteps(1000, g)
    assert ts.dtype == torch.long and int(ts.min()) >= 0 and int(ts.max()) <= 999
    with pytest.raises(ValueError, match="training timesteps"):
        s.add_noise(x0, noise, torch.tensor([0, 1, 1000]))
    with pytest.raises(ValueError, match="noise shape"):
        s.add_noise(x0, noise[:2], 3)


def test_step_shapes_and_exact_recovery():
    """With the true noise as the prediction, DDIM (eta 0) lands exactly on x0 whatever the grid."""
    s = DDPMScheduler(num_inference_steps=10)
    x0, noise = torch.randn(4, 1, 8, dtype=torch.float64), torch.randn(4, 1, 8, dtype=torch.float64)
    x = s.add_noise(x0, noise, int(s.timesteps[0]))
    for t in s.timesteps:
        out = s.step(noise, t, x)
        assert isinstance(out, SchedulerOutput) and out.prev_sample.shape == x.shape
        assert torch.allclose(out.pred_original_sample, x0, atol=1e-8)
        x = out.prev_sample
    assert torch.allclose(x, x0, atol=1e-8)


def test_ddim_is_deterministic_and_eta_uses_the_generator():
    def run(eta, seed):
        s = DDPMScheduler(num_inference_steps=8, eta=eta)
        x = torch.randn(2, 3, generator=torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(seed)
        for t in s.timesteps:
            x = s.step(torch.tanh(x), t, x, generator=g).prev_sample  # any deterministic "network"
        return x

    assert torch.equal(run(0.0, 0), run(0.0, 1))  # eta 0: no noise drawn
    assert torch.equal(run(1.0, 3), run(1.0, 3))
    assert not torch.allclose(run(1.0, 3), run(1.0, 4))


def test_step_order_and_argument_errors():
    s = DDPMScheduler(num_inference_steps=2)
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="next timestep"):
        s.step(x, 5, x)
    with pytest.raises(ValueError, match="shape"):
        s.step(torch.zeros(1, 3), s.timesteps[0], x)
    for t in s.timesteps:
        s.step(x, t, x)
    with pytest.raises(ValueError, match="more times"):
        s.step(x, 0, x)
    with pytest.raises(ValueError, match="beta schedule"):
        DDPMScheduler(beta_schedule="cosine")
    with pytest.raises(ValueError, match="num_inference_steps"):
        DDPMScheduler(num_inference_steps=0)
    with pytest.raises(ValueError, match="beta_start"):
        DDPMScheduler(beta_start=0.1, beta_end=0.01)
    assert DDPMScheduler(**DDPMScheduler(eta=0.5).config()).config() == DDPMScheduler(eta=0.5).config()
