"""What the planted root does to real clips: median speed ratio and foot sliding, with and without contact gating.

    python scripts/plant_root_real.py corpora/merged-bcm-h [--splits test val]

Real mocap needs no planting, so a rule that changes a real clip's speed is biased: the ungated rule pins a
foot still moving as it lands or pushes off (``docs/evaluation.md``, "A planted root that lets a landing
foot land"). Clips of 40 frames or more, their first 196; grouped by walk / run / dash / other.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.metrics.kinematics import foot_skating, root_speed  # noqa: E402
from humo.representations.contact import contact_labels, plant_root  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--splits", nargs="+", default=["test", "val"])
    args = ap.parse_args()
    labels = json.loads((args.corpus / "labels.json").read_text())
    groups: dict[str, list[torch.Tensor]] = {}
    for split in args.splits:
        for cid in (args.corpus / f"{split}.txt").read_text().split():
            action = (labels.get(cid) or {}).get("action") or ""
            joints = torch.from_numpy(np.load(args.corpus / "new_joints" / f"{cid}.npy")).float()[:196]
            if joints.shape[0] >= 40:
                kind = action.split("-")[0] if action.startswith(("walk", "run", "dash")) else "other"
                groups.setdefault(kind, []).append(joints)
    rules = {"ungated": lambda j: plant_root(j), "contact-gated": lambda j: plant_root(j, contacts=contact_labels(j))}
    print("| rule | " + " | ".join(f"{k} (n={len(v)}) speed ratio / sliding m/s" for k, v in groups.items()) + " |")
    print("|---|" + "---|" * len(groups))
    for name, rule in rules.items():
        cells = []
        for clips in groups.values():
            r = torch.tensor([(float(root_speed(j)), float(root_speed(p := rule(j))), float(foot_skating(p)))
                              for j in clips])
            cells.append(f"{float((r[:, 1] / r[:, 0].clamp_min(1e-3)).median()):.3f} / {float(r[:, 2].median()):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
