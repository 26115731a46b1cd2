"""Train and evaluate the CoAMD motion autoencoder (:class:`humo.models.autoencoder.MotionAutoencoder`).

One code path for a 2-core CPU (``small`` preset) and GPUs (``base`` preset). Multi-GPU: launch with
``torchrun --nproc_per_node N -m humo.cli ...``; when ``WORLD_SIZE`` > 1 the model is wrapped in
``torch.nn.parallel.DistributedDataParallel`` (``batch_size`` is per process) and rank 0 alone
logs, validates and writes checkpoints.

Data: random windows of ``window`` frames, uniform over all windows of the corpus ``train`` split
(clips shorter than the window are skipped). Window draws use a generator seeded from
``(seed, rank, step)``, so a resumed run draws exactly the windows an uninterrupted one would.

Run folder (see :mod:`humo.training.common`)::

    out_dir/checkpoint/   latest state (model, EMA, optimizer, step), atomic; resumed by default
    out_dir/final/        save_pretrained of the EMA model (with fitted latent_scale)
    out_dir/log.jsonl     one JSON line per log / validation event
    out_dir/metrics.json  final validation / test metrics, steps, seconds, model size
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humo.models.autoencoder import AE_PRESETS, MotionAutoencoder
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
    """What :func:`train_autoencoder` returns (rank 0; other ranks get ``metrics`` empty).

    ``final_dir`` is None when the call stopped early at ``stop_at`` (only a checkpoint was written).
    """

    final_dir: Path | None
    steps: int
    seconds: float
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def read_split(corpus_dir: str | Path, split: str) -> list[str]:
    """Clip ids of ``corpus_dir/<split>.txt`` (one per line)."""
    path = Path(corpus_dir) / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} not found (expected a corpus in the HumanML3D layout)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_clips(corpus_dir: str | Path, split: str) -> tuple[list[str], list[np.ndarray]]:
    """Whole clips of a split: ids and float32 joints ``(T, 22, 3)`` from ``new_joints/<id>.npy``."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} not found")
    ids, clips = [], []
    for cid in read_split(root, split):
        path = root / "new_joints" / f"{cid}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"{path} listed in {split}.txt is missing")
        arr = np.load(path).astype(np.float32)
        if arr.ndim != 3 or arr.shape[1:] != (22, 3):
            raise ValueError(f"{path} must hold (T, 22, 3) joints, got {arr.shape}")
        ids.append(cid)
        clips.append(arr)
    return ids, clips


class WindowSampler:
    """Random training windows ``(B, window, 22, 3)`` from :class:`humo.data.datasets.TextMotionDataset`.

    A clip is picked uniformly (as the downstream loaders and T2M-GPT's VQ loader do), then the dataset
    crops a uniformly placed window, re-canonicalises it (floor, origin, facing +Z at its first frame)
    and, with ``mirror``, mirrors it with probability 1/2, so the autoencoder sees what the downstream
    models are trained on. Clips shorter than the window are skipped (``skipped``).
    """

    def __init__(self, corpus_dir: str | Path, split: str, window: int, mirror: bool = True):
        from humo.data.datasets import TextMotionDataset

        try:
            self.dataset = TextMotionDataset(corpus_dir, split, min_len=window, max_len=window, mirror=mirror,
                                             random_crop=True)
        except ValueError as e:
            if "has no clip of at least" not in str(e):
                raise
            raise ValueError(f"no {split} clip has {window} frames; lower --window") from None
        self.window, self.num_clips, self.skipped = window, len(self.dataset), self.dataset.dropped

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        self.dataset.generator = generator  # crops and mirroring draw from it too
        pick = torch.randint(self.num_clips, (batch_size,), generator=generator)
        return torch.stack([self.dataset[int(i)]["joints"] for i in pick])  # (B, window, 22, 3)


