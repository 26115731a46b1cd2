import json

import numpy as np
import pytest
import torch

from humo.data.corpus import build_corpus
from humo.data.merge import merge_corpora
from humo.representations.humanml3d import block_std
from tests.data.bvh_factory import write_bandai_source

WALKS = [("walk", s, take, 75) for s in ("normal", "exhausted") for take in (1, 2, 3)]
WAVES = [("wave-left-hand", s, take, 60) for s in ("normal", "happy") for take in (1, 2, 3)]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    out = []
    for name, clips in (("walks", WALKS), ("waves", WAVES)):
        src = write_bandai_source(root / f"src-{name}", clips)
        build_corpus("bandai-namco", src, root / name, workers=1, seed=1, progress=False)
        out.append(root / name)
    return out


def _ids(corpus, split):
    return (corpus / f"{split}.txt").read_text().split()


def test_merge_keeps_every_segment_split_and_file(parts, tmp_path):
    before = {p: sorted(f.read_bytes() for f in p.rglob("*") if f.is_file()) for p in parts}
    meta = merge_corpora(parts, tmp_path / "merged")
    merged = tmp_path / "merged"
    for split in ("train", "val", "test"):
        assert _ids(merged, split) == sorted(i for p in parts for i in _ids(p, split))
    assert meta["counts"]["segments"] == sum(len(_ids(p, "all")) for p in parts)
    for p in parts:
        labels = json.loads((p / "labels.json").read_text())
        merged_labels = json.loads((merged / "labels.json").read_text())
        for i in _ids(p, "all"):
            assert merged_labels[i] == labels[i]
            for sub, suffix in (("new_joints", ".npy"), ("new_joint_vecs", ".npy"), ("texts", ".txt")):
                assert (merged / sub / f"{i}{suffix}").read_bytes() == (p / sub / f"{i}{suffix}").read_bytes()
    assert before == {p: sorted(f.read_bytes() for f in p.rglob("*") if f.is_file()) for p in parts}  # untouched
    assert [s["path"] for s in meta["inputs"]] == [str(p) for p in parts] and "CC BY-NC" in meta["licence"]
    assert not any(tmp_path.glob(".merged.*"))


def test_merged_statistics_are_over_all_train_frames(parts, tmp_path):
    merge_corpora(parts, tmp_path / "merged")
    rows = np.concatenate([np.load(p / "new_joint_vecs" / f"{i}.npy") for p in parts for i in _ids(p, "train")])
    rows = torch.from_numpy(rows).double()
    mean, std = rows.mean(0), rows.std(0, unbiased=False)
    np.testing.assert_allclose(np.load(tmp_path / "merged" / "Mean.npy"), mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "merged" / "Std.npy"), block_std(std).numpy(), rtol=1e-4, atol=1e-6)


def test_merge_refuses_bad_input(parts, tmp_path):
    with pytest.raises(ValueError, match="both"):
        merge_corpora([parts[0], parts[0]], tmp_path / "same")
    with pytest.raises(ValueError, match="at least two"):
        merge_corpora([parts[0]], tmp_path / "one")
    (tmp_path / "not-a-corpus").mkdir()
    with pytest.raises(FileNotFoundError, match="train.txt"):
        merge_corpora([parts[0], tmp_path / "not-a-corpus"], tmp_path / "x")
    with pytest.raises(ValueError, match="overlaps"):
        merge_corpora(parts, parts[0] / "inside")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        merge_corpora(parts, tmp_path / "full")
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


def test_cli_merge(parts, tmp_path):
    from tests.cli.runner import invoke, ok

    result = ok(["data", "merge", *parts, "--out", tmp_path / "m"])
    assert "segments" in result.output and (tmp_path / "m" / "Mean.npy").is_file()
    again = invoke(["data", "merge", *parts, "--out", tmp_path / "m"])  # exists: refused without --force
    assert again.exit_code != 0 and isinstance(again.exception, FileExistsError)
    ok(["data", "merge", *parts, "--out", tmp_path / "m", "--force"])
