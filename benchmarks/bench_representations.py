"""Clips per second for joints->features and features->joints: batched vs a per-clip loop.

    python benchmarks/bench_representations.py [--clips 256] [--frames 196] [--device cpu]

The per-clip loop calls the same humo functions one clip at a time (the reference code's pattern).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.representations.humanml3d import features_to_joints, joints_to_features  # noqa: E402
from tests.helpers import synthetic_joints  # noqa: E402


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--frames", type=int, default=196)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    joints = synthetic_joints(args.frames, batch=(args.clips,), dtype=torch.float32).to(device)
    feats = joints_to_features(joints)

    rows = []
    for name, fn, data in (("joints->features", joints_to_features, joints),
                           ("features->joints", features_to_joints, feats)):
        batched = timed(lambda fn=fn, data=data: fn(data), args.repeats, device)
        looped = timed(lambda fn=fn, data=data: [fn(c) for c in data], 1, device)
        rows.append((name, args.clips / batched, args.clips / looped, looped / batched))
    print(f"device={device} threads={torch.get_num_threads()} clips={args.clips} frames={args.frames}")
    print(f"{'function':<18} {'batched clips/s':>16} {'per-clip clips/s':>17} {'speed-up':>9}")
    for name, b, lp, ratio in rows:
        print(f"{name:<18} {b:>16.1f} {lp:>17.1f} {ratio:>8.1f}x")


if __name__ == "__main__":
    main()
