"""Evaluate a text-to-motion generator with the standard protocol (``humo.metrics.protocol``).

A generator here is anything with ``generate(texts, frames=[...], seed=..., guidance=[...]) -> list[Motion]``
(``CoAMD``; ``MotionDuet``). Generated joints are turned into HumanML3D features with the
library's ``joints_to_features`` (uniform skeleton included), exactly as the corpus features were made,
so the evaluator sees both through the same representation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from humo.metrics.protocol import evaluate, to_markdown
from humo.representations.humanml3d import joints_to_features


def corpus_test_set(corpus: str | Path, split: str = "test", min_len: int = 40, max_len: int = 196):
    """The reference test handling: clips with ``min_len <= frames < 200``, first ``max_len`` frames."""
    from humo.data.datasets import TextMotionDataset

    return TextMotionDataset(corpus, split, min_len=min_len, max_len=max_len, random_crop=False)


class _Items:
    """Fixed items (one caption per clip, drawn once with a seed) so every condition sees the same test set."""

    def __init__(self, dataset, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(len(dataset)):
            item = dict(dataset[i])
            texts = item.get("texts") or [item["text"]]
            item["text"] = texts[int(torch.randint(len(texts), (1,), generator=g))]
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def generator_fn(pipeline, guidance: list, seed: int = 0, record: Callable | None = None, **kwargs) -> Callable:
    """``(texts, lengths) -> (features (B, T, 263), lengths)`` for :func:`humo.metrics.protocol.evaluate`.

    ``lengths`` count feature rows, so ``lengths + 1`` joint frames are generated. Every call draws new
    seeds (``seed``, ``seed + B``, ...) so replications and MultiModality repeats differ. ``record(texts,
    motions)``, when given, sees every generated batch (e.g. a
    :class:`~humo.pipelines.plausibility.KinematicsRecorder`).
    """
    state = {"next": seed}

    def fn(texts: list[str], lengths: torch.Tensor):
        frames = [int(n) + 1 for n in lengths]
        motions = pipeline.generate(list(texts), frames=frames, seed=state["next"], guidance=guidance, **kwargs)
        state["next"] += len(texts)
        if record is not None:
            record(list(texts), motions)
        feats = [joints_to_features(m.joints.double()).float() for m in motions]
        out = torch.zeros(len(feats), max(f.shape[0] for f in feats), feats[0].shape[-1])
        for i, f in enumerate(feats):
            out[i, :f.shape[0]] = f
        return out, torch.tensor([f.shape[0] for f in feats])

    return fn


def evaluate_conditions(pipeline, conditions: dict[str, list], dataset, evaluator, *, replications: int = 20,
                        seed: int = 0, mm_prompts: int = 32, mm_repeats: int = 10, progress: bool = True,
                        real_kinematics: dict | None = None, diversity_times: int | None = 300,
                        **generate_kwargs) -> tuple[dict, str]:
    """Run the protocol once per guidance condition on the same test items and protocol seed.

    Returns ``(results, markdown)``; ``results[name] = {"real": ..., "generated": ..., "seconds": ...}``
    and the table has the real-data row first, then one row per condition. With ``real_kinematics``
    (:func:`humo.pipelines.plausibility.real_statistics` of the corpus) every generated motion's kinematic
    statistics are compared with the real clips of its caption's class: ``results[name]["kinematics"]``
    (:func:`humo.pipelines.plausibility.plausibility_report`), and ``results[name]["kinematics_real"]`` is
    the same report for the real test clips themselves (their ranges include them: a generator whose
    statistics follow the real ones lands near these shares, e.g. about 0.9 for a 5-95% range).
    ``diversity_times``: Diversity pairs
    (:func:`humo.metrics.diversity_times` gives 100 for test sets of 100-300 clips).
    """
    from humo.pipelines.plausibility import KinematicsRecorder, caption_classes, plausibility_report

    items = _Items(dataset, seed)
    classes = caption_classes(dataset) if real_kinematics is not None and hasattr(dataset, "classes") else {}
    results: dict = {}
    rows: dict = {}
    real_report = None
    if classes:
        real_rec = KinematicsRecorder(classes, fps=getattr(pipeline, "fps", 20.0))
        for item in items.items:
            real_rec.add(item["text"], item["joints"][:item["length"]])
        real_report = plausibility_report(real_rec.statistics(), real_kinematics)
    for name, guidance in conditions.items():
        start = time.perf_counter()
        recorder = KinematicsRecorder(classes, fps=getattr(pipeline, "fps", 20.0)) if classes else None
        res = evaluate(generator_fn(pipeline, guidance, seed=seed, record=recorder, **generate_kwargs), items,
                       evaluator, replications=replications, seed=seed, mm_prompts=mm_prompts,
                       mm_repeats=mm_repeats, clip_evaluator=evaluator, progress=progress,
                       diversity_times=diversity_times)
        res["seconds"] = time.perf_counter() - start
        if recorder is not None:
            res["kinematics"] = plausibility_report(recorder.statistics(), real_kinematics)
            res["kinematics_real"] = real_report
        results[name] = res
        rows.setdefault("real data", res["real"])
        rows[name] = res["generated"]
    return results, to_markdown(rows)
