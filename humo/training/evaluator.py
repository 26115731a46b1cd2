"""Train the contrastive text-motion evaluator (:class:`humo.models.evaluators.ContrastiveEvaluator`).

The run folder follows :mod:`humo.training.common` (``checkpoint/`` written atomically and resumed,
``final/`` = ``save_pretrained`` of the trained evaluator). Sentence embeddings of the frozen text
encoder are cached per unique caption, so after the first pass over the captions a step costs only
the motion transformer. The data order is a pure function of ``(seed, step)`` and the RNG state is
checkpointed, so a resumed run repeats the uninterrupted one (given a dataset whose items do not
draw from their own generator, e.g. ``TextMotionDataset(random_crop=False)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from humo.models.evaluators.contrastive import PRESETS, ContrastiveEvaluator
from humo.models.hub import HubModel
from humo.training.collate import collate_motion_text
from humo.training.common import load_checkpoint, pick_device, save_checkpoint, save_final


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


def _batch_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """Epoch-wise shuffled, drop_last batches; a pure function of ``step`` (exact resume)."""
    per_epoch = n // batch_size
    epoch, b = divmod(step, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[b * batch_size:(b + 1) * batch_size].tolist()


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
                    weight_decay: float = 0.01, save_every: int = 1000, progress: bool = True
                    ) -> EvaluatorTrainResult:
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
        preset, model_kwargs: evaluator size (``PRESETS`` name, then overrides).
        text_encoder: frozen encoder with ``encode(list[str]) -> (B, D)`` and ``dim``; default
            ``TextEncoder(model_kwargs.get("text_encoder", "minilm"))``.
        mean, std: ``(263,)`` feature statistics; default computed over ``dataset``.
        save_every: checkpoint period in steps (and at the end).
        progress: show a rich progress bar.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    if steps < 0 or batch_size < 2 or lr <= 0 or save_every < 1:
        raise ValueError("need steps >= 0, batch_size >= 2, lr > 0 and save_every >= 1")
    n = len(dataset)
    if n < batch_size:
        raise ValueError(f"the dataset has {n} items, fewer than batch_size={batch_size}")
    out_dir, dev = Path(out_dir), pick_device(device)
    kwargs = {**PRESETS[preset], **(model_kwargs or {})}
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder(kwargs.get("text_encoder", "minilm"))
    kwargs.setdefault("text_dim", int(text_encoder.dim))
    ckpt = out_dir / "checkpoint"
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = ContrastiveEvaluator(**kwargs)
        if resume and (ckpt / "trainer.pt").is_file():
            saved = HubModel.read_config(ckpt / "model")
            if saved != model._hub_mixin_config:
                raise ValueError(f"{ckpt} was trained with config {saved}, not {model._hub_mixin_config}; "
                                 "use another out_dir or resume=False")
        else:
            if mean is None or std is None:
                mean, std = dataset_stats(dataset)
            model.set_normalization(mean, std)
        model.text_encoder = text_encoder
        model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        step = 0
        if resume and (ckpt / "trainer.pt").is_file():
            step, _ = load_checkpoint(out_dir, model, opt, map_location=dev)
        cache: dict[str, torch.Tensor] = {}
        losses: list[float] = []
        columns = (TextColumn("evaluator {task.fields[loss]}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        model.train()
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("train", total=steps, completed=min(step, steps), loss="")
            while step < steps:
                items = [dataset[i] for i in _batch_indices(step, n, batch_size, seed)]
                batch = collate_motion_text(items).to(dev)
                sentences = _sentences(batch.texts, text_encoder, cache).to(dev)
                out = model(batch.features, batch.lengths, sentences)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                step += 1
                losses.append(out.loss.item())
                bar.update(task, advance=1, loss=f"loss {losses[-1]:.4f}")
                if step % save_every == 0 or step == steps:
                    save_checkpoint(out_dir, model, opt, step, extra={"seed": seed, "batch_size": batch_size})
        model.eval()
        final = save_final(out_dir, model)
    return EvaluatorTrainResult(model, step, losses, final)
