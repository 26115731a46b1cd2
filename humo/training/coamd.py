"""Train CoAMD's masked autoregressive flow model on a frozen autoencoder's latents.

    result = train_coamd("corpora/bandai-namco", "runs/ae-small", "runs/coamd-small", preset="small")
    pipe = CoAMD.from_pretrained(result.final_dir)

Run folder::

    out_dir/cache/        encoded corpus + caption embeddings (:mod:`humo.training.coamd_data`)
    out_dir/checkpoint/   latest training state (atomic; ``resume`` continues from it)
    out_dir/final/        the pipeline (autoencoder/, coamd/ with the EMA weights, pipeline.json)
    out_dir/log.jsonl     one line per ``log_every`` steps;  out_dir/metrics.json  summary

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel, rank 0
builds the cache and writes checkpoints, and every rank draws its own batches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from humo.models.coamd import COAMD_PRESETS, CoAMDTransformer
from humo.training.coamd_data import build_latent_corpus
from humo.training.common import (
    EMA,
    load_checkpoint,
    lr_at,
    pick_device,
    save_checkpoint,
    save_final,
    seed_everything,
    setup_distributed,
)


@dataclass
class TrainResult:
    """What :func:`train_coamd` returns (``final_dir`` is None when stopped early with ``stop_at``)."""

    final_dir: Path | None
    steps: int
    seconds: float
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def resolve_autoencoder_dir(path: str | Path) -> Path:
    """Accept a run folder (uses ``final/``) or a ``save_pretrained`` folder."""
    path = Path(path)
    for cand in (path / "final", path, path / "autoencoder"):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            return cand
    raise FileNotFoundError(f"no autoencoder in {path} (expected config.json + model.safetensors, or final/)")


def _batch_generator(seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + rank * 7_919 + step) % 2**63)


def train_coamd(corpus_dir: str | Path, autoencoder_dir: str | Path, out_dir: str | Path,
                preset: str = "small", steps: int = 3000, batch_size: int = 64, lr: float = 2e-4,
                device: str = "auto", seed: int = 0, resume: bool = True, ema_decay: float = 0.999,
                mirror: bool = True, max_frames: int = 196,
                warmup: int | None = None, weight_decay: float = 0.0, checkpoint_every: int = 500,
                log_every: int = 50, progress: bool = True, threads: int | None = None, text_encoder=None,
                stop_at: int | None = None, max_minutes: float | None = None,
                **model_overrides) -> TrainResult:
    """Train a :class:`CoAMD` preset on the latents of a frozen autoencoder.

    Args:
        corpus_dir: corpus in the HumanML3D layout (``new_joints/``, ``texts/``, ``train.txt``).
        autoencoder_dir: the autoencoder's run folder (``final/`` is used) or saved folder.
        out_dir: run folder (see the module docstring).
        preset: a key of :data:`humo.models.coamd.COAMD_PRESETS`; ``model_overrides`` change single fields.
        steps: total optimizer steps (a resumed run continues up to this number).
        batch_size: windows per step (per process under torchrun).
        lr: peak AdamW learning rate (warmup, then cosine to 10%).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: model initialisation and batch draws.
        resume: continue from ``out_dir/checkpoint`` when it exists.
        ema_decay: EMA decay (ramped as ``min(decay, (1+step)/(10+step))``); the EMA weights are saved.
        mirror: add left/right mirrored clips with swapped captions.
        max_frames: frames per training window (``max_tokens = max_frames // 4``; 196 = HumanML3D).
        warmup: warmup steps (default 5% of ``steps``).
        checkpoint_every / log_every: cadence of atomic checkpoints and log lines.
        progress: rich progress bar (rank 0); threads: ``torch.set_num_threads`` for CPU runs.
        text_encoder: frozen encoder with ``.encode`` and ``.dim`` (default ``TextEncoder("minilm")``).
        stop_at: stop after this step with a checkpoint and no final save (resumable).
        max_minutes: wall-clock budget from the call (cache building included); when it runs out the run
            stops early, checkpoints and saves ``final/`` anyway (``metrics["stopped_early"]``).
    """
    from humo.models.autoencoder import MotionAutoencoder
    from humo.pipelines.coamd import CoAMD

    if preset not in COAMD_PRESETS:
        raise ValueError(f"unknown CoAMD preset {preset!r}; choose one of {sorted(COAMD_PRESETS)}")
    for name, v in {"steps": steps, "batch_size": batch_size, "checkpoint_every": checkpoint_every,
                    "log_every": log_every}.items():
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if threads is not None:
        torch.set_num_threads(threads)
    t_call = time.perf_counter()
    out_dir = Path(out_dir)
    rank, world, dev = setup_distributed(pick_device(device))
    warmup = max(1, steps // 20) if warmup is None else warmup
    ae_dir = resolve_autoencoder_dir(autoencoder_dir)
    autoencoder = MotionAutoencoder.from_pretrained(ae_dir).to(dev).eval().requires_grad_(False)
    if max_frames % autoencoder.downsample or max_frames < autoencoder.downsample:
        raise ValueError(f"max_frames must be a positive multiple of {autoencoder.downsample}, "
                         f"got {max_frames}")
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder("minilm")
    log_lines = print if rank == 0 else (lambda *_: None)
    cache_dir = out_dir / "cache"
    if rank == 0:
        data = build_latent_corpus(corpus_dir, autoencoder, ae_dir / "model.safetensors", text_encoder,
                                   cache_dir, mirror=mirror, log=log_lines)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        if rank != 0:
            data = build_latent_corpus(corpus_dir, autoencoder, ae_dir / "model.safetensors", text_encoder,
                                       cache_dir, mirror=mirror, log=log_lines)

    seed_everything(seed)
    max_tokens = max_frames // autoencoder.downsample
    model = CoAMDTransformer.from_preset(preset, latent_dim=autoencoder.latent_dim, max_tokens=max_tokens,
                              text_dim=int(data.text_emb.shape[1]), **model_overrides)
    model.set_latent_stats(data.latents.mean(0), data.latents.std(0))
    latents = model.normalize_latents(data.latents)  # the model is trained in normalised latent space
    model.to(dev)
    ema = EMA(model, decay=ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    start = load_checkpoint(out_dir, model, optimizer, ema, map_location=dev)[0] if resume else 0
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    data.latents = latents

    history: list[dict] = []
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)

    def log(entry: dict) -> None:
        history.append(entry)
        if rank == 0:
            with (out_dir / "log.jsonl").open("a") as f:
                f.write(json.dumps(entry) + "\n")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]CoAMD {task.fields[preset]}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress or rank != 0)
    t0 = time.perf_counter()
    sums, count = {"loss": 0.0, "flow": 0.0, "length": 0.0}, 0
    end = steps if stop_at is None else min(steps, stop_at)
    with bar:
        task = bar.add_task("train", total=steps, completed=start, preset=preset, info="")
        model.train()
        for step in range(start, end):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup)
            g = _batch_generator(seed, rank, step)
            tokens, valid, cond = data.sample(batch_size, max_tokens, g)
            if dev.type != "cpu":  # the model draws its masks, times and noise on the device
                g = torch.Generator(dev).manual_seed(int(torch.randint(2**62, (1,), generator=g)))
            out = net(tokens.to(dev), cond.to(dev), token_valid=valid.to(dev), generator=g)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            ema.decay = min(ema_decay, (1 + step) / (10 + step))
            ema.update(model)
            done, count = step + 1, count + 1
            for k, v in (("loss", out.loss), ("flow", out.flow_loss), ("length", out.length_loss)):
                sums[k] += float(v.detach())
            if done % log_every == 0 or done == end:
                log({"step": done, **{k: v / count for k, v in sums.items()},
                     "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0})
                bar.update(task, info=f"flow {sums['flow'] / count:.4f} length {sums['length'] / count:.3f}")
                sums, count = dict.fromkeys(sums, 0.0), 0
            out_of_time = max_minutes is not None and time.perf_counter() - t_call > 60 * max_minutes
            if world > 1 and max_minutes is not None:  # every rank stops at the same step
                import torch.distributed as dist

                flag = torch.tensor([float(out_of_time)], device=dev)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if rank == 0 and (done % checkpoint_every == 0 or done in (steps, stop_at) or out_of_time):
                save_checkpoint(out_dir, model, optimizer, done, ema)
            bar.update(task, completed=done)
            if out_of_time:
                end = done
                break
    seconds = time.perf_counter() - t0
    stopped_early = end < steps and stop_at is None
    if end < steps and not stopped_early:
        return TrainResult(None, end, seconds, {"resumed_from": start}, history)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    metrics: dict = {}
    final = out_dir / "final"
    if rank == 0:
        pipe = CoAMD(autoencoder, ema.model, text_encoder=text_encoder,
                             text_encoder_name=getattr(text_encoder, "name", "minilm"))
        final = save_final(out_dir, pipe)
        metrics = {"preset": preset, "steps": end, "stopped_early": stopped_early, "resumed_from": start,
                   "train_seconds": seconds,
                   "batch_size": batch_size * world, "max_frames": max_frames, "device": str(dev),
                   "parameters": sum(p.numel() for p in ema.model.parameters()), "items": len(data),
                   "tokens": int(data.latents.shape[0]), "captions": len(data.texts),
                   "final_loss": history[-1]["loss"] if history else None,
                   "autoencoder": str(ae_dir)}
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(final, end, seconds, metrics, history)
