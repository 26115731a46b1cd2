"""``humo train recognizer``, ``humo recognize`` and ``humo retrieve``: the MAR action recognizer."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import UserError, app, load_npy, train_app
from humo.cli.training_options import GRAD_ACCUM, MIXED_PRECISION, NUM_PROCESSES, NUM_WORKERS, is_main_process, relaunch


def _load_recognizer(folder: Path | None, device: str):
    """The recognizer in ``folder`` (written by save_pretrained, or a CoAMD model folder with a
    recognizer/), or the bundled one for None."""
    from humo.models.recognizer import ActionRecognizer
    from humo.models.text_encoder import offline_env
    from humo.training.common import pick_device

    if folder is not None:
        if not folder.is_dir():
            raise FileNotFoundError(f"--model {folder}: no such folder (a recognizer written by save_pretrained)")
        if not (folder / "config.json").is_file() and (folder / "recognizer" / "config.json").is_file():
            folder = folder / "recognizer"  # a CoAMD model folder
    offline_env()
    return ActionRecognizer.from_pretrained(folder).to(pick_device(device)).eval()


def _load_motion(path: Path):
    if not path.name.lower().endswith(".npy"):
        from humo.motion import Motion

        return Motion.load(path).joints.unsqueeze(0)
    joints = load_npy(path)
    if joints.ndim == 3:
        joints = joints.unsqueeze(0)
    if joints.ndim != 4 or tuple(joints.shape[-2:]) != (22, 3):
        raise UserError(f"{path}: expected joints (T, 22, 3) or (B, T, 22, 3), got {tuple(joints.shape)}")
    return joints


@train_app.command("recognizer")
def train_recognizer_command(
    corpus: Path = typer.Argument(..., help="Corpus folder in HumanML3D layout with labels.json."),
    out: Path = typer.Argument(..., help="Run folder: checkpoint/ (resumable), final/, metrics.json."),
    preset: str = typer.Option("small", help="Model size: tiny, small, base."),
    steps: int = typer.Option(2000, help="Total optimisation steps."),
    batch_size: int = typer.Option(64, help="Clips per step (the InfoNCE negatives)."),
    lr: float = typer.Option(2e-4, help="AdamW learning rate."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Model init, dropout, data order, crops and captions."),
    streams: str = typer.Option("jbm", help="Motion streams: j, jb, jm or jbm (the J/B/M ablation)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoint if any."),
    max_minutes: float | None = typer.Option(None, help="Stop (and save) after this much training time."),
    text_encoder: str = typer.Option("minilm", help="Frozen text encoder (minilm, clip, hub id or folder)."),
    threads: int | None = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    mirror: bool = typer.Option(False, "--mirror/--no-mirror", help="Random left/right mirroring."),
    min_len: int = typer.Option(16, help="Shortest clip / crop in frames."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    mixed_precision: str | None = MIXED_PRECISION,
    grad_accum: int = GRAD_ACCUM,
    num_workers: int = NUM_WORKERS,
    num_processes: int = NUM_PROCESSES,
):
    """Train the recognizer (InfoNCE vs captions and class prompts), then evaluate it on the test split.

    Example: humo train recognizer corpora/bandai-namco runs/recognizer-small --preset small --steps 1500
    """
    relaunch(num_processes, mixed_precision)
    import torch

    from humo.models.text_encoder import TextEncoder, offline_env
    from humo.training.recognizer import train_recognizer

    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} not found")
    if threads is not None:
        torch.set_num_threads(threads)
    offline_env()
    result = train_recognizer(corpus, out, preset=preset, steps=steps, batch_size=batch_size, lr=lr,
                              device=device, seed=seed, resume=resume, streams=streams,
                              text_encoder=TextEncoder(text_encoder),
                              max_seconds=None if max_minutes is None else 60.0 * max_minutes,
                              mirror=mirror, min_len=min_len, progress=progress,
                              mixed_precision=mixed_precision, grad_accum=grad_accum, num_workers=num_workers)
    if not is_main_process():
        return
    typer.echo(f"recognizer (step {result.steps}, {result.seconds:.0f} s) saved to {result.final_dir}")
    for key, value in result.metrics.items():
        typer.echo(f"  {key:24s} {value:.4f}")


@app.command("recognize")
def recognize_command(
    motion: Path = typer.Argument(..., help="A .npy of joints (T, 22, 3) or (B, T, 22, 3), metres, Y up, or a "
                                            "motion file (.json, .bvh)."),
    model: Path | None = typer.Option(None, "--model", help="Recognizer folder (e.g. runs/recognizer-small/final) "
                                      "or a CoAMD model folder with a recognizer/ (default: the bundled one)."),
    top_k: int = typer.Option(5, "--top-k", help="How many classes to list per motion."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda."),
):
    """List the most likely action classes of a motion (default: the bundled recognizer).

    Example: humo recognize clip.npy --top-k 3
    """
    recognizer = _load_recognizer(model, device)
    joints = _load_motion(motion).to(next(recognizer.parameters()).device)
    for b, ranked in enumerate(recognizer.recognize(joints, top_k=top_k)):
        if joints.shape[0] > 1:
            typer.echo(f"motion {b}:")
        for name, prob in ranked:
            typer.echo(f"  {prob:6.3f}  {name}")


@app.command("retrieve")
def retrieve_command(
    query: str = typer.Argument(..., help="A text prompt (text->motion) or a .npy motion (motion->text)."),
    gallery: Path = typer.Option(..., "--gallery", help="Corpus folder whose clips / captions are searched."),
    split: str = typer.Option("test", help="Which split of the gallery corpus."),
    model: Path | None = typer.Option(None, "--model", help="Recognizer folder (e.g. runs/recognizer-small/final) "
                                      "or a CoAMD model folder with a recognizer/ (default: the bundled one)."),
    k: int = typer.Option(5, "-k", "--k", help="How many results."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda."),
):
    """Search a corpus split: clips for a text query, or captions for a motion query.

    Example: humo retrieve "a person waves with the left hand" --gallery corpora/bandai-namco \\
    --model runs/recognizer-small/final -k 5
    """
    from humo.training.recognizer import scan_split

    if not gallery.is_dir():
        raise FileNotFoundError(f"gallery corpus {gallery} not found")
    recognizer = _load_recognizer(model, device)
    items = scan_split(gallery, split)
    if not items:
        raise UserError(f"the {split} split of {gallery} is empty")
    if query.endswith(".npy"):
        captions = list(dict.fromkeys(t for it in items for t in it["texts"]))
        owner = {t: it["id"] for it in reversed(items) for t in it["texts"]}
        joints = _load_motion(Path(query)).to(next(recognizer.parameters()).device)
        found = recognizer.retrieve(joints, captions, k=k)
        for i, s in zip(found.indices[0].tolist(), found.scores[0].tolist(), strict=True):
            typer.echo(f"  {s:6.3f}  {captions[i]}  [{owner[captions[i]]}]")
        return
    motions = recognizer.embed_clips([it["joints"].float() for it in items])
    found = recognizer.retrieve(query, motions, k=k)
    for i, s in zip(found.indices[0].tolist(), found.scores[0].tolist(), strict=True):
        typer.echo(f"  {s:6.3f}  {items[i]['id']}  ({items[i]['texts'][0]})")
