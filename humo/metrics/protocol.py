"""The text-to-motion evaluation protocol runner (T2M, CVPR 2022; MoMask/MARDM batching).

One replication:

1. shuffle the test set with the run's generator and cut it into batches of 32 (drop_last);
2. crop each real motion as the reference test loader does (:func:`reference_crop`: length cut to a
   multiple of 4, one unit shorter a third of the time, random offset);
3. ``generate_fn(captions, lengths)`` with the cropped real lengths; embed the captions, the real and
   the generated motions with the evaluator;
4. per row (``generated`` and ``real``): R-precision top-1..3 and MM-Dist over those batches,
   Diversity (300 pairs), FID (generated vs. the same batches' real motions; the real row vs. an
   independent second crop pass over the real data, as the reference's separate ground-truth loader),
   MultiModality (``mm_prompts`` random prompts x ``mm_repeats`` generations, 10 pairs) and, with a
   contrastive ``clip_evaluator``, the CLIP score.

The results are reported as mean and 95% interval ``1.96 * std / sqrt(replications)`` (population
std, as the reference's ``np.std``).

Interfaces (duck-typed, see the Protocols below): the dataset is a sequence of dicts with
``features`` ``(T, 263)`` **raw** (un-normalised) HumanML3D features, ``length`` (int) and ``text``
(str), plus any other keys (e.g. ``tokens`` for the T2M evaluator); a ``length`` above the feature
row count (``humo.data.datasets`` counts joint frames, features have ``T - 1`` rows) is clipped to
it. Evaluators normalise features with their own mean/std and move inputs to their own device.
``generate_fn`` owns its randomness and device; it returns raw features. Converting joints to
features is the caller's job (:func:`with_converter`).

Several processes (a running ``torch.distributed`` process group, e.g. under ``accelerate launch``):
every process makes the same draws, process ``r`` generates and embeds only its contiguous block of
the batches (and MultiModality prompts), and the accumulators gather the blocks in process order, which
is the one-process order; so with a ``generate_fn`` whose output depends only on its inputs, the
numbers equal a one-process run, and every process returns them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch

from humo.metrics.accumulator import METRIC_NAMES, MotionMetrics
from humo.representations._checks import check_tensor

GenerateFn = Callable[[list[str], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``generate_fn(texts, lengths: (B,) long) -> (features (B, T, 263) raw, lengths (B,))``."""


@runtime_checkable
class MotionEvaluator(Protocol):
    """What the protocol needs from an evaluator (``T2MEvaluator``, ``ContrastiveEvaluator``, ...)."""

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``(B, D)`` caption embeddings."""
        ...

    def embed_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` embeddings of raw features ``(B, T, 263)`` with valid lengths ``(B,)``."""
        ...


