"""MotionDuet acceptance grid on a corpus: training conditions x sampling guidance, one protocol run each.

Training (one shared VAE, then one latent denoiser per condition, all from the same seed and caches):

* ``text``        text-only model (``video_dim = 0``), DASH off;
* ``video``       text + rendered-video model, DASH lambda 0;
* ``video_dash``  text + rendered-video model, DASH lambda ``--dash-lambda`` (0.1).

Sampling (DDIM ``--ddim-steps``): ``cfg`` (classifier-free guidance ``--cfg``, 7.5 = MLD),
``ag_dropout`` (auto-guidance, 5 % dropout of the fused condition, w = 1.25) and ``ag_noise``
(auto-guidance, Gaussian noise of std ``--ag-noise`` on the fused condition, w = 1.25); ``none`` (the
conditional prediction alone) on request with ``--guidance``. Video models are
evaluated in text-only mode (V = 0) and with a reference video: the rendered stick-figure clip of a test
segment carrying the same caption (for captions shared by several segments, the first one: ``video``
rows), the clip of *another* segment of the same action (``other-clip`` rows: a reference of the action,
not of this motion); with ``--mismatch`` also with a clip of another action (``mismatch`` rows).

Each row is :func:`humo.metrics.protocol.evaluate` against the test split with a contrastive evaluator
(``--evaluator`` folder, else one is trained here for ``--evaluator-steps``). Writes ``OUT/ablation.json``
and ``OUT/ablation.md``; ``--eval-only`` trains nothing and adds rows (e.g. ``--guidance none``) to them.

    python scripts/motionduet_ablation.py corpora/bandai-namco runs/md-ablation --preset small \
        --vae-steps 3000 --steps 3000 --device cuda --replications 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from humo.guidance import AutoGuidance, ClassifierFreeGuidance
from humo.metrics.protocol import evaluate, to_markdown

VARIANTS = {"text": dict(use_video=False, dash=False), "video": dict(use_video=True, dash=False),
            "video_dash": dict(use_video=True, dash=True)}


class MemoTextEncoder:
    """Caption -> sentence embedding memo over a frozen ``TextEncoder`` (loaded only on a miss), kept in
    a safetensors file so that later runs (or another machine) need not load the encoder at all."""

    def __init__(self, path: Path, name: str = "minilm"):
        from safetensors import safe_open

        self.path, self.name, self._inner, self.memo = Path(path), name, None, {}
        if self.path.is_file():
            with safe_open(str(self.path), "pt") as f:
                texts = json.loads(f.metadata()["texts"])
                emb = f.get_tensor("emb")
            self.memo = dict(zip(texts, emb.float(), strict=True))

    @property
    def dim(self) -> int:
        return int(next(iter(self.memo.values())).shape[0]) if self.memo else self.inner.dim

    @property
    def inner(self):
        if self._inner is None:
            from humo.models.text_encoder import TextEncoder

            self._inner = TextEncoder(self.name)
        return self._inner

    def encode(self, texts, batch_size: int = 256) -> torch.Tensor:
        from safetensors.torch import save_file

        texts = [texts] if isinstance(texts, str) else list(texts)
        missing = sorted({t for t in texts if t not in self.memo})
        if missing:
            emb = self.inner.encode(missing, batch_size=batch_size).float().cpu()
            self.memo.update(zip(missing, emb, strict=True))
            keys = list(self.memo)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_file({"emb": torch.stack([self.memo[k] for k in keys]).contiguous()}, str(self.path),
                      metadata={"texts": json.dumps(keys)})
        return torch.stack([self.memo[t] for t in texts])


def all_captions(corpus: Path) -> list[str]:
    from humo.data.captions import parse_caption_line

    out = set()
    for path in (corpus / "texts").glob("*.txt"):
        out.update(parse_caption_line(line) for line in path.read_text().splitlines() if line.strip())
    return sorted(out)


def guidances(cfg: float, ag_noise: float) -> dict:
    """Sampling settings by name: a list of guidance objects each (``none``: the conditional prediction)."""
    return {"cfg": [ClassifierFreeGuidance(cfg)],
            "ag_dropout": [AutoGuidance(mode="dropout", strength=0.05, scale=1.25)],
            "ag_noise": [AutoGuidance(mode="noise", strength=ag_noise, scale=1.25)],
            "none": []}


def guidance_of(name: str, cfg: float, ag_noise: float) -> list:
    """A name of :func:`guidances`, or a spec for a sweep: ``cfg:S`` (CFG scale S), ``cfgv:S:V`` (CFG S on the
    text, V on the video: three passes) or ``ag:MODE:STRENGTH:W`` (auto-guidance, e.g. ``ag:dropout:0.3:2``)."""
    named = guidances(cfg, ag_noise)
    if name in named:
        return named[name]
    parts = name.split(":")
    try:
        if parts[0] == "cfg" and len(parts) == 2:
            return [ClassifierFreeGuidance(float(parts[1]))]
        if parts[0] == "cfgv" and len(parts) == 3:  # text weight S, the video's own weight V
            return [ClassifierFreeGuidance(float(parts[1]), video_scale=float(parts[2]))]
        if parts[0] == "ag" and len(parts) == 4:
            return [AutoGuidance(mode=parts[1], strength=float(parts[2]), scale=float(parts[3]))]
    except ValueError as e:
        raise SystemExit(f"--guidance {name}: {e}") from None
    raise SystemExit(f"--guidance {name}: not one of {sorted(named)}, cfg:S, cfgv:S:V or ag:MODE:STRENGTH:W")


def reference_videos(dataset, encoder, device, actions: dict[str, str] | None = None
                     ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(matched, mismatched, same_action)``: caption -> video features ``(Lv, D)`` of the first test
    segment carrying it; of a segment of another action (the next caption, in sorted order, whose segment
    has another action label in ``actions``, segment id -> action; without labels, another caption); and of
    *another* segment of the same action (the next such caption from a different segment; the caption's
    own segment where its action has no other)."""
    out: dict[str, torch.Tensor] = {}
    action_of: dict[str, str] = {}
    segment_of: dict[str, str] = {}
    for i in range(len(dataset)):
        item = dataset[i]
        if all(t in out for t in item["texts"]):
            continue
        feats = encoder.encode_motion(item["joints"].unsqueeze(0).to(device))[0].cpu()
        for t in item["texts"]:
            if t not in out:
                out[t] = feats
                segment_of[t] = str(item["id"])
                action_of[t] = (actions or {}).get(str(item["id"]).split("#")[0], t)
    captions = sorted(out)

    def next_caption(k: int, accept) -> str | None:
        for j in range(1, len(captions)):
            u = captions[(k + j) % len(captions)]
            if accept(u):
                return u
        return None

    other: dict[str, torch.Tensor] = {}
    same: dict[str, torch.Tensor] = {}
    for k, t in enumerate(captions):
        u = next_caption(k, lambda u, t=t: action_of[u] != action_of[t])
        other[t] = out[u if u is not None else t]  # a single action: nothing to mismatch with
        u = next_caption(k, lambda u, t=t: action_of[u] == action_of[t] and segment_of[u] != segment_of[t])
        same[t] = out[u if u is not None else t]
    return out, other, same


