"""Text->motion retrieval with held-out caption phrasings, and per-class action top-1, for recognizers.

Queries are phrasings of each test clip's action drawn from the caption grammar's *held-out* part
(:mod:`humo.data.phrasings`: templates, verb phrases, subjects and places no train caption uses), and for
comparison from its train part ("seen"). Three draws per clip, averaged. Metrics per query set, over the
whole test split and per source (Bandai Namco + CMU / HDM05):

* ``R@k``: the recognizer's own protocol (shuffled batches of 32, each text ranks the batch's motions);
* ``class@1``: over the whole subset as gallery, whether the top-ranked motion has the query's action;
* per-class ``top1``: argmax over the model's class prompts vs the clip's action (motion -> class).

    python scripts/eval_heldout_phrasings.py corpora/merged \\
        bundled=humo/assets/coamd-merged-medium/recognizer retrained=runs/recognizer/final --out r.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from humo.data.captions import has_phrasing, make_captions
from humo.metrics.functional import r_precision
from humo.models.recognizer import ActionRecognizer
from humo.models.text_encoder import offline_env
from humo.training.recognizer import scan_split

KS = (1, 3, 5)


def queries(items: list[dict], labels: dict, held_out: bool, draw: int) -> list[str]:
    kind = "heldout" if held_out else "seen"
    return [make_captions(labels[it["id"]]["action"], labels[it["id"]]["style"],
                          random.Random(f"{kind}:{draw}:{it['id']}"), n=1, test=held_out)[0] for it in items]


@torch.no_grad()
def evaluate(model: ActionRecognizer, items: list[dict], labels: dict, subsets: dict[str, list[int]],
             draws: int, seed: int) -> dict:
    motion = F.normalize(model.embed_clips([it["joints"].float() for it in items]).fused, dim=-1)
    actions = [labels[it["id"]]["action"] for it in items]
    out: dict = {}
    for held_out in (True, False):
        for name, idx in subsets.items():
            acc = {f"R@{k}": 0.0 for k in KS} | {"class@1": 0.0}
            for d in range(draws):
                texts = queries([items[i] for i in idx], labels, held_out, d)
                text = F.normalize(model.embed_text(texts), dim=-1)
                m = motion[idx]
                r = r_precision(text, m, top_k=max(KS), batch_size=min(32, len(idx)),
                                generator=torch.Generator().manual_seed(seed + d))
                for k in KS:
                    acc[f"R@{k}"] += float(r[k - 1]) / draws
                top = (text @ m.T).argmax(-1).tolist()
                acc["class@1"] += sum(actions[idx[t]] == actions[i] for t, i in zip(top, idx, strict=True)) \
                    / len(idx) / draws
            out[f"{'heldout' if held_out else 'seen'}/{name}"] = {k: round(v, 4) for k, v in acc.items()}
    classes = F.normalize(model.class_text(), dim=-1)
    pred = [model.class_names[p] for p in (motion @ classes.T).argmax(-1).tolist()]
    per_class: dict[str, list[int]] = {}
    for a, p in zip(actions, pred, strict=True):
        per_class.setdefault(a, [0, 0])
        per_class[a][0] += a == p
        per_class[a][1] += 1
    out["per_class_top1"] = {a: {"top1": round(h / n, 4) if a in model.class_names else None, "n": n}
                             for a, (h, n) in sorted(per_class.items())}
    known = [a in model.class_names for a in actions]
    out["top1_all"] = round(sum(a == p for a, p in zip(actions, pred, strict=True)) / len(actions), 4)
    out["top1_known_classes"] = round(sum(a == p for a, p, k in zip(actions, pred, known, strict=True) if k)
                                      / max(1, sum(known)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("models", nargs="+", help="name=folder of a saved ActionRecognizer")
    parser.add_argument("--split", default="test")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-len", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    offline_env()
    labels = json.loads((args.corpus / "labels.json").read_text())
    items = [it for it in scan_split(args.corpus, args.split, args.min_len)
             if has_phrasing(labels.get(it["id"], {}).get("action"))]
    source = [str(labels[it["id"]].get("source")) for it in items]
    subsets = {"all": list(range(len(items))),
               "bandai+cmu": [i for i, s in enumerate(source) if not s.startswith("hdm05")],
               "hdm05": [i for i, s in enumerate(source) if s.startswith("hdm05")]}
    subsets = {k: v for k, v in subsets.items() if len(v) >= 2}
    results = {"corpus": str(args.corpus), "split": args.split, "clips": {k: len(v) for k, v in subsets.items()},
               "draws": args.draws, "models": {}}
    for spec in args.models:
        name, _, folder = spec.partition("=")
        model = ActionRecognizer.from_pretrained(folder).eval()
        results["models"][name] = {"folder": folder, **evaluate(model, items, labels, subsets, args.draws,
                                                                  args.seed)}
        print(name, json.dumps({k: v for k, v in results["models"][name].items() if k != "per_class_top1"}))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
