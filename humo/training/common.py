"""Small training helpers shared by the engine and the families: device choice, seeding, the learning-rate
curve and the atomic ``final/`` save. The loop, EMA and checkpoints live in :mod:`humo.training.engine`."""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch


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
