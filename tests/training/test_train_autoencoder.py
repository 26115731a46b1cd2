"""train_autoencoder / evaluate_autoencoder / `humo train autoencoder` on a tiny synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from humo.models.autoencoder import MotionAutoencoder
from humo.training.autoencoder import WindowSampler, evaluate_autoencoder, pad_windows, train_autoencoder
from humo.training.common import lr_at
from tests.helpers import write_tiny_corpus

FAST = dict(preset="tiny", batch_size=4, window=16, device="cpu", progress=False, val_clips=2, log_every=2,
            norm_windows=32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """HumanML3D layout (train 0-5, val 6-7, test 8-9; clip i has 24 + 5 i frames). The autoencoder ignores
    the features, so new_joint_vecs holds zeros of the right shape."""
    root = tmp_path_factory.mktemp("corpus")
    write_tiny_corpus(root)
    return root


def test_window_sampler_draws_seeded_canonical_windows(corpus):
    sampler = WindowSampler(corpus, "train", window=28, mirror=True)
    assert sampler.num_clips == 5 and sampler.skipped == 1  # train clips have 24, 29, ..., 49 frames
    x = sampler.sample(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 28, 22, 3)
    assert torch.allclose(x[:, 0, 0, [0, 2]], torch.zeros(16, 2), atol=1e-5)  # root at the XZ origin
    assert torch.equal(x, sampler.sample(16, torch.Generator().manual_seed(0)))
    assert not torch.equal(x, sampler.sample(16, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="lower --window"):
        WindowSampler(corpus, "train", window=64)


def test_min_window_keeps_short_clips_and_pads_with_a_still_pose(corpus):
    sampler = WindowSampler(corpus, "train", window=28, min_window=16)
    assert sampler.num_clips == 6 and sampler.skipped == 0  # the 24-frame clip is no longer skipped
    assert sampler.sample(4, torch.Generator().manual_seed(0)).shape == (4, 16, 22, 3)
    a, b = torch.randn(16, 22, 3), torch.randn(24, 22, 3)
    joints, mask = pad_windows([a, b])
    assert joints.shape == (2, 24, 22, 3) and mask.tolist() == [[True] * 16 + [False] * 8, [True] * 24]
    assert torch.equal(joints[0, :16], a) and torch.equal(joints[0, 16:], a[-1:].expand(8, -1, -1))
    with pytest.raises(ValueError, match="min_window"):
        WindowSampler(corpus, "train", window=28, min_window=18)


def test_class_weights_balance_rare_actions(corpus, tmp_path):
    import shutil

    from humo.data.datasets import TextMotionDataset
    from humo.training.engine import DatasetSource

    root = tmp_path / "labelled"
    shutil.copytree(corpus, root)
    actions = ["wave", "wave", "wave", "wave", "kick"]  # train clips 1-5 (clip 0 stays unlabelled)
    (root / "labels.json").write_text(json.dumps({f"{i + 1:06d}": {"action": a} for i, a in enumerate(actions)}))
    data = TextMotionDataset(root, "train", min_len=16, max_len=16, random_crop=True)
    labels = torch.tensor(data._labels)
    kick = labels == data.classes.index("kick")
    assert torch.equal(data.class_weights(0), torch.ones(6, dtype=torch.float64))
    w = data.class_weights(1.0)
    assert float(w[kick].sum()) == pytest.approx(float(w[labels == data.classes.index("wave")].sum()))
    assert float(w[labels < 0].sum()) == pytest.approx(float(w[kick].sum()))  # unlabelled: one group
    with pytest.raises(ValueError, match="balance"):
        data.class_weights(1.5)
    # drawn by weight, keyed by the generator: the kick clip comes up about a third of the time at balance 1
    source = DatasetSource(data, "joints", w)
    picks = [int(torch.multinomial(w, 1, generator=torch.Generator().manual_seed(s))) for s in range(600)]
    assert 0.25 < sum(kick[p].item() for p in picks) / 600 < 0.42
    g = torch.Generator().manual_seed(3)
    assert torch.equal(source.item(0, g), source.item(5, torch.Generator().manual_seed(3)))  # index ignored
    with pytest.raises(ValueError, match="weights"):
        DatasetSource(data, "joints", torch.zeros(6))


def test_decoder_only_fine_tune_keeps_the_latents(corpus, tmp_path):
    base = train_autoencoder(corpus, tmp_path / "base", steps=3, val_every=100, test_split=None, **FAST)
    tuned = train_autoencoder(corpus, tmp_path / "tuned", steps=3, val_every=100, test_split=None,
                              init_from=base.final_dir, decoder_only=True, balance=0.5, min_window=8,
                              **{**FAST, "lr": 1e-2})
    a = load_file(str(base.final_dir / "model.safetensors"))
    b = load_file(str(tuned.final_dir / "model.safetensors"))
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)  # encoder, stats, latent scale kept
    assert tuned.metrics["decoder_only"] and tuned.metrics["min_window"] == 8
    with pytest.raises(ValueError, match="init_from"):
        train_autoencoder(corpus, tmp_path / "x", steps=1, decoder_only=True, **FAST)


def test_lr_schedule_warms_up_then_decays():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.1, abs=1e-3)
    assert lr_at(50, 100, 1.0, 10) < lr_at(20, 100, 1.0, 10)


def test_train_writes_final_model_log_and_metrics(corpus, tmp_path):
    out = tmp_path / "run"
    result = train_autoencoder(corpus, out, steps=4, val_every=2, checkpoint_every=2, seed=0, **FAST)
    model = MotionAutoencoder.from_pretrained(result.final_dir)
    assert result.final_dir == out / "final" and (out / "checkpoint" / "trainer.json").is_file()
    assert model.stream_std.ne(1).any() and model.latent_scale != 1  # fitted stats were saved
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines if "loss" in e] == [2, 4]
    assert all(np.isfinite(e["val_mpjpe_mm"]) for e in lines if "val_mpjpe_mm" in e)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["num_clips"] == 2 and metrics["test"]["mpjpe_mm"] > 0
    assert metrics["model_mb"] > 0 and metrics["parameters"] == sum(p.numel() for p in model.parameters())


def test_resume_continues_exactly(corpus, tmp_path):
    straight = train_autoencoder(corpus, tmp_path / "a", steps=6, checkpoint_every=3, val_every=100,
                                 test_split=None, **FAST)
    half = train_autoencoder(corpus, tmp_path / "b", steps=6, checkpoint_every=100, val_every=100,
                             test_split=None, stop_at=3, **FAST)  # interrupted at step 3
    assert half.final_dir is None and not (tmp_path / "b" / "final").exists()
    resumed = train_autoencoder(corpus, tmp_path / "b", steps=6, checkpoint_every=3, val_every=100,
                                test_split=None, **FAST)
    assert half.metrics["resumed_from"] == 0 and resumed.metrics["resumed_from"] == 3
    a = load_file(str(straight.final_dir / "model.safetensors"))
    b = load_file(str(resumed.final_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_evaluate_matches_a_manual_reconstruction(corpus):
    torch.manual_seed(0)
    model = MotionAutoencoder.from_preset("tiny")
    clip = np.load(corpus / "new_joints" / "000008.npy")  # 64 frames: first test clip
    x = torch.from_numpy(clip[: len(clip) // 4 * 4])[None]
    with torch.no_grad():
        expected = (model(x).joints - x).norm(dim=-1).mean().item() * 1000
    metrics = evaluate_autoencoder(model, corpus, "test", max_clips=1)
    assert metrics["num_clips"] == 1 and metrics["num_frames"] == x.shape[1]
    assert metrics["mpjpe_mm"] == pytest.approx(expected, rel=1e-5)
    assert model.training  # mode restored


def test_user_errors(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        train_autoencoder(tmp_path / "missing", tmp_path / "run", steps=1, **FAST)
    with pytest.raises(ValueError, match="multiple of 4"):
        train_autoencoder(corpus, tmp_path / "run", steps=1, **{**FAST, "window": 18})
    with pytest.raises(ValueError, match="unknown autoencoder preset"):
        train_autoencoder(corpus, tmp_path / "run", steps=1, **{**FAST, "preset": "huge"})
    with pytest.raises(ValueError, match="lower --window"):
        train_autoencoder(corpus, tmp_path / "run", steps=1, **{**FAST, "window": 400})


def test_cli_smoke(corpus, tmp_path):
    from typer.testing import CliRunner

    import humo.cli.coamd_train  # noqa: F401 - registers `humo train autoencoder`
    from humo.cli.app import app

    out = tmp_path / "cli-run"
    result = CliRunner().invoke(app, ["train", "autoencoder", str(corpus), str(out), "--preset", "tiny",
                                      "--steps", "2", "--batch-size", "2", "--window", "16",
                                      "--device", "cpu", "--seed", "1", "--norm-windows", "16",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "test MPJPE" in result.output and (out / "final" / "model.safetensors").is_file()
