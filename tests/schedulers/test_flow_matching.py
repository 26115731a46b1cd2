"""FlowMatchingScheduler: API, step shapes, path/target convention, Euler vs Heun on linear ODEs."""

from __future__ import annotations

import math

import pytest
import torch

from humo.schedulers import FlowMatchingScheduler, SchedulerOutput, Solver


def integrate(scheduler: FlowMatchingScheduler, velocity, x: torch.Tensor, n: int) -> torch.Tensor:
    scheduler.set_timesteps(n)
    for t in scheduler.timesteps:
        x = scheduler.step(velocity(x, float(t)), t, x).prev_sample
    return x


@pytest.mark.parametrize("solver", list(Solver))
def test_api_and_shapes(solver):
    s = FlowMatchingScheduler(5, solver)
    assert s.timesteps[0] == 1.0
    assert len(s.timesteps) == 5 * s.order
    assert s.timesteps.min() >= 0 and (s.timesteps[1:] <= s.timesteps[:-1]).all()
    x = torch.randn(3, 7, 4)
    out = s.step(torch.randn_like(x), s.timesteps[0], x)
    assert isinstance(out, SchedulerOutput)
    assert out.prev_sample.shape == x.shape and out.pred_original_sample.shape == x.shape


def test_solver_from_string_and_errors():
    assert FlowMatchingScheduler(3, "heun").solver is Solver.HEUN
    with pytest.raises(ValueError, match="unknown solver"):
        FlowMatchingScheduler(3, "rk45")
    with pytest.raises(ValueError, match="num_inference_steps"):
        FlowMatchingScheduler(0)
    s = FlowMatchingScheduler(2)
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="next timestep"):
        s.step(x, 0.5, x)  # the first call must be at t = 1
    with pytest.raises(ValueError, match="shape"):
        s.step(torch.zeros(2, 4), 1.0, x)
    s.step(x, 1.0, x), s.step(x, 0.5, x)
    with pytest.raises(ValueError, match="more times"):
        s.step(x, 0.0, x)


def test_add_noise_and_target_convention():
    s = FlowMatchingScheduler()
    x0, eps = torch.randn(4, 5), torch.randn(4, 5)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    zt = s.add_noise(x0, eps, t)
    assert torch.allclose(zt[0], x0[0]) and torch.allclose(zt[3], eps[3])
    assert torch.allclose(zt[1], 0.75 * x0[1] + 0.25 * eps[1])
    v = s.target(x0, eps)
    assert torch.allclose(v, eps - x0)
    # the exact velocity carries noise back to the data in one Euler step, for both solvers
    for solver in Solver:
        s = FlowMatchingScheduler(1, solver)
        assert torch.allclose(integrate(s, lambda x, t: v, eps.clone(), 1), x0, atol=1e-6)
    u = s.sample_timesteps(1000, generator=torch.Generator().manual_seed(0))
    assert u.shape == (1000,) and 0 <= u.min() and u.max() < 1


def test_euler_vs_heun_time_linear_velocity():
    # dx/dt = a + b t: Heun (trapezoid) is exact, Euler is off by b/2 * sum dt^2-ish terms
    a, b, n = 0.3, 2.0, 4
    x1 = torch.tensor([1.0])
    exact = x1 - (a * 1.0 + b / 2 * 1.0)  # x(0) = x(1) - int_0^1 (a + b t) dt

    def vel(x, t):
        return torch.full_like(x, a + b * t)

    heun = integrate(FlowMatchingScheduler(n, Solver.HEUN), vel, x1.clone(), n)
    euler = integrate(FlowMatchingScheduler(n, Solver.EULER), vel, x1.clone(), n)
    assert torch.allclose(heun, exact, atol=1e-6)
    # Euler from t=1 downwards uses the velocity at the interval starts: error = b/2 * h (h = 1/n)
    assert torch.allclose(euler - exact, torch.tensor([-b / 2 / n]), atol=1e-6)


def test_euler_vs_heun_state_linear_ode():
    # dx/dt = lam x, integrated from t=1 to t=0 with h = 1/n: Euler multiplies by (1 - lam h) each step,
    # Heun by the 2nd-order Taylor factor 1 - lam h + (lam h)^2 / 2; exact is exp(-lam)
    lam, n = 1.5, 8
    h = 1.0 / n
    x1 = torch.tensor([2.0], dtype=torch.float64)

    def vel(x, t):
        return lam * x

    euler = integrate(FlowMatchingScheduler(n, Solver.EULER), vel, x1.clone(), n)
    heun = integrate(FlowMatchingScheduler(n, Solver.HEUN), vel, x1.clone(), n)
    assert math.isclose(float(euler), 2.0 * (1 - lam * h) ** n, rel_tol=1e-6)
    assert math.isclose(float(heun), 2.0 * (1 - lam * h + (lam * h) ** 2 / 2) ** n, rel_tol=1e-6)
    exact = 2.0 * math.exp(-lam)
    assert abs(float(heun) - exact) < abs(float(euler) - exact) / 10


def test_shifted_grid_is_monotone_and_ends_at_zero():
    s = FlowMatchingScheduler(10, shift=3.0)
    assert s.sigmas[0] == 1.0 and s.sigmas[-1] == 0.0
    assert (s.sigmas[1:] < s.sigmas[:-1]).all()
    assert s.sigmas[5] > 0.5  # more steps spent at high noise