def reference_crop(features: torch.Tensor, length: int, unit_length: int = 4,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Crop a real motion as the reference test loader does.

    The length becomes a multiple of ``unit_length`` (2/3 of the time the floor, 1/3 one unit
    shorter), then a random window of that length is taken.

    Args:
        features: ``(T, D)`` with ``T >= length``.
        length: the valid frame count.

    Returns:
        ``(features (L, D), L)``.
    """
    if length < unit_length:
        raise ValueError(f"motion length {length} is shorter than unit_length={unit_length}")
    double = int(torch.randint(3, (1,), generator=generator)) == 2  # choice(['single','single','double'])
    units = length // unit_length - (1 if double else 0)
    new = max(units, 1) * unit_length
    offset = int(torch.randint(length - new + 1, (1,), generator=generator))
    return features[offset:offset + new], new


def with_converter(generate: Callable, converter: Callable) -> GenerateFn:
    """Wrap a generator of another representation (e.g. joints) into a ``GenerateFn``.

    ``generate(texts, lengths) -> (x, lengths)`` and ``converter(x, lengths) -> (features, lengths)``.
    """
    def generate_fn(texts: list[str], lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, out_lengths = generate(texts, lengths)
        return converter(x, out_lengths)

    return generate_fn


def _pad(seqs: list[torch.Tensor]) -> torch.Tensor:
    out = seqs[0].new_zeros(len(seqs), max(s.shape[0] for s in seqs), seqs[0].shape[-1])
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out


def _item(dataset: Sequence, i: int, text_key: str) -> tuple[torch.Tensor, int, str, str]:
    item = dataset[i]
    if not isinstance(item, dict) or not {"features", "length", "text"} <= item.keys():
        raise ValueError(f"dataset[{i}] must be a dict with 'features', 'length' and 'text'")
    if text_key not in item:
        raise ValueError(f"dataset[{i}] has no {text_key!r} key, which the evaluator reads; pass "
                         "text_key='text' to feed it the captions")
    feats = check_tensor(item["features"], f"dataset[{i}]['features']", min_dim=2)
    if feats.ndim != 2:
        raise ValueError(f"dataset[{i}]['features'] must be (T, D), got {tuple(feats.shape)}")
    length = min(int(item["length"]), feats.shape[0])  # datasets counting joint frames have T - 1 rows
    if length < 1:
        raise ValueError(f"dataset[{i}] has length {item['length']}; it must be >= 1")
    return feats, length, item["text"], item[text_key]


def _real_batch(dataset, indices, text_key, crop, unit_length, generator):
    feats, lengths, texts, eval_texts = [], [], [], []
    for i in indices:
        f, n, text, eval_text = _item(dataset, int(i), text_key)
        f, n = reference_crop(f, n, unit_length, generator) if crop else (f[:n], n)
        feats.append(f)
        lengths.append(n)
        texts.append(text)
        eval_texts.append(eval_text)
    return _pad(feats), torch.tensor(lengths, dtype=torch.long), texts, eval_texts


def _check_generated(out, batch: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError("generate_fn must return a tuple (features, lengths)")
    feats = check_tensor(out[0], "generated features", min_dim=3)
    lengths = torch.as_tensor(out[1]).long().reshape(-1)
    if feats.ndim != 3 or feats.shape[0] != batch or feats.shape[-1] != dim:
        raise ValueError(f"generated features must be ({batch}, T, {dim}), got {tuple(feats.shape)}")
    if lengths.shape[0] != batch or bool((lengths < 1).any()) or int(lengths.max()) > feats.shape[1]:
        raise ValueError(f"generated lengths must be ({batch},) in [1, T={feats.shape[1]}], "
                         f"got {lengths.tolist()}")
    return feats, lengths


def _rank_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def summarize(values: Sequence[float]) -> dict:
    """``{"mean", "interval", "values"}`` with ``interval = 1.96 * std / sqrt(n)`` (population std)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    std = float(t.std(unbiased=False)) if t.numel() > 1 else 0.0
    return {"mean": float(t.mean()), "interval": 1.96 * std / math.sqrt(t.numel()), "values": t.tolist()}


def evaluate(generate_fn: GenerateFn, dataset: Sequence, evaluator: MotionEvaluator, *,
             replications: int = 20, generator: torch.Generator | None = None, seed: int = 0,
             mm_prompts: int = 100, mm_repeats: int = 30, mm_times: int = 10, batch_size: int = 32,
             diversity_times: int | None = 300, unit_length: int = 4, crop: bool = True,
             clip_evaluator: MotionEvaluator | None = None, text_key: str | None = None,
             fid_method: str = "eigh", progress: bool = True) -> dict[str, dict[str, dict]]:
    """Run the protocol (see the module docstring) and summarise each metric over replications.

    Args:
        generate_fn: ``(texts, lengths) -> (features (B, T, 263) raw, lengths (B,))``.
        dataset: sequence of dicts ``{"features": (T, 263), "length": int, "text": str, ...}``.
        evaluator: embeds captions and motions (:class:`MotionEvaluator`).
        replications: 20 in the protocol.
        generator: all of the protocol's draws (order, crops, MM prompts, metric draws); default
            ``torch.Generator().manual_seed(seed)``.
        mm_prompts: prompts for MultiModality (T2M: 100, MoMask: 96); 0 skips it.
        mm_repeats: generations per MultiModality prompt (30).
        mm_times, batch_size, diversity_times: the protocol's 10, 32 and 300 (``None``: 100 on small sets).
        unit_length, crop: the reference crop (``crop=False`` keeps the dataset's lengths).
        clip_evaluator: a contrastive evaluator for the CLIP score (fed the ``text`` captions).
        text_key: the item key fed to ``evaluator.embed_text``; default ``evaluator.text_key`` or ``"text"``.
        fid_method: ``"eigh"`` or ``"scipy"``.
        progress: show rich progress bars.

    Returns:
        ``{"real": {...}, "generated": {...}}``, each ``{metric: {"mean", "interval", "values"}}`` with
        metrics among ``R@1 R@2 R@3 FID MM-Dist Diversity MultiModality CLIP``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    n = len(dataset)
    if n < batch_size:
        raise ValueError(f"the dataset has {n} items, fewer than batch_size={batch_size}")
    if mm_prompts < 0 or mm_prompts > n:
        raise ValueError(f"mm_prompts must be in [0, {n}], got {mm_prompts}")
    if mm_prompts and mm_repeats < mm_times:
        raise ValueError(f"mm_repeats={mm_repeats} must be >= mm_times={mm_times}")
    key = text_key or getattr(evaluator, "text_key", "text")
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    n_batches = n // batch_size
    rank, world = _rank_world()

    def mine(i: int, total: int) -> bool:  # contiguous blocks in process order
        return i * world // total == rank

    rows: dict[str, dict[str, list[float]]] = {"real": {}, "generated": {}}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress or rank != 0) as bar:
        reps = bar.add_task("replications", total=replications)
        batches = bar.add_task("batches", total=2 * n_batches + mm_prompts)
        for _ in range(replications):
            bar.reset(batches)
            accs = {row: MotionMetrics(row, batch_size=batch_size, shuffle=False, mm_times=mm_times,
                                       diversity_times=diversity_times, fid_method=fid_method)
                    for row in rows}
            order = torch.randperm(n, generator=gen)
            for b in range(n_batches):
                feats, lengths, texts, eval_texts = _real_batch(
                    dataset, order[b * batch_size:(b + 1) * batch_size], key, crop, unit_length, gen)
                bar.advance(batches)
                if not mine(b, n_batches):
                    continue
                g_feats, g_lengths = _check_generated(generate_fn(texts, lengths.clone()), batch_size,
                                                      feats.shape[-1])
                with torch.no_grad():
                    t = evaluator.embed_text(eval_texts)
                    real = evaluator.embed_motion(feats, lengths)
                    fake = evaluator.embed_motion(g_feats, g_lengths)
                    accs["generated"].update(t, fake, real_emb=real)
                    accs["real"].update(t, real)
                    if clip_evaluator is not None:
                        ct = clip_evaluator.embed_text(texts)
                        for row, (f, k) in (("generated", (g_feats, g_lengths)), ("real", (feats, lengths))):
                            accs[row].update(clip_text_emb=ct,
                                             clip_motion_emb=clip_evaluator.embed_motion(f, k))
            for b in range(n_batches):  # independent crops: the real row's FID reference
                feats, lengths, _, _ = _real_batch(dataset, order[b * batch_size:(b + 1) * batch_size], key,
                                                   crop, unit_length, gen)
                bar.advance(batches)
                if mine(b, n_batches):
                    with torch.no_grad():
                        accs["real"].update(real_emb=evaluator.embed_motion(feats, lengths))
            for j, i in enumerate(torch.randperm(n, generator=gen)[:mm_prompts].tolist()):
                feats, lengths, texts, _ = _real_batch(dataset, [i], key, crop, unit_length, gen)
                bar.advance(batches)
                if not mine(j, mm_prompts):
                    continue
                out = generate_fn(texts * mm_repeats, lengths.repeat(mm_repeats))
                g_feats, g_lengths = _check_generated(out, mm_repeats, feats.shape[-1])
                with torch.no_grad():
                    accs["generated"].update_multimodality(evaluator.embed_motion(g_feats, g_lengths))
            for row, acc in accs.items():
                for name, value in acc.compute(gen).items():
                    rows[row].setdefault(name.split("/", 1)[1], []).append(value)
            bar.advance(reps)
    return {row: {m: summarize(v) for m, v in values.items()} for row, values in rows.items()}


def to_markdown(results: dict[str, dict[str, dict]], digits: int = 3) -> str:
    """A markdown table, one row per results row, cells ``mean ± interval``."""
    metrics = [m for m in METRIC_NAMES if any(m in row for row in results.values())]
    metrics += sorted({m for row in results.values() for m in row} - set(metrics))
    lines = ["| | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, row in results.items():
        cells = [f"{row[m]['mean']:.{digits}f} ± {row[m]['interval']:.{digits}f}" if m in row else "-"
                 for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
