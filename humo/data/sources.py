"""Labelled mocap collections to build corpora from: Bandai Namco (BVH, JSON labels), CMU (BVH, KIT-ML
captions) and HDM05 (ASF/AMC, classes from the file names, published train/test split).

Each lister walks a read-only source folder and returns :class:`SourceClip` records plus the files it
skipped (with the reason). Nothing here reads motion data; :mod:`humo.data.corpus` does.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

LICENCES = {
    "bandai-namco": ("CC BY-NC 4.0 (non-commercial; attribution: Bandai Namco Research Inc., "
                     "Bandai-Namco-Research-Motiondataset)"),
    "cmu": ("CMU Graphics Lab Motion Capture Database: free for research. Acknowledge: 'The data used in "
            "this project was obtained from mocap.cs.cmu.edu. The database was created with funding from NSF "
            "EIA-0196217.'"),
    "hdm05": ("HDM05 (Universitaet Bonn), CC BY-SA 3.0, research. Cite: M. Mueller, T. Roeder, M. Clausen, "
              "B. Eberhardt, B. Krueger, A. Weber, 'Documentation Mocap Database HDM05', Technical Report "
              "CG-2007-2, Universitaet Bonn, 2007."),
}


@dataclass
class SourceClip:
    """One source file and its labels.

    Attributes:
        path: the BVH file (``.bvh`` or ``.bvh.gz``).
        id: corpus id stem (segments append ``-1``, ``-2`` ...).
        action: content label (``"walk"``); style: style label or None.
        source: sub-collection (``"bandai-namco-2"``, ``"cmu-ccbase"``).
        take: recording identity; all files of one take land in the same split.
        preset: joint-map preset for :func:`humo.data.retarget.retarget` (``"auto"``: detect from the joints).
        captions: given captions (CMU); empty when they are generated from the labels (Bandai Namco).
        skeleton: the ASF skeleton of an AMC ``path`` (None for BVH files).
        split: the published split (HDM05), else None (the builder assigns splits).
        fps: the source frame rate where the file does not store it (AMC), else None.
        up: the file's up axis for :func:`humo.data.retarget.retarget` (``"auto"``: detect it).
    """

    path: Path
    id: str
    action: str
    style: str | None
    source: str
    take: str
    preset: str
    captions: list[str] = field(default_factory=list)
    skeleton: Path | None = None
    split: str | None = None
    fps: float | None = None
    up: str = "auto"

    @property
    def group(self) -> str:
        """Stratification group for the splits."""
        return f"{self.action}|{self.style}"


def _bvh_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith((".bvh", ".bvh.gz")) and p.is_file())


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".bvh")


def _labels(cfg: Path, prefix: str) -> list[str]:
    if not cfg.is_file():
        raise FileNotFoundError(f"{cfg} not found (Bandai Namco label names)")
    return [ln.strip().removeprefix(prefix) for ln in cfg.read_text().splitlines() if ln.strip()]


def list_bandai_namco(src: str | Path) -> tuple[list[SourceClip], list[dict]]:
    """Clips of every ``dataset-*/data/*.json`` with a sibling ``.bvh(.gz)``; labels from the JSON ids and
    ``cfg/content_label.txt`` / ``cfg/style_label.txt``. One file = one take."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    clips, skipped = [], []
    for data_dir in sorted(src.glob("dataset-*/data")):
        ds = data_dir.parent.name
        contents = _labels(data_dir.parent / "cfg" / "content_label.txt", f"{ds}_")
        styles = _labels(data_dir.parent / "cfg" / "style_label.txt", f"{ds}_")
        for js in sorted(data_dir.glob("*.json")):
            bvh = next((p for p in (js.with_suffix(".bvh.gz"), js.with_suffix(".bvh")) if p.is_file()), None)
            if bvh is None:
                skipped.append({"path": str(js), "reason": "label file without a BVH"})
                continue
            try:
                label = json.loads(js.read_text())
                action, style = contents[int(label["content"])], styles[int(label["style"])]
            except (ValueError, KeyError, IndexError, TypeError) as e:
                skipped.append({"path": str(js), "reason": f"bad label file ({e!r})"})
                continue
            stem = js.stem
            if not stem.startswith(f"{ds}_{action}_{style}_"):
                reason = f"labels {action}/{style} disagree with the file name"
                skipped.append({"path": str(js), "reason": reason})
                continue
            clips.append(SourceClip(bvh, stem, action, style, f"bandai-namco-{ds.split('-')[-1]}", stem,
                                    "bandai-namco"))
    if not clips:
        raise ValueError(f"{src}: no Bandai Namco clips found (expected dataset-*/data/*.json + .bvh.gz)")
    return clips, skipped


