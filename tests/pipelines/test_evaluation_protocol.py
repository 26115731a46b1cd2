"""The evaluation protocol end to end (humo/pipelines/evaluation.py) on a tiny corpus and a tiny evaluator the
test makes: corpus folder -> dataset -> trained evaluator -> evaluate_conditions (+ kinematics) -> table.

Values that must hold: real vs real FID ~ 0; the real rows' R@1 equals the evaluator's own retrieval; an
oracle generator that returns the real clip of each caption scores like the real data; kinematics of real
motion lie inside the real ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from humo.metrics import r_precision
from humo.motion import Motion
from humo.pipelines.evaluation import corpus_test_set, evaluate_conditions
from humo.pipelines.plausibility import real_statistics
from humo.representations.humanml3d import canonicalize, joints_to_features
from humo.training.evaluator import train_evaluator
from tests.helpers import FakeTextEncoder, synthetic_joints

CLASSES = {"walk": 1.2, "run": 3.0, "stand": 0.0, "shuffle": 0.4}  # action -> root speed, m/s
N_PER_CLASS = 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir()
    labels, ids = {}, []
    for a, (action, speed) in enumerate(CLASSES.items()):
        for k in range(N_PER_CLASS):
            cid = f"{action}_{k:02d}"
            frames = 44 + 4 * (k % 5)
            joints = canonicalize(synthetic_joints(frames, seed=100 * a + k, speed=speed).float())
            np.save(root / "new_joints" / f"{cid}.npy", joints.numpy())
            np.save(root / "new_joint_vecs" / f"{cid}.npy", joints_to_features(joints.double()).float().numpy())
            (root / "texts" / f"{cid}.txt").write_text(f"a person does {action} number {k}.#a/DET#0.0#0.0\n")
            labels[cid] = {"action": action}
            ids.append(cid)
    (root / "labels.json").write_text(json.dumps(labels))
    for split in ("train", "test"):
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


class Oracle:
    """A 'pipeline' whose generate() returns, for each caption, the real clip it describes."""

    fps = 20.0

    def __init__(self, dataset):
        self.by_text = {dataset[i]["text"]: dataset[i]["joints"][: dataset[i]["length"]] for i in range(len(dataset))}

    def generate(self, texts, frames, seed=0, guidance=None, **kwargs):
        return [Motion(self.by_text[t][:n], text=t) for t, n in zip(texts, frames, strict=True)]


def test_protocol_end_to_end(corpus, tmp_path):
    data = corpus_test_set(corpus)
    assert len(data) == len(CLASSES) * N_PER_CLASS and data.classes == sorted(CLASSES)
    encoder = FakeTextEncoder()
    model = dict(latent_dim=32, ff_size=64, num_layers=1, num_heads=2, embed_dim=16, dropout=0.0)
    run = train_evaluator(data, tmp_path / "ev", steps=150, batch_size=32, lr=2e-3, device="cpu", seed=0,
                          preset="tiny", model_kwargs=model, text_encoder=encoder, save_every=1000, progress=False)
    evaluator = run.model.eval()
    # the evaluator's own retrieval on the whole clips, in the protocol's batches of 32
    feats = [data[i]["features"] for i in range(len(data))]
    lengths = torch.tensor([f.shape[0] for f in feats])
    padded = torch.zeros(len(feats), int(lengths.max()), 263)
    for i, f in enumerate(feats):
        padded[i, : f.shape[0]] = f
    with torch.no_grad():
        m = evaluator.embed_motion(padded, lengths)
        t = evaluator.embed_text([data[i]["text"] for i in range(len(data))])
    own = float(torch.stack([r_precision(t[s:s + 32], m[s:s + 32], top_k=1) for s in range(0, len(data), 32)]).mean())
    assert own == 1.0  # memorised: 64 distinct clips and captions

    real = real_statistics(corpus, splits=("test",))
    results, table = evaluate_conditions(Oracle(data), {"oracle": []}, data, evaluator, replications=2, seed=0,
                                         mm_prompts=0, progress=False, real_kinematics=real, diversity_times=20)
    res = results["oracle"]
    assert res["real"]["R@1"]["mean"] == pytest.approx(own)
    assert res["real"]["FID"]["mean"] < 0.05 and res["generated"]["FID"]["mean"] < 0.05
    assert res["generated"]["R@1"]["mean"] == pytest.approx(res["real"]["R@1"]["mean"], abs=0.05)
    assert res["generated"]["MM-Dist"]["mean"] == pytest.approx(res["real"]["MM-Dist"]["mean"], rel=0.05)
    kin = res["kinematics"]
    assert set(kin["classes"]) == set(CLASSES)
    assert kin["overall"]["bone_std"] == 1.0  # real skeletons are rigid
    assert kin["overall"]["root_speed"] >= 0.8 and kin["overall"]["locomotion_speed_inside"] >= 0.8
    assert kin["classes"]["run"]["real_median"]["root_speed"] == pytest.approx(3.0, rel=0.1)
    # the real test clips' own row (whole clips; the oracle's are cut to the protocol's lengths)
    real_kin = res["kinematics_real"]
    assert set(real_kin["classes"]) == set(CLASSES) and real_kin["overall"]["bone_std"] == 1.0
    assert real_kin["overall"]["locomotion_speed_inside"] >= 0.8 and real_kin["overall"]["lowest_foot"] >= 0.8
    assert table.splitlines()[2].startswith("| real data")
