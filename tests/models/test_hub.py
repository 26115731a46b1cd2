"""from_pretrained with a hub id while offline: one clear FileNotFoundError, never a hang or a traceback
from inside huggingface_hub; a file where a folder is expected is refused before any download."""

from __future__ import annotations

import pytest
import torch

from humo.models.autoencoder import MotionAutoencoder
from humo.pipelines.coamd import CoAMD


@pytest.fixture
def offline(monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_model_hub_id_offline_is_a_clear_error(offline, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Hugging Face Hub.*local folder"):
        MotionAutoencoder.from_pretrained("humo-nobody/no-such-model", cache_dir=tmp_path)


def test_model_from_a_file_is_refused(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        MotionAutoencoder.from_pretrained(str(f))


def test_pipeline_hub_id_offline_is_a_clear_error(offline):
    with pytest.raises(FileNotFoundError, match=r"could not download 'humo-nobody/no-such-pipeline'.*local folder"):
        CoAMD.from_pretrained("humo-nobody/no-such-pipeline")


def test_strict_load_skips_random_init_and_restores_it(tmp_path):
    from torch.nn import init

    from humo.models.coamd import CoAMDTransformer

    torch.manual_seed(0)
    model = CoAMDTransformer.from_preset("tiny", text_dim=8)
    model.save_pretrained(tmp_path / "m")
    before = {name: getattr(init, name) for name in ("uniform_", "kaiming_uniform_", "normal_", "zeros_")}
    strict = CoAMDTransformer.from_pretrained(tmp_path / "m")
    assert {name: getattr(init, name) for name in before} == before  # restored
    loose = CoAMDTransformer.from_pretrained(tmp_path / "m", strict=False)  # random init kept: keys may be missing
    for other in (strict, loose):
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(),
                                                     strict=True))
    x = torch.ones(2, 3)
    init.uniform_(x)  # random init works again after the load
    assert not torch.equal(x, torch.ones(2, 3))
