"""CoAMD generation latency: one motion of ``--seconds`` at batch 1 and at batch ``--batch``.

    python benchmarks/bench_coamd.py [--model runs/coamd-small] [--seconds 4] [--batch 32] [--device cpu]
        [--steps 18] [--flow-steps 8] [--solver heun] [--cfg 3] [--cfg-rescale 0.7] [--recognizer-scale 1]
        [--contact-steps 50] [--repeats 3] [--threads N]

Reports seconds per call (best of ``--repeats`` after a warm-up), seconds per motion (AITS-style) and
poses per second (frames generated / second). Text embeddings are computed once beforehand (the
frozen encoder is not part of the measured sampling); ``--with-text`` includes it.

In the same run, the straightforward flow solve (embedded below: the flow head's full forward at every
ODE step, as a per-call ``velocity(z, t, h)`` does: time and context embeddings and every adaLN
modulation recomputed per call) is timed on the same pipeline, prompts and seeds; the table prints the
ratio and the largest joint difference between the two (float rounding only). The last column repeats
the straightforward solve at the previous default ODE (``--baseline``, Euler with 32 steps): the
before/after of one ``generate`` call with default settings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humo.models.text_encoder import CachedTextEncoder  # noqa: E402
from humo.pipelines.coamd import CoAMD  # noqa: E402


class StraightforwardFlow:
    """The per-call flow solve: ``velocity_at(z, cond, i)`` = ``head(z, t_i, h)``, everything recomputed."""

    def __init__(self, coamd):
        self.coamd = coamd

    def flow_condition(self, times, h):
        return times, h

    def velocity_at(self, z, cond, i):
        times, h = cond
        return self.coamd.velocity(z, times[i].expand(z.shape[0]), h)


def use_flow(pipe, straightforward: bool) -> None:
    for name in ("flow_condition", "velocity_at"):
        if straightforward:
            setattr(pipe.transformer, name, getattr(StraightforwardFlow(pipe.transformer), name))
        else:
            pipe.transformer.__dict__.pop(name, None)


PROMPTS = ["a person walks forward", "a person waves with the right hand", "someone jumps in place",
           "a person turns around and sits down"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, type=Path, help="pipeline folder (default: the bundled model)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=18)
    ap.add_argument("--flow-steps", type=int, default=8)
    ap.add_argument("--solver", default="heun")
    ap.add_argument("--baseline", default="euler:32", help="solver:steps of the straightforward last column")
    ap.add_argument("--cfg", type=float, default=CoAMD.DEFAULT_CFG, help="the generation default")
    ap.add_argument("--cfg-rescale", type=float, default=CoAMD.DEFAULT_CFG_RESCALE, help="the generation default")
    ap.add_argument("--recognizer-scale", type=float, default=CoAMD.DEFAULT_RECOGNIZER_SCALE,
                    help="recognizer guidance (the generation default where the model has a recognizer; 0: off)")
    ap.add_argument("--contact-steps", type=int, default=CoAMD.DEFAULT_CONTACT_STEPS,
                    help="contact guidance steps (the generation default; 0: off)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--with-text", action="store_true", help="include the text encoder in the timing")
    ap.add_argument("--text-cache", type=Path, default=None,
                    help="caption embeddings (CachedTextEncoder file) for a machine without the encoder weights")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = CoAMD.from_pretrained(args.model).to(args.device)
    texts = [PROMPTS[i % len(PROMPTS)] for i in range(args.batch)]
    if args.text_cache is not None:
        pipe.text_encoder = CachedTextEncoder.load(str(args.text_cache))
    elif not args.with_text:
        pipe.text_encoder = CachedTextEncoder.build(texts, pipe.text_encoder)
    if pipe.recognizer is not None:
        pipe.recognizer.text_encoder = pipe.text_encoder  # the cached prompts serve both
    guidance = pipe.default_guidance(cfg=args.cfg, rescale=args.cfg_rescale,
                                     recognizer_scale=args.recognizer_scale if pipe.recognizer is not None else 0,
                                     contact_steps=args.contact_steps)
    print(f"model {args.model}, device {args.device}, threads {torch.get_num_threads()}, {args.seconds:g} s, "
          f"steps {args.steps}, flow steps {args.flow_steps} ({args.solver}), "
          f"cfg {args.cfg:g} rescale {args.cfg_rescale:g}, recognizer {args.recognizer_scale:g}, "
          f"contact steps {args.contact_steps}")
    base_solver, base_steps = args.baseline.split(":")
    print(f"| batch | humo s/call | s/motion | poses/s | straightforward s/call | ratio | max joint diff m | "
          f"straightforward {args.baseline} s/call | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in (1, args.batch):
        def run(batch=batch, solver=args.solver, flow_steps=args.flow_steps):
            t0 = time.perf_counter()
            ms = pipe.generate(texts[:batch], seconds=args.seconds, seed=0, steps=args.steps,
                               flow_steps=flow_steps, solver=solver, guidance=guidance, batch_size=batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t0, ms

        results = {}
        for name, straightforward, kw in (("humo", False, {}), ("same", True, {}),
                                          ("old", True, dict(solver=base_solver, flow_steps=int(base_steps)))):
            use_flow(pipe, straightforward)
            run(**kw)  # warm-up
            results[name] = min((run(**kw) for _ in range(args.repeats)), key=lambda r: r[0])
        use_flow(pipe, False)
        (best, ms), (same, ms_same), (old, _) = results["humo"], results["same"], results["old"]
        frames = sum(len(m) for m in ms)
        diff = max(float((a.joints - b.joints).abs().max()) for a, b in zip(ms, ms_same, strict=True))
        print(f"| {batch} | {best:.3f} | {best / batch:.4f} | {frames / best:.0f} | {same:.3f} | "
              f"{same / best:.2f}x | {diff:.1e} | {old:.3f} | {old / best:.2f}x |")

if __name__ == "__main__":
    main()
