"""The prepared GPU job: train the larger models on a lent GPU machine and bring the weights back.

A lent GPU machine (``device`` tool) sees only the working tree (64 MiB with carried folders), has no
network and no MiniLM weights. So, here on the CPU machine::

    python scripts/device_train.py prep --corpus corpora/merged-bcm-h      # -> .devpack/ (~35 MB)

packs the corpus (:func:`humo.data.pack.pack_corpus`, then xz) and the sentence embeddings of every
caption it can meet in training (all splits, plus their left/right-swapped forms for mirroring, plus the
benchmark prompts) into ``.devpack/`` (git-ignored; carried). There, ``scripts/device_train.sh`` runs::

    python scripts/device_train.py unpack                  # corpus -> /tmp/corpus (features recomputed)
    python scripts/device_train.py coamd --preset medium ... &
    python scripts/device_train.py evaluator ... &
    python scripts/device_train.py motionduet ... &
    python scripts/device_train.py video_encoder ... &

Every job trains through the same library functions as ``humo train ...`` with a wall-clock budget
(``max_minutes``), using the embedding table instead of the text encoder
(:class:`humo.models.text_encoder.CachedTextEncoder`: an unknown caption is an error, never a silent
zero). The CPU path (``humo train ...``) stands on its own without any of this.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PACK = Path(".devpack")
CORPUS_XZ = PACK / "corpus.safetensors.xz"
CAPTIONS = PACK / "captions.safetensors"
BENCH_PROMPTS = ["a person walks forward", "a person waves with the right hand", "someone jumps in place",
                 "a person turns around and sits down", "a person runs"]


def _all_captions(corpus: Path) -> list[str]:
    from humo.data.captions import parse_caption_line, swap_left_right

    out: dict[str, None] = {}
    for f in sorted((corpus / "texts").glob("*.txt")):
        for line in f.read_text().splitlines():
            if line.strip():
                t = " ".join(parse_caption_line(line).split())
                out[t] = None
                out[" ".join(swap_left_right(t).split())] = None
    for t in BENCH_PROMPTS:
        out[t] = None
    return list(out)


def prep(args) -> None:
    from safetensors.torch import save_file

    from humo.data.pack import pack_corpus
    from humo.models.text_encoder import TextEncoder

    PACK.mkdir(exist_ok=True)
    raw = PACK / "corpus.safetensors"
    print(pack_corpus(args.corpus, raw, overwrite=True))
    with open(raw, "rb") as src, lzma.open(CORPUS_XZ, "wb", preset=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    raw.unlink()
    captions = _all_captions(Path(args.corpus))
    emb = TextEncoder("minilm").encode(captions).float()
    # float16 halves what travels; the table is read back as float32 (error ~1e-3 relative, far below
    # the differences between captions)
    save_file({"embeddings": emb.half().contiguous()}, str(CAPTIONS),
              metadata={"captions": json.dumps(captions), "encoder": "minilm"})
    sizes = {p.name: p.stat().st_size for p in PACK.iterdir()}
    print(f"{len(captions)} captions; {sizes}")


def _encoder():
    from humo.models.text_encoder import CachedTextEncoder

    return CachedTextEncoder.load(str(CAPTIONS))


def unpack(args) -> None:
    from humo.data.pack import unpack_corpus

    t0 = time.perf_counter()
    raw = Path("/tmp/corpus.safetensors")
    with lzma.open(CORPUS_XZ, "rb") as src, open(raw, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    unpack_corpus(raw, args.out, device="cpu", overwrite=True)
    print(f"unpacked to {args.out} in {time.perf_counter() - t0:.0f} s")


def autoencoder(args) -> None:
    """The autoencoder on every clip of 32 frames or more (``--min-window 32``: the bundled one skipped the
    clips under its 64-frame window, every kick and squat among them)."""
    from humo.training.autoencoder import train_autoencoder

    r = train_autoencoder(args.corpus, args.out, preset=args.preset, steps=args.steps, batch_size=args.batch_size,
                          window=64, min_window=args.min_window, lr=args.lr, device=args.device,
                          checkpoint_every=args.steps, val_every=max(args.steps // 4, 1), log_every=250,
                          progress=False)
    print(json.dumps(r.metrics, indent=1))


def coamd(args) -> None:
    from humo.training.coamd import train_coamd

    r = train_coamd(args.corpus, args.autoencoder, args.out, preset=args.preset, steps=args.steps,
                    batch_size=args.batch_size, lr=args.lr, device=args.device, max_minutes=args.minutes,
                    text_encoder=_encoder(), checkpoint_every=args.steps, log_every=250, progress=False,
                    mixed_precision=args.mixed_precision)
    print(json.dumps(r.metrics, indent=1))


def evaluator(args) -> None:
    from humo.data.datasets import TextMotionDataset
    from humo.data.stats import load_normalizer
    from humo.training.evaluator import train_evaluator

    ds = TextMotionDataset(args.corpus, "train", min_len=40, max_len=196, mirror=True, random_crop=True,
                           generator=torch.Generator().manual_seed(0))
    stats = load_normalizer(args.corpus)
    r = train_evaluator(ds, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, device=args.device,
                        preset=args.preset, mean=stats.mean, std=stats.std, text_encoder=_encoder(),
                        model_kwargs={"text_encoder": "minilm"}, save_every=args.steps, progress=False,
                        max_minutes=args.minutes)
    print(f"evaluator: {r.step} steps, last losses {r.losses[-3:] if r.losses else None}")


def motionduet(args) -> None:
    from humo.training.motionduet import train_motionduet

    overrides = json.loads(args.model_kwargs) if args.model_kwargs else None
    r = train_motionduet(args.corpus, args.out, preset=args.preset, stage=args.stage, steps=args.steps,
                         vae_steps=args.vae_steps, batch_size=args.batch_size, lr=args.lr, device=args.device,
                         use_video=False, dash_lambda=0.0, text_encoder=_encoder(), model_kwargs=overrides,
                         checkpoint_every=max(args.steps, args.vae_steps or 0), log_every=250, progress=False,
                         max_minutes=args.minutes)
    print(json.dumps(r.metrics, indent=1, default=str))


def video_encoder(args) -> None:
    from humo.training.motionduet import build_cache
    from humo.training.video_encoder import train_video_encoder, video_text_retrieval

    r = train_video_encoder(args.corpus, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                            text_encoder=_encoder(), device=args.device, max_minutes=args.minutes,
                            checkpoint_every=args.steps, log_every=250, progress=False)
    test = build_cache(args.corpus, "test", _encoder(), None, Path(args.out) / "cache")
    print(json.dumps({"steps": r.step, "seconds": r.seconds, "test": video_text_retrieval(r.model.cpu(), test)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="job", required=True)
    p = sub.add_parser("prep")
    p.add_argument("--corpus", type=Path, required=True)
    p = sub.add_parser("unpack")
    p.add_argument("--out", type=Path, default=Path("/tmp/corpus"))
    for name, default_lr in (("autoencoder", 1e-3), ("coamd", 4e-4), ("evaluator", 2e-4), ("motionduet", 2e-4),
                             ("video_encoder", 1e-3)):
        p = sub.add_parser(name)
        p.add_argument("--corpus", type=Path, default=Path("/tmp/corpus"))
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--preset", default="small")
        p.add_argument("--steps", type=int, default=10_000)
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--lr", type=float, default=default_lr)
        p.add_argument("--minutes", type=float, default=6.0)
        p.add_argument("--device", default="cuda")
        if name == "autoencoder":
            p.add_argument("--min-window", type=int, default=32)
        if name == "coamd":
            p.add_argument("--autoencoder", type=Path, default=Path("humo/assets/coamd-merged-medium/autoencoder"))
            p.add_argument("--mixed-precision", default=None)
        if name == "motionduet":
            p.add_argument("--stage", default="both")
            p.add_argument("--vae-steps", type=int, default=None)
            p.add_argument("--model-kwargs", default=None, help="JSON overrides of the preset")
    args = ap.parse_args()
    {"prep": prep, "unpack": unpack, "autoencoder": autoencoder, "coamd": coamd, "evaluator": evaluator,
     "motionduet": motionduet, "video_encoder": video_encoder}[args.job](args)


if __name__ == "__main__":
    main()
