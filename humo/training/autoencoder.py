"""Train and evaluate the CoAMD motion autoencoder (:class:`humo.models.autoencoder.MotionAutoencoder`).

One code path for a 2-core CPU (``small`` preset) and GPUs (``base`` preset), through the training engine
(:mod:`humo.training.engine`: ``accelerate launch`` / ``torchrun`` for several processes, ``batch_size`` is
per process; process 0 alone validates and writes the final model).

Data: random windows of ``window`` frames, uniform over the clips of the corpus ``train`` split (clips
shorter than the window are skipped); each window's clip, crop and mirroring are drawn from a generator
keyed by ``(seed, step, position in the global batch)``, so a resumed run draws exactly the windows an
uninterrupted one would, whatever the number of processes.

Run folder::

    out_dir/checkpoint/   latest state (model, EMA, optimizer, schedule, RNG, step), atomic; resumed by default
    out_dir/final/        save_pretrained of the EMA model (with fitted latent_scale)
    out_dir/log.jsonl     one JSON line per log / validation event
    out_dir/metrics.json  final validation / test metrics, steps, seconds, model size
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humo.models.autoencoder import AE_PRESETS, MotionAutoencoder
from humo.training.common import save_final, seed_everything
from humo.training.engine import DatasetSource, TrainConfig, fit, step_seed
from humo.training.motionduet_latents import load_autoencoder


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

    def __init__(self, corpus_dir: str | Path, split: str, window: int, mirror: bool = True,
                 min_window: int | None = None):
        from humo.data.datasets import TextMotionDataset

        min_window = window if min_window is None else min_window
        if not 4 <= min_window <= window or min_window % 4:
            raise ValueError(f"min_window must be a multiple of 4 in [4, window={window}], got {min_window}")
        try:
            self.dataset = TextMotionDataset(corpus_dir, split, min_len=min_window, max_len=window, mirror=mirror,
                                             random_crop=True)
        except ValueError as e:
            if "has no clip of at least" not in str(e):
                raise
            raise ValueError(f"no {split} clip has {min_window} frames; lower --window") from None
        self.window, self.min_window = window, min_window
        self.num_clips, self.skipped = len(self.dataset), self.dataset.dropped

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``(B, min_window, 22, 3)`` windows (the first ``min_window`` frames of each crop: fixed shape)."""
        self.dataset.generator = generator  # crops and mirroring draw from it too
        pick = torch.randint(self.num_clips, (batch_size,), generator=generator)
        return torch.stack([self.dataset[int(i)]["joints"][:self.min_window] for i in pick])


