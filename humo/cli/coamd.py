"""``humo train coamd``, ``humo generate`` and ``humo edit``: thin wrappers over CoAMD training / pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import UserError, app, train_app


@train_app.command("coamd")
def train_coamd_command(
    corpus: Path = typer.Argument(..., help="Corpus folder (HumanML3D layout: new_joints/, texts/, ...)."),
    out: Path = typer.Argument(..., help="Run folder: cache/, checkpoint/ (resumable), final/ (pipeline)."),
    autoencoder: Path = typer.Option(..., "--autoencoder", help="Trained autoencoder (run or final/)."),
    preset: str = typer.Option("small", help="Model size: tiny, small (CPU), base (paper / MARDM defaults)."),
    steps: int = typer.Option(3000, help="Total optimisation steps (a resumed run continues up to this)."),
    batch_size: int = typer.Option(64, help="Windows per step (per process under torchrun)."),
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
):
    """Train CoAMD's masked autoregressive flow model on a frozen autoencoder's latents.

    Example: humo train coamd corpora/bandai-namco --autoencoder runs/ae-small runs/coamd-small --threads 2
    """
    from humo.training.coamd import train_coamd

    r = train_coamd(corpus, autoencoder, out, preset=preset, steps=steps, batch_size=batch_size, lr=lr,
                    device=device, seed=seed, resume=resume, ema_decay=ema_decay, mirror=mirror,
                    checkpoint_every=checkpoint_every, progress=progress, threads=threads,
                    max_minutes=max_minutes)
    if r.metrics:
        m = r.metrics
        loss = "n/a" if m["final_loss"] is None else f"{m['final_loss']:.4f}"
        early = " (time budget reached)" if m["stopped_early"] else ""
        typer.echo(f"CoAMD ({m['preset']}, {m['parameters'] / 1e6:.2f} M params) trained to step {r.steps}"
                   f"{early} in {r.seconds:.0f} s on {m['items']} items; final loss {loss}; "
                   f"saved to {r.final_dir}")


def _pipeline(model: Path, device: str, threads: int | None):
    import torch

    from humo.pipelines.coamd import CoAMDPipeline
    from humo.training.common import pick_device

    if threads is not None:
        torch.set_num_threads(threads)
    return CoAMDPipeline.from_pretrained(model).to(pick_device(device))  # model None -> bundled


def _guidance(pipe, cfg: float | None, cfg_schedule: str, recognizer_scale: float,
              cfg_rescale: float | None = None) -> list:
    from humo.guidance import DEFAULT_CFG_RESCALE, DEFAULT_CFG_SCALE, ClassifierFreeGuidance, RecognizerGuidance

    cfg = DEFAULT_CFG_SCALE if cfg is None else cfg
    cfg_rescale = DEFAULT_CFG_RESCALE if cfg_rescale is None else cfg_rescale
    guidance = [ClassifierFreeGuidance(cfg, schedule=cfg_schedule, rescale=cfg_rescale)]
    if recognizer_scale:
        if pipe.recognizer is None:
            raise UserError("--recognizer-scale needs a model folder with a recognizer/ component")
        pipe.recognizer.set_text_encoder(pipe.text_encoder)
        guidance.append(RecognizerGuidance(pipe.recognizer, scale=recognizer_scale))
    return guidance


def _read_prompts(path: Path) -> tuple[list[str], list[float | None]]:
    if not path.is_file():
        raise FileNotFoundError(f"prompt file {path} not found")
    texts, secs = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        text, _, sec = line.partition("#")
        try:
            secs.append(float(sec) if sec.strip() else None)
        except ValueError:
            raise UserError(f"{path}:{n}: seconds after '#' must be a number, got {sec!r}") from None
        texts.append(text.strip())
    if not texts:
        raise UserError(f"{path} has no prompts (one per line: text#seconds)")
    return texts, secs


def _outputs(out: Path, n: int, force: bool) -> list[Path]:
    paths = [out] if n == 1 else [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(n)]
    for p in paths:
        if p.exists() and not force:
            raise FileExistsError(f"{p} exists (use --force to overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return paths


@app.command("generate")
def generate_command(
    text: list[str] = typer.Argument(None, help="One or more prompts (or use --prompts)."),
    model: Path | None = typer.Option(None, "--model", help="Pipeline folder, run folder or hub id "
                                      "(default: the bundled Bandai Namco + CMU model)."),
    out: Path = typer.Option(Path("motion.mp4"), "--out", "-o", help="Output file; the suffix picks the "
                             "format (.npy .json .bvh .mp4 .gif .png); several motions get _000, _001, ...; "
                             "a picture or video also gets the joints beside it as .npy"),
    seconds: float | None = typer.Option(None, help="Length in seconds (default: predicted from the text)."),
    prompts: Path | None = typer.Option(None, "--prompts", help="Text file, one 'text#seconds' per line."),
    seed: int | None = typer.Option(None, help="Seed of the first motion (the i-th uses seed + i)."),
    cfg: float | None = typer.Option(None, "--cfg", help="Classifier-free guidance scale (1 = off; default: "
                                     "humo.guidance.DEFAULT_CFG_SCALE)."),
    cfg_schedule: str = typer.Option("constant", help="CFG schedule: constant or linear (MAR)."),
    cfg_rescale: float | None = typer.Option(None, help="CFG rescale 0..1, keeps speeds real (0 = off; default: "
                                             "humo.guidance.DEFAULT_CFG_RESCALE)."),
    recognizer_scale: float = typer.Option(0.0, help="Recognizer guidance step (0 = off; CoAMD uses 1)."),
    foot_lock: bool = typer.Option(True, "--foot-lock/--no-foot-lock", help="Pin planted feet (leg IK)."),
    skeleton: Path | None = typer.Option(None, "--skeleton", help="Skeleton to generate on: skeleton.json or a "
                                         "motion file (.bvh, .npy, .json; its mean skeleton). Default: the model's."),
    steps: int = typer.Option(18, help="Autoregressive steps."),
    flow_steps: int = typer.Option(32, help="ODE steps per token."),
    solver: str = typer.Option("euler", help="ODE solver: euler or heun."),
    batch_size: int = typer.Option(32, help="Prompts per forward pass."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda, ..."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
):
    """Generate motion from text with a trained CoAMD pipeline.

    Example: humo generate "a person waves" --seconds 4 --out wave.mp4
    """
    if prompts is not None and text:
        raise UserError("give prompts as arguments or with --prompts, not both")
    if prompts is not None:
        texts, secs = _read_prompts(prompts)
        secs = [s if s is not None else seconds for s in secs]
        lengths = None if all(s is None for s in secs) else secs
        if lengths is not None and any(s is None for s in lengths):
            raise UserError("give every prompt a length ('text#seconds') or use --seconds")
    elif text:
        texts, lengths = list(text), seconds
    else:
        raise UserError("no prompt: give TEXT arguments or --prompts FILE")
    paths = _outputs(out, len(texts), force)
    visual = out.suffix.lower() in (".mp4", ".gif", ".png")
    if visual:
        _outputs(out.with_suffix(".npy"), len(texts), force)  # refuse before any work if joints would clash
    pipe = _pipeline(model, device, threads)
    if skeleton is not None:
        from humo.pipelines.cleanup import load_skeleton

        pipe.cleanup.offsets = load_skeleton(skeleton)
    motions = pipe.generate(texts, seconds=lengths, seed=seed, steps=steps, flow_steps=flow_steps,
                            solver=solver, guidance=_guidance(pipe, cfg, cfg_schedule, recognizer_scale, cfg_rescale),
                            batch_size=batch_size, foot_lock=foot_lock)
    for m, p in zip(motions, paths, strict=True):
        m.save(p, overwrite=force)
        extra = ""
        if visual:
            m.save(p.with_suffix(".npy"), overwrite=force)
            extra = f" + joints {p.with_suffix('.npy')}"
        typer.echo(f"wrote {p}{extra} ({m.duration:.1f} s, seed {m.seed}): {m.text}")


def _parse_keep(keep: str) -> tuple[float | None, float | None]:
    start, sep, end = keep.partition(":")
    if not sep:
        raise UserError(f"--keep must be START:END in seconds (either side may be empty), got {keep!r}")
    try:
        return (float(start) if start.strip() else None, float(end) if end.strip() else None)
    except ValueError:
        raise UserError(f"--keep must be START:END in seconds, got {keep!r}") from None


@app.command("edit")
def edit_command(
    motion: Path = typer.Argument(..., help="Motion to edit (.npy joints (T, 22, 3), .json, .bvh; 20 fps)."),
    text: str = typer.Argument(..., help="Prompt for the regenerated part."),
    mode: str = typer.Option("inpaint", help="inpaint (regenerate START:END), outpaint (keep START:END), "
                             "prefix (keep up to END), suffix (keep from START)."),
    keep: str = typer.Option(..., "--keep", help="START:END in seconds, e.g. 1.0:2.5, :2 or 1.5:."),
    model: Path | None = typer.Option(None, "--model", help="Pipeline folder, run folder or hub id "
                                      "(default: the bundled Bandai Namco + CMU model)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; the suffix picks the format."),
    seed: int | None = typer.Option(None, help="Random seed."),
    cfg: float = typer.Option(4.5, "--cfg", help="Classifier-free guidance scale (1 = off)."),
    steps: int = typer.Option(18, help="Autoregressive steps."),
    flow_steps: int = typer.Option(32, help="ODE steps per token."),
    solver: str = typer.Option("euler", help="ODE solver: euler or heun."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda, ..."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
):
    """Regenerate part of a motion from text, keeping the rest (latent-space inpainting).

    Example: humo edit walk.npy "a person jumps" --keep 1.0:2.0 --model runs/coamd-small --out jump.npy
    """
    from humo.guidance import ClassifierFreeGuidance
    from humo.motion import Motion

    if not motion.is_file():
        raise FileNotFoundError(f"{motion} not found")
    span = _parse_keep(keep)
    (path,) = _outputs(out, 1, force)
    pipe = _pipeline(model, device, threads)
    edited = pipe.edit(Motion.load(motion), text, mode=mode, keep=span, seed=seed, steps=steps,
                       flow_steps=flow_steps, solver=solver, guidance=[ClassifierFreeGuidance(cfg)])
    edited.save(path, overwrite=force)
    typer.echo(f"wrote {path} ({edited.duration:.1f} s, {mode} --keep {keep}, seed {edited.seed}): "
               f"{edited.text}")
