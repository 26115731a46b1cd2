"""The public surface: the design card's lines verbatim, the lazy top-level names, bundled defaults."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import humo

ROOT = Path(__file__).resolve().parents[1]
CARD = 'from humo import CoAMD\nCoAMD.from_pretrained().generate("a person runs")\n'


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_quickstart_opens_with_the_card_and_its_lines_run_verbatim(tmp_path):
    text = (ROOT / "docs" / "quickstart.md").read_text()
    first = re.search(r"```python\n(.*?)```", text, re.S)
    assert text.index("```python") < text.index("\n\n", text.index("# Quickstart") + 12) + 3  # it opens the page
    assert first.group(1) == CARD
    # the card verbatim, then the call a user (and the project's hook) makes with it, in a fresh interpreter
    res = _python(CARD + 'j = CoAMD.from_pretrained().generate("a person runs", seconds=4.0, seed=0).joints\n'
                         "print(tuple(j.shape), bool(j.isfinite().all()))\n", tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "(80, 22, 3) True"


def test_import_humo_and_metrics_stay_light(tmp_path):
    res = _python("import sys, humo, humo.metrics\n"
                  "print('transformers' in sys.modules, 'humo.pipelines.coamd' in sys.modules)", tmp_path)
    assert res.returncode == 0 and res.stdout.split() == ["False", "False"], res.stderr


def test_top_level_names():
    from humo.models.recognizer import ActionRecognizer
    from humo.motion import Motion
    from humo.pipelines.coamd import CoAMD
    from humo.pipelines.motionduet import MotionDuet

    assert (humo.CoAMD, humo.MotionDuet, humo.ActionRecognizer, humo.Motion) == (
        CoAMD, MotionDuet, ActionRecognizer, Motion)
    assert set(humo.__all__) <= set(dir(humo))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        humo.Nope  # noqa: B018


def test_bundled_defaults_and_the_missing_motionduet(monkeypatch, tmp_path):
    rec = humo.ActionRecognizer.from_pretrained()
    assert rec.class_names and rec.streams == "jbm"
    duet = humo.MotionDuet.from_pretrained()
    assert duet.model.first_stage == "autoencoder" and duet.cleanup.offsets is not None
    from humo.models import hub

    monkeypatch.setattr(hub, "BUNDLED_MOTIONDUET", tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="no bundled MotionDuet"):
        humo.MotionDuet.from_pretrained()
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        humo.CoAMD.from_pretrained("no-such-folder")


def test_one_way_to_give_a_text_encoder():
    from tests.helpers import FakeTextEncoder

    rec = humo.ActionRecognizer(streams="j", width=16, heads=2, stream_layers=1, fusion_layers=1, text_dim=16,
                                embed_dim=8, class_names=["walk", "run"])
    rec.text_encoder = FakeTextEncoder(dim=16)
    assert isinstance(rec.text_encoder, FakeTextEncoder) and "text_encoder" not in dict(rec.named_children())
    assert not any("text_encoder" in k for k in rec.state_dict())
    assert rec.embed_text(["a person walks"]).shape == (1, 8)
    with pytest.raises(ValueError, match="16"):
        rec.text_encoder = FakeTextEncoder(dim=5)
    for name in ("set_text_encoder", "get_text_encoder", "attach_text_encoder"):
        assert not hasattr(rec, name)
