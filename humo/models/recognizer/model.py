"""``ActionRecognizer``: CoAMD's multi-modal action recognizer (MAR).

Absolute SMPL-22 joints ``(B, T, 22, 3)`` are split into the joints / bones / motion streams (floor-relative,
see :mod:`humo.models.recognizer.encoder`), normalised with stored per-channel statistics, encoded by one
transformer per stream (embeddings ``e_j, e_b, e_m``) and by a fusion transformer over the tokens of all
streams (``e_f``). A learned projection maps the frozen sentence embedding (384-d MiniLM) into the same
512-d space. Training uses multi-positive InfoNCE (temperature 0.1) of each motion embedding against the
caption and the action-class prompt. The guidance score is ``S = sum_k w_k cos(e_k, c)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.action_classes import class_prompt
from humo.models.hub import BUNDLED_MODEL, HubModel
from humo.models.recognizer.encoder import (
    STREAM_NAMES,
    FusionEncoder,
    StreamEncoder,
    prepare_streams,
    token_mask,
)
from humo.models.recognizer.losses import multi_positive_info_nce
from humo.models.recognizer.probe import ProbeResult, linear_probe
from humo.models.text_encoder import check_texts
from humo.models.text_slot import TextEncoderSlot
from humo.representations._checks import check_tensor
from humo.representations.masks import lengths_to_mask

NUM_JOINTS = 22

RECOGNIZER_PRESETS: dict[str, dict] = {
    "tiny": dict(width=32, stream_layers=1, fusion_layers=1, heads=2, ff_mult=2, patch=4),
    "small": dict(width=128, stream_layers=2, fusion_layers=2, heads=4, ff_mult=2, patch=4),
    "base": dict(width=256, stream_layers=4, fusion_layers=4, heads=8, ff_mult=4, patch=1),
}


@dataclass
class MotionEmbedding:
    """Motion embeddings ``(B, E)`` (not normalised): fused, and one per stream (None if the model does not
    use that stream)."""

    fused: torch.Tensor
    joints: torch.Tensor | None = None
    bones: torch.Tensor | None = None
    motion: torch.Tensor | None = None

    def items(self) -> list[tuple[str, torch.Tensor]]:
        """``[("f", fused), ("j", joints), ...]`` for the embeddings that exist."""
        pairs = [("f", self.fused), ("j", self.joints), ("b", self.bones), ("m", self.motion)]
        return [(k, e) for k, e in pairs if e is not None]

    def normalized(self) -> MotionEmbedding:
        """The same embeddings, L2-normalised."""
        return MotionEmbedding(*(None if e is None else F.normalize(e, dim=-1)
                                 for e in (self.fused, self.joints, self.bones, self.motion)))


@dataclass
class RecognizerOutput:
    """``forward`` output: the mean loss, each InfoNCE term (``"f/caption"``, ``"j/label"``, ...) and the
    motion embeddings."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    embedding: MotionEmbedding


@dataclass
class Retrieval:
    """Top-k retrieval: ``indices (Q, k)`` into the gallery and cosine ``scores (Q, k)``, best first."""

    indices: torch.Tensor
    scores: torch.Tensor


