"""The protocol under cleanup variants: the same generations, only ``pipe.cleanup`` settings change.

    python scripts/cleanup_protocol.py corpora/merged-bcm-h --model coamd --out plant.json \\
        before=plant_contacts:0 default= every-clip=plant_slack:inf

Each variant is ``NAME=FIELD:VALUE,...`` over :class:`humo.pipelines.cleanup.MotionCleanup` fields (an empty
list is the pipeline's own cleanup). The model's default guidance, one replication by default, no
MultiModality, the bundled evaluator; prints the protocol table and the kinematic shares (inside the real
5-95% range of the caption's class, :mod:`humo.pipelines.plausibility`) and writes them as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.models.evaluators import load_evaluator  # noqa: E402
from humo.models.hub import BUNDLED_EVALUATOR  # noqa: E402
from humo.pipelines.evaluation import corpus_test_set, evaluate_conditions  # noqa: E402
from humo.pipelines.plausibility import real_statistics  # noqa: E402


def parse_variant(spec: str) -> tuple[str, dict]:
    name, _, fields = spec.partition("=")
    out = {}
    for item in filter(None, fields.split(",")):
        key, _, value = item.partition(":")
        out[key] = float(value) if key not in ("plant_root", "plant_soft", "plant_contacts", "foot_lock") \
            else value.lower() in ("1", "true", "yes")
    return name, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("variants", nargs="+", help="NAME=FIELD:VALUE,... (MotionCleanup fields)")
    ap.add_argument("--model", default="coamd", help="coamd, motionduet or a model folder")
    ap.add_argument("--evaluator", default=str(BUNDLED_EVALUATOR))
    ap.add_argument("--replications", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from humo import CoAMD, MotionDuet

    if args.model == "motionduet":
        pipe = MotionDuet.from_pretrained()
    else:
        pipe = CoAMD.from_pretrained(None if args.model == "coamd" else args.model)
    original = pipe.cleanup
    evaluator = load_evaluator(args.evaluator)
    dataset, real = corpus_test_set(args.corpus), real_statistics(args.corpus)
    rows = {}
    for spec in args.variants:
        name, fields = parse_variant(spec)
        pipe.cleanup = dataclasses.replace(original, **fields)
        res, table = evaluate_conditions(pipe, {name: pipe.default_guidance()}, dataset, evaluator,
                                         replications=args.replications, seed=args.seed, mm_prompts=0,
                                         progress=False, real_kinematics=real)
        r = res[name]
        rows[name] = {"cleanup": pipe.cleanup.describe(), "seconds": r["seconds"],
                      "generated": {m: s["mean"] for m, s in r["generated"].items()},
                      "real": {m: s["mean"] for m, s in r["real"].items()}, "kinematics": r["kinematics"]["overall"]}
        g, k = rows[name]["generated"], rows[name]["kinematics"]
        print(f"| {name} | {g['R@1']:.3f} | {g['R@3']:.3f} | {g['FID']:.3f} | {k['root_speed']:.3f} | "
              f"{k['locomotion_speed_inside']:.3f} | {k['foot_skating']:.3f} | {k['jerk']:.3f} |", flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
