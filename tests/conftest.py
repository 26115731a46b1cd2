"""Shared fixtures. `shared_data` points at ../shared/data and skips cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)  # tiny test models run far faster single-threaded on a loaded 2-core machine

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HUMO_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set HUMO_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one torch thread, even after a command that took ``--threads``."""
    torch.set_num_threads(1)
    yield
