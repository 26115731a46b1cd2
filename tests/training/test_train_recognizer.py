"""train_recognizer / evaluate_recognizer / the recognizer CLI on a tiny synthetic corpus."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from humo.models.action_classes import ActionClasses
from humo.models.recognizer import ActionRecognizer
from humo.representations.humanml3d import joints_to_features
from humo.training import engine
from humo.training.recognizer import class_prompts, evaluate_recognizer, parse_streams, train_recognizer
from tests.helpers import FakeTextEncoder, synthetic_joints

ACTIONS = {"walk": "a person walks forward", "wave-left-hand": "someone waves the left hand",
           "jump": "a man jumps up"}
FAST = dict(preset="tiny", batch_size=6, device="cpu", seed=0, checkpoint_every=2, log_every=1,
            progress=False)


FakeEncoder = partial(FakeTextEncoder, 16, words=True)


def _clip(action: str, seed: int) -> np.ndarray:
    joints = synthetic_joints(48, seed=seed, speed=1.2 if action == "walk" else 0.1)
    if action == "jump":
        hop = torch.sin(torch.arange(48) / 3.0).abs()[:, None, None]
        joints = joints + torch.tensor([0.0, 0.3, 0.0]) * hop
    if action == "wave-left-hand":
        joints[:, 20, 1] += 0.4 + 0.2 * torch.sin(torch.arange(48) / 2.0)
    return joints.float().numpy()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """24 clips (3 actions x 8) in the corpus layout of docs/design.md; 15 train / 3 val / 6 test."""
    root = tmp_path_factory.mktemp("corpus")
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir()
    labels, splits, feats = {}, {"train": [], "val": [], "test": []}, []
    for i in range(24):
        action = list(ACTIONS)[i % 3]
        cid = f"c{i:03d}"
        joints = _clip(action, i)
        f = joints_to_features(torch.from_numpy(joints).double()).float().numpy()
        np.save(root / "new_joints" / f"{cid}.npy", joints)
        np.save(root / "new_joint_vecs" / f"{cid}.npy", f)
        caption = ACTIONS[action] + (" quickly" if i % 2 else " slowly")
        (root / "texts" / f"{cid}.txt").write_text(f"{caption}#x/X#0.0#0.0\n{ACTIONS[action]}#x/X#0.0#0.0\n")
        labels[cid] = {"action": action, "style": None, "source": "synthetic", "take": cid}
        splits["train" if i < 15 else "val" if i < 18 else "test"].append(cid)
        feats.append(f)
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    (root / "all.txt").write_text("\n".join(sorted(labels)) + "\n")
    (root / "labels.json").write_text(json.dumps(labels))
    stacked = np.concatenate(feats)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-3)
    (root / "meta.json").write_text(json.dumps({"source": "synthetic", "fps": 20, "licence": "CC0 (test)"}))
    return root


def test_parse_streams():
    assert parse_streams(("j", "b", "m")) == "jbm" and parse_streams("J+M") == "jm"
    assert parse_streams("b,j") == "jb"
    for bad in ("", "jx", "jj"):
        with pytest.raises(ValueError, match="streams"):
            parse_streams(bad)


def test_class_prompts_use_the_corpus_phrasing_and_stay_distinct():
    classes = ActionClasses(["bye", "dance-long", "dance-short", "zzz"], [4, 3, 2, 1])
    assert class_prompts(classes) == ["a person waves goodbye", "a person dances long",
                                      "a person dances short", "a person performs the action zzz"]


def test_train_resume_matches_an_uninterrupted_run(corpus, tmp_path, monkeypatch):
    straight = train_recognizer(corpus, tmp_path / "straight", steps=5, text_encoder=FakeEncoder(),
                                evaluate=False, **FAST)
    assert straight.steps == 5 and (straight.final_dir / "model.safetensors").is_file()
    assert "CC0 (test)" in (straight.final_dir / "README.md").read_text()  # the data licence in the card
    assert (tmp_path / "straight" / "text_cache.safetensors").is_file()
    classes = json.loads((tmp_path / "straight" / "classes.json").read_text())
    assert sorted(classes["names"]) == sorted(ACTIONS) and len(classes["groups"]) == 3

    real_save = engine.save_state

    def crash_after_step_2(accelerator, run_dir, step, model):
        real_save(accelerator, run_dir, step, model)
        if step == 2:
            raise KeyboardInterrupt  # a run killed right after its checkpoint

    monkeypatch.setattr(engine, "save_state", crash_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        train_recognizer(corpus, tmp_path / "resumed", steps=5, text_encoder=FakeEncoder(), evaluate=False,
                         **FAST)
    monkeypatch.setattr(engine, "save_state", real_save)
    resumed = train_recognizer(corpus, tmp_path / "resumed", steps=5, text_encoder=FakeEncoder(), **FAST)
    assert resumed.steps == 5
    log = (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()
    steps_logged = [json.loads(line)["step"] for line in log]
    assert steps_logged == [1, 2, 3, 4, 5]  # steps 3..5 ran after the restart, none twice
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key

    metrics = resumed.metrics
    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text()) == metrics
    assert metrics["action/n_medium"] == 0 and "action/top1_medium" not in metrics  # 3 classes: 1/0/2
    for key in ("action/top1", "action/top1_head", "action/top1_tail", "t2m/R@1", "t2m/R@5", "m2t/R@5"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["retrieval/batch_size"] == 6 and "t2m/R@10" not in metrics and metrics["eval/clips"] == 6

    loaded = ActionRecognizer.from_pretrained(resumed.final_dir)
    assert loaded.streams == "jbm" and loaded.text_dim == 16 and sorted(loaded.class_names) == sorted(ACTIONS)


def test_stream_ablation_and_user_errors(corpus, tmp_path):
    result = train_recognizer(corpus, tmp_path / "j", steps=2, streams="j", text_encoder=FakeEncoder(),
                              evaluate=False, **FAST)
    assert result.model.streams == "j" and set(result.model.encoders) == {"j"}
    result.model.text_encoder = FakeEncoder()
    metrics = evaluate_recognizer(result.model, corpus, "val")
    assert metrics["eval/clips"] == 3 and 0.0 <= metrics["action/top1"] <= 1.0
    with pytest.raises(FileNotFoundError, match="not found"):
        train_recognizer(tmp_path / "missing", tmp_path / "x", steps=1, text_encoder=FakeEncoder(), **FAST)
    with pytest.raises(ValueError, match="unknown preset"):
        train_recognizer(corpus, tmp_path / "x", steps=1, text_encoder=FakeEncoder(),
                         **{**FAST, "preset": "huge"})
    with pytest.raises(ValueError, match="fewer than batch_size"):
        train_recognizer(corpus, tmp_path / "x", steps=1, text_encoder=FakeEncoder(),
                         **{**FAST, "batch_size": 64})


def test_cli_train_recognize_retrieve(corpus, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import humo.cli.recognizer  # noqa: F401 - registers the commands
    import humo.models.text_encoder
    from humo.cli.app import app

    monkeypatch.setattr(humo.models.text_encoder, "TextEncoder", FakeEncoder)
    out = tmp_path / "cli"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "recognizer", str(corpus), str(out), "--preset", "tiny",
                                 "--steps", "2", "--batch-size", "4", "--device", "cpu", "--seed", "1",
                                 "--streams", "jm", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "t2m/R@1" in result.output and (out / "final" / "config.json").is_file()
    motion = tmp_path / "clip.npy"
    np.save(motion, np.load(corpus / "new_joints" / "c000.npy"))
    result = runner.invoke(app, ["recognize", str(motion), "--model", str(out / "final"), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2 and any(a in result.output for a in ACTIONS)
    result = runner.invoke(app, ["retrieve", "a person walks", "--gallery", str(corpus), "--model",
                                 str(out / "final"), "-k", "3"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 3 and "c0" in result.output
    result = runner.invoke(app, ["retrieve", str(motion), "--gallery", str(corpus), "--split", "val",
                                 "--model", str(out / "final"), "-k", "2"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2
    result = runner.invoke(app, ["recognize", str(tmp_path / "nope.npy"), "--model", str(out / "final")])
    assert result.exit_code != 0 and isinstance(result.exception, FileNotFoundError)
