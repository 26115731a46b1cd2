"""Noise schedulers sharing one interface (style rule 4): ``set_timesteps``, ``timesteps``,
``step(model_output, t, x, generator) -> SchedulerOutput`` and, for training, ``sample_timesteps``,
``add_noise`` and ``target``. Pure torch; imported by models (training losses) and pipelines."""

from humo.schedulers.ddpm import BetaSchedule, DDPMScheduler
from humo.schedulers.flow_matching import FlowMatchingScheduler, SchedulerOutput, Solver

__all__ = ["BetaSchedule", "DDPMScheduler", "FlowMatchingScheduler", "SchedulerOutput", "Solver"]