def pad_windows(windows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows ``(T_i, 22, 3)`` -> ``(joints (B, T_max, 22, 3), mask (B, T_max))``; each window is padded by
    repeating its last frame (a still pose, not a jump to the origin), ``mask`` False there."""
    t_max = max(w.shape[0] for w in windows)
    joints = torch.stack([torch.cat([w, w[-1:].expand(t_max - w.shape[0], -1, -1)]) for w in windows])
    mask = torch.arange(t_max)[None] < torch.tensor([w.shape[0] for w in windows])[:, None]
    return joints, mask


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


def _ae_loss(model: MotionAutoencoder, x, generator) -> tuple[torch.Tensor, dict]:
    x, mask = x if isinstance(x, tuple) else (x, None)  # (B, window, 22, 3), (B, window) or None
    loss = model(x, mask).loss
    return loss.total, {"joints": loss.joints, "bones": loss.bones, "motion": loss.motion}


def train_autoencoder(corpus_dir: str | Path, out_dir: str | Path, preset: str = "small", steps: int = 2000,
                      batch_size: int = 64, window: int = 64, lr: float = 2e-4, device: str = "auto",
                      seed: int = 0, resume: bool = True, ema_decay: float = 0.999, warmup: int | None = None,
                      weight_decay: float = 0.0, val_every: int = 500, val_clips: int | None = 64,
                      checkpoint_every: int = 500, log_every: int = 50, test_split: str | None = "test",
                      progress: bool = True, threads: int | None = None, stop_at: int | None = None,
                      mirror: bool = True, norm_windows: int = 2048, grad_accum: int = 1,
                      mixed_precision: str | None = None, num_workers: int = 0, init_from: str | Path | None = None,
                      decoder_only: bool = False, balance: float = 0.0, min_window: int | None = None
                      ) -> TrainResult:
    """Train a :class:`MotionAutoencoder` preset on random windows of a corpus' train split.

    Args:
        corpus_dir: corpus in the HumanML3D layout (``new_joints/<id>.npy``, ``train.txt`` ...).
        out_dir: run folder (checkpoint/, final/, log.jsonl, metrics.json).
        preset: a key of :data:`humo.models.autoencoder.AE_PRESETS`.
        steps: total optimizer steps (a resumed run continues up to this number).
        batch_size: windows per step and process (per micro-batch with ``grad_accum``).
        window: frames per window, a multiple of 4.
        min_window: with it, windows of ``min_window`` to ``window`` frames (multiples of 4, each batch padded
            and masked), so clips shorter than ``window`` -- a kick or a squat of 2 s -- are trained on too;
            None: every window has ``window`` frames and shorter clips are skipped.
        lr: peak AdamW learning rate (warmup, then cosine to 10%).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds the model initialisation and the window draws.
        resume: continue from ``out_dir/checkpoint`` when it exists.
        ema_decay: EMA decay (ramped up as ``min(decay, (1+n)/(10+n))``); the EMA is saved.
        warmup: warmup steps; default 5% of ``steps``.
        val_every / val_clips: validation MPJPE cadence and how many val clips it reconstructs.
        checkpoint_every / log_every: cadence of atomic checkpoints and of log lines.
        test_split: split measured by :func:`evaluate_autoencoder` at the end (None to skip).
        progress: show a rich progress bar (process 0).
        threads: ``torch.set_num_threads`` for CPU runs (None keeps torch's setting).
        stop_at: stop this call after this step with a checkpoint and no final save (a job split
            over several time slots); a later call with the same arguments resumes exactly.
        mirror: left/right mirroring augmentation of the training windows.
        norm_windows: training windows (a fixed draw) that fit the stream statistics before training
            and the latent scale after it.
        grad_accum, mixed_precision, num_workers: see :class:`humo.training.engine.TrainConfig`.
        init_from: start from this trained autoencoder (a folder of ``save_pretrained`` or a run; ``preset``
            is then ignored); its stream statistics are kept, not refitted.
        decoder_only: train the decoder alone, encoder and latent scale frozen (needs ``init_from``): the
            latents stay those a CoAMD or MotionDuet model was trained on, so a fine-tuned decoder drops
            into a trained pipeline.
        balance: sample clips with weight ``count(action) ** -balance``
            (:meth:`humo.data.datasets.TextMotionDataset.class_weights`; 0 = uniform over clips).
    """
    if init_from is None and preset not in AE_PRESETS:
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
    sampler = WindowSampler(corpus_dir, "train", window, mirror=mirror, min_window=min_window)
    has_val = Path(corpus_dir, "val.txt").is_file() and bool(read_split(corpus_dir, "val"))

    if decoder_only and init_from is None:
        raise ValueError("decoder_only fine-tunes a trained decoder: give init_from")
    weights = sampler.dataset.class_weights(balance) if balance > 0 else None

    seed_everything(seed)

    def fit_windows(dev):  # fixed draws, independent of the training steps
        sizes = [256] * (norm_windows // 256) + ([norm_windows % 256] if norm_windows % 256 else [])
        return (sampler.sample(n, torch.Generator().manual_seed(step_seed(seed, -2 - i, 0))).to(dev)
                for i, n in enumerate(sizes))

    if init_from is not None:
        model = load_autoencoder(init_from).train().requires_grad_(True)
        preset = f"from {init_from}"
    else:
        model = MotionAutoencoder.from_preset(preset)
        model.fit_normalization(fit_windows("cpu"))
    if decoder_only:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("decoder."))

    def validate(m, step):
        if not has_val or not (step % val_every == 0 or step == steps):
            return {}
        val = evaluate_autoencoder(m, corpus_dir, "val", max_clips=val_clips)
        return {"val_mpjpe_mm": val["mpjpe_mm"], "val_local_mpjpe_mm": val["local_mpjpe_mm"]}

    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay,
                         ema_decay=ema_decay, grad_accum=grad_accum, mixed_precision=mixed_precision,
                         device=device, seed=seed, resume=resume, checkpoint_every=checkpoint_every,
                         log_every=log_every, eval_every=val_every, stop_at=stop_at, num_workers=num_workers,
                         progress=progress, name=f"AE {preset}")
    collate = torch.stack if sampler.min_window == window else pad_windows
    r = fit(model, DatasetSource(sampler.dataset, "joints", weights), collate, _ae_loss, config, out_dir,
            evaluate=validate)
    if not r.finished:
        return TrainResult(final_dir=None, steps=r.step, seconds=r.seconds, history=r.history,
                           metrics={"resumed_from": r.start})
    final, metrics, ema = out_dir / "final", {}, r.best
    if r.is_main:
        if not decoder_only:  # a frozen encoder keeps its latent scale
            ema.fit_latent_scale(fit_windows(r.device))
        final = save_final(out_dir, ema)
        size_mb = (final / "model.safetensors").stat().st_size / 2**20
        metrics = {"preset": preset, "steps": steps, "resumed_from": r.start, "train_seconds": r.seconds,
                   "batch_size": batch_size * r.num_processes * grad_accum, "window": window,
                   "device": str(r.device), "processes": r.num_processes,
                   "parameters": sum(p.numel() for p in ema.parameters()), "model_mb": size_mb,
                   "latent_scale": float(ema.latent_scale), "train_clips": sampler.num_clips,
                   "train_clips_too_short": sampler.skipped, "decoder_only": decoder_only, "balance": balance,
                   "min_window": sampler.min_window}
        if has_val:
            metrics["val"] = evaluate_autoencoder(ema, corpus_dir, "val")
        if test_split and Path(corpus_dir, f"{test_split}.txt").is_file():
            metrics[test_split] = evaluate_autoencoder(ema, corpus_dir, test_split)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(final_dir=final, steps=steps, seconds=r.seconds, metrics=metrics, history=r.history)
