"""train_evaluator: a few steps save, resume exactly and reload; the collate function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humo.models.evaluators import ContrastiveEvaluator
from humo.training.collate import collate_motion_text
from humo.training.evaluator import dataset_stats, train_evaluator
from tests.helpers import FakeTextEncoder

MODEL = dict(latent_dim=16, ff_size=32, num_layers=1, num_heads=2, embed_dim=8, dropout=0.1)


class Synthetic:
    def __init__(self, n=24):
        g = torch.Generator().manual_seed(0)
        lengths = torch.randint(8, 20, (n,), generator=g).tolist()
        self.items = [{"features": torch.randn(t, 263, generator=g) + i % 3, "length": t,
                       "text": f"caption {i % 6}"} for i, t in enumerate(lengths)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def train(out, steps, **kw):
    kw = {"batch_size": 8, "lr": 1e-3, "device": "cpu", "seed": 3, "model_kwargs": MODEL, "preset": "tiny",
          "save_every": 2, "progress": False, "text_encoder": FakeTextEncoder(), **kw}
    return train_evaluator(Synthetic(), out, steps, **kw)


def test_train_save_resume_reload(tmp_path):
    straight = train(tmp_path / "a", 5)
    assert straight.step == 5 and len(straight.losses) == 5 and all(np.isfinite(straight.losses))
    first = train(tmp_path / "b", 3)
    assert (tmp_path / "b" / "checkpoint" / "trainer.json").is_file() and first.step == 3
    resumed = train(tmp_path / "b", 5)
    assert resumed.step == 5 and len(resumed.losses) == 2
    assert resumed.losses == pytest.approx(straight.losses[3:], rel=1e-5)  # exact resume
    reloaded = ContrastiveEvaluator.from_pretrained(resumed.final_dir)
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    done = train(tmp_path / "b", 5)  # already finished: nothing to do
    assert done.step == 5 and done.losses == []


def test_text_embeddings_are_cached_per_caption(tmp_path):
    encoder = FakeTextEncoder()
    train(tmp_path, 6, text_encoder=encoder, save_every=100)
    assert sorted(encoder.seen) == [f"caption {i}" for i in range(6)]


def test_training_leaves_the_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(tmp_path, 1)
    assert torch.equal(torch.rand(3), expected)


def test_resume_with_another_config_and_bad_arguments(tmp_path):
    train(tmp_path, 2)
    with pytest.raises(ValueError, match="was trained with config"):
        train(tmp_path, 4, model_kwargs={**MODEL, "embed_dim": 4})
    train(tmp_path, 1, model_kwargs={**MODEL, "embed_dim": 4}, resume=False)  # starts over
    with pytest.raises(ValueError, match="fewer than batch_size"):
        train(tmp_path / "x", 1, batch_size=100)
    with pytest.raises(ValueError, match="unknown preset"):
        train(tmp_path / "x", 1, preset="huge")


def test_dataset_stats():
    ds = Synthetic(6)
    mean, std = dataset_stats(ds)
    frames = torch.cat([it["features"] for it in ds.items]).double()
    torch.testing.assert_close(mean, frames.mean(0).float())
    torch.testing.assert_close(std, frames.std(0, unbiased=False).float(), rtol=1e-4, atol=1e-5)


def test_collate_pads_and_masks():
    items = [{"features": torch.ones(5, 3), "length": 5, "text": "a"},
             {"features": torch.full((4, 3), 2.0), "length": 3, "text": "b"},
             {"features": torch.ones(2, 3), "length": 3, "text": "c"}]  # joint-frame count: clipped to 2
    batch = collate_motion_text(items)
    assert batch.features.shape == (3, 5, 3) and batch.lengths.tolist() == [5, 3, 2]
    assert batch.mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2, [True] * 2 + [False] * 3]
    assert float(batch.features[1, 3:].abs().sum()) == 0.0 and batch.texts == ["a", "b", "c"]
    assert batch.to("cpu").features is not None
    wider = {"features": torch.ones(2, 4), "length": 2, "text": "x"}
    for bad, match in (([], "empty"), ([{"features": torch.ones(2, 3)}], "'features', 'length' and 'text'"),
                       ([items[0], wider], "feature sizes"),
                       ([{"features": torch.ones(2, 3), "length": 0, "text": "x"}], ">= 1")):
        with pytest.raises(ValueError, match=match):
            collate_motion_text(bad)
