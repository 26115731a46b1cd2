"""from_pretrained with a hub id while offline: one clear FileNotFoundError, never a hang or a traceback
from inside huggingface_hub; a file where a folder is expected is refused before any download."""

from __future__ import annotations

import pytest

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