@torch.no_grad()
def evaluate_autoencoder(model: MotionAutoencoder, corpus_dir: str | Path, split: str = "test",
                         max_clips: int | None = None) -> dict:
    """Reconstruct whole clips of a split (cropped to a multiple of 4 frames) and measure the error.

    Returns ``mpjpe_mm`` (mean per-joint position error of the absolute joints, millimetres),
    ``local_mpjpe_mm`` (root-aligned per frame), ``root_mm`` (root trajectory error),
    ``num_clips`` and ``num_frames``. Runs on the model's device; restores its train/eval mode.
    """
    _, clips = load_clips(corpus_dir, split)
    if max_clips is not None:
        clips = clips[:max_clips]
    device = model.stream_mean.device
    was_training = model.training
    model.eval()
    err = local = root = 0.0
    frames = n_clips = 0
    for clip in clips:
        t = len(clip) - len(clip) % model.downsample
        if t == 0:
            continue
        x = torch.from_numpy(clip[:t]).to(device)[None]  # (1, T, 22, 3)
        pred = model(x).joints
        err += (pred - x).norm(dim=-1).mean(-1).sum().item()
        local += ((pred - pred[..., :1, :]) - (x - x[..., :1, :])).norm(dim=-1)[..., 1:].mean(-1).sum().item()
        root += (pred[..., 0, :] - x[..., 0, :]).norm(dim=-1).sum().item()
        frames, n_clips = frames + t, n_clips + 1
    model.train(was_training)
    if frames == 0:
        raise ValueError(f"split {split!r} of {corpus_dir} has no clip of at least {model.downsample} frames")
    return {"mpjpe_mm": 1000 * err / frames, "local_mpjpe_mm": 1000 * local / frames,
            "root_mm": 1000 * root / frames, "num_clips": n_clips, "num_frames": frames}


def _window_generator(seed: int, rank: int, step: int) -> torch.Generator:
    # ranks 2**40 apart: no two (rank, step) pairs of a run share a stream
    return torch.Generator().manual_seed((seed * 1_000_003 + rank * 2**40 + step) % 2**63)


