"""Train MotionDuet in MLD's two stages: the motion VAE, then the latent denoiser (VAE frozen).

Data: whole corpus segments (``TextMotionDataset(..., random_crop=False)``: at most ``max_len`` joint
frames, lengths a multiple of 4), their raw 263-d features and all their captions. Computed **once** and
cached in ``cache_dir`` (default ``out_dir/cache``; reused when the captions / clips and encoder match):

* sentence embeddings of every unique caption (frozen text encoder, default MiniLM);
* with ``use_video``: rendered stick-figure videos of every segment encoded by the frozen video encoder
  (``"stick"`` = :class:`humo.models.motionduet.video.StickVideoEncoder`, or a VideoMAE folder).

Each stage runs through :mod:`humo.training.engine`: segments are taken in seeded epoch permutations,
each segment's caption is drawn from a generator keyed by ``(seed, step, position)`` and the model's
randomness (condition dropout, timesteps, noise) from one keyed by ``(seed, step, process)``, so a
resumed run repeats an uninterrupted one.

Run folder (:mod:`humo.training.engine` layout per stage)::

    out_dir/vae/{checkpoint,final,log.jsonl}        stage "vae"  (final: EMA, latent stats fitted)
    out_dir/denoiser/{checkpoint,log.jsonl}         stage "denoiser" (VAE from vae_from or out_dir/vae/final)
    out_dir/final/                                  the full model (EMA) -> MotionDuet.from_pretrained
    out_dir/metrics.json                            per-stage steps, seconds, validation losses
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from humo.models.motionduet.model import PRESETS, MotionDuetModel
from humo.models.motionduet.video_learned import VIDEO_ENCODER_DIR, LearnedVideoEncoder
from humo.training.common import save_final, seed_everything
from humo.training.engine import TrainConfig, fit, process_state
from humo.training.motionduet_data import PairCache, build_cache, collate_pairs, pad_clips

STAGES = ("vae", "denoiser", "both")
__all__ = ["STAGES", "MotionDuetTrainResult", "PairCache", "build_cache", "collate_pairs", "fit_latent_stats",
           "pad_clips", "train_motionduet", "validate"]


@dataclass
class MotionDuetTrainResult:
    """What :func:`train_motionduet` returns."""

    final_dir: Path
    steps: dict = field(default_factory=dict)
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def _step_generator(seed: int, step: int, salt: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 7_919 + step * 104_729 + salt) % 2**63)


@torch.no_grad()
def fit_latent_stats(model: MotionDuetModel, data: PairCache, batch: int = 64) -> None:
    """Set ``model``'s latent statistics from the posterior means of every segment of ``data``."""
    dev = model.device
    means = []
    for s in range(0, len(data), batch):
        b = data.batch(list(range(s, min(s + batch, len(data)))), torch.Generator().manual_seed(0))
        posterior = model.encode(b["features"].to(dev), b["lengths"].to(dev))
        means.append(posterior.mean.reshape(-1, model.latent_dim))  # (B * L, C)
    z = torch.cat(means)
    std = z.std(0, unbiased=False) if z.shape[0] > 1 else torch.ones(model.latent_dim)
    model.set_latent_stats(z.mean(0), std)


@torch.no_grad()
def validate(model: MotionDuetModel, data: PairCache, stage: str, dash_lambda: float = 0.0, batch: int = 64
             ) -> dict:
    """Validation losses (eval mode, fixed draws).

    ``stage="vae"``: ``recon``, ``kl``, ``mpjpe_mm`` (joints of the posterior-mean reconstruction, global)
    and ``local_mpjpe_mm`` (root-relative);
    otherwise ``diffusion`` and ``dash``.
    """
    from humo.representations.humanml3d import features_to_joints

    was, dev = model.training, model.device
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for s in range(0, len(data), batch):
        idx = list(range(s, min(s + batch, len(data))))
        b = data.batch(idx, torch.Generator().manual_seed(s))
        f, n = b["features"].to(dev), b["lengths"].to(dev)
        if stage == "vae":
            out = model.vae_loss(f, n, generator=torch.Generator().manual_seed(s))
            rec = model.decode(model.normalize_latents(model.encode(f, n).mean), n)
            diff = features_to_joints(rec) - features_to_joints(f)  # (B, T, 22, 3)
            err = diff.norm(dim=-1).mean(-1)  # (B, T) global: trajectory drift included
            local = (diff - diff[..., :1, :]).norm(dim=-1).mean(-1)  # (B, T) root-relative: the pose alone
            mask = torch.arange(f.shape[1], device=dev) < n[:, None]
            vals = {"recon": out.recon.item(), "kl": out.kl.item(),
                    "mpjpe_mm": 1000 * ((err * mask).sum(1) / n).mean().item(),
                    "local_mpjpe_mm": 1000 * ((local * mask).sum(1) / n).mean().item()}
        else:
            video = None if b["video"] is None else b["video"].to(dev)
            out = _diffusion(model, b, dev, video, dash_lambda, _step_generator(0, s, 1))
            vals = {"diffusion": out.diffusion.item(), "dash": out.dash.item()}
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v * len(idx)
        count += len(idx)
    model.train(was)
    return {k: v / count for k, v in sums.items()}


