"""DDPM training process + DDIM sampling (MLD / MotionDuet: 1000 training steps, DDIM 50 steps, eta 0).

Convention (Ho et al. 2020; epsilon prediction)::

    x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps,   t in {0, ..., N-1} (integer steps)
    abar = cumprod(1 - beta),  target = eps               (the network predicts the noise)

DDIM update from ``t`` to the previous grid time ``s`` (Song et al. 2021, eq. 12)::

    x0    = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
    sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)
    x_s   = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z,     z ~ N(0, I)

with ``abar_s = 1`` after the last step (the final sample is the clean estimate). ``eta = 0`` is the
deterministic DDIM sampler; ``eta = 1`` matches DDPM ancestral sampling on the sub-grid.

The grid is "trailing" (``t_i = round(N - i N / n) - 1``: 999, 979, ..., 19 for n = 50), so sampling
starts at the noisiest training step. The interface is the one every humo scheduler shares
(:mod:`humo.schedulers.flow_matching`): ``set_timesteps``, ``.timesteps``,
``step(model_output, t, x, generator) -> SchedulerOutput``, ``sample_timesteps``, ``add_noise``, ``target``.
"""

from __future__ import annotations

from enum import Enum

import torch

from humo.schedulers.flow_matching import SchedulerOutput


class BetaSchedule(str, Enum):
    """``linear``: betas linear in ``[beta_start, beta_end]`` (DDPM). ``scaled_linear``: linear in
    ``sqrt(beta)`` (Stable Diffusion / MLD)."""

    LINEAR = "linear"
    SCALED_LINEAR = "scaled_linear"


def make_betas(num_train_timesteps: int, schedule: BetaSchedule | str, beta_start: float,
               beta_end: float) -> torch.Tensor:
    """``(num_train_timesteps,)`` float64 noise variances."""
    schedule = BetaSchedule(schedule)
    if schedule is BetaSchedule.LINEAR:
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float64) ** 2


