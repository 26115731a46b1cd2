"""``MotionMetrics``: a thin accumulator over :mod:`humo.metrics.functional` (style rule 12).

``update`` only stores (detached) embeddings, ``compute(generator)`` reads them without changing any
state, and under ``torch.distributed`` every rank's embeddings are gathered before computing, so
each rank returns the same numbers. Keys are namespaced ``{prefix}/{metric}``, e.g. ``t2m/R@1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from humo.metrics import functional as M
from humo.representations._checks import check_tensor

METRIC_NAMES = ("R@1", "R@2", "R@3", "FID", "MM-Dist", "Diversity", "MultiModality", "CLIP")


def _gather(chunks: list[torch.Tensor]) -> torch.Tensor | None:
    """Concatenate the local chunks, then every rank's (rank order) when a process group is running."""
    local = torch.cat(chunks, 0) if chunks else None
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, None if local is None else local.cpu())
    parts = [p for p in parts if p is not None]
    return torch.cat(parts, 0) if parts else None


def _emb(x, name: str, ndim: int = 2) -> torch.Tensor:
    x = check_tensor(x, name, min_dim=ndim)
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    return x.detach()


@dataclass
class MotionMetrics:
    """Accumulate evaluator embeddings batch by batch, then compute the protocol's metrics.

    Args:
        prefix: key namespace (``"t2m"`` -> ``"t2m/R@1"``).
        top_k: R-precision ranks reported (``R@1..R@top_k``).
        batch_size: R-precision / MM-Dist batch (32).
        shuffle: shuffle pairs before batching in ``compute``; set ``False`` when updates already come
            in shuffled batches of ``batch_size`` (the protocol runner does this).
        diversity_times: pairs for Diversity (300); ``None`` = :func:`humo.metrics.diversity_times`.
        mm_times: pairs per prompt for MultiModality (10).
        fid_method: ``"eigh"`` or ``"scipy"`` (see :func:`humo.metrics.frechet_distance`).
        fid_reference: a :class:`~humo.metrics.FidReference` (real-set statistics computed once) used
            for FID when no ``real_emb`` were stored; stored real embeddings are fitted once per
            ``compute`` state and reused by later calls.

    Example::

        metrics = MotionMetrics("t2m")
        for batch in loader:
            metrics.update(text_emb=t, motion_emb=m, real_emb=r)
        metrics.compute(torch.Generator().manual_seed(0))  # {"t2m/R@1": ..., "t2m/FID": ..., ...}
    """

    prefix: str = "t2m"
    top_k: int = 3
    batch_size: int = 32
    shuffle: bool = True
    diversity_times: int | None = 300
    mm_times: int = 10
    fid_method: str = "eigh"
    fid_reference: M.FidReference | None = None
    _text: list = field(default_factory=list, init=False, repr=False)
    _motion: list = field(default_factory=list, init=False, repr=False)
    _real: list = field(default_factory=list, init=False, repr=False)
    _clip_text: list = field(default_factory=list, init=False, repr=False)
    _clip_motion: list = field(default_factory=list, init=False, repr=False)
    _mm: list = field(default_factory=list, init=False, repr=False)
    _real_fit: tuple | None = field(default=None, init=False, repr=False)  # (chunks seen, FidReference)

    def reset(self) -> None:
        """Drop everything accumulated."""
        for chunks in (self._text, self._motion, self._real, self._clip_text, self._clip_motion, self._mm):
            chunks.clear()
        self._real_fit = None

    def update(self, text_emb=None, motion_emb=None, real_emb=None, clip_text_emb=None,
               clip_motion_emb=None) -> None:
        """Store one batch.

        Args:
            text_emb, motion_emb: ``(B, D)`` paired evaluator embeddings (R-precision, MM-Dist, Diversity,
                FID); ``text_emb`` may be omitted when only distribution metrics are wanted.
            real_emb: ``(B', D)`` embeddings of real motions, the FID reference.
            clip_text_emb, clip_motion_emb: ``(B, D')`` paired embeddings of a contrastive evaluator.
        """
        if text_emb is not None and motion_emb is None:
            raise ValueError("text_emb needs its paired motion_emb")
        if motion_emb is not None:
            m = _emb(motion_emb, "motion_emb")
            t = None if text_emb is None else _emb(text_emb, "text_emb")
            if t is not None and t.shape != m.shape:
                raise ValueError(f"text_emb {tuple(t.shape)} and motion_emb {tuple(m.shape)} must match")
            if (t is None and self._text) or (t is not None and len(self._text) != len(self._motion)):
                raise ValueError("pass text_emb with every motion_emb or with none")
            self._motion.append(m)
            if t is not None:
                self._text.append(t)
        if real_emb is not None:
            self._real.append(_emb(real_emb, "real_emb"))
        if (clip_text_emb is None) != (clip_motion_emb is None):
            raise ValueError("clip_text_emb and clip_motion_emb come together")
        if clip_text_emb is not None:
            ct, cm = _emb(clip_text_emb, "clip_text_emb"), _emb(clip_motion_emb, "clip_motion_emb")
            if ct.shape != cm.shape:
                raise ValueError(f"clip_text_emb {tuple(ct.shape)} and clip_motion_emb {tuple(cm.shape)} "
                                 "must match")
            self._clip_text.append(ct)
            self._clip_motion.append(cm)

    def update_multimodality(self, emb) -> None:
        """Store repeated generations: ``(R, D)`` for one prompt or ``(P, R, D)`` for ``P`` prompts."""
        x = check_tensor(emb, "emb", min_dim=2).detach()
        if x.ndim not in (2, 3):
            raise ValueError(f"emb must be (R, D) or (P, R, D), got shape {tuple(x.shape)}")
        self._mm.append(x if x.ndim == 3 else x.unsqueeze(0))

    def _fid_reference(self) -> M.FidReference | None:
        if not self._real:
            return self.fid_reference
        if self._real_fit is None or self._real_fit[0] != len(self._real):
            self._real_fit = (len(self._real), M.FidReference(_gather(self._real)))
        return self._real_fit[1]

    def compute(self, generator: torch.Generator | None = None) -> dict[str, float]:
        """The metrics of everything stored so far (no state changes besides caching the real set's fit;
        random draws use ``generator`` in this order: R-precision shuffle, Diversity, MultiModality)."""
        p = self.prefix
        out: dict[str, float] = {}
        motion, text = _gather(self._motion), _gather(self._text)
        if text is not None:
            if self.shuffle:
                perm = torch.randperm(text.shape[0], generator=generator,
                                      device=generator.device if generator is not None else "cpu")
                perm = perm.to(text.device)
                text_s, motion_s = text[perm], motion[perm]
            else:
                text_s, motion_s = text, motion
            ret = M.retrieval_metrics(text_s, motion_s, self.top_k, self.batch_size, shuffle=False)
            out.update({f"{p}/R@{k + 1}": float(v) for k, v in enumerate(ret.r_precision)})
            out[f"{p}/MM-Dist"] = float(ret.matching_score)
        reference = self._fid_reference()
        if reference is not None and motion is not None:
            out[f"{p}/FID"] = float(M.fid(reference, motion, method=self.fid_method))
        if motion is not None:
            times = self.diversity_times or M.diversity_times(motion.shape[0])
            out[f"{p}/Diversity"] = float(M.diversity(motion, times, generator))
        mm = _gather(self._mm)
        if mm is not None:
            out[f"{p}/MultiModality"] = float(M.multimodality(mm, self.mm_times, generator))
        clip_t, clip_m = _gather(self._clip_text), _gather(self._clip_motion)
        if clip_t is not None:
            out[f"{p}/CLIP"] = float(M.clip_score(clip_m, clip_t))
        return out
