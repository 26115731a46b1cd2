"""Merge HumanML3D-layout corpora (e.g. Bandai Namco + CMU) into one, for training on all of them.

Every segment keeps its split, captions, joints, features and label (``labels.json`` gains nothing but
the union); ``Mean.npy`` / ``Std.npy`` are recomputed over the merged train frames exactly as
:func:`humo.data.corpus.build_corpus` computes them (the reference's block-averaged std), so a model
trained on the merged corpus normalises all sources alike. Segment ids must be unique across the
inputs (each builder prefixes its source, so they are). ``meta.json`` lists the inputs, their licences
and the merged counts. Like the builder, the corpus is assembled beside ``out`` and moved into place at
the end; the inputs are only read.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from humo.data.captions import caption_line, clip_captions, parse_caption_line
from humo.data.corpus import SPLITS, check_paths, staged_corpus, write_index

_FOLDERS = ("new_joints", "new_joint_vecs", "texts")
LABEL_CAPTIONED = ("bandai-namco", "hdm05")  # label sources whose captions all come from the grammar


def recaption(text_file: Path, label: dict, split: str, seed: int) -> str:
    """New caption lines for one segment from its ``labels.json`` entry (see the module docstring)."""
    source = str(label.get("source") or "")
    given = [] if source.startswith(LABEL_CAPTIONED) else [
        parse_caption_line(ln) for ln in text_file.read_text().splitlines() if ln.strip()]
    texts = clip_captions(label.get("action"), label.get("style"), given, split == "test",
                          f"{seed}:{label.get('take')}")
    return "".join(caption_line(t) + "\n" for t in texts)


def _read_ids(corpus: Path, split: str) -> list[str]:
    path = corpus / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found ({corpus} is not a corpus folder)")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def merge_corpora(inputs: list[str | Path], out: str | Path, *, overwrite: bool = False,
                  recaption_texts: bool = False) -> dict:
    """Merge the corpus folders ``inputs`` into ``out``; returns the new ``meta.json`` dict.

    ``recaption_texts``: rewrite the captions with the current grammar (:func:`recaption`).

    Raises:
        ValueError: fewer than two inputs, a segment id found in two inputs, or no train frames.
        FileNotFoundError: an input is not a corpus (a split list or a segment file is missing).
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    inputs, out = [Path(p) for p in inputs], Path(out)
    if len(inputs) < 2:
        raise ValueError(f"merging needs at least two corpora, got {len(inputs)}")
    for src in inputs:
        check_paths(src, out, overwrite)
    start = time.perf_counter()
    owner: dict[str, Path] = {}
    ids = {s: [] for s in SPLITS}
    for src in inputs:
        for s in SPLITS:
            for i in _read_ids(src, s):
                if i in owner:
                    raise ValueError(f"segment id {i!r} is in both {owner[i]} and {src}; ids must be unique")
                owner[i] = src
                ids[s].append(i)
    with staged_corpus(out) as tmp:
        labels, sources, seeds = {}, [], {}
        total, total_sq, rows = torch.zeros(263, dtype=torch.float64), torch.zeros(263, dtype=torch.float64), 0
        for src in inputs:
            meta_file = src / "meta.json"
            meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
            seeds[src] = int((meta.get("build") or {}).get("seed", 0))
            sources.append({"path": str(src), "source": meta.get("source"), "licence": meta.get("licence"),
                            "counts": meta.get("counts")})
            labels_file = src / "labels.json"
            labels.update(json.loads(labels_file.read_text()) if labels_file.is_file() else {})
        train = set(ids["train"])
        frames = {s: 0 for s in SPLITS}
        for s in SPLITS:
            for i in ids[s]:
                for sub, suffix in zip(_FOLDERS, (".npy", ".npy", ".txt"), strict=True):
                    f = owner[i] / sub / f"{i}{suffix}"
                    if not f.is_file():
                        raise FileNotFoundError(f"{f} not found: {owner[i]} lists {i!r} but lacks its file")
                    if sub == "texts" and recaption_texts and i in labels:
                        (tmp / sub / f.name).write_text(recaption(f, labels[i], s, seeds[owner[i]]))
                    else:
                        shutil.copyfile(f, tmp / sub / f.name)
                feats = torch.from_numpy(np.load(tmp / "new_joint_vecs" / f"{i}.npy")).double()
                frames[s] += int(feats.shape[0]) + 1  # joints frames = feature rows + 1
                if i in train:
                    total += feats.sum(0)
                    total_sq += feats.pow(2).sum(0)
                    rows += int(feats.shape[0])
        write_index(tmp, ids, labels, (total, total_sq, rows), "the merged corpus")
        n = sum(frames.values())
        meta = {"source": "merged", "inputs": sources, "recaptioned": recaption_texts,
                "licence": "; ".join(sorted({str(m["licence"]) for m in sources if m["licence"]})),
                "fps": 20.0,
                "counts": {"segments": len(owner), "frames": n, "hours": round(n / 20.0 / 3600.0, 3),
                           **{f"{s}_segments": len(ids[s]) for s in SPLITS},
                           **{f"{s}_frames": frames[s] for s in SPLITS}},
                "build_seconds": round(time.perf_counter() - start, 1)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
