import json
import random
import re
from collections import Counter

import numpy as np
import pytest
import torch

from humo.data.captions import (
    TEST_TEMPLATES,
    TRAIN_TEMPLATES,
    caption_line,
    make_captions,
    swap_left_right,
    tag,
)
from humo.data.corpus import assign_splits, build_corpus, segment_bounds
from humo.data.sources import SourceClip, cmu_trial, kitml_cmu_captions, list_bandai_namco, list_cmu
from humo.representations.humanml3d import features_to_joints, joints_to_features
from tests.data.bvh_factory import bandai_like, write_bandai_source

CLIPS = [(a, s, take, 75) for a in ("walk", "wave-left-hand", "wave-right-hand")
         for s in ("normal", "exhausted") for take in (1, 2)]
CLIPS.append(("walk", "normal", 3, 330))  # 330 frames at 30 fps -> 220 at 20 fps -> 2 segments
TEST_ONLY = re.compile(r"^[^,]+, someone |^a person \w+ing\b| can be seen |^here ")  # what TEST_TEMPLATES produce


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    src = write_bandai_source(tmp_path_factory.mktemp("src"), CLIPS)
    out = tmp_path_factory.mktemp("built") / "corpus"
    meta = build_corpus("bandai-namco", src, out, workers=1, seed=3, progress=False)
    return src, out, meta


def test_layout_and_meta(corpus):
    src, out, meta = corpus
    for entry in ("new_joints", "new_joint_vecs", "texts", "labels.json", "train.txt", "val.txt", "test.txt",
                  "all.txt", "Mean.npy", "Std.npy", "meta.json"):
        assert (out / entry).exists(), entry
    ids = (out / "all.txt").read_text().split()
    assert len(ids) == 14 and {"dataset-2_walk_normal_003-1", "dataset-2_walk_normal_003-2"} <= set(ids)
    assert meta["counts"]["clips"] == 13 and meta["counts"]["segments"] == 14
    assert meta == json.loads((out / "meta.json").read_text())
    assert meta["checks"]["left_right_agreement_mean"] == 1.0 and "CC BY-NC" in meta["licence"]
    assert np.load(out / "Mean.npy").shape == (263,) and np.load(out / "Std.npy").shape == (263,)
    assert not any(out.parent.glob(".corpus.*"))  # no temp folders left behind
    assert sorted(p.name for p in src.rglob("*") if p.is_file()) == sorted(  # source untouched
        [f"dataset-2_{a}_{s}_{t:03d}.{x}" for a, s, t, _ in CLIPS for x in ("json", "bvh.gz")]
        + ["content_label.txt", "style_label.txt"])