def train_autoencoder(corpus_dir: str | Path, out_dir: str | Path, preset: str = "small", steps: int = 2000,
                      batch_size: int = 64, window: int = 64, lr: float = 2e-4, device: str = "auto",
                      seed: int = 0, resume: bool = True, ema_decay: float = 0.999, warmup: int | None = None,
                      weight_decay: float = 0.0, val_every: int = 500, val_clips: int | None = 64,
                      checkpoint_every: int = 500, log_every: int = 50, test_split: str | None = "test",
                      progress: bool = True, threads: int | None = None, stop_at: int | None = None,
                      mirror: bool = True, norm_windows: int = 2048) -> TrainResult:
    """Train a :class:`MotionAutoencoder` preset on random windows of a corpus' train split.

    Args:
        corpus_dir: corpus in the HumanML3D layout (``new_joints/<id>.npy``, ``train.txt`` ...).
        out_dir: run folder (checkpoint/, final/, log.jsonl, metrics.json).
        preset: a key of :data:`humo.models.autoencoder.AE_PRESETS`.
        steps: total optimizer steps (a resumed run continues up to this number).
        batch_size: windows per step (per process under torchrun).
        window: frames per window, a multiple of 4.
        lr: peak AdamW learning rate (warmup, then cosine to 10%).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds the model initialisation and the window draws.
        resume: continue from ``out_dir/checkpoint`` when it exists.
        ema_decay: EMA decay (ramped up as ``min(decay, (1+step)/(10+step))``); the EMA is saved.
        warmup: warmup steps; default 5% of ``steps``.
        val_every / val_clips: validation MPJPE cadence and how many val clips it reconstructs.
        checkpoint_every / log_every: cadence of atomic checkpoints and of log lines.
        test_split: split measured by :func:`evaluate_autoencoder` at the end (None to skip).
        progress: show a rich progress bar (rank 0).
        threads: ``torch.set_num_threads`` for CPU runs (None keeps torch's setting).
        stop_at: stop this call after this step with a checkpoint and no final save (a job split
            over several time slots); a later call with the same arguments resumes exactly.
        mirror: left/right mirroring augmentation of the training windows.
        norm_windows: training windows (a fixed draw) that fit the stream statistics before training
            and the latent scale after it.
    """
    if preset not in AE_PRESETS:
        raise ValueError(f"unknown autoencoder preset {preset!r}; choose one of {sorted(AE_PRESETS)}")
    counts = {"steps": steps, "batch_size": batch_size, "window": window, "val_every": val_every,
              "checkpoint_every": checkpoint_every, "log_every": log_every, "norm_windows": norm_windows}
    for name, v in counts.items():
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if window % 4:
        raise ValueError(f"window must be a multiple of 4 frames, got {window}")
    if threads is not None:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    rank, world, dev = setup_distributed(pick_device(device))
    warmup = max(1, steps // 20) if warmup is None else warmup

    sampler = WindowSampler(corpus_dir, "train", window, mirror=mirror)
    has_val = Path(corpus_dir, "val.txt").is_file() and bool(read_split(corpus_dir, "val"))

    seed_everything(seed)
    model = MotionAutoencoder.from_preset(preset)
    def fit_windows():  # fixed draws, independent of the training steps
        sizes = [256] * (norm_windows // 256) + ([norm_windows % 256] if norm_windows % 256 else [])
        return (sampler.sample(n, _window_generator(seed, 0, -1 - i)).to(dev) for i, n in enumerate(sizes))

    model.fit_normalization(fit_windows())
    model.to(dev)
    ema = EMA(model, decay=ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    start = 0
    if resume:
        start, _ = load_checkpoint(out_dir, model, optimizer, ema, map_location=dev)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    history: list[dict] = []
    log_path = out_dir / "log.jsonl"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)

    def log(entry: dict) -> None:
        history.append(entry)
        if rank == 0:
            with log_path.open("a") as f:
                f.write(json.dumps(entry) + "\n")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]AE {task.fields[preset]}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress or rank != 0)
    t0 = time.perf_counter()
    run_loss, run_steps, info = 0.0, 0, ""
    with bar:
        task = bar.add_task("train", total=steps, completed=start, preset=preset, info="")
        model.train()
        for step in range(start, steps if stop_at is None else min(steps, stop_at)):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, lr, warmup)
            x = sampler.sample(batch_size, _window_generator(seed, rank, step)).to(dev, non_blocking=True)
            loss = net(x).loss
            optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            ema.decay = min(ema_decay, (1 + step) / (10 + step))
            ema.update(model)
            run_loss, run_steps, done = run_loss + loss.total.item(), run_steps + 1, step + 1
            if done % log_every == 0 or done == steps:
                log({"step": done, "loss": run_loss / run_steps, "joints": loss.joints.item(),
                     "bones": loss.bones.item(), "motion": loss.motion.item(),
                     "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0})
                info = f"loss {run_loss / run_steps:.4f}"
                run_loss, run_steps = 0.0, 0
            if rank == 0 and has_val and (done % val_every == 0 or done == steps):
                val = evaluate_autoencoder(ema.model, corpus_dir, "val", max_clips=val_clips)
                log({"step": done, "val_mpjpe_mm": val["mpjpe_mm"],
                     "val_local_mpjpe_mm": val["local_mpjpe_mm"]})
                info = f"{info.split(' val')[0]} val {val['mpjpe_mm']:.1f} mm"
            if rank == 0 and (done % checkpoint_every == 0 or done in (steps, stop_at)):
                save_checkpoint(out_dir, model, optimizer, done, ema)
            bar.update(task, info=info)
            bar.update(task, completed=done)
    seconds = time.perf_counter() - t0
    if stop_at is not None and stop_at < steps:
        return TrainResult(final_dir=None, steps=min(stop_at, steps), seconds=seconds, history=history,
                           metrics={"resumed_from": start})

    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    final = out_dir / "final"
    metrics: dict = {}
    if rank == 0:
        ema.model.fit_latent_scale(fit_windows())
        final = save_final(out_dir, ema.model)
        size_mb = (final / "model.safetensors").stat().st_size / 2**20
        metrics = {"preset": preset, "steps": steps, "resumed_from": start, "train_seconds": seconds,
                   "batch_size": batch_size * world, "window": window, "device": str(dev),
                   "parameters": sum(p.numel() for p in ema.model.parameters()), "model_mb": size_mb,
                   "latent_scale": float(ema.model.latent_scale), "train_clips": sampler.num_clips,
                   "train_clips_too_short": sampler.skipped}
        if has_val:
            metrics["val"] = evaluate_autoencoder(ema.model, corpus_dir, "val")
        if test_split and Path(corpus_dir, f"{test_split}.txt").is_file():
            metrics[test_split] = evaluate_autoencoder(ema.model, corpus_dir, test_split)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(final_dir=final, steps=steps, seconds=seconds, metrics=metrics, history=history)
