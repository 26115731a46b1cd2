"""The HDM05 corpus (ASF/AMC source, published split, val by actor), the grown caption grammar and
``merge --recaption``, on a small HDM05-like folder the tests write."""

import csv
import gzip
import json
import random
import re

import numpy as np
import pytest

from humo.data.captions import (
    ACTIONS,
    HELD_OUT_ACTIONS,
    STYLES,
    action_phrases,
    clip_captions,
    make_captions,
)
from humo.data.corpus import build_corpus
from humo.data.merge import merge_corpora, recaption
from humo.data.phrasings import HELD_OUT_PLACES, HELD_OUT_SUBJECTS
from humo.data.sources import HDM05_ACTIONS, hdm05_val_actors, list_hdm05
from tests.data.asf_factory import amc_text, asf_text, walk_values
from tests.data.bvh_factory import write_bandai_source

HELD_OUT_TEMPLATE = re.compile(r"^[^,]+, someone |^a person \w+ing\b| can be seen |^here ")  # TEST_TEMPLATES
# (class, actor, split, trial): 2 classes, train actors bd/bk/dg, test actors mm/tr
TRIALS = [(c, a, "train" if a in ("bd", "bk", "dg") else "test", n)
          for c in ("squat1Reps", "sneak2StepsLStart") for a in ("bd", "bk", "dg", "mm", "tr")
          for n in ((1, 2) if a != "dg" or c == "sneak2StepsLStart" else (1,))]