def cmu_trial(stem: str) -> str:
    """Canonical CMU trial id: ``"002_01"`` / ``"02_01"`` / ``"2_1"`` -> ``"02_01"``."""
    m = re.fullmatch(r"0*(\d+)_0*(\d+)", stem)
    if m is None:
        raise ValueError(f"{stem!r} is not a CMU trial name like 02_01")
    return f"{int(m.group(1)):02d}_{int(m.group(2)):02d}"


def kitml_cmu_captions(annotations: str | Path) -> dict[str, list[str]]:
    """KIT-ML captions of CMU trials: ``{"128_01": [...]}`` from ``annotations.json`` (mirrored entries
    ``M/...`` skipped; path ``CMU/128/128_01_poses`` -> trial ``128_01``)."""
    data = json.loads(Path(annotations).read_text())
    out: dict[str, list[str]] = {}
    for entry in data.values():
        m = re.fullmatch(r"CMU/\d+/(\d+_\d+)_poses", entry.get("path", ""))
        if m is None:
            continue
        texts = [a["text"].strip() for a in entry.get("annotations", []) if a.get("text", "").strip()]
        out.setdefault(cmu_trial(m.group(1)), []).extend(texts)
    return out


def cmu_descriptions(src: Path) -> dict[str, str]:
    """One-line CMU descriptions per trial from ``trials_manifest.tsv`` and ``cmu-trials.csv`` if present."""
    out: dict[str, str] = {}
    trials_csv = src / "cmu-trials.csv"
    if trials_csv.is_file():
        with trials_csv.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    trial = f"{int(row['Subject']):02d}_{int(row['Trial #']):02d}"
                    out[trial] = row["Motion Description"].strip()
                except (KeyError, ValueError):
                    continue
    manifest = src / "trials_manifest.tsv"
    if manifest.is_file():
        with manifest.open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("cmu_description", "").strip():
                    out[cmu_trial(row["trial"])] = row["cmu_description"].strip()
    return out


def _action_from_description(desc: str) -> str:
    return re.split(r"\s+-\s+|[,;(/]", desc.lower())[0].strip() or "unknown"