def _diffusion(model, b: dict, dev, video, dash_lambda: float, generator):
    """The diffusion-stage loss of batch ``b``: from cached latents (autoencoder first stage) or features."""
    def on(x):
        return x if dev is None or x is None else x.to(dev)

    if b.get("latents") is not None:
        return model(None, on(b["token_lengths"]), on(b["text_emb"]), video, dash_lambda=dash_lambda,
                     generator=generator, latents=on(b["latents"]))
    return model(on(b["features"]), on(b["lengths"]), on(b["text_emb"]), video, dash_lambda=dash_lambda,
                 generator=generator)


def _stage_loss(stage: str, dash_lambda: float):
    def loss_fn(model: MotionDuetModel, b: dict, generator) -> tuple[torch.Tensor, dict]:
        if stage == "vae":
            out = model.vae_loss(b["features"], b["lengths"], generator=generator)
            logs = {"recon": out.recon, "kl": out.kl}
            return out.loss, logs if out.joints is None else {**logs, "joints_m": out.joints}
        out = _diffusion(model, b, None, b["video"], dash_lambda, generator)
        return out.loss, {"diffusion": out.diffusion, "dash": out.dash}

    return loss_fn


def _run_stage(stage: str, model: MotionDuetModel, run_dir: Path, data: PairCache, val: PairCache | None, *,
               steps: int, batch_size: int, history: list[dict], dash_lambda: float, **settings
               ) -> tuple[MotionDuetModel, dict]:
    bs = min(batch_size, len(data))
    config = TrainConfig(steps=steps, batch_size=bs, draw="epoch", name=f"MotionDuet {stage}", **settings)
    # the denoiser skips its video / DASH layers in a batch whose videos were all dropped
    r = fit(model, data, collate_pairs, _stage_loss(stage, dash_lambda), config, run_dir,
            find_unused_parameters=stage != "vae")
    history += [{"stage": stage, **e} for e in r.history]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info = {"steps": r.step, "planned_steps": steps, "resumed_from": r.start, "seconds": r.seconds,
            "batch_size": bs * r.num_processes,
            "trainable_parameters": trainable}
    best = r.best
    if stage == "vae":
        fit_latent_stats(best, data)  # every process: the models stay equal
    if val is not None:
        info["val"] = validate(best, val, "vae" if stage == "vae" else "denoiser", dash_lambda)
    return best, info


def warm_start(model: MotionDuetModel, source: str | Path) -> list[str]:
    """Copy the weights of ``source`` (``"bundled"``, a MotionDuet pipeline folder or a model folder) into
    every parameter / buffer of ``model`` with the same name and shape; returns the names that start new.
    Raises if a shared name has another shape or the first stages differ (their latents would not match)."""
    from humo.models.hub import BUNDLED_MOTIONDUET

    folder = BUNDLED_MOTIONDUET if str(source) == "bundled" else Path(source)
    if (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"init_from: {source} is not a MotionDuet pipeline or model folder")
    other = MotionDuetModel.from_pretrained(folder)
    if other.first_stage != model.first_stage:
        raise ValueError(f"init_from: {source} has first stage {other.first_stage!r}, this model "
                         f"{model.first_stage!r}")
    theirs, ours = other.state_dict(), model.state_dict()
    wrong = [k for k in ours if k in theirs and theirs[k].shape != ours[k].shape]
    if wrong:
        raise ValueError(f"init_from: {source} differs in shape at {wrong[:4]} (another preset or size?)")
    model.load_state_dict({**ours, **{k: v for k, v in theirs.items() if k in ours}})
    return sorted(k for k in ours if k not in theirs)


def _load_vae(model: MotionDuetModel, folder: Path) -> None:
    """Copy the VAE, feature and latent statistics of a saved MotionDuet folder into ``model``."""
    from safetensors.torch import load_file

    path = folder / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train the VAE first (stage vae or both) or pass "
                                "vae_from")
    state = load_file(str(path))
    keys = [k for k in model.state_dict() if k.startswith("vae.") or k in
            ("feat_mean", "feat_std", "latent_mean", "latent_std")]
    missing = [k for k in keys if k not in state]
    bad = [k for k in keys if k in state and state[k].shape != model.state_dict()[k].shape]
    if missing or bad:
        raise ValueError(f"{folder} does not hold a matching VAE (missing {missing[:5]}, shape mismatch "
                         f"{bad[:5]}); use the same preset / VAE sizes")
    model.load_state_dict({k: state[k] for k in keys}, strict=False)


