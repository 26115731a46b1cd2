import pytest
import torch
from typer.testing import CliRunner

import humo.cli.data  # noqa: F401  (registers `humo data build`)
from humo.cli.app import app
from humo.data.corpus import build_corpus
from humo.data.datasets import ActionDataset, TextMotionDataset, collate
from humo.representations.humanml3d import canonicalize, mirror_features, mirror_joints
from tests.data.bvh_factory import write_bandai_source

CLIPS = [("walk", "normal", 1, 150), ("walk", "normal", 2, 90), ("wave-left-hand", "normal", 1, 120),
         ("wave-left-hand", "exhausted", 2, 100), ("wave-right-hand", "normal", 1, 110),
         ("walk", "exhausted", 1, 40)]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    src = write_bandai_source(tmp_path_factory.mktemp("src"), CLIPS)
    out = tmp_path_factory.mktemp("corpus") / "c"
    build_corpus("bandai-namco", src, out, workers=1, seed=0, progress=False)
    return out


def test_items_shapes_and_crops(root):
    ds = TextMotionDataset(root, "all", min_len=40, max_len=64, generator=torch.Generator().manual_seed(0))
    assert len(ds) == 5 and ds.dropped == 1  # the 40-frame clip at 30 fps is 27 frames at 20 fps
    assert ds.classes == ["walk", "wave-left-hand", "wave-right-hand"]
    for i in range(len(ds)):
        for _ in range(3):
            it = ds[i]
            L = it["length"]
            assert 40 <= L <= 64 and L % 4 == 0
            assert it["joints"].shape == (L, 22, 3) and it["features"].shape == (L - 1, 263)
            assert it["text"] in it["texts"] and it["label"] == ds.classes.index(it["id"].split("_")[1])
            assert float(it["joints"][0, 0, [0, 2]].abs().max()) < 1e-5  # crops start at the origin


def test_no_crop_is_deterministic_and_seeded_crops_repeat(root):
    ds = TextMotionDataset(root, "all", random_crop=False, max_len=196)
    a, b = ds[0], ds[0]
    torch.testing.assert_close(a["joints"], b["joints"])
    assert a["length"] == a["joints"].shape[0] and a["length"] % 4 == 0
    draw = [TextMotionDataset(root, "all", generator=torch.Generator().manual_seed(5))[1] for _ in range(2)]
    assert draw[0]["length"] == draw[1]["length"] and draw[0]["text"] == draw[1]["text"]
    torch.testing.assert_close(draw[0]["joints"], draw[1]["joints"])


def test_mirror_flips_joints_features_captions_and_label(root):
    plain = TextMotionDataset(root, "all", random_crop=False)
    mirrored = TextMotionDataset(root, "all", random_crop=False, mirror=True,
                                 generator=torch.Generator().manual_seed(0))
    i = plain.ids.index("dataset-2_wave-left-hand_normal_001")
    ref = plain[i]
    seen = set()
    for _ in range(16):
        it = mirrored[i]
        if it["label"] == plain.classes.index("wave-right-hand"):
            seen.add("mirrored")
            torch.testing.assert_close(it["joints"], mirror_joints(ref["joints"]))
            torch.testing.assert_close(it["features"], mirror_features(ref["features"]))
            assert all("right" in t and "left" not in t for t in it["texts"])
            torch.testing.assert_close(canonicalize(it["joints"]), it["joints"], atol=1e-5, rtol=0)
        else:
            seen.add("plain")
            torch.testing.assert_close(it["joints"], ref["joints"])
            assert it["texts"] == ref["texts"]
    assert seen == {"mirrored", "plain"}


def test_collate_pads_and_masks(root):
    ds = ActionDataset(root, "all", min_len=40, max_len=80, generator=torch.Generator().manual_seed(1))
    batch = collate([ds[i] for i in range(len(ds))])
    B, T = len(ds), int(batch["lengths"].max())
    assert batch["joints"].shape == (B, T, 22, 3) and batch["features"].shape == (B, T - 1, 263)
    assert batch["mask"].shape == (B, T) and batch["mask"].dtype == torch.bool
    assert torch.equal(batch["mask"].sum(1), batch["lengths"])
    for b in range(B):
        n = int(batch["lengths"][b])
        assert batch["joints"][b, n:].abs().sum() == 0 and batch["features"][b, n - 1:].abs().sum() == 0
    assert len(batch["texts"]) == B and (batch["labels"] >= 0).all() and len(batch["ids"]) == B
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    assert next(iter(loader))["joints"].shape[0] == 2


def test_dataset_errors(root, tmp_path):
    with pytest.raises(FileNotFoundError, match="train.txt"):
        TextMotionDataset(tmp_path, "train")
    with pytest.raises(ValueError, match="min_len"):
        TextMotionDataset(root, "all", min_len=100, max_len=50)
    with pytest.raises(ValueError, match="no clip of at least"):
        TextMotionDataset(root, "all", min_len=190, max_len=196)


def test_cli_build_with_worker_pool(tmp_path):
    src = write_bandai_source(tmp_path / "src", CLIPS[:3])
    out = tmp_path / "corpus"
    runner = CliRunner()
    args = ["data", "build", "bandai-namco", str(src), str(out), "--workers", "2", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "3 clips -> 3 segments" in result.output and (out / "Mean.npy").is_file()
    again = runner.invoke(app, args)
    assert isinstance(again.exception, FileExistsError)
    assert runner.invoke(app, args + ["--force", "--workers", "1"]).exit_code == 0
    bad = runner.invoke(app, ["data", "build", "amass", str(src), str(tmp_path / "x")])
    assert isinstance(bad.exception, ValueError) and "unknown source kind" in str(bad.exception)


def test_clips_read_from_disk_give_the_same_items_as_preloaded_ones(root, monkeypatch):
    """preload=False (large corpora, one rank per process): nothing held in memory, the same items."""
    kw = dict(min_len=40, max_len=64, mirror=True)
    held = ActionDataset(root, "all", preload=True, generator=torch.Generator().manual_seed(3), **kw)
    disk = ActionDataset(root, "all", preload=False, generator=torch.Generator().manual_seed(3), **kw)
    assert held.preload and not disk.preload and all(c is None for c in disk._clips)
    assert disk.ids == held.ids and disk.dropped == held.dropped
    for i in range(len(held)):
        a, b = held[i], disk[i]
        assert a["id"] == b["id"] and a["text"] == b["text"] and a["label"] == b["label"]
        torch.testing.assert_close(a["joints"], b["joints"], rtol=0, atol=0)
        torch.testing.assert_close(a["features"], b["features"], rtol=0, atol=0)
    # preload=None decides by the split's size on disk
    assert TextMotionDataset(root, "all").preload
    monkeypatch.setattr("humo.data.datasets.PRELOAD_BYTES", 1)
    assert not TextMotionDataset(root, "all").preload