class ActionRecognizer(TextEncoderSlot, HubModel):
    """Multi-stream motion encoder aligned with a frozen text encoder.

    Args:
        streams: which streams to use, a subset of ``"jbm"`` (joints, bones, motion).
        width, stream_layers, fusion_layers, heads, ff_mult, dropout: transformer sizes.
        patch: frames per token (1 = one token per frame; 4 = a strided conv over 4 frames, faster on CPU).
        embed_dim: embedding size (512).
        text_dim: sentence-embedding size of the frozen text encoder (384 for MiniLM).
        text_encoder: name of the default text encoder (created on first use unless one is assigned to
            :attr:`text_encoder`, see :mod:`humo.models.text_slot`).
        temperature: InfoNCE / classification temperature (0.1).
        class_names: the action-class vocabulary used by :meth:`recognize` (JSON-able config).
        class_prompts: one sentence per class; default :func:`humo.models.action_classes.class_prompt`.
    """

    def __init__(self, streams: str = "jbm", width: int = 128, stream_layers: int = 2, fusion_layers: int = 2,
                 heads: int = 4, ff_mult: int = 2, patch: int = 1, dropout: float = 0.1, embed_dim: int = 512,
                 text_dim: int = 384, text_encoder: str = "minilm", temperature: float = 0.1,
                 class_names: list[str] | None = None, class_prompts: list[str] | None = None):
        super().__init__()
        streams = "".join(streams)
        if not streams or any(k not in STREAM_NAMES for k in streams) or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be a non-empty subset of 'jbm' without repeats, got {streams!r}")
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        if patch < 1 or temperature <= 0:
            raise ValueError(f"patch must be >= 1 and temperature > 0, got {patch}, {temperature}")
        self.streams = "".join(k for k in "jbm" if k in streams)
        self.patch, self.embed_dim, self.text_dim, self.temperature = patch, embed_dim, text_dim, temperature
        self.text_encoder_name = text_encoder
        in_dim = 3 * NUM_JOINTS
        for k in self.streams:
            self.register_buffer(f"mean_{k}", torch.zeros(in_dim))
            self.register_buffer(f"std_{k}", torch.ones(in_dim))
        self.encoders = nn.ModuleDict({k: StreamEncoder(in_dim, width, stream_layers, heads, ff_mult, patch,
                                                        dropout) for k in self.streams})
        self.fusion = FusionEncoder(len(self.streams), width, fusion_layers, heads, ff_mult, dropout)
        self.heads = nn.ModuleDict({k: nn.Linear(width, embed_dim) for k in "f" + self.streams})
        self.text_proj = nn.Sequential(nn.Linear(text_dim, embed_dim), nn.GELU(),
                                       nn.Linear(embed_dim, embed_dim))
        self.class_names = list(class_names or [])
        self.class_prompts = list(class_prompts or [class_prompt(n) for n in self.class_names])
        if len(self.class_prompts) != len(self.class_names):
            raise ValueError(f"{len(self.class_names)} class names but {len(self.class_prompts)} prompts")
        object.__setattr__(self, "_class_text", None)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path=None, **kwargs) -> ActionRecognizer:
        """Load a folder written by ``save_pretrained`` or a hub id; with no argument, the recognizer bundled
        with humo (trained with the bundled CoAMD model; see ``humo/assets/coamd-merged-medium``).
        Keyword arguments as :meth:`humo.models.hub.HubModel.from_pretrained`."""
        if pretrained_model_name_or_path is None:
            pretrained_model_name_or_path = BUNDLED_MODEL / "recognizer"
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # ----------------------------------------------------------------- motion side
    @torch.no_grad()
    def fit_normalization(self, clips: Iterable[torch.Tensor]) -> None:
        """Set each stream's mean/std buffers from training clips, each ``(T, 22, 3)`` (float64 sums)."""
        sums: dict[str, list] = {}
        for clip in clips:
            clip = check_tensor(clip, "clip", min_dim=3, trailing=(NUM_JOINTS, 3))
            for k, x in prepare_streams(clip.reshape(1, *clip.shape[-3:]).double(), self.streams).items():
                x = x[0]  # (T, 66)
                s = sums.setdefault(k, [0, 0.0, 0.0])
                s[0], s[1], s[2] = s[0] + x.shape[0], s[1] + x.sum(0), s[2] + (x * x).sum(0)
        if not sums:
            raise ValueError("fit_normalization needs at least one clip")
        for k, (n, s1, s2) in sums.items():
            mean = s1 / n
            std = (s2 / n - mean * mean).clamp_min(0).sqrt().clamp_min(1e-4)
            getattr(self, f"mean_{k}").copy_(mean)
            getattr(self, f"std_{k}").copy_(std)

    def _check_motion(self, joints, lengths) -> tuple[torch.Tensor, torch.Tensor]:
        joints = getattr(joints, "joints", joints)  # a humo.Motion
        joints = check_tensor(joints, "joints", min_dim=3, trailing=(NUM_JOINTS, 3))
        if joints.ndim == 3:
            joints = joints.unsqueeze(0)  # (T, 22, 3) -> (1, T, 22, 3)
        if joints.ndim != 4 or joints.shape[1] < 1:
            raise ValueError(f"joints must have shape (B, T, 22, 3) with T >= 1, got {tuple(joints.shape)}")
        b, t = joints.shape[:2]
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long)
        lengths = torch.as_tensor(lengths, device=joints.device)
        if lengths.ndim == 0:
            lengths = lengths.reshape(1)
        if lengths.shape != (b,) or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be integers of shape ({b},), got {lengths.dtype} "
                             f"{tuple(lengths.shape)}")
        if bool(((lengths < 1) | (lengths > t)).any()):
            raise ValueError(f"lengths out of range: each must be in [1, T={t}], got {lengths.tolist()}")
        return joints, lengths_to_mask(lengths, t)

    def embed_motion(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> MotionEmbedding:
        """Embeddings of a batch of motions.

        Args:
            joints: ``(B, T, 22, 3)`` absolute joints (or ``(T, 22, 3)`` / a :class:`humo.Motion` for one
                motion), metres, Y up.
            lengths: ``(B,)`` valid frames per motion (default: all ``T``).

        Returns:
            :class:`MotionEmbedding` with ``(B, embed_dim)`` tensors (differentiable w.r.t. ``joints``).
        """
        joints, mask = self._check_motion(joints, lengths)
        raw = prepare_streams(joints, self.streams)
        tokens, out = [], {}
        for k in self.streams:
            x = (raw[k] - getattr(self, f"mean_{k}")) / getattr(self, f"std_{k}")
            tok, cls = self.encoders[k](x, mask)
            tokens.append(tok)
            out[k] = self.heads[k](cls)
        fused = self.heads["f"](self.fusion(tokens, token_mask(mask, self.patch)))
        return MotionEmbedding(fused, out.get("j"), out.get("b"), out.get("m"))

    @torch.no_grad()
    def embed_clips(self, clips: Sequence[torch.Tensor], batch_size: int = 64) -> MotionEmbedding:
        """Embed clips of different lengths (each ``(T_i, 22, 3)``) in padded batches; no gradients."""
        if not clips:
            raise ValueError("embed_clips needs at least one clip")
        parts = []
        for i in range(0, len(clips), batch_size):
            chunk = [check_tensor(c, f"clips[{i + j}]", min_dim=3, trailing=(NUM_JOINTS, 3))
                     for j, c in enumerate(clips[i:i + batch_size])]
            lengths = torch.tensor([c.shape[0] for c in chunk])
            batch = nn.utils.rnn.pad_sequence(chunk, batch_first=True)  # (B, T_max, 22, 3), zero-padded
            parts.append(self.embed_motion(batch.to(self._device()), lengths))
        cat = {f: None if getattr(parts[0], f) is None else torch.cat([getattr(p, f) for p in parts])
               for f in ("fused", "joints", "bones", "motion")}
        return MotionEmbedding(**cat)

    # ----------------------------------------------------------------- text side
    def _device(self) -> torch.device:
        return self.text_proj[0].weight.device

    @property
    def device(self) -> torch.device:
        return self._device()

    def _text_encoder_changed(self) -> None:
        object.__setattr__(self, "_class_text", None)  # class-prompt embeddings came from the old encoder

    @torch.no_grad()
    def encode_texts(self, texts: str | list[str]) -> torch.Tensor:
        """Frozen sentence embeddings ``(B, text_dim)`` on the model's device (no projection)."""
        emb = torch.as_tensor(self.text_encoder.encode(check_texts(texts)))
        return emb.to(self._device(), torch.float32)

    def project_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        """``(B, text_dim)`` frozen sentence embeddings -> ``(B, embed_dim)``."""
        text_emb = check_tensor(text_emb, "text_emb", min_dim=2, trailing=(self.text_dim,))
        return self.text_proj(text_emb)

    def embed_text(self, texts: str | list[str]) -> torch.Tensor:
        """Projected text embeddings ``(B, embed_dim)`` of captions or prompts."""
        return self.project_text(self.encode_texts(texts))

    def _condition(self, text, batch: int) -> torch.Tensor:
        c = self.embed_text(text) if isinstance(text, (str, list, tuple)) else self.project_text(text)
        if c.ndim != 2 or c.shape[0] not in (1, batch):
            raise ValueError(f"text gives {c.shape[0]} embeddings for {batch} motions (need 1 or {batch})")
        return c.expand(batch, -1)

    # ----------------------------------------------------------------- training loss
    def forward(self, joints: torch.Tensor, lengths: torch.Tensor, caption_emb: torch.Tensor,
                caption_keys: torch.Tensor, label_emb: torch.Tensor | None = None,
                label_keys: torch.Tensor | None = None) -> RecognizerOutput:
        """InfoNCE of every motion embedding (fused and per stream) vs captions and class prompts.

        Args:
            joints: ``(B, T, 22, 3)``; lengths: ``(B,)``.
            caption_emb: ``(B, text_dim)`` frozen embeddings of each sample's caption.
            caption_keys: ``(B,)`` caption ids (equal ids = the same caption, treated as positives).
            label_emb: ``(B, text_dim)`` frozen embeddings of each sample's class prompt (optional).
            label_keys: ``(B,)`` class ids (-1 = unknown, left out of the label loss).
        """
        emb = self.embed_motion(joints, lengths)
        targets = {"caption": (self.project_text(caption_emb), caption_keys)}
        if label_emb is not None:
            if label_keys is None:
                raise ValueError("label_emb needs label_keys")
            targets["label"] = (self.project_text(label_emb), label_keys)
        terms = {f"{k}/{name}": multi_positive_info_nce(e, t, keys.to(e.device), self.temperature)
                 for k, e in emb.items() for name, (t, keys) in targets.items()}
        return RecognizerOutput(torch.stack(list(terms.values())).mean(), terms, emb)

    # ----------------------------------------------------------------- inference API
    def score(self, joints: torch.Tensor, text, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
              lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Guidance score ``S = sum_k w_k cos(e_k(X), c)`` over ``k`` in (fused, joints, bones, motion).

        Args:
            joints: ``(B, T, 22, 3)``; the score is differentiable w.r.t. it (call ``.eval()`` first).
            text: a prompt, a list of ``B`` prompts, or frozen sentence embeddings ``(1 or B, text_dim)``.
            weights: ``(w_f, w_j, w_b, w_m)``; streams the model does not use are skipped.
            lengths: ``(B,)`` valid frames.

        Returns:
            ``(B,)`` scores.
        """
        weights = [float(w) for w in weights]
        if len(weights) != 4 or not all(torch.isfinite(torch.tensor(weights))):
            raise ValueError(f"weights must be 4 finite numbers (f, j, b, m), got {weights}")
        emb = self.embed_motion(joints, lengths)
        c = self._condition(text, emb.fused.shape[0])
        w = dict(zip("fjbm", weights, strict=True))
        return sum(w[k] * F.cosine_similarity(e, c, dim=-1) for k, e in emb.items())

    @torch.no_grad()
    def classify(self, joints: torch.Tensor, lengths: torch.Tensor | None, prompts: list[str]
                 ) -> torch.Tensor:
        """Open-vocabulary classification: ``softmax(cos(e_f, c_p) / temperature)`` -> ``(B, P)``."""
        return self._probs(self.embed_motion(joints, lengths).fused, self.embed_text(prompts))

    def _probs(self, motion: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        logits = F.normalize(motion, dim=-1) @ F.normalize(text, dim=-1).T / self.temperature
        return logits.softmax(-1)

    @torch.no_grad()
    def class_text(self) -> torch.Tensor:
        """Projected embeddings ``(C, embed_dim)`` of the stored class prompts (frozen part cached)."""
        if not self.class_names:
            raise ValueError("this recognizer has no class vocabulary (class_names is empty)")
        if self._class_text is None:
            object.__setattr__(self, "_class_text", self.encode_texts(self.class_prompts))
        return self.project_text(self._class_text.to(self._device()))

    @torch.no_grad()
    def recognize(self, joints: torch.Tensor, lengths: torch.Tensor | None = None, top_k: int = 5
                  ) -> list[list[tuple[str, float]]]:
        """Top-k action classes of the stored vocabulary per motion: ``[[(class_name, prob), ...], ...]``."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        probs = self._probs(self.embed_motion(joints, lengths).fused, self.class_text())
        top = probs.topk(min(top_k, probs.shape[1]), dim=-1)
        return [[(self.class_names[i], float(p)) for p, i in zip(ps.tolist(), ix.tolist(), strict=True)]
                for ps, ix in zip(top.values, top.indices, strict=True)]

    def _embed_any(self, x, lengths, name: str) -> torch.Tensor:
        if isinstance(x, (str, list, tuple)):
            return self.embed_text(x)
        if isinstance(x, MotionEmbedding):
            return x.fused
        x = check_tensor(x, name, min_dim=2)
        if x.ndim == 2:
            if x.shape[1] != self.embed_dim:
                raise ValueError(f"{name} embeddings must be (N, {self.embed_dim}), got {tuple(x.shape)}")
            return x
        return self.embed_motion(x, lengths).fused

    @torch.no_grad()
    def retrieve(self, query, gallery, k: int = 5, query_lengths: torch.Tensor | None = None,
                 gallery_lengths: torch.Tensor | None = None) -> Retrieval:
        """Cosine top-k retrieval, text->motion, motion->text (or text->text, motion->motion).

        ``query`` / ``gallery``: prompts (str or list), joints ``(N, T, 22, 3)`` with optional lengths, a
        :class:`MotionEmbedding`, or precomputed embeddings ``(N, embed_dim)``.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = F.normalize(self._embed_any(query, query_lengths, "query"), dim=-1)
        g = F.normalize(self._embed_any(gallery, gallery_lengths, "gallery"), dim=-1)
        top = (q @ g.T).topk(min(k, g.shape[0]), dim=-1)
        return Retrieval(top.indices, top.values)

    @staticmethod
    def linear_probe(features, labels, test_features=None, test_labels=None, **kwargs) -> ProbeResult:
        """Logistic-regression probe on frozen embeddings (see :func:`~.probe.linear_probe`)."""
        return linear_probe(features, labels, test_features, test_labels, **kwargs)
