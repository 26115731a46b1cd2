"""Shared training utilities: EMA, atomic checkpoints with resume, device choice, seeding.

A training run lives in one folder::

    run_dir/
      checkpoint/         # latest training state (atomic: written to a temp dir, then renamed)
        model/            # save_pretrained of the live model
        ema/              # save_pretrained of the EMA model (if any)
        trainer.pt        # optimizer, scheduler, step, RNG states (torch.save, loaded weights_only)
      final/              # save_pretrained of the model to use (EMA if any)
"""

from __future__ import annotations

import copy
import math
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available, else cpu; otherwise the named device (clear error if unavailable)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator seeded with ``seed`` for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class EMA:
    """Exponential moving average of a model's parameters and buffers (a deep copy, kept in eval mode)."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, p in zip(self.model.parameters(), model.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - self.decay)
        for e, b in zip(self.model.buffers(), model.buffers(), strict=True):
            e.copy_(b)


def save_checkpoint(run_dir: str | Path, model, optimizer: torch.optim.Optimizer, step: int,
                    ema: EMA | None = None, extra: dict | None = None) -> Path:
    """Write the training state atomically to ``run_dir/checkpoint`` (never leaves a half-written one)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-", dir=run_dir))
    try:
        model.save_pretrained(tmp / "model")
        if ema is not None:
            ema.model.save_pretrained(tmp / "ema")
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                    "extra": extra or {}}, tmp / "trainer.pt")
        final = run_dir / "checkpoint"
        old = run_dir / ".checkpoint-old"
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return run_dir / "checkpoint"


def load_checkpoint(run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: EMA | None = None, map_location: str | torch.device = "cpu") -> tuple[int, dict]:
    """Restore the state written by :func:`save_checkpoint`; returns ``(step, extra)``; step 0 if none."""
    from safetensors.torch import load_file

    from humo.models.hub import load_state_dict_strict

    ckpt = Path(run_dir) / "checkpoint"
    if not (ckpt / "trainer.pt").is_file():
        return 0, {}
    load_state_dict_strict(model, load_file(str(ckpt / "model" / "model.safetensors"), device=str(map_location)))
    if ema is not None and (ckpt / "ema").is_dir():
        load_state_dict_strict(ema.model, load_file(str(ckpt / "ema" / "model.safetensors"),
                                                    device=str(map_location)))
    state = torch.load(ckpt / "trainer.pt", map_location=map_location, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    return int(state["step"]), dict(state.get("extra", {}))


def save_final(run_dir: str | Path, model) -> Path:
    """``save_pretrained`` into ``run_dir/final`` atomically; returns the folder."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".final-", dir=run_dir))
    model.save_pretrained(tmp)
    final = run_dir / "final"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup for ``warmup`` steps, then cosine decay to 10% of ``lr`` at ``steps``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world_size, device) from torchrun's environment; (0, 1, device) when absent."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device
