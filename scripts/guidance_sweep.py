"""Guidance sweep for the bundled CoAMD: text alignment (protocol) AND kinematic plausibility per setting.

Runs :func:`humo.pipelines.evaluation.evaluate_conditions` with ``real_kinematics`` on a class-stratified
subset of the test split (CPU time), so every row has R-precision / FID / CLIP and the per-class
plausibility figures of the same generated motions. Writes ``<out>.md`` and ``<out>.json``.

    python scripts/guidance_sweep.py corpora/bandai-namco runs/evaluator-small/final \
        --items 128 --replications 3 --out docs/results/guidance-sweep
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from humo.guidance import ClassifierFreeGuidance, RecognizerGuidance
from humo.metrics import diversity_times
from humo.models.evaluators import load_evaluator
from humo.pipelines.coamd import CoAMD
from humo.pipelines.evaluation import corpus_test_set, evaluate_conditions
from humo.pipelines.plausibility import real_statistics


class Passthrough:
    """A cleanup that returns the decoder's joints untouched (the "before" rows)."""

    def apply(self, joints, foot_lock=None):
        return joints

    def describe(self, foot_lock=None):
        return {"skeleton": "none (raw decoder output)", "foot_lock": False}


class Cached:
    """Wraps a pipeline: records every ``generate`` call's motions to ``path`` (generation is the expensive part),
    or replays them in the same order. The protocol's batches, crops and seeds depend only on its seed, so a
    replay with another evaluator sees exactly the motions the recording generated."""

    def __init__(self, pipe, path: Path, replay: bool):
        self.pipe, self.path, self.replay, self.fps = pipe, path, replay, pipe.fps
        self.calls = torch.load(path) if replay else []

    def generate(self, texts, **kwargs):
        from humo.motion import Motion

        if self.replay:
            joints = self.calls.pop(0)
            return [Motion(j, fps=self.fps, text=t) for j, t in zip(joints, texts, strict=True)]
        motions = self.pipe.generate(texts, **kwargs)
        self.calls.append([m.joints for m in motions])
        torch.save(self.calls, self.path)
        return motions


class Stratified:
    """``n`` test items dealt round-robin over the action classes (same items for every setting)."""

    def __init__(self, dataset, n: int):
        by_class: dict[int, list[int]] = {}
        for i in range(len(dataset)):
            by_class.setdefault(dataset[i]["label"], []).append(i)
        order, k = [], 0
        while len(order) < min(n, len(dataset)):
            for idx in by_class.values():
                if k < len(idx) and len(order) < n:
                    order.append(idx[k])
            k += 1
        self.dataset, self.indices, self.classes = dataset, order, dataset.classes

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]


def settings(pipe) -> dict[str, tuple[list, bool | None]]:
    """name -> (guidance, cleanup: None = raw decoder, False = rig + floor only, True = + foot lock)."""
    cfg = ClassifierFreeGuidance
    out = {  # in priority order: a partial run still has the rows that matter most
        "CFG 4.5": ([cfg(4.5)], True),
        "CFG 4.5 (old default), raw decoder": ([cfg(4.5)], None),
        "CFG 4.5 rescale 0.7": ([cfg(4.5, rescale=0.7)], True),
        "CFG 3 rescale 0.7": ([cfg(3.0, rescale=0.7)], True),
        "CFG 3": ([cfg(3.0)], True),
        "CFG 2": ([cfg(2.0)], True),
        "CFG 4.5 linear (MAR)": ([cfg(4.5, schedule="linear")], True),
        "no guidance": ([], True),
        "CFG 4.5, rig + floor (no foot lock)": ([cfg(4.5)], False),
        "CFG 4.5 interval [0, 0.5)": ([cfg(4.5, stop=0.5)], True),
    }
    if pipe.recognizer is not None:
        pipe.recognizer.text_encoder = pipe.text_encoder
        rec = RecognizerGuidance(pipe.recognizer, 1.0)
        out["CFG 4.5 rescale 0.7 + recognizer 1"] = ([cfg(4.5, rescale=0.7), rec], True)
    return out


STANDING = ("raise", "wave", "bye", "bow", "call", "guide")


