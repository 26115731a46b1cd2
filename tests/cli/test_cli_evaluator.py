"""`humo train evaluator` smoke test (the one test of this feature that loads the real MiniLM encoder)."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import humo.cli.evaluator  # noqa: F401  (registers `train evaluator`)
from humo.cli.app import app
from humo.models.evaluators import ContrastiveEvaluator
from tests.helpers import synthetic_joints

runner = CliRunner()


def write_corpus(root, n=6, frames=48):
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cid = f"{i:06d}"
        joints = synthetic_joints(frames, seed=i, dtype=torch.float32).numpy()
        np.save(root / "new_joints" / f"{cid}.npy", joints)
        feats = rng.standard_normal((frames - 1, 263), dtype=np.float32)
        np.save(root / "new_joint_vecs" / f"{cid}.npy", feats)
        (root / "texts" / f"{cid}.txt").write_text(f"a person walks forward {i}#a/DET person/NOUN#0.0#0.0\n"
                                                 f"someone waves {i}#someone/PRON wave/VERB#0.0#0.0\n")
    (root / "train.txt").write_text("\n".join(f"{i:06d}" for i in range(n)) + "\n")
    np.save(root / "Mean.npy", np.zeros(263, dtype=np.float32))
    np.save(root / "Std.npy", np.ones(263, dtype=np.float32))


def test_train_evaluator_cli_trains_resumes_and_saves(tmp_path):
    write_corpus(tmp_path / "corpus")
    args = ["train", "evaluator", str(tmp_path / "corpus"), str(tmp_path / "run"), "--steps", "2",
            "--batch-size", "4", "--preset", "tiny", "--device", "cpu", "--min-len", "40",
            "--save-every", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "saved to" in result.output and (tmp_path / "run" / "checkpoint" / "trainer.json").is_file()
    model = ContrastiveEvaluator.from_pretrained(tmp_path / "run" / "final")
    assert model.text_dim == 384 and model.text_encoder_name == "minilm"
    emb = model.embed_text(["a person walks forward"])  # loads MiniLM lazily
    assert emb.shape == (1, 32) and float(emb.norm()) == pytest.approx(1.0, abs=1e-5)
    again = runner.invoke(app, args[:5] + ["3"] + args[6:])  # resume to step 3
    assert again.exit_code == 0 and "step 3" in again.output


def test_train_evaluator_cli_errors(tmp_path):
    result = runner.invoke(app, ["train", "evaluator", str(tmp_path / "nope"), str(tmp_path / "run")])
    assert isinstance(result.exception, FileNotFoundError) and "not found" in str(result.exception)
