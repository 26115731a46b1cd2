"""Build a HumanML3D-layout corpus folder from a labelled BVH collection (see ``docs/design.md``).

Per source clip: read the BVH, retarget to SMPL-22 (metres, Y up, 20 fps), put it on HumanML3D's uniform
skeleton (:func:`humo.representations.humanml3d.uniform_skeleton`), cut it into segments, canonicalise
each segment (floor, origin, facing +Z at frame 0) and featurise it with
:func:`humo.representations.humanml3d.joints_to_features`.

Choices:

* **Segments.** Clips of at most ``max_len`` (196) frames stay whole; longer clips are cut into
  ``ceil(T / 196)`` consecutive, non-overlapping segments of equal length (so every segment has 98..196
  frames) labelled with the clip's captions. Ids: the clip id for one segment, ``<clip>-1``, ``<clip>-2``
  ... otherwise. Short clips are kept down to ``min_len`` (default 10 frames = 0.5 s; shorter ones are
  skipped and listed in meta.json): like HumanML3D's release, the corpus holds clips under 40 frames and
  the loaders drop them (``TextMotionDataset(min_len=40)``); 452 of Bandai Namco's 3,076 clips are
  shorter than 2 s.
* **Splits** are drawn per *take* (a Bandai Namco file, a CMU trial: the same trial on two rigs is one
  take), never per segment, seeded: takes sorted by (action, style) group and a random key, then dealt
  from a seeded 20-slot pattern of 16 train / 1 val / 3 test, so each group is spread over the splits.
  A collection with a published split (HDM05: train/test as published, validation carved from train by
  actor) keeps it.
* **Captions** (:func:`humo.data.captions.clip_captions`): Bandai Namco and HDM05 get 3 phrasings from
  the caption grammar (:mod:`humo.data.phrasings`) for their labels; a test clip's first phrasing is held
  out whole (template, verb phrase, subject), which train/val never see. CMU: KIT-ML captions when
  present, else the CMU description line, plus 2 grammar phrasings of its action where the grammar knows it.
* **Checks** in meta.json: :func:`humo.data.retarget.left_right_agreement` per clip (left/right labels vs
  the stance foot's direction) and ``features_to_joints(features)`` vs the stored joints. The latter is
  exact except where the root heading crosses 180 degrees from frame 0 during a fast turn: the reference's
  ``arcsin`` angular velocity (kept by ``joints_to_features``) then takes a wrong sign for a frame.
* **Statistics.** ``Mean.npy`` / ``Std.npy`` over every train frame, with the reference's block-averaged
  std (:func:`humo.representations.humanml3d.block_std`), through :class:`Normalizer`.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from humo.data.captions import TEST_TEMPLATES, caption_line, clip_captions
from humo.data.sources import LICENCES, SOURCES, SourceClip

SPLITS = ("train", "val", "test")
_PATTERN = ("train",) * 16 + ("val",) + ("test",) * 3
_CORPUS_ENTRIES = ("new_joints", "new_joint_vecs", "texts", "labels.json", "train.txt", "val.txt", "test.txt",
                   "all.txt", "Mean.npy", "Std.npy", "meta.json")


def segment_bounds(frames: int, min_len: int = 10, max_len: int = 196) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` cutting ``frames`` into ``ceil(frames / max_len)`` equal consecutive segments;
    empty if the clip is shorter than ``min_len``."""
    if frames < min_len:
        return []
    n = math.ceil(frames / max_len)
    edges = [round(k * frames / n) for k in range(n + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b - a >= min_len]


def assign_splits(clips: list[SourceClip], seed: int = 0) -> dict[str, str]:
    """``{take: split}``: takes ordered by (group, seeded random key), dealt from a seeded 16/1/3 pattern."""
    rng = random.Random(seed)
    group_of: dict[str, str] = {}
    for c in clips:
        group_of.setdefault(c.take, c.group)
    takes = sorted(group_of)
    keys = {t: rng.random() for t in takes}
    ordered = sorted(takes, key=lambda t: (group_of[t], keys[t]))
    pattern = list(_PATTERN)
    rng.shuffle(pattern)
    return {t: pattern[i % len(pattern)] for i, t in enumerate(ordered)}


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _init_worker() -> None:
    torch.set_num_threads(1)


def process_clip(task: dict) -> dict:
    """Worker: one source clip -> segment files under ``task["out"]``; returns ids, frames, feature sums.

    Never raises for a bad clip: the error is returned (``"error"``) and the build lists it as skipped.
    """
    from humo.data.bvh import read_bvh
    from humo.data.retarget import detect_preset, left_right_agreement, retarget
    from humo.representations import humanml3d as h3d

    out = Path(task["out"])
    result = {"clip": task["id"], "segments": [], "sum": None, "sumsq": None, "rows": 0, "error": None}
    try:
        if task.get("skeleton"):
            from humo.data.asf import read_asf_amc

            bvh = read_asf_amc(task["path"], task["skeleton"], fps=task["source_fps"])
        else:
            bvh = read_bvh(task["path"])
        preset = detect_preset(bvh) if task["preset"] == "auto" else task["preset"]
        joints = retarget(bvh, preset, fps=task["fps"], up=task.get("up", "auto")).double()
        result["left_right"] = left_right_agreement(joints)
        result["frames_source"] = int(joints.shape[0])
        joints = h3d.uniform_skeleton(joints)
        bounds = segment_bounds(joints.shape[0], task["min_len"], task["max_len"])
        if not bounds:
            result["error"] = f"{joints.shape[0]} frames at {task['fps']:g} fps (< {task['min_len']})"
            return result
        total, err = torch.zeros(263, dtype=torch.float64), 0.0
        total_sq = torch.zeros_like(total)
        for k, (a, b) in enumerate(bounds):
            seg_id = task["id"] if len(bounds) == 1 else f"{task['id']}-{k + 1}"
            seg = h3d.canonicalize(joints[a:b])
            feats = h3d.joints_to_features(seg)
            err = max(err, float((h3d.features_to_joints(feats) - seg[:-1]).abs().max()))
            _save_npy(out / "new_joints" / f"{seg_id}.npy", seg.float().numpy())
            _save_npy(out / "new_joint_vecs" / f"{seg_id}.npy", feats.float().numpy())
            (out / "texts" / f"{seg_id}.txt").write_text("\n".join(task["caption_lines"]) + "\n")
            total += feats.sum(0)
            total_sq += (feats**2).sum(0)
            result["rows"] += feats.shape[0]
            result["segments"].append((seg_id, b - a))
        result.update(sum=total.numpy(), sumsq=total_sq.numpy(), roundtrip=err)
    except (ValueError, FileNotFoundError) as e:
        result["error"] = str(e)
    return result


def _captions(clip: SourceClip, split: str, seed: int) -> list[str]:
    texts = clip_captions(clip.action, clip.style, clip.captions, split == "test", f"{seed}:{clip.take}")
    return [caption_line(t) for t in texts]


def check_paths(src: Path, out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that overlaps ``src``, is a file, or is a non-empty folder (unless ``overwrite``)."""
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents or o in s.parents:
        raise ValueError(f"output {out} overlaps the source folder {src}; corpora never go into sources")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; pass overwrite=True (--force) to replace it")


def build_corpus(kind: str, src: str | Path, out: str | Path, *, workers: int = 2, seed: int = 0,
                 overwrite: bool = False, progress: bool = True, min_len: int = 10, max_len: int = 196,
                 limit: int | None = None) -> dict:
    """Build a corpus of ``kind`` (``"bandai-namco"`` or ``"cmu"``) from ``src`` into ``out``.

    The corpus is assembled in a hidden sibling folder and moved into place at the end, so ``out`` is
    never left half-written. Returns the ``meta.json`` dict.

    Args:
        workers: worker processes (``<= 1`` processes clips in this process).
        seed: seeds the splits and the caption phrasings.
        overwrite: replace a non-empty ``out``.
        progress: show a rich progress bar.
        min_len / max_len: segment length bounds in frames at 20 fps.
        limit: only the first ``limit`` clips (sorted by id), for quick trials.
    """
    if kind not in SOURCES:
        raise ValueError(f"unknown source kind {kind!r}; known: {sorted(SOURCES)}")
    if not 2 <= min_len <= max_len:
        raise ValueError(f"need 2 <= min_len <= max_len, got {min_len}, {max_len}")
    src, out = Path(src), Path(out)
    check_paths(src, out, overwrite)
    start = time.perf_counter()
    clips, skipped = SOURCES[kind](src)
    clips = sorted(clips, key=lambda c: c.id)[:limit]
    published = {c.take: c.split for c in clips if c.split}
    splits = published if len(published) == len({c.take for c in clips}) else assign_splits(clips, seed)

    with staged_corpus(out) as tmp:
        tasks = [{"path": str(c.path), "id": c.id, "preset": c.preset, "fps": 20.0, "min_len": min_len,
                  "max_len": max_len, "out": str(tmp), "caption_lines": _captions(c, splits[c.take], seed),
                  "skeleton": str(c.skeleton) if c.skeleton else None, "source_fps": c.fps, "up": c.up}
                 for c in clips]
        results = _run(tasks, workers, progress, kind)
        settings = {"seed": seed, "workers": workers, "min_len": min_len, "max_len": max_len, "limit": limit}
        meta = _finish(tmp, kind, src, clips, splits, results, skipped, settings)
        meta["build_seconds"] = round(time.perf_counter() - start, 1)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


@contextmanager
def staged_corpus(out: Path) -> Iterator[Path]:
    """Assemble a corpus in a fresh hidden sibling of ``out`` (with ``new_joints``, ``new_joint_vecs``,
    ``texts``), then move it into place by renames; an old ``out`` is replaced only once the new one is
    whole, and on any error the sibling is removed and ``out`` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            (tmp / sub).mkdir(parents=True)
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run(tasks: list[dict], workers: int, progress: bool, kind: str) -> list[dict]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    results = []
    with Progress(*columns, disable=not progress) as bar:
        job = bar.add_task(f"building {kind}", total=len(tasks))
        if workers <= 1:
            for t in tasks:
                results.append(process_clip(t))
                bar.advance(job)
        else:
            ctx = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
                for r in pool.map(process_clip, tasks, chunksize=8):
                    results.append(r)
                    bar.advance(job)
    return results


def write_index(folder: Path, ids: dict[str, list[str]], labels: dict[str, dict],
                train_moments: tuple[torch.Tensor, torch.Tensor, int], name: str) -> None:
    """Write a corpus's split lists, ``all.txt``, ``labels.json`` and ``Mean.npy``/``Std.npy``.

    ``train_moments``: ``(sum (263,), sum of squares (263,), rows)`` of the train features (float64); the
    std is the reference's block-averaged one (:func:`humo.representations.humanml3d.block_std`).
    """
    from humo.data.stats import save_normalizer
    from humo.representations.humanml3d import block_std
    from humo.representations.normalizer import Normalizer

    total, total_sq, rows = train_moments
    if rows < 2:
        raise ValueError(f"{name}: the train split has {rows} feature rows; cannot compute Mean/Std")
    mean = total / rows
    std = (total_sq / rows - mean**2).clamp(min=0).sqrt()
    save_normalizer(Normalizer(mean.float(), block_std(std).float()), folder)
    for s in SPLITS:
        (folder / f"{s}.txt").write_text("".join(f"{i}\n" for i in sorted(ids[s])))
    (folder / "all.txt").write_text("".join(f"{i}\n" for i in sorted(set().union(*ids.values()))))
    (folder / "labels.json").write_text(json.dumps(dict(sorted(labels.items())), indent=1) + "\n")


def _finish(tmp: Path, kind: str, src: Path, clips: list[SourceClip], splits: dict[str, str],
            results: list[dict], skipped: list[dict], settings: dict) -> dict:
    by_id = {c.id: c for c in clips}
    ids: dict[str, list[str]] = {s: [] for s in SPLITS}
    labels, frames, lr, drift = {}, {s: 0 for s in SPLITS}, [], []
    total = torch.zeros(263, dtype=torch.float64)
    total_sq, rows, roundtrip = torch.zeros(263, dtype=torch.float64), 0, 0.0
    for r in results:
        clip = by_id[r["clip"]]
        if r["error"]:
            skipped.append({"path": str(clip.path), "reason": r["error"]})
            continue
        split = splits[clip.take]
        lr.append((r["left_right"], clip.id))
        roundtrip = max(roundtrip, r["roundtrip"])
        if r["roundtrip"] > 1e-3:
            drift.append(clip.id)
        for seg_id, n in r["segments"]:
            ids[split].append(seg_id)
            frames[split] += n
            labels[seg_id] = {"action": clip.action, "style": clip.style, "source": clip.source,
                              "take": clip.take}
        if split == "train":
            total += torch.from_numpy(r["sum"])
            total_sq += torch.from_numpy(r["sumsq"])
            rows += r["rows"]
    write_index(tmp, ids, labels, (total, total_sq, rows), str(src))
    n_frames = sum(frames.values())
    takes = {s: len({labels[i]["take"] for i in ids[s]}) for s in SPLITS}
    return {
        "source": kind, "src": str(src), "licence": LICENCES[kind], "fps": 20.0,
        "counts": {"clips": len(lr), "segments": len(labels), "frames": n_frames,
                   "hours": round(n_frames / 20.0 / 3600.0, 3),
                   **{f"{s}_segments": len(ids[s]) for s in SPLITS},
                   **{f"{s}_takes": takes[s] for s in SPLITS},
                   **{f"{s}_frames": frames[s] for s in SPLITS}, "skipped": len(skipped)},
        "skipped": skipped,
        "build": {**settings,
                  "segments": "clips > max_len cut into ceil(T/max_len) equal consecutive segments",
                  "splits": ("published train/test, val carved from train by actor" if kind == "hdm05" else
                             "by take, seeded, 16/1/3 pattern over takes sorted by (action, style)"),
                  "skeleton": "HumanML3D uniform skeleton (default bone lengths), canonical per segment",
                  "test_only_templates": list(TEST_TEMPLATES)},
        "checks": {"left_right_agreement_mean": round(float(np.mean([v for v, _ in lr])), 4) if lr else None,
                   "clips_left_right_below_half": sorted(i for v, i in lr if v < 0.5),
                   "features_to_joints_max_error_m": roundtrip,
                   # clips whose features do not rebuild their joints to 1 mm (see the module docstring)
                   "clips_features_to_joints_over_1mm": sorted(drift)},
    }
