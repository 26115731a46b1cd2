"""Kinematic plausibility protocol: generated motions against the real clips of the same action class.

1. :func:`real_statistics` computes :func:`humo.metrics.kinematics.kinematic_stats` on every real clip
   of a corpus (first ``max_frames`` frames), grouped by the action label of ``labels.json``;
2. :class:`KinematicsRecorder` collects the generated motions of a run (hooked into
   :func:`humo.pipelines.evaluation.generator_fn`), each labelled with the class of its caption;
3. :func:`plausibility_report` gives, per class, the median of each statistic and the share of
   generated clips inside the real clips' 5-95 percentile range of that class (``foot_skating``: at or
   under the 95th percentile, since less sliding than mocap's marker jitter is no defect; ``bone_std``: the
   share under 1 mm, since real skeletons are rigid).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from humo.metrics.kinematics import STATS, kinematic_stats, share_inside

RANGE_STATS = ("root_speed", "foot_skating", "lowest_foot", "jerk")
# statistics judged against the real range's upper end only: feet that slide less than mocap's marker
# jitter (real standing clips 1-3 mm/s) are no less plausible, and a locked foot slides 0
UPPER_ONLY = ("foot_skating",)
RIGID_TOLERANCE = 1e-3  # metres: a bone std under this counts as a rigid skeleton
LOCOMOTION = ("walk", "run", "dash")  # class-name prefixes whose root speed the targets are about


def _stack(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([r[k].float() for r in rows]) for k in STATS}


def real_statistics(corpus: str | Path, splits=("train", "val", "test"), min_frames: int = 40,
                    max_frames: int = 196, fps: float = 20.0) -> dict[str, dict[str, torch.Tensor]]:
    """``{action: {stat: (N,)}}`` over the real clips (``min_frames`` or longer, first ``max_frames``)."""
    root = Path(corpus)
    labels = json.loads((root / "labels.json").read_text())
    rows: dict[str, list] = {}
    for split in splits:
        for cid in (root / f"{split}.txt").read_text().split():
            action = (labels.get(cid) or {}).get("action")
            if not action:
                continue
            joints = torch.from_numpy(np.load(root / "new_joints" / f"{cid}.npy", allow_pickle=False)).float()
            if joints.shape[0] < min_frames:
                continue
            rows.setdefault(action, []).append(kinematic_stats(joints[:max_frames], fps))
    return {a: _stack(r) for a, r in sorted(rows.items())}


def caption_classes(dataset) -> dict[str, str]:
    """``{caption: action}`` for every caption of a labelled dataset (``classes``, items with ``label``)."""
    out = {}
    for i in range(len(dataset)):
        item = dataset[i]
        if item.get("label", -1) < 0:
            continue
        for text in item.get("texts") or [item["text"]]:
            out[text] = dataset.classes[item["label"]]
    return out


class KinematicsRecorder:
    """Collects generated motions ``(text, joints (T, 22, 3))`` and their statistics, by caption class."""

    def __init__(self, classes: dict[str, str], fps: float = 20.0):
        self.classes = classes
        self.fps = fps
        self.rows: dict[str, list] = {}

    def __call__(self, texts: list[str], motions) -> None:
        for text, m in zip(texts, motions, strict=True):
            self.add(text, m.joints)

    def add(self, text: str, joints: torch.Tensor) -> None:
        """Record one motion ``joints (T, 22, 3)`` under its caption's class (skipped: unknown caption, T < 4)."""
        action = self.classes.get(text)
        if action is not None and joints.shape[0] >= 4:
            self.rows.setdefault(action, []).append(kinematic_stats(joints, self.fps))

    def statistics(self) -> dict[str, dict[str, torch.Tensor]]:
        return {a: _stack(r) for a, r in sorted(self.rows.items())}


def plausibility_report(generated: dict[str, dict[str, torch.Tensor]], real: dict[str, dict[str, torch.Tensor]],
                        low: float = 0.05, high: float = 0.95) -> dict:
    """Per class: ``n``, ``median`` of each statistic (generated and real), ``inside`` share per statistic
    in :data:`RANGE_STATS` (real ``[low, high]`` quantiles) plus ``bone_std`` (share < 1 mm); and an
    ``overall`` block pooling every clip (``locomotion_speed_inside``: root speed inside its class range
    for the walk/run/dash classes)."""
    report: dict = {"classes": {}}
    pooled = {k: [] for k in (*RANGE_STATS, "bone_std")}
    loco = []
    for action, gen in generated.items():
        if action not in real:
            continue
        ref = real[action]
        entry = {"n": int(gen["root_speed"].shape[0]), "real_n": int(ref["root_speed"].shape[0]),
                 "median": {k: float(gen[k].nanmedian()) for k in STATS},
                 "real_median": {k: float(ref[k].nanmedian()) for k in STATS}, "inside": {}, "range": {}}
        for k in RANGE_STATS:
            lo, hi = ref[k].nanquantile(low), ref[k].nanquantile(high)
            if k in UPPER_ONLY:
                lo = torch.zeros_like(lo)
            entry["range"][k] = [float(lo), float(hi)]
            inside = (gen[k] >= lo) & (gen[k] <= hi)
            entry["inside"][k] = float(share_inside(gen[k], lo, hi))
            pooled[k].append(inside[torch.isfinite(gen[k])])
            if k == "root_speed" and action.startswith(LOCOMOTION):
                loco.append(inside)
        rigid = gen["bone_std"] < RIGID_TOLERANCE
        entry["inside"]["bone_std"] = float(rigid.float().mean())
        pooled["bone_std"].append(rigid)
        report["classes"][action] = entry
    report["overall"] = {k: float(torch.cat(v).float().mean()) if v else float("nan") for k, v in pooled.items()}
    report["overall"]["locomotion_speed_inside"] = float(torch.cat(loco).float().mean()) if loco else float("nan")
    return report
