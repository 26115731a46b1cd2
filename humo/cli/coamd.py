"""``humo train coamd``: a thin wrapper over CoAMD training (generation is ``humo generate``)."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import train_app
from humo.cli.training_options import GRAD_ACCUM, MIXED_PRECISION, NUM_PROCESSES, NUM_WORKERS, relaunch


@train_app.command("coamd")
def train_coamd_command(
    corpus: Path = typer.Argument(..., help="Corpus folder (HumanML3D layout: new_joints/, texts/, ...)."),
    out: Path = typer.Argument(..., help="Run folder: cache/, checkpoint/ (resumable), final/ (pipeline)."),
    autoencoder: Path = typer.Option(..., "--autoencoder", help="Trained autoencoder (run or final/)."),
    preset: str = typer.Option("small", help="Model size: tiny, small (CPU), medium (one GPU, 9 M), base "
                                             "(paper / MARDM defaults)."),
    steps: int = typer.Option(3000, help="Total optimisation steps (a resumed run continues up to this)."),
    batch_size: int = typer.Option(64, help="Windows per step (per process)."),
    lr: float = typer.Option(2e-4, help="Peak AdamW learning rate (warmup, then cosine)."),
    ema_decay: float = typer.Option(0.999, help="EMA decay of the saved weights."),
    mirror: bool = typer.Option(True, "--mirror/--no-mirror", help="Add left/right mirrored clips."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init and batch draws."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoint."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    checkpoint_every: int = typer.Option(500, help="Checkpoint period in steps."),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget; stops early and saves final/."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    mixed_precision: str | None = MIXED_PRECISION,
    grad_accum: int = GRAD_ACCUM,
    num_workers: int = NUM_WORKERS,
    num_processes: int = NUM_PROCESSES,
):
    """Train CoAMD's masked autoregressive flow model on a frozen autoencoder's latents.

    Example: humo train coamd corpora/bandai-namco --autoencoder runs/ae-small runs/coamd-small --threads 2
    """
    relaunch(num_processes, mixed_precision)
    from humo.training.coamd import train_coamd

    r = train_coamd(corpus, autoencoder, out, preset=preset, steps=steps, batch_size=batch_size, lr=lr,
                    device=device, seed=seed, resume=resume, ema_decay=ema_decay, mirror=mirror,
                    checkpoint_every=checkpoint_every, progress=progress, threads=threads,
                    max_minutes=max_minutes,
                    mixed_precision=mixed_precision, grad_accum=grad_accum, num_workers=num_workers)
    if r.metrics:
        m = r.metrics
        loss = "n/a" if m["final_loss"] is None else f"{m['final_loss']:.4f}"
        early = " (time budget reached)" if m["stopped_early"] else ""
        typer.echo(f"CoAMD ({m['preset']}, {m['parameters'] / 1e6:.2f} M params) trained to step {r.steps}"
                   f"{early} in {r.seconds:.0f} s on {m['items']} items ({m['processes']} process(es), global batch "
                   f"{m['batch_size']}); final loss {loss}; "
                   f"saved to {r.final_dir}")