def list_cmu(src: str | Path, kitml: str | Path | None = None) -> tuple[list[SourceClip], list[dict]]:
    """CMU trials under ``src`` at any folder depth, one take per trial.

    Ids are ``ccbase_02_01`` for folders named ``*ccbase*``, else ``cgspeed_02_01``; the joint-map preset is
    detected from each file's joints. Captions: KIT-ML's when it has the trial, else the CMU description
    line. ``kitml`` defaults to ``src/../kitml/annotations.json`` when it exists.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    if kitml is None:
        guess = src.parent / "kitml" / "annotations.json"
        kitml = guess if guess.is_file() else None
    kit = kitml_cmu_captions(kitml) if kitml is not None else {}
    desc = cmu_descriptions(src)
    clips, skipped = [], []
    for path in _bvh_files(src):
        try:
            trial = cmu_trial(_stem(path))
        except ValueError as e:
            skipped.append({"path": str(path), "reason": str(e)})
            continue
        rig = "ccbase" if "ccbase" in str(path.parent.relative_to(src)).lower() else "cgspeed"
        captions = kit.get(trial) or ([desc[trial]] if trial in desc else [])
        if not captions:
            skipped.append({"path": str(path), "reason": f"trial {trial} has no caption or description"})
            continue
        action = _action_from_description(desc.get(trial, captions[0]))
        clips.append(SourceClip(path, f"{rig}_{trial}", action, None, f"cmu-{rig}", trial, "auto", captions))
    if not clips:
        raise ValueError(f"{src}: no CMU trials found (*.bvh / *.bvh.gz named like 02_01)")
    return clips, skipped


# HDM05 class (file name) -> action label of the caption grammar (:mod:`humo.data.phrasings`)
HDM05_ACTIONS = {"depositFloorR": "put-down-right", "elbowToKnee1RepsLelbowStart": "elbow-to-knee",
                 "grabHighR": "reach-high-right", "hopBothLegs1hops": "hop",
                 "jogLeftCircle4StepsRstart": "jog-circle-left", "kickLFront1Reps": "front-kick-left",
                 "lieDownFloor": "lie-down", "rotateArmsBothBackward1Reps": "arm-circles-backward",
                 "sneak2StepsLStart": "sneak", "squat1Reps": "squat", "throwBasketball": "throw-basketball"}


def hdm05_val_actors(rows: list[dict]) -> dict[str, str]:
    """``{class: actor}`` whose train trials of that class become validation: per class the train actor with
    the fewest trials (ties: rotating over the classes), so validation is cross-actor for every class while
    every actor still trains on most classes."""
    out = {}
    for k, cls in enumerate(sorted({r["class"] for r in rows})):
        counts: dict[str, int] = {}
        for r in rows:
            if r["class"] == cls and r["split"] == "train":
                counts[r["actor"]] = counts.get(r["actor"], 0) + 1
        if len(counts) > 1:
            actors = sorted(counts)
            out[cls] = min(actors, key=lambda a: (counts[a], (actors.index(a) - k) % len(actors)))
    return out


def list_hdm05(src: str | Path) -> tuple[list[SourceClip], list[dict]]:
    """HDM05 trials from ``labels.csv`` (file, class, actor, split): ``amc/<split>/*.amc.gz`` with skeleton
    ``asf/HDM_<actor>.asf``, 120 fps, Y up. The published train/test split is kept; validation is carved
    from train by actor (:func:`hdm05_val_actors`). One trial = one take."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    labels = src / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found (HDM05 trial list: file,class,actor,split)")
    with labels.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "class", "actor", "split"} <= set(rows[0]):
        raise ValueError(f"{labels}: expected the columns file, class, actor, split")
    val = hdm05_val_actors(rows)
    clips, skipped = [], []
    for r in rows:
        path, asf = src / r["file"], src / "asf" / f"HDM_{r['actor']}.asf"
        reason = ("unknown class " + repr(r["class"]) if r["class"] not in HDM05_ACTIONS
                  else f"split {r['split']!r} is not train or test" if r["split"] not in ("train", "test")
                  else f"{path.name} is missing" if not path.is_file()
                  else f"skeleton {asf.name} is missing" if not asf.is_file() else None)
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            continue
        stem = path.name.split(".")[0].removesuffix("_120")
        split = "val" if r["split"] == "train" and val.get(r["class"]) == r["actor"] else r["split"]
        clips.append(SourceClip(path, stem, HDM05_ACTIONS[r["class"]], None, "hdm05", stem, "asf",
                                skeleton=asf, split=split, fps=120.0, up="y"))
    if not clips:
        raise ValueError(f"{src}: no HDM05 trials found (labels.csv rows with amc/ and asf/ files)")
    return clips, skipped


SOURCES = {"bandai-namco": list_bandai_namco, "cmu": list_cmu, "hdm05": list_hdm05}