def train_motionduet(corpus_dir: str | Path, out_dir: str | Path, preset: str = "small",
                     stage: str = "both", steps: int = 2000, batch_size: int = 64, lr: float = 1e-4,
                     device: str = "auto", seed: int = 0, resume: bool = True, use_video: bool = True,
                     dash_lambda: float = 0.1, ema_decay: float = 0.999, *, vae_steps: int | None = None,
                     vae_from: str | Path | None = None, autoencoder_from: str | Path | None = None,
                     mirror: bool = False, init_from: str | Path | None = None, text_encoder=None,
                     video_encoder="stick", model_kwargs: dict | None = None,
                     cache_dir: str | Path | None = None, max_items: int | None = None,
                     checkpoint_every: int = 500, log_every: int = 50, progress: bool = True,
                     threads: int | None = None, grad_accum: int = 1, mixed_precision: str | None = None,
                     num_workers: int = 0, max_minutes: float | None = None) -> MotionDuetTrainResult:
    """Train a MotionDuet preset on a HumanML3D-layout corpus (see the module docstring).

    Args:
        corpus_dir / out_dir: corpus folder and run folder.
        preset: a key of :data:`humo.models.motionduet.PRESETS`; ``model_kwargs`` override it.
        stage: ``"vae"``, ``"denoiser"`` (needs ``vae_from`` or ``out_dir/vae/final``) or ``"both"``.
        autoencoder_from: train on CoAMD's autoencoder instead of a VAE (first stage ``"autoencoder"``):
            ``"bundled"``, a CoAMD pipeline folder or an autoencoder folder (frozen, copied into the model);
            the VAE stage is skipped and ``metrics["first_stage"]`` holds its reconstruction of the
            validation split (:mod:`humo.training.motionduet_latents`).
        steps: denoiser steps (and VAE steps unless ``vae_steps``); batch_size, lr: AdamW (warmup, cosine).
        device, seed, resume, ema_decay: as for every humo trainer.
        use_video: condition on rendered-video features (``video_encoder``: a preset name of
            :data:`humo.models.motionduet.video.VIDEO_ENCODERS`, a VideoMAE folder, or an encoder object).
        dash_lambda: weight of the DASH loss (0 = off; only with video).
        mirror: add every training segment left/right mirrored, with left and right swapped in its captions.
        init_from: warm start: ``"bundled"``, a MotionDuet pipeline folder or a model folder whose weights
            initialise every parameter of the same name and shape (e.g. a text-only model's, before
            training it with video: the video projection, its token embedding and the DASH head start new);
            ``metrics["init_from"]`` lists what started new. The first stage must be the same.
        text_encoder: frozen encoder with ``.encode(list[str])``; default ``TextEncoder("minilm")``.
        cache_dir: where caption / video embeddings are cached (default ``out_dir/cache``).
        max_items: use at most this many segments per split (quick runs).
        batch_size: segments per step and process; grad_accum, mixed_precision, num_workers: see
            :class:`humo.training.engine.TrainConfig`.
        max_minutes: wall-clock budget of *each* stage; a stage that runs out stops early, checkpoints and
            goes on (the VAE to the denoiser) with the steps it reached (``metrics[stage]["steps"]``).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {list(STAGES)}")
    if autoencoder_from is not None and (stage == "vae" or vae_from is not None):
        raise ValueError("autoencoder_from replaces the VAE: it cannot go with stage='vae' or vae_from")
    if preset not in PRESETS:
        raise ValueError(f"unknown MotionDuet preset {preset!r}; choose one of {sorted(PRESETS)}")
    for name, v in (("steps", steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every),
                    ("log_every", log_every), ("vae_steps", vae_steps or 1)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if dash_lambda < 0:
        raise ValueError(f"dash_lambda must be >= 0, got {dash_lambda}")
    sizes = {**PRESETS[preset], **(model_kwargs or {})}  # checked before the (slow) caches are built
    for name in ("latent_tokens", "latent_dim"):
        if name in sizes and int(sizes[name]) < 1:
            raise ValueError(f"{name} must be >= 1, got {sizes[name]}")
    for name in ("kl_weight", "joint_weight", "dash_margin_cos", "dash_margin_pair"):
        if float(sizes.get(name, 0.0)) < 0:
            raise ValueError(f"{name} must be >= 0, got {sizes[name]}")
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} not found")
    if threads is not None:
        torch.set_num_threads(threads)
    state = process_state(device)
    from humo.data.stats import load_normalizer
    from humo.models.motionduet.video import load_video_encoder

    normalizer = load_normalizer(corpus_dir)
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder("minilm")
    venc = None
    if use_video:
        venc = load_video_encoder(video_encoder) if isinstance(video_encoder, (str, Path)) else video_encoder
        venc = venc.to(state.device) if isinstance(venc, torch.nn.Module) else venc
    cache_dir = out_dir / "cache" if cache_dir is None else Path(cache_dir)
    with state.main_process_first():  # process 0 fills the cache, the others then read it
        train = build_cache(corpus_dir, "train", text_encoder, venc, cache_dir, max_items=max_items, mirror=mirror)
        val = (build_cache(corpus_dir, "val", text_encoder, venc, cache_dir, max_items=max_items)
               if (corpus_dir / "val.txt").is_file() and (corpus_dir / "val.txt").read_text().strip() else None)

    seed_everything(seed)
    kwargs = {**(model_kwargs or {}), "text_dim": int(train.text_emb.shape[-1]),
              "text_encoder": str(getattr(text_encoder, "name", "minilm")),
              "video_dim": int(venc.dim) if venc is not None else 0}
    if venc is not None:
        # the name the model is rebuilt from: a preset or bundled name, else the weights' digest
        kwargs["video_encoder"] = str(getattr(venc, "name", None) or getattr(venc, "source", None) or "custom")
    ae = None
    if autoencoder_from is not None:
        from humo.training.motionduet_latents import attach_latents, load_autoencoder

        ae = load_autoencoder(autoencoder_from)
        kwargs.update(first_stage="autoencoder", autoencoder=dict(ae._hub_mixin_config))
    model = MotionDuetModel.from_preset(preset, **kwargs)
    model.set_normalization(normalizer.mean, normalizer.std)
    started = warm_start(model, init_from) if init_from is not None else None
    history: list[dict] = []
    main = state.is_main_process
    metrics: dict = {"preset": preset, "use_video": use_video, "dash_lambda": dash_lambda, "mirror": mirror,
                     "device": str(state.device), "processes": state.num_processes,
                     "train_segments": len(train), "video_encoder": kwargs.get("video_encoder")}
    if started is not None:
        metrics["init_from"] = {"folder": str(init_from), "new": started}
    if ae is not None:
        with state.main_process_first():
            metrics["first_stage"] = {"autoencoder": str(autoencoder_from),
                                      **attach_latents(model, ae, train, val, cache_dir)}
    common = dict(batch_size=batch_size, lr=lr, ema_decay=ema_decay, seed=seed, resume=resume,
                  dash_lambda=dash_lambda, checkpoint_every=checkpoint_every, log_every=log_every,
                  progress=progress, history=history, device=device, grad_accum=grad_accum,
                  mixed_precision=mixed_precision, num_workers=num_workers,
                  max_seconds=None if max_minutes is None else 60 * max_minutes)
    t0 = time.perf_counter()
    if stage in ("vae", "both") and ae is None:
        model.denoiser.requires_grad_(False)
        model.duet.requires_grad_(False)
        model.null_text.requires_grad_(False)
        if model.dash_head is not None:
            model.dash_head.requires_grad_(False)
        vae_model, metrics["vae"] = _run_stage("vae", model, out_dir / "vae", train, val,
                                               steps=vae_steps or steps, **common)
        final = save_final(out_dir / "vae", vae_model) if main else out_dir / "vae" / "final"
        model.load_state_dict(vae_model.state_dict())
        if stage == "vae":
            metrics["seconds"] = time.perf_counter() - t0
            if main:
                (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
            return MotionDuetTrainResult(final, {"vae": metrics["vae"]["steps"]}, metrics["seconds"], metrics,
                                         history)
    elif ae is None:
        _load_vae(model, Path(vae_from) if vae_from is not None else out_dir / "vae" / "final")
    model.requires_grad_(True)
    (model.vae if ae is None else model.autoencoder).requires_grad_(False)
    final_model, metrics["denoiser"] = _run_stage("denoiser", model, out_dir / "denoiser", train, val,
                                                  steps=steps, **common)
    final = save_final(out_dir, final_model) if main else out_dir / "final"
    if main and isinstance(venc, LearnedVideoEncoder):  # the model needs these weights to read videos
        venc.save_pretrained(final / VIDEO_ENCODER_DIR)
    metrics["seconds"] = time.perf_counter() - t0
    metrics["parameters"] = sum(p.numel() for p in final_model.parameters())
    if main:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    # the steps reached (a stage cut by max_minutes stops short of its plan)
    done = {"denoiser": metrics["denoiser"]["steps"], **({"vae": metrics["vae"]["steps"]} if "vae" in metrics else {})}
    return MotionDuetTrainResult(final, done, metrics["seconds"], metrics, history)
