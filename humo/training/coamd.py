"""Train CoAMD's masked autoregressive flow model on a frozen autoencoder's latents.

    result = train_coamd("corpora/bandai-namco", "runs/ae-small", "runs/coamd-small", preset="small")
    pipe = CoAMD.from_pretrained(result.final_dir)

Run folder::

    out_dir/cache/        encoded corpus + caption embeddings (:mod:`humo.training.coamd_data`)
    out_dir/checkpoint/   latest training state (atomic; ``resume`` continues from it)
    out_dir/final/        the pipeline (autoencoder/, coamd/ with the EMA weights, pipeline.json)
    out_dir/log.jsonl     one line per ``log_every`` steps;  out_dir/metrics.json  summary

Training runs through :mod:`humo.training.engine` (``accelerate launch`` / ``torchrun`` for several
processes: process 0 builds the cache first, the others then load it; each process draws its slice of
every step's global batch).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from humo.models.coamd import COAMD_PRESETS, CoAMDTransformer
from humo.training.coamd_data import WindowSource, build_latent_corpus, collate_windows
from humo.training.common import save_final, seed_everything
from humo.training.engine import TrainConfig, fit, process_state


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


def _coamd_loss(model: CoAMDTransformer, batch: dict, generator) -> tuple[torch.Tensor, dict]:
    out = model(batch["tokens"], batch["cond"], mask_tokens=batch["mask"], token_valid=batch["valid"],
                generator=generator)
    return out.loss, {"flow": out.flow_loss, "length": out.length_loss}


def train_coamd(corpus_dir: str | Path, autoencoder_dir: str | Path, out_dir: str | Path,
                preset: str = "small", steps: int = 3000, batch_size: int = 64, lr: float = 2e-4,
                device: str = "auto", seed: int = 0, resume: bool = True, ema_decay: float = 0.999,
                mirror: bool = True, max_frames: int = 196,
                warmup: int | None = None, weight_decay: float = 0.0, checkpoint_every: int = 500,
                log_every: int = 50, progress: bool = True, threads: int | None = None, text_encoder=None,
                stop_at: int | None = None, max_minutes: float | None = None, grad_accum: int = 1,
                mixed_precision: str | None = None, num_workers: int = 0, **model_overrides) -> TrainResult:
    """Train a :class:`CoAMDTransformer` preset on the latents of a frozen autoencoder.

    Args:
        corpus_dir: corpus in the HumanML3D layout (``new_joints/``, ``texts/``, ``train.txt``).
        autoencoder_dir: the autoencoder's run folder (``final/`` is used) or saved folder.
        out_dir: run folder (see the module docstring).
        preset: a key of :data:`humo.models.coamd.COAMD_PRESETS`; ``model_overrides`` change single fields.
        steps: total optimizer steps (a resumed run continues up to this number).
        batch_size: windows per step and process (per micro-batch with ``grad_accum``).
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
        grad_accum, mixed_precision, num_workers: see :class:`humo.training.engine.TrainConfig`.
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
    state = process_state(device)
    ae_dir = resolve_autoencoder_dir(autoencoder_dir)
    autoencoder = MotionAutoencoder.from_pretrained(ae_dir).to(state.device).eval().requires_grad_(False)
    if max_frames % autoencoder.downsample or max_frames < autoencoder.downsample:
        raise ValueError(f"max_frames must be a positive multiple of {autoencoder.downsample}, "
                         f"got {max_frames}")
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder("minilm")
    log_lines = print if state.is_main_process else (lambda *_: None)
    with state.main_process_first():  # process 0 builds the cache, the others load it
        data = build_latent_corpus(corpus_dir, autoencoder, ae_dir / "model.safetensors", text_encoder,
                                   out_dir / "cache", mirror=mirror, log=log_lines)

    seed_everything(seed)
    max_tokens = max_frames // autoencoder.downsample
    model = CoAMDTransformer.from_preset(preset, latent_dim=autoencoder.latent_dim, max_tokens=max_tokens,
                              text_dim=int(data.text_emb.shape[1]), **model_overrides)
    model.set_latent_stats(data.latents.mean(0), data.latents.std(0))
    data.latents = model.normalize_latents(data.latents)  # the model is trained in normalised latent space
    budget = None if max_minutes is None else max(0.0, 60 * max_minutes - (time.perf_counter() - t_call))
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay,
                         ema_decay=ema_decay, grad_accum=grad_accum, mixed_precision=mixed_precision,
                         device=device, seed=seed, resume=resume, checkpoint_every=checkpoint_every,
                         log_every=log_every, stop_at=stop_at, max_seconds=budget, num_workers=num_workers,
                         progress=progress, name=f"CoAMD {preset}")
    r = fit(model, WindowSource(data, max_tokens), collate_windows, _coamd_loss, config, out_dir)
    if not r.finished and not r.out_of_time:
        return TrainResult(None, r.step, r.seconds, {"resumed_from": r.start}, r.history)
    metrics: dict = {}
    final = out_dir / "final"
    if r.is_main:
        pipe = CoAMD(autoencoder, r.best, text_encoder=text_encoder,
                             text_encoder_name=getattr(text_encoder, "name", "minilm"))
        final = save_final(out_dir, pipe)
        losses = [e["loss"] for e in r.history if "loss" in e]
        metrics = {"preset": preset, "steps": r.step, "stopped_early": r.out_of_time and not r.finished,
                   "resumed_from": r.start, "train_seconds": r.seconds,
                   "batch_size": batch_size * r.num_processes * grad_accum, "max_frames": max_frames,
                   "device": str(r.device), "processes": r.num_processes,
                   "parameters": sum(p.numel() for p in r.best.parameters()), "items": len(data),
                   "tokens": int(data.latents.shape[0]), "captions": len(data.texts),
                   "final_loss": losses[-1] if losses else None, "autoencoder": str(ae_dir)}
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(final, r.step, r.seconds, metrics, r.history)
