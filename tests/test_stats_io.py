import numpy as np
import pytest
import torch

from humo.data.stats import load_normalizer, save_normalizer
from humo.representations.normalizer import Normalizer


def test_save_load_round_trip(tmp_path):
    n = Normalizer(torch.randn(263), torch.rand(263) + 0.1)
    save_normalizer(n, tmp_path)
    m = load_normalizer(tmp_path)
    assert torch.equal(n.mean, m.mean) and torch.equal(n.std, m.std)
    with pytest.raises(FileExistsError):
        save_normalizer(n, tmp_path)
    assert torch.equal(load_normalizer(tmp_path).mean, n.mean)  # the refused save changed nothing


def test_corrupt_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_normalizer(tmp_path)
    np.save(tmp_path / "Mean.npy", np.zeros(263, np.float32))
    (tmp_path / "Std.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_normalizer(tmp_path)


def test_reference_stats_load(shared_data):
    n = load_normalizer(shared_data / "humanml3d")
    assert n.dim == 263
