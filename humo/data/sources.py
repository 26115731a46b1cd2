"""Labelled BVH collections to build corpora from: Bandai Namco (JSON labels) and CMU (KIT-ML captions).

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
    """

    path: Path
    id: str
    action: str
    style: str | None
    source: str
    take: str
    preset: str
    captions: list[str] = field(default_factory=list)

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


SOURCES = {"bandai-namco": list_bandai_namco, "cmu": list_cmu}
