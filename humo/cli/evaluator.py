"""``humo train evaluator``: train the contrastive text-motion evaluator on a corpus folder."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import train_app
from humo.cli.training_options import GRAD_ACCUM, MIXED_PRECISION, NUM_PROCESSES, NUM_WORKERS, is_main_process, relaunch


@train_app.command("evaluator")
def train_evaluator_command(
    corpus: Path = typer.Argument(..., help="Corpus folder in HumanML3D layout (new_joints/, "
                                            "new_joint_vecs/, texts/, <split>.txt, Mean.npy/Std.npy)."),
    out: Path = typer.Argument(..., help="Run folder: checkpoint/ (resumable) and final/ (the evaluator)."),
    steps: int = typer.Option(20_000, help="Total optimisation steps."),
    batch_size: int = typer.Option(64, help="Pairs per step (the InfoNCE negatives)."),
    lr: float = typer.Option(1e-4, help="AdamW learning rate."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init, dropout, data order and crops."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoint if any."),
    preset: str = typer.Option("base", help="Evaluator size: tiny, small, base, large."),
    text_encoder: str = typer.Option("minilm", help="Frozen text encoder (minilm, clip, hub id or folder)."),
    split: str = typer.Option("train", help="Split file to train on (<split>.txt)."),
    min_len: int = typer.Option(40, help="Shortest clip / crop in frames."),
    max_len: int = typer.Option(196, help="Longest crop in frames."),
    mirror: bool = typer.Option(False, "--mirror/--no-mirror", help="Random left/right mirroring."),
    save_every: int = typer.Option(1000, help="Checkpoint period in steps."),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget; stops early and saves final/."),
    mixed_precision: str | None = MIXED_PRECISION,
    grad_accum: int = GRAD_ACCUM,
    num_workers: int = NUM_WORKERS,
    num_processes: int = NUM_PROCESSES,
):
    """Train a contrastive evaluator (symmetric InfoNCE, 512-d) for the evaluation protocol."""
    relaunch(num_processes, mixed_precision)
    import torch

    from humo.data.datasets import TextMotionDataset
    from humo.data.stats import load_normalizer
    from humo.models.text_encoder import TextEncoder, offline_env
    from humo.training.evaluator import train_evaluator

    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} not found")
    offline_env()
    dataset = TextMotionDataset(corpus, split, min_len=min_len, max_len=max_len, mirror=mirror,
                                random_crop=True, generator=torch.Generator().manual_seed(seed))
    stats = load_normalizer(corpus) if (corpus / "Mean.npy").is_file() else None
    mean, std = (stats.mean, stats.std) if stats else (None, None)
    encoder = TextEncoder(text_encoder)
    result = train_evaluator(dataset, out, steps=steps, batch_size=batch_size, lr=lr, device=device,
                             seed=seed, resume=resume, preset=preset, mean=mean, std=std,
                             save_every=save_every, max_minutes=max_minutes,
                             model_kwargs={"text_encoder": text_encoder},
                             text_encoder=encoder,
                             mixed_precision=mixed_precision, grad_accum=grad_accum, num_workers=num_workers)
    if is_main_process():
        typer.echo(f"evaluator (step {result.step}) saved to {result.final_dir}")
