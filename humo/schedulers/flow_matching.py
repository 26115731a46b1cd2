"""Rectified-flow / flow-matching scheduler (Euler and Heun ODE solvers).

Sign convention (CoAMD, SiT "linear" path)::

    z_t = (1 - t) * z_0 + t * eps,      t in [0, 1]; t = 0 is data, t = 1 is pure noise
    v   = dz_t/dt = eps - z_0           (the network's regression target)

Sampling integrates dz/dt = v from t = 1 down to t = 0, so one Euler step is
``z_{t'} = z_t + (t' - t) * v`` with ``t' < t``. ``x0 = z_t - t * v`` recovers the data estimate.

The interface is the one every humo scheduler shares (style rule 4): ``set_timesteps(n)``,
``.timesteps``, ``step(model_output, t, x, generator) -> SchedulerOutput``, and on the training side
``sample_timesteps``, ``add_noise(x0, noise, t)`` and ``target(x0, noise)``. A sampling loop reads::

    scheduler.set_timesteps(n)
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t), t, x).prev_sample

Heun (2nd order) fits this interface the diffusers way: its ``timesteps`` list repeats the interior
times, and ``step`` alternates between a predictor and a corrector call (``2 n`` model calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch


class Solver(str, Enum):
    """ODE solver of :class:`FlowMatchingScheduler`."""

    EULER = "euler"
    HEUN = "heun"


@dataclass
class SchedulerOutput:
    """Output of ``step``.

    Attributes:
        prev_sample: the sample at the next (less noisy) time, same shape as ``x``.
        pred_original_sample: the current estimate of the clean sample ``x0``.
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class FlowMatchingScheduler:
    """Deterministic flow-matching ODE scheduler.

    Args:
        num_inference_steps: default number of solver steps (``set_timesteps`` can change it).
        solver: ``Solver.EULER`` (1 model call per step) or ``Solver.HEUN`` (2 per step).
        shift: time-shift ``t -> s t / (1 + (s - 1) t)`` of the sampling grid (1 = uniform grid);
            ``s > 1`` spends more steps at high noise.
    """

    def __init__(self, num_inference_steps: int = 32, solver: Solver | str = Solver.EULER,
                 shift: float = 1.0):
        try:
            self.solver = Solver(solver)
        except ValueError:
            choices = [s.value for s in Solver]
            raise ValueError(f"unknown solver {solver!r}; choose one of {choices}") from None
        if shift <= 0:
            raise ValueError(f"shift must be positive, got {shift}")
        self.shift = float(shift)
        self.set_timesteps(num_inference_steps)

    # ------------------------------------------------------------------ sampling side
    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        """Build the grid ``1 = t_0 > t_1 > ... > t_n = 0`` and the list of model-call times."""
        n = int(num_inference_steps)
        if n < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        self.num_inference_steps = n
        grid = torch.linspace(1.0, 0.0, n + 1, dtype=torch.float64)
        grid = self.shift * grid / (1.0 + (self.shift - 1.0) * grid)
        self.sigmas = grid.to(torch.float32).to(device)  # (n + 1,) including the final 0
        if self.solver is Solver.EULER:
            self.timesteps = self.sigmas[:-1].clone()
        else:  # t_0, t_1, t_1, t_2, t_2, ..., t_{n-1}, t_{n-1}, t_n: predictor/corrector pairs
            self.timesteps = torch.cat([self.sigmas[:1], self.sigmas[1:].repeat_interleave(2)[:-1]])
        # the same grids as Python floats: step() then costs no tensor reads
        self._sigma_list = self.sigmas.tolist()
        self._timestep_list = self.timesteps.tolist()
        self._index = 0
        self._stash: tuple[torch.Tensor, torch.Tensor] | None = None  # Heun: (x at start, first velocity)

    @property
    def order(self) -> int:
        return 1 if self.solver is Solver.EULER else 2

    def step(self, model_output: torch.Tensor, t: float | torch.Tensor, x: torch.Tensor,
             generator: torch.Generator | None = None) -> SchedulerOutput:
        """Advance ``x`` (any shape) by one call. ``model_output`` is the velocity at ``(x, t)``.

        ``t`` must be the current entry of ``.timesteps`` (calls are made in order); ``generator``
        is accepted for interface compatibility (the ODE solvers draw no noise).
        """
        if model_output.shape != x.shape:
            raise ValueError(f"velocity shape {tuple(model_output.shape)} != sample shape {tuple(x.shape)}")
        if self._index >= len(self.timesteps):
            raise ValueError("step called more times than len(timesteps); call set_timesteps again")
        expected = self._timestep_list[self._index]
        if abs(float(t) - expected) > 1e-6:
            raise ValueError(f"step got t={float(t):.6f} but the next timestep is {expected:.6f}")
        sig = self._sigma_list
        if self.solver is Solver.EULER:
            i = self._index
            t_cur, t_next = sig[i], sig[i + 1]
            prev = torch.add(x, model_output, alpha=t_next - t_cur)
            x0 = torch.add(x, model_output, alpha=-t_cur)
        else:
            i = (self._index + 1) // 2  # interval index
            if self._index % 2 == 0:  # predictor: Euler to the end of the interval, remember the start
                t_cur, t_next = sig[i], sig[i + 1]
                self._stash = (x, model_output)
                prev = torch.add(x, model_output, alpha=t_next - t_cur)
                x0 = torch.add(x, model_output, alpha=-t_cur)
            else:  # corrector: trapezoid with the velocity at the predicted point
                t_cur, t_next = sig[i - 1], sig[i]
                x_start, v_start = self._stash
                prev = torch.add(x_start, v_start + model_output, alpha=(t_next - t_cur) * 0.5)
                x0 = torch.add(x, model_output, alpha=-t_next)
                self._stash = None
        self._index += 1
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    # ------------------------------------------------------------------ training side
    def sample_timesteps(self, n: int, generator: torch.Generator | None = None,
                         device: torch.device | str | None = None) -> torch.Tensor:
        """``(n,)`` training times drawn uniformly from ``[0, 1)``."""
        return torch.rand(n, generator=generator, device=device)

    @staticmethod
    def _expand(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
        return t.reshape(t.shape + (1,) * (like.ndim - t.ndim)) if t.ndim else t

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """``z_t = (1 - t) x0 + t noise``; ``x0``/``noise`` ``(B, ...)``, ``t`` scalar or ``(B,)``."""
        if x0.shape != noise.shape:
            raise ValueError(f"x0 shape {tuple(x0.shape)} != noise shape {tuple(noise.shape)}")
        t = self._expand(t, x0)
        return (1.0 - t) * x0 + t * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The velocity the model regresses: ``eps - x0`` (``dz_t/dt``)."""
        return noise - x0
