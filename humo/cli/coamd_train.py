"""``humo train autoencoder``: train CoAMD's multi-modal motion autoencoder on a HumanML3D-layout corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import train_app
from humo.cli.training_options import GRAD_ACCUM, MIXED_PRECISION, NUM_PROCESSES, NUM_WORKERS, relaunch


@train_app.command("autoencoder")
def train_autoencoder_command(
    corpus: Path = typer.Argument(..., help="Corpus folder in HumanML3D layout (new_joints/, <split>.txt)."),
    out: Path = typer.Argument(..., help="Run folder: checkpoint/ (resumable), final/ (the EMA model), "
                                         "log.jsonl, metrics.json."),
    preset: str = typer.Option("small", help="Model size: tiny, small (CPU), medium (one GPU, 9 M), base "
                                             "(paper / MARDM defaults)."),
    steps: int = typer.Option(3000, help="Total optimisation steps (a resumed run continues up to this)."),
    batch_size: int = typer.Option(64, help="Windows per step (per process)."),
    window: int = typer.Option(64, help="Frames per training window (a multiple of 4)."),
    min_window: int | None = typer.Option(None, help="Windows of MIN_WINDOW to WINDOW frames, so clips shorter "
                                          "than WINDOW are trained on too (default: WINDOW; shorter clips skipped)."),
    lr: float = typer.Option(2e-4, help="Peak AdamW learning rate (warmup, then cosine)."),
    ema_decay: float = typer.Option(0.999, help="EMA decay of the saved weights."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init and window draws."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoint if any."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    val_every: int = typer.Option(500, help="Validation MPJPE period in steps."),
    checkpoint_every: int = typer.Option(500, help="Checkpoint period in steps."),
    mirror: bool = typer.Option(True, "--mirror/--no-mirror", help="Left/right mirroring augmentation."),
    norm_windows: int = typer.Option(2048, help="Windows that fit the stream stats and latent scale."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    init_from: str | None = typer.Option(None, "--init-from", help="Start from a trained autoencoder (a folder, "
                                         "a CoAMD pipeline folder, or 'bundled'); --preset is then ignored."),
    decoder_only: bool = typer.Option(False, "--decoder-only", help="With --init-from: train the decoder "
                                      "alone (encoder and latent scale frozen), so the fine-tuned decoder "
                                      "fits the pipelines trained on its latents."),
    balance: float = typer.Option(0.0, min=0.0, max=1.0, help="Sample clips with weight count(action)^-balance "
                                  "(0: uniform over clips; 1: every action equally often)."),
    mixed_precision: str | None = MIXED_PRECISION,
    grad_accum: int = GRAD_ACCUM,
    num_workers: int = NUM_WORKERS,
    num_processes: int = NUM_PROCESSES,
):
    """Train the CoAMD autoencoder (joints -> latents at time / 4 -> joints), report val/test MPJPE.

    Example: humo train autoencoder corpora/bandai-namco runs/ae-small --preset small --threads 2
    """
    relaunch(num_processes, mixed_precision)
    from humo.training.autoencoder import train_autoencoder

    result = train_autoencoder(corpus, out, preset=preset, steps=steps, batch_size=batch_size, window=window,
                               lr=lr, device=device, seed=seed, resume=resume, ema_decay=ema_decay,
                               val_every=val_every, checkpoint_every=checkpoint_every, progress=progress,
                               threads=threads, mirror=mirror, norm_windows=norm_windows,
                               mixed_precision=mixed_precision, grad_accum=grad_accum, num_workers=num_workers,
                               init_from=init_from, decoder_only=decoder_only, balance=balance,
                               min_window=min_window)
    m = result.metrics
    if not m:  # ranks other than 0 under torchrun
        return
    parts = [f"autoencoder ({m['preset']}, {m['parameters'] / 1e6:.2f} M params, {m['model_mb']:.1f} MB) "
             f"trained to step {result.steps} in {result.seconds:.0f} s, saved to {result.final_dir}"]
    for split in ("val", "test"):
        if split in m:
            parts.append(f"{split} MPJPE {m[split]['mpjpe_mm']:.1f} mm (root-aligned "
                         f"{m[split]['local_mpjpe_mm']:.1f} mm, {m[split]['num_clips']} clips)")
    typer.echo("; ".join(parts))
