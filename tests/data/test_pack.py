import json

import numpy as np
import pytest

from humo.data.pack import pack_corpus, unpack_corpus
from tests.helpers import synthetic_joints


def _tiny_corpus(root):
    from humo.representations.humanml3d import canonicalize, joints_to_features

    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    ids = ["a", "b", "c"]
    for k, i in enumerate(ids):
        j = canonicalize(synthetic_joints(30 + 4 * k, seed=k))
        np.save(root / "new_joints" / f"{i}.npy", j.float().numpy())
        np.save(root / "new_joint_vecs" / f"{i}.npy", joints_to_features(j, target_lengths=None).float().numpy())
        (root / "texts" / f"{i}.txt").write_text(f"a person walks {k}#a/X#0.0#0.0\n")
    (root / "all.txt").write_text("\n".join(ids) + "\n")
    (root / "train.txt").write_text("a\nb\n")
    (root / "test.txt").write_text("c\n")
    (root / "labels.json").write_text(json.dumps({i: {"action": "walk"} for i in ids}))
    (root / "meta.json").write_text("{}")
    np.save(root / "Mean.npy", np.zeros(263, np.float32))
    np.save(root / "Std.npy", np.ones(263, np.float32))
    return ids


def test_pack_unpack_round_trip(tmp_path):
    src = tmp_path / "src"
    ids = _tiny_corpus(src)
    summary = pack_corpus(src, tmp_path / "c.safetensors", dtype=__import__("torch").float32)
    assert summary["clips"] == 3
    out = unpack_corpus(tmp_path / "c.safetensors", tmp_path / "out")
    for i in ids:
        np.testing.assert_allclose(np.load(out / "new_joints" / f"{i}.npy"), np.load(src / "new_joints" / f"{i}.npy"),
                                   atol=1e-6)
        np.testing.assert_allclose(np.load(out / "new_joint_vecs" / f"{i}.npy"),
                                   np.load(src / "new_joint_vecs" / f"{i}.npy"), atol=1e-4)
        assert (out / "texts" / f"{i}.txt").read_text() == (src / "texts" / f"{i}.txt").read_text()
    assert (out / "train.txt").read_text() == "a\nb\n"
    with pytest.raises(FileExistsError):
        pack_corpus(src, tmp_path / "c.safetensors")
    with pytest.raises(FileExistsError):
        unpack_corpus(tmp_path / "c.safetensors", tmp_path / "out")


def test_unpack_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a corpus")
    with pytest.raises(ValueError, match="not a packed humo corpus"):
        unpack_corpus(bad, tmp_path / "out")