def run(args) -> dict:
    from humo.data.datasets import TextMotionDataset
    from humo.models.evaluators import load_evaluator
    from humo.models.motionduet.video import load_video_encoder
    from humo.pipelines.motionduet import MotionDuet
    from humo.training.common import pick_device
    from humo.training.motionduet import train_motionduet

    corpus, out = Path(args.corpus), Path(args.out)
    for gname in args.guidance:  # a bad spec stops the run before any training
        guidance_of(gname, args.cfg, args.ag_noise)
    dev = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    text = MemoTextEncoder(out / "text_memo.safetensors")
    t0 = time.perf_counter()
    text.encode(all_captions(corpus))
    timing = {"text_embeddings": time.perf_counter() - t0}
    common = dict(preset=args.preset, batch_size=args.batch_size, lr=args.lr, device=args.device,
                  seed=args.seed, text_encoder=text, cache_dir=out / "cache", max_items=args.max_items,
                  progress=args.progress, checkpoint_every=max(args.steps, args.vae_steps),
                  log_every=max(1, args.steps // 10),
                  model_kwargs={"latent_tokens": args.latent_tokens} if args.latent_tokens else None)
    if args.eval_only:  # add rows to an earlier run's report (or a new one), with trained models
        earlier = out / "ablation.json"
        report = (json.loads(earlier.read_text()) if earlier.is_file()
                  else {"settings": vars(args), "vae": {}, "train": {}, "rows": {}, "timing": {}})
        report.setdefault("eval_only_runs", []).append(vars(args))
        timing = {**report.pop("timing"), **timing}
        models = {name: out / name / "final" for name in args.variants}
        models.update({k: Path(v) for k, v in (spec.split("=", 1) for spec in args.extra)})  # other models, by name
        missing = [str(f) for f in models.values() if not f.is_dir()]
        if missing:
            raise FileNotFoundError(f"--eval-only needs the trained models: {', '.join(missing)} not found")
    elif args.vae_from:  # a VAE trained before (e.g. by a sweep): reuse it
        vae_dir = Path(args.vae_from)
        report = {"settings": vars(args), "vae": {"from": str(vae_dir)}, "train": {}, "rows": {}}
        models = {}
    else:
        t0 = time.perf_counter()
        vae = train_motionduet(corpus, out / "shared_vae", stage="vae", steps=args.vae_steps, use_video=False,
                               dash_lambda=0.0, **common)
        timing["vae"] = time.perf_counter() - t0
        vae_dir = vae.final_dir
        report = {"settings": vars(args), "vae": vae.metrics.get("vae", {}), "train": {}, "rows": {}}
        models = {}
    for name in [] if args.eval_only else args.variants:
        spec = VARIANTS[name]
        t0 = time.perf_counter()
        dash = args.dash_lambda if spec["dash"] else 0.0
        r = train_motionduet(corpus, out / name, stage="denoiser", steps=args.steps,
                             use_video=spec["use_video"], dash_lambda=dash, vae_from=vae_dir,
                             video_encoder=args.video_encoder, **common)
        timing[f"train_{name}"] = time.perf_counter() - t0
        report["train"][name] = r.metrics.get("denoiser", {})
        models[name] = r.final_dir

    if args.evaluator:
        evaluator = load_evaluator(args.evaluator)
    else:
        from humo.training.evaluator import train_evaluator

        t0 = time.perf_counter()
        train_ds = TextMotionDataset(corpus, "train", generator=torch.Generator().manual_seed(args.seed))
        mean, std = (torch.from_numpy(np.load(corpus / f)) for f in ("Mean.npy", "Std.npy"))
        evaluator = train_evaluator(train_ds, out / "evaluator", steps=args.evaluator_steps, batch_size=64,
                                    device=args.device, seed=args.seed, preset=args.evaluator_preset,
                                    text_encoder=text,
                                    mean=mean, std=std, progress=args.progress).model
        timing["evaluator"] = time.perf_counter() - t0
    evaluator.text_encoder = text
    evaluator = evaluator.to(dev).eval()
    def test_set():
        """The test split with its caption draws seeded afresh: every row sees the same captions (one
        dataset shared by all rows gave each later row other draws: real R@1 0.763 vs 0.790)."""
        test = TextMotionDataset(corpus, "test", random_crop=False,
                                 generator=torch.Generator().manual_seed(args.seed))
        if args.test_items and args.test_items < len(test):
            keep = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))
            test = torch.utils.data.Subset(test, keep[: args.test_items].tolist())
        return test

    test = test_set()
    labels = corpus / "labels.json"
    actions = ({k: v.get("action") for k, v in json.loads(labels.read_text()).items()} if labels.is_file()
               else None)
    videos, mismatched, same_action = reference_videos(test, load_video_encoder(args.video_encoder).to(dev), dev,
                                                       actions)
    eval_kw = dict(replications=args.replications, seed=args.seed, mm_prompts=args.mm_prompts,
                   mm_repeats=args.mm_repeats, mm_times=min(10, args.mm_repeats), diversity_times=None,
                   progress=args.progress,
                   clip_evaluator=evaluator)
    for name, folder in models.items():
        pipe = MotionDuet.from_pretrained(folder, text_encoder=text).to(dev)
        modes = ((["text", "video", "other-clip"] + (["mismatch"] if args.mismatch else []))
                 if pipe.model.video_dim else ["text"])
        modes = [m for m in modes if args.modes is None or m in args.modes]
        for mode in modes:
            for gname in args.guidance:
                guide = guidance_of(gname, args.cfg, args.ag_noise)
                counter = [0]

                def generate_fn(texts, lengths, pipe=pipe, mode=mode, guide=guide, counter=counter):
                    seeds = list(range(counter[0], counter[0] + len(texts)))
                    counter[0] += len(texts)
                    table = {"video": videos, "mismatch": mismatched, "other-clip": same_action}.get(mode)
                    video = None if table is None else [table[t] for t in texts]
                    return pipe.generate_features(texts, lengths, video=video, seeds=seeds,
                                                  steps=args.ddim_steps, guidance=guide, batch_size=256)

                t0 = time.perf_counter()
                res = evaluate(generate_fn, test_set(), evaluator, **eval_kw)
                key = f"{name}/{mode}/{gname}"
                report["rows"][key] = res["generated"]
                report["real"] = res["real"]
                timing[f"eval_{key}"] = time.perf_counter() - t0
                print(key, {m: round(v["mean"], 3) for m, v in res["generated"].items()}, flush=True)
                write_report(out, report, timing, dev)  # after every row: a cut-off run keeps what it did
    print(write_report(out, report, timing, dev))
    return report


