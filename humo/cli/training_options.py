"""Options every ``humo train`` command shares (the training engine's settings) and ``--num-processes``."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

MIXED_PRECISION = typer.Option(None, "--mixed-precision",
                               help="no, fp16 or bf16 autocast (default: accelerate's config / launcher, else no).")
GRAD_ACCUM = typer.Option(1, "--grad-accum", help="Micro-batches of --batch-size per optimisation step.")
NUM_WORKERS = typer.Option(0, "--num-workers", help="DataLoader worker processes per training process.")
NUM_PROCESSES = typer.Option(1, "--num-processes",
                             help="Train on N processes on this machine (GPUs, or CPU processes with gloo): "
                                  "re-runs this command under `accelerate launch`. --batch-size is per process.")


def _strip_num_processes(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--num-processes":
            skip = True
        elif not a.startswith("--num-processes="):
            out.append(a)
    return out


def relaunch(num_processes: int, mixed_precision: str | None) -> None:
    """With ``num_processes`` > 1 outside a launched job, run this same command under
    ``accelerate launch --multi_gpu --num_processes N`` (one machine) and exit with its status."""
    if num_processes < 1:
        raise ValueError(f"--num-processes must be >= 1, got {num_processes}")
    if num_processes == 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
           "--num_machines", "1", "--dynamo_backend", "no", "--mixed_precision", mixed_precision or "no",
           "-m", "humo", *_strip_num_processes(sys.argv[1:])]
    typer.echo("launching: " + " ".join(cmd[1:]), err=True)
    raise typer.Exit(subprocess.call(cmd))


def is_main_process() -> bool:
    """True outside a launched job and on its process 0 (the one that reports)."""
    return int(os.environ.get("RANK", "0")) == 0
