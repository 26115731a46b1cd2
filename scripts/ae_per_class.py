"""Autoencoder reconstruction per action class: MPJPE and the worst joint error, for one or more autoencoders.

Whole clips of a split (cut to a multiple of 4 frames), as :func:`humo.training.autoencoder.evaluate_autoencoder`,
grouped by the clip's action (``labels.json``); also the highest the left and right feet reach in the real
clip and in its reconstruction (a high kick that comes back as a low one shows here).

    python scripts/ae_per_class.py corpora/merged-bcm-h bundled=bundled new=runs/ae-dec/final --out ae.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from humo.training.autoencoder import load_clips
from humo.training.motionduet_latents import load_autoencoder

FEET = (10, 11)  # SMPL-22 left and right foot


@torch.no_grad()
def per_class(ae, corpus: Path, split: str, min_frames: int) -> dict:
    labels = json.loads((corpus / "labels.json").read_text())
    ids, clips = load_clips(corpus, split)
    rows: dict[str, list] = defaultdict(list)
    for cid, clip in zip(ids, clips, strict=True):
        t = len(clip) - len(clip) % ae.downsample
        if t < max(min_frames, ae.downsample):
            continue
        x = torch.from_numpy(clip[:t])[None]  # (1, T, 22, 3)
        pred = ae.decode(ae.encode(x))
        err = (pred - x).norm(dim=-1)[0]  # (T, 22)
        feet = x[0, :, FEET, 1].amax(0).max(), pred[0, :, FEET, 1].amax(0).max()
        rows[(labels.get(cid) or {}).get("action") or "(none)"].append(
            (float(err.mean()), float(err.max()), float(feet[0]), float(feet[1]), t))
    out = {}
    for action, r in sorted(rows.items()):
        frames = sum(x[4] for x in r)
        out[action] = {"clips": len(r), "mpjpe_mm": 1000 * sum(x[0] * x[4] for x in r) / frames,
                       "max_error_mm": 1000 * sum(x[1] for x in r) / len(r),
                       "highest_foot_real_m": sum(x[2] for x in r) / len(r),
                       "highest_foot_rec_m": sum(x[3] for x in r) / len(r)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("models", nargs="+", help="name=folder (an autoencoder, a CoAMD pipeline, or 'bundled')")
    ap.add_argument("--split", default="test")
    ap.add_argument("--min-frames", type=int, default=4, help="skip clips shorter than this")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    results = {}
    for spec in a.models:
        name, _, where = spec.partition("=")
        results[name] = per_class(load_autoencoder(where or name), a.corpus, a.split, a.min_frames)
    names = list(results)
    actions = sorted({k for r in results.values() for k in r})
    print("| action | clips | " + " | ".join(f"{n} MPJPE mm / worst mm / highest foot m" for n in names)
          + " | real highest foot m |")
    print("|---|---:|" + "---|" * len(names) + "---:|")
    for act in actions:
        cells = [results[n].get(act) for n in names]
        first = next(c for c in cells if c)
        print(f"| {act} | {first['clips']} | " + " | ".join(
            f"{c['mpjpe_mm']:.1f} / {c['max_error_mm']:.0f} / {c['highest_foot_rec_m']:.2f}" if c else "-"
            for c in cells) + f" | {first['highest_foot_real_m']:.2f} |")
    for n in names:
        r = results[n]
        frames = {a: r[a]["clips"] for a in r}
        print(f"{n}: mean over classes {sum(v['mpjpe_mm'] for v in r.values()) / len(r):.1f} mm "
              f"({len(frames)} classes)")
    if a.out:
        a.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
