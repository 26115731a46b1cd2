"""Train the contrastive text-motion evaluator (:class:`humo.models.evaluators.ContrastiveEvaluator`).

Training runs through :mod:`humo.training.engine` (``checkpoint/`` written atomically and resumed,
``final/`` = ``save_pretrained`` of the trained evaluator). Sentence embeddings of the frozen text
encoder are cached per unique caption, so after the first pass over the captions a step costs only
the motion transformer. Items are taken in seeded epoch permutations; a dataset with a ``generator``
attribute (``TextMotionDataset``) draws its crops from a generator keyed by ``(seed, step, position)``
and the RNG state is checkpointed, so a resumed run repeats the uninterrupted one. Under several
processes each one contrasts its own batch (the InfoNCE negatives are per process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from humo.models.evaluators.contrastive import PRESETS, ContrastiveEvaluator
from humo.training.collate import collate_motion_text
from humo.training.common import save_final
from humo.training.engine import DatasetSource, TrainConfig, fit


@dataclass
class EvaluatorTrainResult:
    """The trained ``model``, the ``step`` reached, this call's ``losses`` and the ``final_dir``."""

    model: ContrastiveEvaluator
    step: int
    losses: list[float] = field(default_factory=list)
    final_dir: Path | None = None


def dataset_stats(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std ``(D,)`` over every valid frame of ``dataset`` (float64 accumulation)."""
    total, sq, count = None, None, 0
    for i in range(len(dataset)):
        item = dataset[i]
        f = torch.as_tensor(item["features"], dtype=torch.float64)[: int(item["length"])]
        total = f.sum(0) if total is None else total + f.sum(0)
        sq = (f * f).sum(0) if sq is None else sq + (f * f).sum(0)
        count += f.shape[0]
    if not count:
        raise ValueError("the dataset has no frames")
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt()
    return mean.float(), std.clamp_min(1e-6).float()


def _sentences(texts: list[str], encoder, cache: dict[str, torch.Tensor]) -> torch.Tensor:
    missing = sorted({t for t in texts if t not in cache})
    if missing:
        with torch.no_grad():
            for t, emb in zip(missing, encoder.encode(missing).float().cpu(), strict=True):
                cache[t] = emb
    return torch.stack([cache[t] for t in texts])


def train_evaluator(dataset, out_dir: str | Path, steps: int = 20_000, batch_size: int = 64, lr: float = 1e-4,
                    device: str = "auto", seed: int = 0, resume: bool = True, *, preset: str = "base",
                    model_kwargs: dict | None = None, text_encoder=None, mean=None, std=None,
                    weight_decay: float = 0.01, save_every: int = 1000, progress: bool = True,
                    grad_accum: int = 1, mixed_precision: str | None = None, num_workers: int = 0,
                    max_minutes: float | None = None) -> EvaluatorTrainResult:
    """Train a :class:`ContrastiveEvaluator` with AdamW and the symmetric InfoNCE loss.

    Args:
        dataset: sequence of dicts ``{"features": (T, 263) raw, "length": int, "text": str}``, e.g.
            :class:`humo.data.datasets.TextMotionDataset` (its ``length`` counts joint frames; the
            ``T - 1`` feature rows are used).
        out_dir: run folder (``checkpoint/`` and ``final/``).
        steps: total optimisation steps (a resumed run continues up to it).
        batch_size, lr, weight_decay: optimisation settings.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        seed: model init, dropout and data order.
        resume: continue from ``out_dir/checkpoint`` when present (its config must match).
        lr: constant AdamW learning rate.
        preset, model_kwargs: evaluator size (``PRESETS`` name, then overrides).
        text_encoder: frozen encoder with ``encode(list[str]) -> (B, D)`` and ``dim``; default
            ``TextEncoder(model_kwargs.get("text_encoder", "minilm"))``.
        mean, std: ``(263,)`` feature statistics; default computed over ``dataset``.
        save_every: checkpoint period in steps (and at the end).
        progress: show a rich progress bar.
        grad_accum, mixed_precision, num_workers: see :class:`humo.training.engine.TrainConfig`
            (``batch_size`` is per process).
        max_minutes: wall-clock budget; when it runs out the run stops early, checkpoints and saves ``final/``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    if steps < 0 or batch_size < 2 or lr <= 0 or save_every < 1:
        raise ValueError("need steps >= 0, batch_size >= 2, lr > 0 and save_every >= 1")
    n = len(dataset)
    if n < batch_size:
        raise ValueError(f"the dataset has {n} items, fewer than batch_size={batch_size}")
    out_dir = Path(out_dir)
    kwargs = {**PRESETS[preset], **(model_kwargs or {})}
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder(kwargs.get("text_encoder", "minilm"))
    kwargs.setdefault("text_dim", int(text_encoder.dim))
    ckpt = out_dir / "checkpoint"
    resuming = resume and (ckpt / "trainer.json").is_file()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ContrastiveEvaluator(**kwargs)
        if not resuming:  # a resumed run restores the statistics (and checks the config) from the checkpoint
            if mean is None or std is None:
                mean, std = dataset_stats(dataset)
            model.set_normalization(mean, std)
        model.text_encoder = text_encoder
        cache: dict[str, torch.Tensor] = {}

        def loss_fn(m: ContrastiveEvaluator, batch, generator) -> tuple[torch.Tensor, dict]:
            sentences = _sentences(batch.texts, text_encoder, cache).to(batch.features.device)
            return m(batch.features, batch.lengths, sentences).loss, {}

        config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, schedule="constant", weight_decay=weight_decay,
                             betas=(0.9, 0.999), grad_accum=grad_accum, mixed_precision=mixed_precision,
                             device=device, seed=seed, resume=resume, checkpoint_every=save_every, log_every=1,
                             num_workers=num_workers, draw="epoch", progress=progress, name="evaluator",
                             max_seconds=None if max_minutes is None else 60 * max_minutes)
        r = fit(model, DatasetSource(dataset), collate_motion_text, loss_fn, config, out_dir)
        model.eval()
        final = save_final(out_dir, model) if r.is_main else out_dir / "final"
    return EvaluatorTrainResult(model, r.step, [e["loss"] for e in r.history if "loss" in e], final)
