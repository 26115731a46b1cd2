"""Pieces shared by every generation pipeline."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import torch


def sample_seeds(n: int, seed: int | None = None, generator: torch.Generator | None = None) -> list[int]:
    """One seed per sample: ``seed + i`` for a given seed, drawn from ``generator``, else random.

    Each sample then owns a generator, so a motion does not depend on the batch it was made in.
    """
    if seed is not None and generator is not None:
        raise ValueError("give seed or generator, not both")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        return [seed + i for i in range(n)]
    if generator is not None:
        return torch.randint(0, 2**31 - 1, (n,), generator=generator, device=generator.device).tolist()
    return [secrets.randbelow(2**31 - 1) for _ in range(n)]


def looks_like_hub_id(name: str | os.PathLike) -> bool:
    """``owner/name`` (letters, digits, ``-_.``), nothing on disk at that path and no local folder named
    ``owner``: ``runs/coamd`` beside a ``runs/`` folder is a missing path, not a hub id."""
    text = str(name)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", text):
        return False
    return not os.path.exists(text) and not os.path.exists(text.split("/")[0])


def resolve_pretrained(folder_or_hub_id: str | os.PathLike) -> Path:
    """A local folder as is; an ``owner/name`` hub id downloaded (``snapshot_download``); anything else
    is a ``FileNotFoundError`` naming the path (a missing local path is never looked up on the hub)."""
    folder = Path(folder_or_hub_id)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise FileNotFoundError(f"{folder_or_hub_id} is a file, not a model folder")
    if not looks_like_hub_id(folder_or_hub_id):
        raise FileNotFoundError(f"{folder_or_hub_id} not found (no such folder, and not an owner/name hub id)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(folder_or_hub_id)))
    except Exception as e:  # offline, unknown repo
        raise FileNotFoundError(f"could not download {str(folder_or_hub_id)!r} from the Hugging Face Hub "
                                f"({type(e).__name__}: {e}); pass a local folder made by save_pretrained") from e


def length_value(value, index: int, name: str) -> float:
    """``float(value)`` for the ``index``-th entry of a ``seconds`` / ``frames`` list; anything that is not
    a number (``None``, a string) is a ``ValueError`` naming the entry."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(f"{name}[{index}] must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}[{index}] must be a number, got {value!r}") from None


SMALL_BATCH = 4  # at most this many samples per forward pass: one CPU thread


def cpu_threads(batch: int, cores: int | None = None, load: float | None = None) -> int:
    """torch CPU threads for sampling ``batch`` motions per forward pass.

    One thread for small batches: their ops are too small to split, and a parallel region waits for
    its slowest thread, so one core held by another process makes 2 threads many times slower than 1.
    Larger batches get the idle cores: ``cores`` (default: the CPUs this process may use) minus the
    1-minute load average (``load``, default ``os.getloadavg()``), at least 1.
    """
    import os

    if batch <= SMALL_BATCH:
        return 1
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, batch, round(cores - load)))


def decode_by_length(tokens: list[torch.Tensor], decode, frames: list[int]) -> list[torch.Tensor]:
    """Decode per-sample latent tokens ``(n_i, C)`` with a convolutional decoder, clips of one token count
    stacked together (padding would leak through the convolutions): ``decode((B, n, C)) -> (B, 4 n, 22, 3)``;
    returns joints ``(frames_i, 22, 3)`` per sample, in order."""
    out: list[torch.Tensor | None] = [None] * len(tokens)
    by_length: dict[int, list[int]] = {}
    for i, tok in enumerate(tokens):
        by_length.setdefault(int(tok.shape[0]), []).append(i)
    for idx in by_length.values():
        decoded = decode(torch.stack([tokens[i] for i in idx]))
        for j, i in enumerate(idx):
            out[i] = decoded[j, :frames[i]]
    return out