def write_report(out: Path, report: dict, timing: dict, dev) -> str:
    report["timing"], report["device"] = timing, str(dev)
    if torch.cuda.is_available() and dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
    (out / "ablation.json").write_text(json.dumps(report, indent=2))
    table = to_markdown({"real": report["real"], **report["rows"]})
    (out / "ablation.md").write_text(table + "\n")
    return table


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus")
    p.add_argument("out")
    p.add_argument("--preset", default="small")
    p.add_argument("--vae-steps", type=int, default=3000)
    p.add_argument("--steps", type=int, default=3000, help="denoiser steps per variant")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--dash-lambda", type=float, default=0.1)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--video-encoder", default="stick", help="stick, a LearnedVideoEncoder folder or a VideoMAE one")
    p.add_argument("--latent-tokens", type=int, default=None, help="VAE latent tokens (default: the preset's)")
    p.add_argument("--vae-from", default=None, help="a trained MotionDuet VAE folder (skips the VAE stage)")
    p.add_argument("--extra", nargs="+", default=[], metavar="NAME=FOLDER",
                   help="with --eval-only: also evaluate these trained MotionDuet folders under NAME")
    p.add_argument("--modes", nargs="+", default=None, choices=["text", "video", "other-clip", "mismatch"],
                   help="test inputs to evaluate (default: all the model takes)")
    p.add_argument("--mismatch", action="store_true",
                   help="video models also get a mismatched reference video (a segment of another action)")
    p.add_argument("--evaluator", default=None, help="bundled or an evaluator folder (default: train one here)")
    p.add_argument("--evaluator-steps", type=int, default=2000)
    p.add_argument("--evaluator-preset", default="small")
    p.add_argument("--cfg", type=float, default=7.5)
    p.add_argument("--ag-noise", type=float, default=0.1)
    p.add_argument("--guidance", nargs="+", default=["cfg", "ag_dropout", "ag_noise"],
                   help="sampling settings to evaluate: cfg, ag_dropout, ag_noise, none, or sweep specs cfg:S and "
                        "ag:MODE:STRENGTH:W (e.g. ag:dropout:0.3:2)")
    p.add_argument("--eval-only", action="store_true",
                   help="train nothing: evaluate OUT's trained variants and add the rows to OUT/ablation.json")
    p.add_argument("--ddim-steps", type=int, default=50)
    p.add_argument("--replications", type=int, default=5)
    p.add_argument("--mm-prompts", type=int, default=32)
    p.add_argument("--mm-repeats", type=int, default=10)
    p.add_argument("--test-items", type=int, default=None, help="evaluate on a random test subset")
    p.add_argument("--max-items", type=int, default=None, help="train on at most this many segments")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--progress", action="store_true")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    main()
