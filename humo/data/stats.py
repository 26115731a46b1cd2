"""Read and write feature statistics (``Mean.npy`` / ``Std.npy``, the HumanML3D file names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from humo.data.atomic import atomic_write
from humo.representations.normalizer import Normalizer


def save_normalizer(normalizer: Normalizer, folder: str | Path, overwrite: bool = False) -> None:
    """Write ``Mean.npy`` and ``Std.npy`` (float32) into ``folder`` atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in (("Mean.npy", normalizer.mean), ("Std.npy", normalizer.std)):
        path = folder / name
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
        array = value.detach().cpu().numpy().astype(np.float32)
        atomic_write(path, lambda tmp, array=array: np.save(tmp, array))


def load_normalizer(folder: str | Path) -> Normalizer:
    """Read ``Mean.npy`` / ``Std.npy`` from ``folder`` (never unpickles)."""
    folder = Path(folder)
    arrays = []
    for name in ("Mean.npy", "Std.npy"):
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        try:
            arrays.append(torch.from_numpy(np.load(path, allow_pickle=False).astype(np.float32)))
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"corrupt statistics file {path}: {e}") from e
    return Normalizer(arrays[0], arrays[1])