def fmt(x: float, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def table(results: dict) -> str:
    head = ("| setting | R@1 | R@3 | FID | CLIP | run speed m/s | walk speed | walk sliding m/s | run sliding | "
            "standing sliding | lowest foot cm | worst bone std cm | loco speed in range | all stats in range |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    first = next(iter(results.values()))
    r, rk = first["real"], first["kinematics"]["classes"]

    def real_med(prefixes, stat):
        vals = [c["real_median"][stat] for a, c in rk.items() if a.startswith(prefixes)]
        return sum(vals) / len(vals) if vals else float("nan")

    lines.append(f"| real data (test subset; kinematics: all real clips of the class) | {fmt(r['R@1']['mean'])} | "
                 f"{fmt(r['R@3']['mean'])} | {fmt(r['FID']['mean'])} | {fmt(r['CLIP']['mean'])} | "
                 f"{fmt(real_med(('run',), 'root_speed'), 2)} | {fmt(real_med(('walk',), 'root_speed'), 2)} | "
                 f"{fmt(real_med(('walk',), 'foot_skating'))} | {fmt(real_med(('run',), 'foot_skating'))} | "
                 f"{fmt(real_med(STANDING, 'foot_skating'))} | 0.0 | 0.00 | 0.90 | 0.90 |")
    for name, res in results.items():
        g, k = res["generated"], res["kinematics"]
        cls = k["classes"]

        def med(prefixes, stat, cls=cls):
            vals = [c["median"][stat] for a, c in cls.items() if a.startswith(prefixes)]
            return sum(vals) / len(vals) if vals else float("nan")

        loco_walk = ("walk",)
        standing = STANDING
        lowest = max(c["median"]["lowest_foot"] for c in cls.values()) * 100
        bone = max(c["median"]["bone_std"] for c in cls.values()) * 100
        o = k["overall"]
        all_in = sum(o[s] for s in ("root_speed", "foot_skating", "lowest_foot", "jerk", "bone_std")) / 5
        lines.append(f"| {name} | {fmt(g['R@1']['mean'])} | {fmt(g['R@3']['mean'])} | {fmt(g['FID']['mean'])} | "
                     f"{fmt(g['CLIP']['mean'])} | {fmt(med(('run',), 'root_speed'), 2)} | "
                     f"{fmt(med(loco_walk, 'root_speed'), 2)} | {fmt(med(loco_walk, 'foot_skating'))} | "
                     f"{fmt(med(('run',), 'foot_skating'))} | "
                     f"{fmt(med(standing, 'foot_skating'))} | {fmt(lowest, 1)} | {fmt(bone, 2)} | "
                     f"{fmt(o['locomotion_speed_inside'], 2)} | {fmt(all_in, 2)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("evaluator", help="bundled or an evaluator folder")
    ap.add_argument("--items", type=int, default=128)
    ap.add_argument("--replications", type=int, default=3)
    ap.add_argument("--only", default="", help="semicolon-separated setting names (default: all)")
    ap.add_argument("--out", type=Path, required=True, help="output stem (.md and .json)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, help="folder for the generated motions of each setting")
    ap.add_argument("--replay", action="store_true", help="evaluate the motions in --cache instead of generating")
    ap.add_argument("--table-only", action="store_true", help="rewrite <out>.md from <out>.json and stop")
    args = ap.parse_args()
    if args.table_only:
        results = json.loads(args.out.with_suffix(".json").read_text())["results"]
        args.out.with_suffix(".md").write_text(table(results) + "\n")
        print(table(results))
        return
    torch.set_num_threads(args.threads)
    pipe = CoAMD.from_pretrained()
    cleanup = pipe.cleanup
    ev = load_evaluator(args.evaluator)
    data = Stratified(corpus_test_set(args.corpus), args.items)
    real = real_statistics(args.corpus)
    results = {}
    chosen = [s.strip() for s in args.only.split(";") if s.strip()]
    for name, (guidance, mode) in settings(pipe).items():
        if chosen and name not in chosen:
            continue
        pipe.cleanup = Passthrough() if mode is None else cleanup
        gen = pipe
        if args.cache is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
            gen = Cached(pipe, args.cache / (name.replace(" ", "_").replace("/", "-") + ".pt"), args.replay)
        res, _ = evaluate_conditions(gen, {name: guidance}, data, ev, replications=args.replications, mm_prompts=0,
                                     progress=False, real_kinematics=real, foot_lock=bool(mode),
                                     diversity_times=diversity_times(len(data)))
        results[name] = res[name]
        print(name, f"{res[name]['seconds']:.0f} s", flush=True)
        slim = {k: {"seconds": v["seconds"], "kinematics": v["kinematics"],
                    **{row: {m: {"mean": s["mean"], "interval": s["interval"]} for m, s in v[row].items()}
                       for row in ("real", "generated")}} for k, v in results.items()}
        args.out.with_suffix(".json").write_text(json.dumps({"items": len(data), "replications": args.replications,
                                                            "results": slim}, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(table(slim) + "\n")
    print(table(slim))


if __name__ == "__main__":
    main()
