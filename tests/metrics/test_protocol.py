"""The protocol runner: exact values on a perfect generator, determinism, crops, tables, errors."""

from __future__ import annotations

import math

import pytest
import torch

import humo.metrics as M

D_EMB = 8


class ToyDataset:
    """Item i: constant features whose first 8 values are a random vector v_i; text ``"item i"``."""

    def __init__(self, n=72, seed=0, tokens=False):
        g = torch.Generator().manual_seed(seed)
        self.vectors = torch.randn(n, D_EMB, generator=g)
        self.lengths = torch.randint(40, 80, (n,), generator=g).tolist()
        self.tokens = tokens

    def __len__(self):
        return len(self.lengths)

    def features(self, i, length):
        f = torch.zeros(length, 263)
        f[:, :D_EMB] = self.vectors[i]
        return f

    def __getitem__(self, i):
        n = self.lengths[i]
        item = {"features": self.features(i, n + 3), "length": n, "text": f"item {i}"}
        if self.tokens:
            item["tokens"] = f"item/NOUN {i}/NUM"
        return item


class ToyEvaluator:
    """Motion: mean of the first 8 features over valid frames. Text: the item's vector."""

    def __init__(self, dataset):
        self.dataset = dataset

    def embed_text(self, texts):
        return self.dataset.vectors[[int(t.split()[-1]) for t in texts]]

    def embed_motion(self, features, lengths):
        mask = (torch.arange(features.shape[1])[None] < lengths[:, None]).float()
        return (features[..., :D_EMB] * mask[..., None]).sum(1) / lengths[:, None]


def perfect_generator(dataset, calls=None):
    def generate(texts, lengths):
        if calls is not None:
            calls.append(lengths.clone())
        feats = torch.stack([dataset.features(int(t.split()[-1]), int(lengths.max())) for t in texts])
        return feats, lengths

    return generate


def noisy_generator(dataset, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)

    def generate(texts, lengths):
        feats, lengths = perfect_generator(dataset)(texts, lengths)
        feats[..., :D_EMB] += scale * torch.randn(feats.shape[0], 1, D_EMB, generator=g)
        return feats, lengths

    return generate


def run(dataset, generate, evaluator=None, **kw):
    kw = {"replications": 2, "batch_size": 8, "mm_prompts": 4, "mm_repeats": 6, "mm_times": 3,
          "diversity_times": 50, "progress": False, **kw}
    return M.evaluate(generate, dataset, evaluator or ToyEvaluator(dataset), **kw)


def test_perfect_generator_gives_exact_values():
    ds, calls = ToyDataset(), []
    res = run(ds, perfect_generator(ds, calls))
    assert set(res) == {"real", "generated"}
    for row in ("real", "generated"):
        r = res[row]
        for k in ("R@1", "R@2", "R@3"):
            assert r[k]["mean"] == pytest.approx(1.0) and r[k]["interval"] == 0.0
        assert abs(r["MM-Dist"]["mean"]) < 1e-6 and abs(r["FID"]["mean"]) < 1e-6
        assert len(r["Diversity"]["values"]) == 2 and r["Diversity"]["mean"] > 1.0
    assert abs(res["generated"]["MultiModality"]["mean"]) < 1e-6 and "MultiModality" not in res["real"]
    # 9 batches x 8 per replication, then 4 MM prompts x 6 repeats; lengths are cut to multiples of 4
    assert [len(c) for c in calls] == [8] * 9 + [6] * 4 + [8] * 9 + [6] * 4
    assert all(bool((c % 4 == 0).all()) for c in calls)


def test_noisy_generator_is_worse_and_runs_are_deterministic():
    ds = ToyDataset()
    a = run(ds, noisy_generator(ds, seed=1), seed=7)
    b = run(ds, noisy_generator(ds, seed=1), seed=7)
    assert a == b
    g = a["generated"]
    assert g["R@1"]["mean"] < 1.0 and g["FID"]["mean"] > 0.1 and g["MultiModality"]["mean"] > 0.1
    assert g["MM-Dist"]["mean"] > a["real"]["MM-Dist"]["mean"]
    c = run(ds, noisy_generator(ds, seed=1), seed=8)
    assert c["generated"]["R@1"]["values"] != g["R@1"]["values"] or c["generated"]["FID"] != g["FID"]


