"""Action-class vocabularies: verb extraction, class prompts, balanced k-means, head/medium/tail, JSON."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from humo.models.action_classes import (
    ActionClasses,
    balanced_kmeans,
    class_prompt,
    extract_verb,
    frequency_groups,
    lemmatize,
)

# Synonym groups for a fake encoder: prompts of verbs in one group embed close together.
GROUPS = {"walk": 0, "stroll": 0, "jump": 1, "hop": 1, "kick": 2, "punch": 2}


class GroupEncoder:
    """``encode(prompts)``: one axis per synonym group plus a small verb-specific offset."""

    name, dim = "group-fake", 8

    def encode(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.dim)
        for i, t in enumerate(texts):
            verb = next(v for v in GROUPS if lemmatize(t.split()[2]) == v)
            out[i, GROUPS[verb]] = 1.0
            out[i, 3 + list(GROUPS).index(verb) % 5] = 0.1
        return out


@pytest.mark.parametrize("word, lemma", [
    ("walks", "walk"), ("walking", "walk"), ("walked", "walk"), ("running", "run"), ("ran", "run"),
    ("dances", "dance"), ("dancing", "dance"), ("carries", "carry"), ("carried", "carry"),
    ("punches", "punch"), ("jogs", "jog"), ("stood", "stand"), ("person", None), ("is", None),
])
def test_lemmatize(word, lemma):
    assert lemmatize(word) == lemma


def test_extract_verb_uses_pos_tags_after_the_subject():
    line = ("the standing person kicks with their left foot.#the/DET stand/VERB person/NOUN kick/VERB "
            "with/ADP their/DET left/ADJ foot/NOUN#0.0#0.0")
    assert extract_verb(line) == "kick"
    assert extract_verb("he is flying kick#he/PRON is/AUX fly/VERB kick/NOUN#0.0#0.0") == "fly"


@pytest.mark.parametrize("caption, verb", [
    ("a person walks forward slowly", "walk"), ("the standing person kicks with the left foot", "kick"),
    ("a man is running in a circle", "run"), ("someone sits down then stands up", "sit"),
    ("waving both hands", "wave"), ("the figure looks around", "look"), ("a blue sky", None),
])
def test_extract_verb_without_tags(caption, verb):
    assert extract_verb(caption) == verb


@pytest.mark.parametrize("name, prompt", [
    ("walk", "a person walks"), ("walk-back", "a person walks back"), ("punch", "a person punches"),
    ("raise-up-both-hands", "a person raises up both hands"), ("carry", "a person carries"),
    ("byebye", "a person performs the action byebye"),
])
def test_class_prompt(name, prompt):
    assert class_prompt(name) == prompt


def test_class_prompt_rejects_empty_names():
    with pytest.raises(ValueError, match="empty"):
        class_prompt(" - ")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 12), seed=st.integers(0, 1000))
def test_balanced_kmeans_sizes_differ_by_at_most_one(n, k, seed):
    if k > n:
        k = n
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    res = balanced_kmeans(x, k, generator=torch.Generator().manual_seed(seed))
    sizes = torch.bincount(res.assign, minlength=k)
    assert res.assign.shape == (n,) and int(res.assign.min()) >= 0 and int(res.assign.max()) < k
    assert int(sizes.max()) - int(sizes.min()) <= 1 and int(sizes.sum()) == n
    assert res.centroids.shape == (k, 3) and bool(torch.isfinite(res.centroids).all())


def test_balanced_kmeans_finds_separated_equal_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(8, 2, generator=g) for c in centres])
    res = balanced_kmeans(x, 3, generator=g)
    for block in res.assign.view(3, 8):
        assert len(set(block.tolist())) == 1  # each true cluster is one found cluster
    assert len(set(res.assign.tolist())) == 3


def test_balanced_kmeans_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        balanced_kmeans(torch.randn(3, 2), 4)
    with pytest.raises(ValueError, match="NaN"):
        balanced_kmeans(torch.tensor([[float("nan"), 0.0]]), 1)


@pytest.mark.parametrize("k, sizes", [(10, (1, 3, 6)), (100, (10, 30, 60)), (25, (3, 7, 15)), (1, (1, 0, 0)),
                                      (3, (1, 0, 2)), (20, (2, 6, 12))])
def test_frequency_groups_sizes(k, sizes):
    counts = list(range(k, 0, -1))
    groups = frequency_groups(counts)
    assert tuple(groups.count(g) for g in ("head", "medium", "tail")) == sizes
    assert groups[0] == "head" and (k < 3 or groups[-1] == "tail")


def test_frequency_groups_follow_frequency_not_order():
    groups = frequency_groups([1, 50, 2, 3, 4, 5, 6, 7, 8, 9])
    assert groups[1] == "head" and groups[0] == "tail"


def test_from_labels_orders_by_frequency_and_round_trips(tmp_path):
    actions = ["walk"] * 5 + ["run"] * 3 + ["kick"]
    labels = {f"c{i}": {"action": a, "style": None} for i, a in enumerate(actions)}
    classes = ActionClasses.from_labels(labels)
    assert classes.names == ["walk", "run", "kick"] and classes.counts == [5, 3, 1]
    assert classes.prompts()[1] == "a person runs"
    classes.save(tmp_path / "classes.json")
    loaded = ActionClasses.load(tmp_path / "classes.json")
    assert (loaded.names, loaded.counts, loaded.members) == (classes.names, classes.counts, classes.members)
    assert loaded.index("run") == 1 and loaded.get("fly") == -1
    with pytest.raises(ValueError, match="unknown action class"):
        loaded.index("fly")
    subset = ActionClasses.from_labels(labels, ids=["c0", "c8"])
    assert subset.names == ["kick", "walk"] and subset.counts == [1, 1]


def test_load_reports_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        ActionClasses.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        ActionClasses.load(tmp_path / "bad.json")


def test_from_captions_merges_synonyms_with_balanced_kmeans():
    captions = (["a person walks"] * 4 + ["someone strolls along"] * 2 + ["a man jumps"] * 3
                + ["a child hops"] + ["a person kicks"] * 2 + ["he punches"] * 5 + ["the sky is blue"])
    classes = ActionClasses.from_captions(captions, GroupEncoder(), 3, torch.Generator().manual_seed(0))
    assert classes.source == "captions"
    assert classes.names == ["punch", "walk", "jump"] and classes.counts == [7, 6, 4]
    assert classes.members["walk"] == ["walk", "stroll"]
    assert set(classes.members["punch"]) == {"punch", "kick"}
    assert classes.index("stroll") == classes.index("walk")
    assert classes.caption_class(["a man strolls", "a person hops", "someone walks"]) == classes.index("walk")
    assert classes.caption_class(["nothing here"]) == -1


def test_from_captions_keeps_every_verb_when_there_are_few():
    captions = ["a person walks", "a person jumps", "he jumps"]
    classes = ActionClasses.from_captions(captions, GroupEncoder(), 10)
    assert classes.names == ["jump", "walk"] and classes.counts == [2, 1]
    with pytest.raises(ValueError, match="no verbs"):
        ActionClasses.from_captions(["a blue sky"], GroupEncoder(), 3)
