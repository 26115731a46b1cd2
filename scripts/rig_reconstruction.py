"""Reconstruction MPJPE of the bundled autoencoder on a corpus split: raw decoder vs decoder + rig fit.

For every clip (40..196 frames; the first multiple of 4 frames): encode, decode, and compare with the real
joints (MPJPE, mm, root-relative and absolute) as decoded, after the fixed-skeleton fit (closed form and
2 Gauss-Newton iterations) and after the whole cleanup (fit + floor + foot lock); also the mean joint
change the fit makes to the decoder output.

    python scripts/rig_reconstruction.py corpora/bandai-namco --split test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from humo.pipelines.coamd import CoAMD
from humo.representations.rig import fit_rig


def mpjpe(a: torch.Tensor, b: torch.Tensor, relative: bool) -> float:
    if relative:
        a, b = a - a[..., :1, :], b - b[..., :1, :]
    return float((a - b).norm(dim=-1).mean()) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pipe = CoAMD.from_pretrained()
    ae, cleanup = pipe.autoencoder, pipe.cleanup
    ids = (args.corpus / f"{args.split}.txt").read_text().split()
    rows = {k: [] for k in ("raw", "rig", "rig_gn2", "cleanup", "change_rig", "change_gn2")}
    n = 0
    for cid in ids[: args.limit or None]:
        x = torch.from_numpy(np.load(args.corpus / "new_joints" / f"{cid}.npy")).float()
        t = min(x.shape[0], 196) // 4 * 4
        if t < 40:
            continue
        x = x[None, :t]
        with torch.no_grad():
            dec = ae(x).joints  # (1, T, 22, 3) in the input's frame
        rig = fit_rig(dec, cleanup.offsets)
        gn = fit_rig(dec, cleanup.offsets, steps=2)
        full = cleanup(dec)
        full = full + (dec[..., 1].amin() - full[..., 1].amin())  # undo the grounding shift for the comparison
        for key, y in (("raw", dec), ("rig", rig), ("rig_gn2", gn), ("cleanup", full)):
            rows[key].append((mpjpe(y, x, False), mpjpe(y, x, True)))
        rows["change_rig"].append((mpjpe(rig, dec, False), 0.0))
        rows["change_gn2"].append((mpjpe(gn, dec, False), 0.0))
        n += 1
    out = {k: {"mpjpe_mm": float(np.mean([a for a, _ in v])), "root_relative_mm": float(np.mean([b for _, b in v]))}
           for k, v in rows.items()}
    print(json.dumps({"clips": n, **out}, indent=1))


if __name__ == "__main__":
    main()