def test_clips_are_canonical_and_features_come_from_the_library(corpus):
    _, out, _ = corpus
    for cid in (out / "all.txt").read_text().split():
        joints = torch.from_numpy(np.load(out / "new_joints" / f"{cid}.npy"))
        feats = torch.from_numpy(np.load(out / "new_joint_vecs" / f"{cid}.npy"))
        assert joints.dtype == torch.float32 and joints.shape[1:] == (22, 3) and 40 <= joints.shape[0] <= 196
        assert feats.shape == (joints.shape[0] - 1, 263)
        assert float(joints[..., 1].min()) == pytest.approx(0.0, abs=1e-5)  # on the floor
        assert float(joints[0, 0, [0, 2]].abs().max()) < 1e-5  # origin
        across = joints[0, 1] - joints[0, 2] + joints[0, 16] - joints[0, 17]  # facing +Z: left = +x
        assert float(across[0]) > 0.9 * float(across.norm())
        torch.testing.assert_close(feats, joints_to_features(joints.double()).float(), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(features_to_joints(feats), joints[:-1], atol=1e-4, rtol=0)


def test_splits_by_take_and_test_only_phrasings(corpus):
    _, out, _ = corpus
    labels = json.loads((out / "labels.json").read_text())
    split_of = {}
    for split in ("train", "val", "test"):
        for cid in (out / f"{split}.txt").read_text().split():
            assert split_of.setdefault(labels[cid]["take"], split) == split  # a take never straddles splits
            captions = [ln.split("#") for ln in (out / "texts" / f"{cid}.txt").read_text().splitlines()]
            assert all(len(c) == 4 and c[2:] == ["0.0", "0.0"] for c in captions)
            test_only = [c[0] for c in captions if TEST_ONLY.search(c[0])]
            assert bool(test_only) == (split == "test"), (split, captions)
    assert sorted(labels) == sorted((out / "all.txt").read_text().split())
    assert labels["dataset-2_walk_normal_003-1"]["take"] == labels["dataset-2_walk_normal_003-2"]["take"]
    assert labels["dataset-2_wave-left-hand_exhausted_001"] == {
        "action": "wave-left-hand", "style": "exhausted", "source": "bandai-namco-2",
        "take": "dataset-2_wave-left-hand_exhausted_001"}


def test_stats_are_block_averaged_train_statistics(corpus):
    _, out, _ = corpus
    train = [np.load(out / "new_joint_vecs" / f"{i}.npy") for i in (out / "train.txt").read_text().split()]
    feats = np.concatenate(train).astype(np.float64)
    np.testing.assert_allclose(np.load(out / "Mean.npy"), feats.mean(0), atol=1e-5)
    std = np.load(out / "Std.npy")
    np.testing.assert_allclose(std[4:67], feats[:, 4:67].std(0).mean(), rtol=1e-4)  # the ric block
    assert len(set(np.round(std[193:259], 7))) == 1


def test_refuses_non_empty_output_and_source_overlap(corpus, tmp_path):
    src, _, _ = corpus
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        build_corpus("bandai-namco", src, out, workers=1, progress=False)
    with pytest.raises(ValueError, match="source folder"):
        build_corpus("bandai-namco", src, src / "corpus", workers=1, progress=False)
    with pytest.raises(ValueError, match="unknown source kind"):
        build_corpus("amass", src, tmp_path / "x", progress=False)
    rebuilt = build_corpus("bandai-namco", src, out, workers=1, overwrite=True, progress=False, limit=4)
    assert rebuilt["counts"]["clips"] == 4 and len((out / "all.txt").read_text().split()) == 4
    assert not (out / "notes.txt").exists() and not list(tmp_path.glob(".out.*"))


def test_segment_bounds():
    assert segment_bounds(5) == [] and segment_bounds(196) == [(0, 196)]
    assert segment_bounds(197) == [(0, 98), (98, 197)]
    bounds = segment_bounds(1267)
    assert len(bounds) == 7 and bounds[0][0] == 0 and bounds[-1][1] == 1267
    assert all(40 <= b - a <= 196 for a, b in bounds)


def test_assign_splits_proportions_and_seed():
    clips = [SourceClip(None, f"c{i}", f"a{i % 7}", f"s{i % 3}", "x", f"t{i // 2}", "p") for i in range(800)]
    splits = assign_splits(clips, seed=1)
    counts = Counter(splits.values())
    assert len(splits) == 400 and counts == {"train": 320, "val": 20, "test": 60}
    assert splits == assign_splits(clips, seed=1) and splits != assign_splits(clips, seed=2)


def test_captions_phrasings_tags_and_swaps():
    rng = random.Random(0)
    train = make_captions("walk", "exhausted", rng)
    test = make_captions("walk", "exhausted", rng, test=True)
    assert len(train) == 3 and not any(TEST_ONLY.search(c) for c in train)
    assert any(TEST_ONLY.search(c) for c in test) and len(TRAIN_TEMPLATES) + len(TEST_TEMPLATES) == 10
    assert any(w in " ".join(train + test) for w in ("exhaust", "tired", "weary", "drained", "fatigue"))
    right = make_captions("wave-right-hand", "normal", random.Random(1))
    assert all("right" in c and "left" not in c for c in right)
    for _ in range(20):  # test-only phrasings keep their style words even for "normal"
        first = make_captions("walk", "normal", rng, test=True)[0]
        assert TEST_ONLY.search(first) and first != "someone walks forward."
    assert tag("A person walks forward tiredly, 3 times") == \
        "a/DET person/NOUN walk/VERB forward/ADV tiredly/ADV 3/NUM times/NOUN"
    assert caption_line("a man waves#hi").startswith("a man waves hi#a/DET man/NOUN wave/VERB hi/X#0.0#0.0")
    assert swap_left_right("Left hand, then right; clockwise and anticlockwise") == \
        "Right hand, then left; counterclockwise and clockwise"
    with pytest.raises(ValueError, match="no phrasing"):
        make_captions("juggle", "normal", rng)


def test_listers(tmp_path):
    src = write_bandai_source(tmp_path / "bn", [("walk", "normal", 1, 20)])
    (src / "dataset-2" / "data" / "dataset-2_walk_normal_002.json").write_text('{"content": 0, "style": 0}')
    clips, skipped = list_bandai_namco(src)
    assert [c.id for c in clips] == ["dataset-2_walk_normal_001"] and "without a BVH" in skipped[0]["reason"]
    cmu = tmp_path / "cmu" / "iclone-ccbase"
    cmu.mkdir(parents=True)
    from humo.data.bvh import save_bvh

    save_bvh(cmu / "007_03.bvh.gz", bandai_like(frames=5))
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "annotations.json").write_text(json.dumps({
        "1": {"path": "CMU/07/07_03_poses", "annotations": [{"text": "A person walks forward."}]},
        "M1": {"path": "M/CMU/07/07_03_poses", "annotations": [{"text": "mirrored"}]}}))
    assert kitml_cmu_captions(tmp_path / "kit" / "annotations.json") == {"07_03": ["A person walks forward."]}
    clips, _ = list_cmu(tmp_path / "cmu", kitml=tmp_path / "kit" / "annotations.json")
    assert clips[0].id == "ccbase_07_03" and clips[0].take == "07_03" and clips[0].preset == "auto"
    assert cmu_trial("002_01") == cmu_trial("2_1") == "02_01"


def test_real_cmu_captions_and_descriptions(shared_data):
    clips, skipped = list_cmu(shared_data / "cmu")
    by_id = {c.id: c for c in clips}
    assert len(clips) == 63 and not skipped
    assert by_id["ccbase_07_03"].captions == ["A person walks forward."]  # KIT-ML
    assert by_id["ccbase_02_01"].captions == ["walk"] and by_id["ccbase_02_01"].take == "02_01"  # description
    assert by_id["cgspeed_02_01"].take == by_id["ccbase_02_01"].take  # same trial, two rigs, one take