class DDPMScheduler:
    """DDPM forward process for training and DDIM reverse steps for sampling.

    Args:
        num_train_timesteps: ``N`` training steps (1000).
        beta_schedule: ``"scaled_linear"`` (MLD, default) or ``"linear"``.
        beta_start, beta_end: ends of the schedule (MLD: 0.00085, 0.012; DDPM linear: 1e-4, 0.02).
        num_inference_steps: default number of DDIM steps (50).
        eta: DDIM stochasticity (0 = deterministic; then ``generator`` is unused).
    """

    order = 1

    def __init__(self, num_train_timesteps: int = 1000, beta_schedule: BetaSchedule | str = "scaled_linear",
                 beta_start: float = 0.00085, beta_end: float = 0.012, num_inference_steps: int = 50,
                 eta: float = 0.0):
        try:
            self.beta_schedule = BetaSchedule(beta_schedule)
        except ValueError:
            raise ValueError(f"unknown beta schedule {beta_schedule!r}; choose one of "
                             f"{[s.value for s in BetaSchedule]}") from None
        if int(num_train_timesteps) < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {num_train_timesteps}")
        if not 0.0 < beta_start < beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.num_train_timesteps = int(num_train_timesteps)
        self.beta_start, self.beta_end, self.eta = float(beta_start), float(beta_end), float(eta)
        self.betas = make_betas(self.num_train_timesteps, self.beta_schedule, beta_start, beta_end)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)  # (N,) float64
        self.set_timesteps(num_inference_steps)

    def config(self) -> dict:
        """JSON-able constructor arguments (to rebuild the same scheduler)."""
        return {"num_train_timesteps": self.num_train_timesteps, "beta_schedule": self.beta_schedule.value,
                "beta_start": self.beta_start, "beta_end": self.beta_end,
                "num_inference_steps": self.num_inference_steps, "eta": self.eta}

    # ------------------------------------------------------------------ sampling side
    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        """Build the trailing grid ``.timesteps`` (``(n,)`` long, decreasing) of model-call steps."""
        n = int(num_inference_steps)
        if not 1 <= n <= self.num_train_timesteps:
            raise ValueError(f"num_inference_steps must be in [1, {self.num_train_timesteps}], "
                             f"got {num_inference_steps}")
        self.num_inference_steps = n
        grid = torch.arange(self.num_train_timesteps, 0, -self.num_train_timesteps / n, dtype=torch.float64)
        self.timesteps = (grid.round().long() - 1).to(device)
        # previous grid time of each entry (-1 = past the end: abar = 1)
        self.prev_timesteps = torch.cat([self.timesteps[1:], self.timesteps.new_tensor([-1])])
        self._index = 0

    def _abar(self, t: int) -> float:
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor,
             generator: torch.Generator | None = None) -> SchedulerOutput:
        """One DDIM step. ``model_output`` is the predicted noise at ``(x, t)`` (same shape as ``x``).

        ``t`` must be the current entry of ``.timesteps`` (calls are made in order); ``generator``
        draws the noise when ``eta > 0``.
        """
        if model_output.shape != x.shape:
            raise ValueError(f"model output shape {tuple(model_output.shape)} != sample shape "
                             f"{tuple(x.shape)}")
        if self._index >= len(self.timesteps):
            raise ValueError("step called more times than len(timesteps); call set_timesteps again")
        t_cur = int(self.timesteps[self._index])
        if int(t) != t_cur:
            raise ValueError(f"step got t={int(t)} but the next timestep is {t_cur}")
        a_t, a_prev = self._abar(t_cur), self._abar(int(self.prev_timesteps[self._index]))
        x0 = (x - (1.0 - a_t) ** 0.5 * model_output) / a_t ** 0.5
        sigma = self.eta * ((1.0 - a_prev) / (1.0 - a_t)) ** 0.5 * (1.0 - a_t / a_prev) ** 0.5
        direction = max(1.0 - a_prev - sigma ** 2, 0.0) ** 0.5 * model_output
        prev = a_prev ** 0.5 * x0 + direction
        if sigma > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device if generator is None
                                else generator.device, dtype=x.dtype).to(x.device)
            prev = prev + sigma * noise
        self._index += 1
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    # ------------------------------------------------------------------ training side
    def sample_timesteps(self, n: int, generator: torch.Generator | None = None,
                         device: torch.device | str | None = None) -> torch.Tensor:
        """``(n,)`` long training steps drawn uniformly from ``{0, ..., N-1}``."""
        gen_device = generator.device if generator is not None else device
        steps = torch.randint(self.num_train_timesteps, (n,), generator=generator, device=gen_device)
        return steps.to(device)

    def _coefficients(self, t: torch.Tensor | int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.as_tensor(t, device=self.alphas_cumprod.device).long()
        if bool((t < 0).any()) or bool((t >= self.num_train_timesteps).any()):
            raise ValueError(f"training timesteps must be in [0, {self.num_train_timesteps}), "
                             f"got {t.tolist()}")
        abar = self.alphas_cumprod[t].to(like.device, like.dtype)
        abar = abar.reshape(abar.shape + (1,) * (like.ndim - abar.ndim)) if abar.ndim else abar
        return abar.sqrt(), (1.0 - abar).sqrt()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        ``x0``/``noise`` ``(B, ...)``; ``t`` an int or ``(B,)`` integer steps.
        """
        if x0.shape != noise.shape:
            raise ValueError(f"x0 shape {tuple(x0.shape)} != noise shape {tuple(noise.shape)}")
        a, s = self._coefficients(t, x0)
        return a * x0 + s * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The regression target of an epsilon-prediction network: ``noise``."""
        if x0.shape != noise.shape:
            raise ValueError(f"x0 shape {tuple(x0.shape)} != noise shape {tuple(noise.shape)}")
        return noise