def write_hdm05(root):
    (root / "asf").mkdir(parents=True)
    rows = []
    for cls, actor, split, n in TRIALS:
        asf = root / "asf" / f"HDM_{actor}.asf"
        if not asf.exists():
            asf.write_text(asf_text())
        rel = f"amc/{split}/HDM_{actor}_{cls}_{n:03d}_120.amc.gz"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(gzip.compress(amc_text(walk_values(frames=300, speed=0.3 * n)).encode()))
        rows.append({"file": rel, "class": cls, "actor": actor, "split": split, "frames_120fps": 300})
    with (root / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def hdm05(tmp_path_factory):
    src = write_hdm05(tmp_path_factory.mktemp("hdm05-src"))
    out = tmp_path_factory.mktemp("built") / "hdm05"
    meta = build_corpus("hdm05", src, out, workers=1, seed=0, progress=False)
    return src, out, meta


def test_hdm05_corpus_keeps_the_published_split_and_carves_val_by_actor(hdm05):
    _, out, meta = hdm05
    labels = json.loads((out / "labels.json").read_text())
    split_ids = {s: (out / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert meta["counts"]["clips"] == len(TRIALS) and meta["counts"]["skipped"] == 0 and "HDM05" in meta["licence"]
    assert {i.split("_")[1] for i in split_ids["test"]} == {"mm", "tr"}  # the published test actors
    for cls, action in (("squat1Reps", "squat"), ("sneak2StepsLStart", "sneak")):
        train = {i.split("_")[1] for i in split_ids["train"] if labels[i]["action"] == action}
        val = {i.split("_")[1] for i in split_ids["val"] if labels[i]["action"] == action}
        assert len(val) == 1 and not val & train and val | train == {"bd", "bk", "dg"}, (cls, val, train)
    # squat: dg has the fewest train trials, so dg's squats validate
    assert {i for i in split_ids["val"] if labels[i]["action"] == "squat"} == {"HDM_dg_squat1Reps_001"}
    assert labels["HDM_mm_squat1Reps_002"] == {"action": "squat", "style": None, "source": "hdm05",
                                               "take": "HDM_mm_squat1Reps_002"}
    assert meta["checks"]["left_right_agreement_mean"] == 1.0
    speed = []
    for n in (1, 2):
        joints = np.load(out / "new_joints" / f"HDM_bd_sneak2StepsLStart_00{n}.npy")
        assert joints.shape == (50, 22, 3)  # 300 frames at 120 fps -> 50 at 20 fps
        speed.append(np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]) / (49 / 20))
    # the AMC root translation (0.3 m/s x trial number), rescaled with the uniform skeleton's legs
    assert speed[1] == pytest.approx(2 * speed[0], rel=0.02) and 0.2 < speed[0] < 0.4


def test_hdm05_captions_hold_out_a_first_test_phrasing(hdm05):
    _, out, _ = hdm05
    for split in ("train", "val", "test"):
        for i in (out / f"{split}.txt").read_text().split():
            texts = [ln.split("#")[0] for ln in (out / "texts" / f"{i}.txt").read_text().splitlines()]
            assert len(texts) == 3
            held = [t for t in texts if _is_held_out(t)]
            assert held == (texts[:1] if split == "test" else []), (split, texts)


def _is_held_out(text: str) -> bool:
    """Whether a caption uses a held-out template (the grammar's other held-out parts come with it)."""
    return HELD_OUT_TEMPLATE.search(text) is not None


def test_hdm05_lister_reports_missing_files_and_val_actors(tmp_path):
    src = write_hdm05(tmp_path / "src")
    (src / "asf" / "HDM_tr.asf").unlink()
    clips, skipped = list_hdm05(src)
    assert len(clips) == len(TRIALS) - 4 and all("HDM_tr.asf is missing" in s["reason"] for s in skipped)
    assert {c.up for c in clips} == {"y"} and {c.fps for c in clips} == {120.0} and clips[0].skeleton.is_file()
    rows = [{"class": c, "actor": a, "split": s} for c, a, s, _ in TRIALS]
    assert hdm05_val_actors(rows) == {"squat1Reps": "dg", "sneak2StepsLStart": "bd"}  # tie: rotated
    with pytest.raises(FileNotFoundError, match="labels.csv not found"):
        list_hdm05(tmp_path)


def test_every_hdm05_class_has_train_and_held_out_phrasings():
    for action in HDM05_ACTIONS.values():
        assert len(ACTIONS[action]) >= 3 and len(HELD_OUT_ACTIONS[action]) >= 2, action


def test_held_out_phrasings_never_appear_in_train_captions():
    rng = random.Random(0)
    for action in list(ACTIONS) + ["wave-right-hand", "raise-up-right-hand", "walk-right"]:
        held = [p for pair in action_phrases(action, held_out=True) for p in pair]
        for style in ("normal", "tired", None):
            for _ in range(15):
                for text in make_captions(action, style, rng, n=3):
                    assert not any(vp in text for vp in held), (action, text)
                    assert not _is_held_out(text) and not any(p in text for p in HELD_OUT_PLACES)
                    assert not text.startswith(tuple(s + " " for s in HELD_OUT_SUBJECTS)), text
                first = make_captions(action, style, rng, n=3, test=True)[0]
                assert _is_held_out(first) and any(vp in first for vp in held), (action, first)
    assert "somebody" not in " ".join(STYLES["normal"]["subj"])


def test_grammar_says_body_parts_and_places_both_ways():
    rng = random.Random(1)
    texts = " ".join(t for _ in range(60) for t in make_captions("wave-left-hand", "normal", rng))
    assert "the left hand" in texts and "the left arm" in texts
    assert "in place" in texts and "on the spot" in texts
    walks = " ".join(t for _ in range(30) for t in make_captions("walk", "normal", rng))
    assert "in place" not in walks and "on the spot" not in walks  # locomotion: no place phrase


def test_clip_captions_keeps_given_captions_first():
    assert clip_captions("wash self", None, ["Person taking a hand shower"], False, "k")[0] == \
        "Person taking a hand shower"
    assert len(clip_captions("wash self", None, ["x"], False, "k")) == 3
    assert clip_captions("unknown thing", None, ["given"], True, "k") == ["given"]
    assert clip_captions("squat", None, [], False, "k") == clip_captions("squat", None, [], False, "k")


def test_merge_recaption_reproduces_current_captions_and_replaces_old_ones(hdm05, tmp_path):
    _, hdm, _ = hdm05
    src = write_bandai_source(tmp_path / "bn-src", [("walk", "normal", t, 75) for t in (1, 2, 3, 4)])
    bandai = tmp_path / "bandai"
    build_corpus("bandai-namco", src, bandai, workers=1, seed=0, progress=False)
    old = bandai / "texts" / "dataset-2_walk_normal_001.txt"
    current = old.read_text()
    old.write_text("an old grammar caption#x/X#0.0#0.0\n")  # as if built with an older grammar
    merge_corpora([bandai, hdm], tmp_path / "merged", recaption_texts=True)
    merged = tmp_path / "merged"
    assert (merged / "texts" / old.name).read_text() == current
    for i in (hdm / "all.txt").read_text().split():  # built with this grammar: recaptioned identically
        assert (merged / "texts" / f"{i}.txt").read_text() == (hdm / "texts" / f"{i}.txt").read_text()
    assert json.loads((merged / "meta.json").read_text())["recaptioned"] is True
    given = tmp_path / "given.txt"
    given.write_text("walk#walk/VERB#0.0#0.0\n")
    lines = recaption(given, {"action": "walk", "style": None, "source": "cmu-ccbase", "take": "07_01"},
                      "train", 0).splitlines()
    assert lines[0] == "walk#walk/VERB#0.0#0.0" and len(lines) == 3
