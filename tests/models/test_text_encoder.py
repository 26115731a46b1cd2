import pytest
import torch

from humo.models.text_encoder import CachedTextEncoder, TextEncoder, check_texts


def test_check_texts_errors():
    assert check_texts("  a  person\twalks ") == ["a person walks"]
    with pytest.raises(ValueError, match="empty"):
        check_texts("   ")
    with pytest.raises(ValueError, match="non-empty"):
        check_texts([])
    with pytest.raises(ValueError, match="characters"):
        check_texts("x" * 5000)
    with pytest.raises(ValueError, match="must be a string"):
        check_texts(["ok", 3])


def test_cache_round_trip_and_missing(tmp_path):
    table = {"a person walks": torch.randn(8), "someone runs": torch.randn(8)}
    cache = CachedTextEncoder(table)
    path = tmp_path / "emb.safetensors"
    cache.save(str(path))
    loaded = CachedTextEncoder.load(str(path))
    assert torch.equal(loaded.encode(["someone runs", "a person walks"]),
                       torch.stack([table["someone runs"], table["a person walks"]]))
    with pytest.raises(KeyError, match="not in the embedding cache"):
        loaded.encode(["a person jumps"])
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="corrupt"):
        CachedTextEncoder.load(str(path))


def test_minilm_offline_and_not_in_state_dict():
    enc = TextEncoder("minilm")
    out = enc(["a person walks forward", "a person jumps"])
    assert out.sentence.shape == (2, 384) and out.tokens.shape[:2] == out.mask.shape
    assert enc.state_dict() == {}  # frozen external: never saved with a model
    sim = torch.nn.functional.cosine_similarity(enc.encode(["a person walks"]), enc.encode(["someone is walking"]))
    dis = torch.nn.functional.cosine_similarity(enc.encode(["a person walks"]), enc.encode(["the stock market fell"]))
    assert sim > dis
