"""CoAMD generation latency: one motion of ``--seconds`` at batch 1 and at batch ``--batch``.

    python benchmarks/bench_coamd.py [--model runs/coamd-small] [--seconds 4] [--batch 32] [--device cpu]
        [--steps 18] [--flow-steps 32] [--cfg 4.5] [--repeats 3] [--threads N]

Reports seconds per call (best of ``--repeats`` after a warm-up), seconds per motion (AITS-style) and
poses per second (frames generated / second). Text embeddings are computed once beforehand (the
frozen encoder is not part of the measured sampling); ``--with-text`` includes it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.guidance import ClassifierFreeGuidance  # noqa: E402
from humo.models.text_encoder import CachedTextEncoder  # noqa: E402
from humo.pipelines.coamd import CoAMD  # noqa: E402

PROMPTS = ["a person walks forward", "a person waves with the right hand", "someone jumps in place",
           "a person turns around and sits down"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, type=Path, help="pipeline folder (default: the bundled model)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=18)
    ap.add_argument("--flow-steps", type=int, default=32)
    ap.add_argument("--cfg", type=float, default=4.5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--with-text", action="store_true", help="include the text encoder in the timing")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = CoAMD.from_pretrained(args.model).to(args.device)
    texts = [PROMPTS[i % len(PROMPTS)] for i in range(args.batch)]
    if not args.with_text:
        pipe.text_encoder = CachedTextEncoder.build(texts, pipe.text_encoder)
    guidance = [ClassifierFreeGuidance(args.cfg)]
    print(f"model {args.model}, device {args.device}, threads {torch.get_num_threads()}, {args.seconds:g} s, "
          f"steps {args.steps}, flow steps {args.flow_steps}, cfg {args.cfg:g}")
    for batch in (1, args.batch):
        def run(batch=batch):
            t0 = time.perf_counter()
            ms = pipe.generate(texts[:batch], seconds=args.seconds, seed=0, steps=args.steps,
                               flow_steps=args.flow_steps, guidance=guidance, batch_size=batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t0, sum(len(m) for m in ms)

        run()  # warm-up
        best, frames = min(run() for _ in range(args.repeats))
        print(f"batch {batch:3d}: {best:.3f} s per call, {best / batch:.4f} s per motion, "
              f"{frames / best:.0f} poses/s")


if __name__ == "__main__":
    main()
