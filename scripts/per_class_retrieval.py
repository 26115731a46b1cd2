"""Per action class: how often a motion generated from a test caption is retrieved top-k for that caption.

For every test clip of a corpus (the protocol's test handling: 40 <= frames < 200, one caption drawn per
clip with the protocol seed), one motion is generated per model from the caption at the clip's length,
with the model's default guidance (CFG, then contact guidance; ``--cfg`` with ``--contact-steps``
replaces it). The held-out evaluator embeds captions, generated motions and the
real clips. Text -> motion retrieval as in the protocol's R-precision: shuffled batches of 32, each
caption ranks the batch's 32 motions by Euclidean distance; a hit is its own motion within the top k.
Averaged over ``--shuffles`` batchings of the same motions, then per action class (``labels.json``).
The real clips give the ceiling of each class.

    python scripts/per_class_retrieval.py corpora/merged-bcm-h --evaluator runs/evaluator/final \\
        medium=runs/coamd-medium/final bundled=bundled duet=motionduet --out per_class.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from humo.metrics import retrieval_hits
from humo.models.evaluators import ContrastiveEvaluator, load_evaluator
from humo.pipelines.evaluation import _Items, corpus_test_set
from humo.representations.humanml3d import joints_to_features


def hits(text: torch.Tensor, motion: torch.Tensor, k: int, shuffles: int, seed: int) -> torch.Tensor:
    """``(N,)`` share of ``shuffles`` protocol batchings (32, drop_last) in which caption ``i`` ranks its own
    motion within the top ``k`` (:func:`humo.metrics.retrieval_hits`)."""
    g = torch.Generator().manual_seed(seed)
    draws = torch.stack([retrieval_hits(text, motion, top_k=k, generator=g) for _ in range(shuffles)])
    return draws.nanmean(0)


def embed_joints(ev: ContrastiveEvaluator, joints: list[torch.Tensor]) -> torch.Tensor:
    feats = [joints_to_features(j.double()).float() for j in joints]
    pad = torch.zeros(len(feats), max(f.shape[0] for f in feats), feats[0].shape[-1])
    for i, f in enumerate(feats):
        pad[i, :f.shape[0]] = f
    return ev.embed_motion(pad, torch.tensor([f.shape[0] for f in feats]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("models", nargs="+", help="name=folder (or name=bundled)")
    ap.add_argument("--evaluator", default="bundled", help="bundled or an evaluator folder")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--shuffles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cfg", type=float, default=None, help="CFG scale (default: the pipeline's default guidance)")
    ap.add_argument("--cfg-rescale", type=float, default=0.7)
    ap.add_argument("--contact-steps", type=int, default=0,
                    help="with --cfg: contact guidance steps after it (0: none; the default guidance has 50)")
    ap.add_argument("--plant-root", choices=("on", "off", "both"), default="on",
                    help="the cleanup's plant_root step; both: each model twice, from the same samples")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from humo.cli.generate import load_model, resolve_model
    from humo.guidance import ClassifierFreeGuidance, ContactGuidance

    guidance = None if args.cfg is None else ([] if args.cfg == 1.0 else
                                              [ClassifierFreeGuidance(args.cfg, rescale=args.cfg_rescale)])
    if guidance is not None and args.contact_steps:
        guidance.append(ContactGuidance(steps=args.contact_steps))

    dataset = corpus_test_set(args.corpus)
    items = _Items(dataset, args.seed)
    labels = json.loads((args.corpus / "labels.json").read_text())
    actions = [labels.get(it["id"], {}).get("action") or "unlabelled" for it in items.items]
    texts = [it["text"] for it in items.items]
    ev = load_evaluator(args.evaluator).eval()
    from humo.pipelines.plausibility import KinematicsRecorder, caption_classes, plausibility_report, real_statistics

    real_kin, classes_of = real_statistics(args.corpus), caption_classes(dataset)
    kinematics: dict = {}
    with torch.no_grad():
        text_emb = ev.embed_text(texts)
        columns = {"real": hits(text_emb, embed_joints(ev, [it["joints"].float() for it in items.items]),
                                args.k, args.shuffles, args.seed)}
        for spec in args.models:
            name, folder = spec.split("=", 1)
            # bundled (CoAMD), motionduet (the bundled MotionDuet) or a CoAMD / MotionDuet folder
            pipe = load_model(*resolve_model("coamd" if folder == "bundled" else folder), "cpu", args.threads)
            for variant in (("on", "off") if args.plant_root == "both" else (args.plant_root,)):
                pipe.cleanup.plant_root = variant == "on"
                motions = pipe.generate(texts, frames=[int(it["length"]) for it in items.items], seed=args.seed,
                                        guidance=guidance)
                label = name if args.plant_root != "both" else f"{name} plant_root {variant}"
                recorder = KinematicsRecorder(classes_of)
                recorder(texts, motions)
                kinematics[label] = plausibility_report(recorder.statistics(), real_kin)["overall"]
                columns[label] = hits(text_emb, embed_joints(ev, [m.joints for m in motions]), args.k,
                                      args.shuffles, args.seed)
    classes = sorted(set(actions))
    table = {c: {"n": actions.count(c)} | {name: float(h[[a == c for a in actions]].mean()) for name, h in
                                           columns.items()} for c in classes}
    overall = {name: float(h.mean()) for name, h in columns.items()}
    names = list(columns)
    lines = ["| class | n | " + " | ".join(f"{n} R@{args.k}" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    lines += [f"| {c} | {row['n']} | " + " | ".join(f"{row[n]:.2f}" for n in names) + " |"
              for c, row in table.items()]
    lines.append(f"| **all** | {len(actions)} | " + " | ".join(f"**{overall[n]:.3f}**" for n in names) + " |")
    share = {n: sum(row[n] >= 0.8 for row in table.values()) / len(table) for n in names}
    lines.append(f"| classes >= 0.80 | {len(table)} | " + " | ".join(f"{share[n]:.0%}" for n in names) + " |")
    print("\n".join(lines))
    for label, overall_kin in kinematics.items():
        print(f"{label}: share inside the real 5-95% range of the class: " +
              ", ".join(f"{k} {v:.2f}" for k, v in overall_kin.items() if isinstance(v, float)))
    if args.out:
        args.out.write_text(json.dumps({"k": args.k, "shuffles": args.shuffles, "per_class": table,
                                        "overall": overall, "share_classes_at_0.8": share,
                                        "kinematics": kinematics}, indent=1))


if __name__ == "__main__":
    main()
