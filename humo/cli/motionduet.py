"""``humo train motionduet``: train MotionDuet (MLD VAE + DUET-conditioned latent denoiser, DASH loss)."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import train_app
from humo.cli.training_options import GRAD_ACCUM, MIXED_PRECISION, NUM_PROCESSES, NUM_WORKERS, is_main_process, relaunch


@train_app.command("motionduet")
def train_motionduet_command(
    corpus: Path = typer.Argument(..., help="Corpus folder in HumanML3D layout (new_joint_vecs/, texts/)."),
    out: Path = typer.Argument(..., help="Run folder: vae/, denoiser/ (resumable checkpoints), final/ (the "
                                         "model for MotionDuet), metrics.json, cache/."),
    preset: str = typer.Option("small", help="Model size: tiny, small (CPU), base (MLD: 9 layers, 1x256)."),
    latent_tokens: int | None = typer.Option(None, help="VAE latent tokens L (default: the preset's; MLD 1)."),
    latent_dim: int | None = typer.Option(None, help="VAE latent width C (default: the preset's)."),
    kl_weight: float | None = typer.Option(None, help="VAE KL weight (default: MLD's 1e-4)."),
    joint_weight: float | None = typer.Option(None, help="VAE global joint-position loss weight (default 0: "
                                                         "MLD's feature loss only)."),
    stage: str = typer.Option("both", help="vae, denoiser (needs OUT/vae/final or --vae-from) or both."),
    steps: int = typer.Option(2000, help="Denoiser steps (and VAE steps unless --vae-steps)."),
    vae_steps: int | None = typer.Option(None, help="VAE steps (default: --steps)."),
    vae_from: Path | None = typer.Option(None, help="MotionDuet folder whose VAE to reuse (stage denoiser)."),
    autoencoder_from: str | None = typer.Option(
        None, help="Use CoAMD's J/B/M autoencoder as the first stage instead of a VAE: 'bundled', a CoAMD "
                   "model folder or an autoencoder folder (the VAE stage is skipped)."),
    mirror: bool = typer.Option(False, "--mirror/--no-mirror", help="Also train on every segment mirrored "
                                "left/right (captions' left and right swapped)."),
    init_from: str | None = typer.Option(None, help="Warm start from 'bundled' or a MotionDuet folder: every "
                                         "weight of the same name and shape (e.g. a text-only model, then video)."),
    batch_size: int = typer.Option(64, help="Segments per step."),
    lr: float = typer.Option(1e-4, help="Peak AdamW learning rate (warmup, then cosine)."),
    video: bool = typer.Option(True, "--video/--no-video", help="Condition on rendered-video features."),
    video_encoder: str = typer.Option("stick", help="stick (frozen seeded CNN on rendered stick figures), "
                                                    "stick-learned (bundled, trained), a trained encoder "
                                                    "folder or a local VideoMAE checkpoint folder."),
    dash_lambda: float = typer.Option(0.1, help="Weight of the DASH loss (0 = off; needs --video)."),
    dash_margin_cos: float | None = typer.Option(None, help="DASH token margin m_cos: tokens count as aligned "
                                                 "at cosine >= 1 - m_cos (default 0.1; 0 = always pulled)."),
    dash_margin_pair: float | None = typer.Option(None, help="DASH pairwise-structure margin (default 0.1)."),
    ema_decay: float = typer.Option(0.999, help="EMA decay of the saved weights."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init, batch order and diffusion draws."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT's checkpoints."),
    max_items: int | None = typer.Option(None, help="Use at most this many segments per split (quick runs)."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    checkpoint_every: int = typer.Option(500, help="Checkpoint period in steps."),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget of each stage; a stage that runs "
                                             "out stops early, checkpoints and goes on."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    mixed_precision: str | None = MIXED_PRECISION,
    grad_accum: int = GRAD_ACCUM,
    num_workers: int = NUM_WORKERS,
    num_processes: int = NUM_PROCESSES,
):
    """Train MotionDuet on a corpus: the motion VAE, then the text(+video) latent denoiser.

    Example: humo train motionduet corpora/bandai-namco runs/motionduet --preset small --threads 2
    """
    relaunch(num_processes, mixed_precision)
    from humo.training.motionduet import train_motionduet

    sizes = {"latent_tokens": latent_tokens, "latent_dim": latent_dim, "kl_weight": kl_weight,
             "joint_weight": joint_weight, "dash_margin_cos": dash_margin_cos, "dash_margin_pair": dash_margin_pair}
    result = train_motionduet(corpus, out, preset=preset,
                              model_kwargs={k: v for k, v in sizes.items() if v is not None}, stage=stage,
                              steps=steps, batch_size=batch_size,
                              lr=lr, device=device, seed=seed, resume=resume, use_video=video,
                              dash_lambda=dash_lambda, ema_decay=ema_decay, vae_steps=vae_steps,
                              vae_from=vae_from, autoencoder_from=autoencoder_from, mirror=mirror,
                              init_from=init_from, video_encoder=video_encoder, max_items=max_items,
                              checkpoint_every=checkpoint_every, progress=progress, threads=threads,
                              mixed_precision=mixed_precision, grad_accum=grad_accum, num_workers=num_workers,
                              max_minutes=max_minutes)
    if not is_main_process():
        return
    m = result.metrics
    parts = [f"MotionDuet ({preset}, video={'on' if video else 'off'}, DASH lambda {dash_lambda:g}) "
             f"trained {result.steps} steps in {result.seconds:.0f} s, saved to {result.final_dir}"]
    if "first_stage" in m:
        parts.append(f"autoencoder MPJPE {m['first_stage']['mpjpe_mm']:.1f} mm ({m['first_stage']['split']})")
    if "val" in m.get("vae", {}):
        parts.append(f"val VAE MPJPE {m['vae']['val']['mpjpe_mm']:.1f} mm")
    if "val" in m.get("denoiser", {}):
        parts.append(f"val diffusion loss {m['denoiser']['val']['diffusion']:.4f}")
    typer.echo("; ".join(parts))


@train_app.command("video-encoder")
def train_video_encoder_command(
    corpus: Path = typer.Argument(..., help="Corpus folder in HumanML3D layout (new_joints/, texts/)."),
    out: Path = typer.Argument(..., help="Run folder: checkpoint/ (resumable), final/ (the encoder), cache/."),
    steps: int = typer.Option(1200, help="Optimisation steps."),
    batch_size: int = typer.Option(64, help="Clips per step (the InfoNCE negatives)."),
    lr: float = typer.Option(1e-3, help="Peak AdamW learning rate (warmup, then cosine)."),
    freeze_convs: bool = typer.Option(False, "--freeze-convs/--train-convs",
                                      help="Train only the projection head (the random-convolution baseline)."),
    motion_weight: float = typer.Option(0.0, help="Weight of the clip <-> motion InfoNCE term (0: captions only)."),
    init_from: str | None = typer.Option(None, help="Start from this encoder: stick-learned or a folder."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init, batch order and augmentation draws."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT's checkpoint."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget; the run checkpoints and stops."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Train the stick-figure video encoder for MotionDuet (rendered clip <-> caption, and with
    --motion-weight clip <-> motion, InfoNCE), then report its video -> text and cross-view clip retrieval
    on the test split.

    Example: humo train video-encoder corpora/merged-bcm-h runs/video-encoder --motion-weight 1 --threads 1
    """
    from humo.training.motionduet import build_cache
    from humo.training.video_encoder import train_video_encoder, video_text_retrieval, view_retrieval

    model = None
    if init_from is not None:
        from humo.models.motionduet.video import load_video_encoder

        model = load_video_encoder(init_from)
        if not hasattr(model, "embed"):
            raise typer.BadParameter(f"{init_from!r} is not a trainable (learned) video encoder",
                                     param_hint="--init-from")
    r = train_video_encoder(corpus, out, steps=steps, batch_size=batch_size, lr=lr, freeze_convs=freeze_convs,
                            motion_weight=motion_weight, model=model, device=device, seed=seed, resume=resume,
                            threads=threads, max_minutes=max_minutes, progress=progress)
    parts = [f"video encoder trained {r.step} steps in {r.seconds:.0f} s, saved to {r.final_dir}"]
    if (corpus / "test.txt").is_file() and (corpus / "test.txt").read_text().strip():
        from humo.models.text_encoder import TextEncoder

        test = build_cache(corpus, "test", TextEncoder("minilm"), None, out / "cache")
        res = video_text_retrieval(r.model, test)
        parts.append("test video->text " + ", ".join(f"{k} {res[k]:.3f}" for k in ("R@1", "R@2", "R@3")))
        res = view_retrieval(r.model, test)
        parts.append("test clip across views " + ", ".join(f"{k} {res[k]:.3f}" for k in ("R@1", "R@2", "R@3")))
    typer.echo("; ".join(parts))