def test_clip_evaluator_and_text_key():
    ds = ToyDataset(tokens=True)

    class TokenEvaluator(ToyEvaluator):
        text_key = "tokens"

        def embed_text(self, texts):
            assert all(t.startswith("item/NOUN") for t in texts)
            return self.dataset.vectors[[int(t.split()[-1].split("/")[0]) for t in texts]]

    res = run(ds, perfect_generator(ds), TokenEvaluator(ds), clip_evaluator=ToyEvaluator(ds), mm_prompts=0)
    assert res["generated"]["CLIP"]["mean"] == pytest.approx(1.0) and "MultiModality" not in res["generated"]
    with pytest.raises(ValueError, match="no 'tokens' key"):
        run(ToyDataset(), perfect_generator(ds), TokenEvaluator(ds))


def test_reference_crop_statistics():
    g = torch.Generator().manual_seed(0)
    f = torch.arange(43.0)[:, None]
    lengths, offsets_ok = [], True
    for _ in range(3000):
        out, n = M.reference_crop(f, 43, 4, g)
        lengths.append(n)
        offsets_ok &= out.shape[0] == n and 0 <= out[0, 0] <= 43 - n
    assert set(lengths) == {36, 40} and offsets_ok
    assert lengths.count(36) / 3000 == pytest.approx(1 / 3, abs=0.03)
    with pytest.raises(ValueError, match="shorter than unit_length"):
        M.reference_crop(f, 3)


def test_summarize_and_markdown():
    s = M.summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["interval"] == pytest.approx(1.96 * math.sqrt(2 / 3) / math.sqrt(3))
    table = M.to_markdown({"real": {"R@1": s, "FID": M.summarize([0.5])}, "generated": {"R@1": s}})
    lines = table.splitlines()
    assert lines[0] == "| | R@1 | FID |" and lines[2] == "| real | 2.000 ± 0.924 | 0.500 ± 0.000 |"
    assert lines[3].endswith("| - |")


def test_with_converter_and_progress_bars():
    ds = ToyDataset(n=16)
    seen = []

    def generate_joints(texts, lengths):
        return [t.split()[-1] for t in texts], lengths + 1

    def converter(ids, lengths):
        seen.append(len(ids))
        return torch.stack([ds.features(int(i), int(lengths.max())) for i in ids]), lengths - 1

    res = run(ds, M.with_converter(generate_joints, converter), replications=1, mm_prompts=0,
              diversity_times=16, progress=True)
    assert res["generated"]["R@1"]["mean"] == pytest.approx(1.0) and seen == [8, 8]


@pytest.mark.parametrize("kw,match", [
    ({"replications": 0}, "replications"),
    ({"batch_size": 100}, "fewer than batch_size"),
    ({"mm_prompts": 1000}, "mm_prompts"),
    ({"mm_repeats": 2}, "mm_repeats"),
])
def test_argument_errors(kw, match):
    ds = ToyDataset()
    with pytest.raises(ValueError, match=match):
        run(ds, perfect_generator(ds), **kw)


@pytest.mark.parametrize("bad,match", [
    (lambda f, n: f, "tuple"),
    (lambda f, n: (f[:, :, :10], n), r"\(8, T, 263\)"),
    (lambda f, n: (f, n * 1000), "lengths"),
    (lambda f, n: (f * float("nan"), n), "NaN"),
])
def test_bad_generator_output_raises(bad, match):
    ds = ToyDataset()
    gen = perfect_generator(ds)
    with pytest.raises(ValueError, match=match):
        run(ds, lambda t, n: bad(*gen(t, n)))


def test_bad_dataset_items_raise():
    class Broken(ToyDataset):
        def __getitem__(self, i):
            return {"features": torch.zeros(50, 263)}

    with pytest.raises(ValueError, match="'features', 'length' and 'text'"):
        run(Broken(), perfect_generator(ToyDataset()))


def test_protocol_with_the_real_evaluator_classes():
    from humo.models.evaluators import ContrastiveEvaluator, T2MEvaluator
    from tests.helpers import FakeTextEncoder as FakeEncoder

    torch.manual_seed(0)
    ds = ToyDataset(n=24, tokens=True)
    t2m = T2MEvaluator(dim_movement_enc_hidden=16, dim_movement_latent=16, dim_text_hidden=16,
                       dim_motion_hidden=16, dim_coemb_hidden=16, dim_word=8,
                       vocab=["sos", "eos", "unk", "item"]).eval()
    clip = ContrastiveEvaluator(text_dim=16, latent_dim=16, ff_size=32, num_layers=1, num_heads=2,
                                embed_dim=16).eval()
    clip.text_encoder = FakeEncoder()
    res = run(ds, noisy_generator(ds), t2m, clip_evaluator=clip, diversity_times=20, mm_prompts=2)
    assert set(res["generated"]) == set(M.METRIC_NAMES)
    assert all(math.isfinite(v["mean"]) for row in res.values() for v in row.values())
