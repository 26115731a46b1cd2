"""Planted-root variants on fixed prompts: speed, foot sliding and jerk of the bundled model's motions.

    python scripts/plant_root_variants.py [--model DIR] [--seeds 4] [--threads 1]

Every variant regenerates the same prompts and seeds (so the same decoded motions) and changes only the
cleanup's ``plant_root`` settings (``MotionCleanup.plant_sigma`` / ``plant_soft``); figures are
:mod:`humo.metrics.kinematics` medians over the seeds, with the largest sliding. ``docs/evaluation.md``
has the output and the real clips' ranges.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.metrics.kinematics import kinematic_stats  # noqa: E402
from humo.pipelines.coamd import CoAMD  # noqa: E402

PROMPTS = ("a person runs", "a person walks forward", "a person waves with the right hand")
VARIANTS = {"all or nothing": (0.0, False), "sigma 1": (1.0, False), "sigma 2": (2.0, False),
            "soft": (0.0, True), "soft, sigma 2": (2.0, True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="CoAMD folder (default: the bundled model)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = CoAMD.from_pretrained(args.model)
    texts = [t for t in PROMPTS for _ in range(args.seeds)]
    print("| plant_root | " + " | ".join(f"{p.split()[2]} speed | sliding max | jerk" for p in PROMPTS) + " |")
    print("|---|" + "---|---|---|" * len(PROMPTS))
    for name, (sigma, soft) in VARIANTS.items():
        pipe.cleanup.plant_sigma, pipe.cleanup.plant_soft = sigma, soft
        motions = pipe.generate(texts, seconds=4, seed=0)
        st = kinematic_stats(torch.stack([m.joints for m in motions]), fps=pipe.fps)
        cells = []
        for i in range(len(PROMPTS)):
            sl = slice(i * args.seeds, (i + 1) * args.seeds)
            cells += [f"{float(st['root_speed'][sl].median()):.2f}", f"{float(st['foot_skating'][sl].max()):.3f}",
                      f"{float(st['jerk'][sl].median()):.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
