"""``humo generate`` and ``humo edit``: text -> motion with CoAMD (bundled) or MotionDuet, and editing.

Everything that can be checked cheaply (prompts, output files and folders, the model location, input
files) is checked before the model is loaded; outputs are written atomically, a video and its joints as
one unit (:mod:`humo.data.atomic`).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import typer

from humo.cli.app import UserError, app
from humo.cli.io import Progress, check_output, numbered

MODELS = ("coamd", "motionduet")
SUFFIXES = (".npy", ".json", ".bvh", ".bvh.gz", ".mp4", ".gif", ".png")
VISUAL = (".mp4", ".gif", ".png")
CFG_MAX = 10.0  # beyond this bones stretch and figures leave the ground (CFG 100: broken skeletons)
ENGLISH = ("Prompts must be in English: the bundled text encoder (MiniLM) is English-only, and text in "
           "another language silently gives an unrelated motion.")
MODEL_HELP = ("coamd (the bundled CoAMD), motionduet (the bundled MotionDuet), a model folder (saved "
              "pipeline or training run) or an owner/name Hugging Face Hub id; a folder that does not exist is "
              "an error, never a hub lookup.")


# ---------------------------------------------------------------------------------------------- model
def _kind(folder: Path, shown: str) -> tuple[str, Path]:
    """('coamd' | 'motionduet', folder) from a model folder or training run folder."""
    for f in (folder, folder / "final"):
        meta = f / "pipeline.json"
        if meta.is_file():
            try:
                name = str(json.loads(meta.read_text()).get("pipeline", ""))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise UserError(f"--model {shown}: corrupt {meta} ({e})") from None
            return ("motionduet" if "MotionDuet" in name else "coamd"), f
        if (f / "config.json").is_file() and (f / "model.safetensors").is_file():
            return "motionduet", f  # a bare MotionDuetModel folder (a MotionDuet run's final/)
    raise UserError(f"--model {shown}: {folder} is not a humo model folder (no pipeline.json)")


def resolve_model(model: str) -> tuple[str, Path | str | None]:
    """Where the model comes from, checked before any work: (kind, folder | hub id | None = bundled)."""
    from humo.pipelines.common import looks_like_hub_id

    if model.lower() in MODELS:  # bundled names first
        if model.lower() == "motionduet":
            from humo.models.hub import BUNDLED_MOTIONDUET
            from humo.pipelines.motionduet import NO_BUNDLED_MOTIONDUET

            if not (BUNDLED_MOTIONDUET / "pipeline.json").is_file():
                raise UserError(f"--model motionduet: {NO_BUNDLED_MOTIONDUET}")
            return "motionduet", None
        return "coamd", None
    path = Path(model).expanduser()
    if path.is_dir():
        return _kind(path, model)
    if path.exists():
        raise UserError(f"--model {model} is a file; give a model folder")
    if looks_like_hub_id(model):
        return "hub", model
    raise UserError(f"--model {model}: no such folder (and not {' or '.join(MODELS)} or an owner/name hub id)")


def load_model(kind: str, where, device: str, threads: int | None, batch: int = 1):
    import os

    import torch

    from humo.pipelines.common import cpu_threads
    from humo.training.common import pick_device

    if threads is not None:
        torch.set_num_threads(threads)
    elif "OMP_NUM_THREADS" not in os.environ:  # the user's own setting wins
        torch.set_num_threads(cpu_threads(batch))
    if kind == "hub":
        from humo.pipelines.common import resolve_pretrained

        kind, where = _kind(resolve_pretrained(where), str(where))
    if kind == "motionduet":
        from humo.pipelines.motionduet import MotionDuet as Pipeline
    else:
        from humo.pipelines.coamd import CoAMD as Pipeline
    return Pipeline.from_pretrained(where).to(pick_device(device))  # None -> the bundled model


def _read_video_input(pipe, path: Path):
    """``--video``: a video file -> one grayscale clip ``(1, F, S, S)`` for the model's video encoder; a
    motion file -> its :class:`~humo.motion.Motion` (rendered by the encoder)."""
    from humo.data.video_io import VIDEO_SUFFIXES, read_video_clip
    from humo.motion import Motion

    if not pipe.model.video_dim:
        raise UserError("--video: this MotionDuet model was trained without video (text only)")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        enc = pipe.video_encoder
        if not hasattr(enc, "frames") or not hasattr(enc, "size"):
            raise UserError(f"--video {path}: the model's video encoder reads motions, not video files")
        return read_video_clip(path, frames=enc.frames, size=enc.size).unsqueeze(0)
    return Motion.load(path)


# ---------------------------------------------------------------------------------------------- helpers
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


def _looks_non_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(ord(c) > 0x24F for c in letters) > 0.3 * len(letters)


def _guidance(pipe, cfg: float | None, cfg_schedule: str, recognizer_scale: float | None,
              cfg_rescale: float | None = None, contact_steps: int | None = None, video_scale: float | None = None):
    """``None`` (the pipeline's defaults) unless an option asks for something else; then
    ``pipe.default_guidance`` with those parts overridden (unset ones stay the pipeline's)."""
    if cfg is None and cfg_rescale is None and cfg_schedule == "constant" and recognizer_scale is None \
            and contact_steps is None and video_scale is None:
        return None
    extra = {} if video_scale is None else {"video_scale": video_scale}  # MotionDuet's
    try:
        return pipe.default_guidance(cfg=cfg, rescale=cfg_rescale, schedule=cfg_schedule,
                                     recognizer_scale=recognizer_scale, contact_steps=contact_steps, **extra)
    except ValueError as e:  # a part this model cannot take: a usage error
        raise UserError(str(e)) from None


def _plan_outputs(out: Path, n: int, force: bool) -> tuple[Path | None, list[Path], list[Path | None]]:
    """(one contact sheet or None, the file per motion, its joints file or None); all checked now."""
    suffix = out.suffix.lower()
    check_output(out, SUFFIXES, force=True)  # suffix and folder; existing files are checked per file below
    sheet = out if suffix == ".png" and n > 1 else None
    files = numbered(out.with_suffix(".npy"), n) if sheet else numbered(out, n)
    joints = [None] * n if sheet or suffix not in VISUAL else [p.with_suffix(".npy") for p in files]
    for p in [sheet, *files, *joints]:
        if p is not None:
            check_output(p, SUFFIXES, force)
    return sheet, files, joints


def _write(motions, sheet: Path | None, files: list[Path], joints: list[Path | None], force: bool,
           quiet: bool) -> None:
    from humo.data.atomic import atomic_write_group
    from humo.viz import render_contact_sheet

    if sheet is not None:  # one contact sheet, one row per prompt, + each motion's joints: one unit
        def draw(tmp: Path) -> None:
            render_contact_sheet([m.joints for m in motions], tmp, titles=[m.text for m in motions],
                                 fps=motions[0].fps, overwrite=True)

        atomic_write_group([(sheet, draw)] + [(p, m.writer(".npy")) for m, p in zip(motions, files, strict=True)],
                           overwrite=force)
        typer.echo(f"wrote {sheet} ({len(motions)} rows) + joints {files[0].name} .. {files[-1].name}")
        for m in motions:
            typer.echo(f"  {m.duration:.1f} s, seed {m.seed}: {m.text}")
        return
    total = sum(len(m) for m in motions) if files[0].suffix.lower() in (".mp4", ".gif") else len(motions)
    done = 0
    with Progress("rendering", total, quiet) as bar:
        for m, p, j in zip(motions, files, joints, strict=True):
            def tick(i, _n, base=done):
                bar.update(base + i)

            m.save(p, overwrite=force, with_joints=j is not None, progress=tick)
            done += len(m) if total != len(motions) else 1
            bar.update(done)
            extra = f" + joints {j}" if j is not None else ""
            typer.echo(f"wrote {p}{extra} ({m.duration:.1f} s, seed {m.seed}): {m.text}")


# ---------------------------------------------------------------------------------------------- commands
@app.command("generate", help=f"Generate motion from text (CoAMD by default, or MotionDuet). {ENGLISH}\n\n"
             'Example: humo generate "a person waves" --seconds 4 --out wave.mp4')
def generate_command(
    text: list[str] = typer.Argument(None, help="One or more prompts, in English (or use --prompts)."),
    model: str = typer.Option("coamd", "--model", "-m", help=MODEL_HELP),
    out: Path = typer.Option(Path("motion.mp4"), "--out", "-o", help="Output file; the suffix picks the "
                             "format (.npy .json .bvh .mp4 .gif .png); several motions get _000, _001, ... "
                             "except .png: one contact sheet with a row per prompt; a picture or video also "
                             "gets the joints as .npy (written with it, or neither)."),
    seconds: float | None = typer.Option(None, help="Length in seconds (default: predicted from the text)."),
    prompts: Path | None = typer.Option(None, "--prompts", help="Text file, one 'text#seconds' per line."),
    seed: int | None = typer.Option(None, min=0, help="Seed of the first motion (the i-th uses seed + i)."),
    cfg: float | None = typer.Option(None, "--cfg", min=0.0, max=CFG_MAX,
                                     help=f"Classifier-free guidance scale, 0..{CFG_MAX:g} (1 = off; default: "
                                          "the model's: 3 for CoAMD and the bundled MotionDuet)."),
    cfg_schedule: str = typer.Option("constant", help="CFG schedule: constant or linear (MAR)."),
    cfg_rescale: float | None = typer.Option(None, min=0.0, max=1.0, help="CFG rescale 0..1, keeps speeds "
                                             "real (0 = off; default: the model's, 0.7 for CoAMD, 0 for "
                                             "MotionDuet)."),
    recognizer_scale: float | None = typer.Option(None, min=0.0, max=CFG_MAX,
                                                  help="Recognizer guidance step (default 1 with a model that "
                                                  "has a recognizer, as the bundled CoAMD; 0 = off)."),
    contact_steps: int | None = typer.Option(None, min=0, help="Contact guidance: Adam steps on the finished "
                                             "latents so planted feet stay put and the body keeps its speed "
                                             "(default 50; 0: off)."),
    plant_root: bool = typer.Option(True, "--plant-root/--no-plant-root", help="Move the body so the stance "
                                    "foot does not slide (off: the generated root path, feet may glide)."),
    foot_lock: bool = typer.Option(True, "--foot-lock/--no-foot-lock", help="Pin planted feet (leg IK)."),
    skeleton: Path | None = typer.Option(None, "--skeleton", help="Skeleton to generate on: skeleton.json or a "
                                         "motion file (.bvh, .npy, .json; its mean skeleton). Default: the "
                                         "model's."),
    steps: int | None = typer.Option(None, min=1, help="Sampling steps (default: CoAMD 18 AR steps, "
                                     "MotionDuet 50 DDIM steps)."),
    flow_steps: int | None = typer.Option(None, min=1, help="CoAMD: ODE steps per token (default 8; Heun: 2 "
                                          "flow-head calls per step)."),
    solver: str | None = typer.Option(None, help="CoAMD: ODE solver, heun (default) or euler."),
    video: Path | None = typer.Option(None, "--video", help="MotionDuet: a video (.mp4/.gif/.webm/.mov/.avi; "
                                      "a stick-figure render works best) or a motion file (.npy/.json/.bvh, "
                                      "rendered first) that conditions the generation."),
    video_scale: float | None = typer.Option(None, min=0.0, help="With --video: the video's own guidance "
                                             "weight (CFG weighs the text, this the video on top of it; "
                                             "default: text and video guided together by --cfg)."),
    batch_size: int = typer.Option(32, min=1, help="Prompts per forward pass."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda, ..."),
    threads: int | None = typer.Option(None, min=1, help="CPU threads for torch (default: 1 for up to 4 prompts "
                                       "per pass, else the idle cores)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
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
    from humo.models.text_encoder import check_texts

    texts = check_texts(texts)  # empty or huge prompts: an error before any work
    for t in texts:
        if _looks_non_english(t):
            typer.secho(f"warning: {t[:40]!r} does not look like English. {ENGLISH}", fg=typer.colors.YELLOW,
                        err=True)
    sheet, files, joints = _plan_outputs(out, len(texts), force)
    kind, where = resolve_model(model)
    if kind == "coamd" and video is not None:
        raise UserError("--video conditions MotionDuet; CoAMD is text-only")
    if kind == "motionduet" and (flow_steps is not None or solver is not None or recognizer_scale):
        raise UserError("--flow-steps, --solver and --recognizer-scale are CoAMD options")
    if video is not None and not video.is_file():
        raise FileNotFoundError(f"--video {video} not found")
    if video_scale is not None and video is None:
        raise UserError("--video-scale weighs the --video: give one")
    if skeleton is not None and not skeleton.is_file():
        raise FileNotFoundError(f"--skeleton {skeleton} not found")
    pipe = load_model(kind, where, device, threads, min(len(texts), batch_size))
    if skeleton is not None:
        from humo.pipelines.cleanup import load_skeleton

        pipe.cleanup.offsets = load_skeleton(skeleton)
    pipe.cleanup.plant_root = plant_root
    loop = {k: v for k, v in dict(steps=steps, flow_steps=flow_steps, solver=solver).items() if v is not None}
    if video is not None:
        loop["video"] = _read_video_input(pipe, video)
    guidance = _guidance(pipe, cfg, cfg_schedule, recognizer_scale, cfg_rescale, contact_steps, video_scale)
    first = secrets.randbelow(2**31 - 1 - len(texts)) if seed is None else seed
    motions = []
    with Progress("generating", len(texts), quiet) as bar:
        for s in range(0, len(texts), batch_size):  # chunks: progress; sample i keeps seed first + i
            sl = slice(s, s + batch_size)
            chunk_len = lengths[sl] if isinstance(lengths, list) else lengths
            motions += pipe.generate(texts[sl], seconds=chunk_len, seed=first + s, guidance=guidance,
                                     batch_size=batch_size, foot_lock=foot_lock, **loop)
            bar.update(len(motions))
    _write(motions, sheet, files, joints, force, quiet)


def _parse_span(span: str) -> tuple[float | None, float | None]:
    start, sep, end = span.partition(":")
    if not sep:
        raise UserError(f"--span must be START:END in seconds (either side may be empty), got {span!r}")
    try:
        return (float(start) if start.strip() else None, float(end) if end.strip() else None)
    except ValueError:
        raise UserError(f"--span must be START:END in seconds, got {span!r}") from None


@app.command("edit", help="Regenerate part of a motion from text (latent-space editing with CoAMD). "
             "--mode says what --span is: inpaint regenerates the span and keeps the rest, outpaint keeps the "
             f"span and regenerates the rest, prefix keeps up to END, suffix keeps from START. {ENGLISH}\n\n"
             'Example: humo edit walk.npy "a person jumps" --mode inpaint --span 1.0:2.0 --out jump.npy')
def edit_command(
    motion: Path = typer.Argument(..., help="Motion to edit (.npy joints (T, 22, 3), .json, .bvh; 20 fps)."),
    text: str = typer.Argument(..., help="Prompt (English) for the regenerated part."),
    mode: str = typer.Option("inpaint", help="inpaint (regenerate the span), outpaint (keep the span), "
                             "prefix (keep up to END), suffix (keep from START)."),
    span: str = typer.Option(..., "--span", help="START:END in seconds, e.g. 1.0:2.5, :2 or 1.5:."),
    model: str = typer.Option("coamd", "--model", "-m", help="coamd (the bundled model), a CoAMD model "
                              "folder or an owner/name hub id."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; the suffix picks the format."),
    seed: int | None = typer.Option(None, min=0, help="Random seed."),
    cfg: float | None = typer.Option(None, "--cfg", min=0.0, max=CFG_MAX,
                                     help=f"Classifier-free guidance scale, 0..{CFG_MAX:g} (default 3, rescale 0.7)."),
    steps: int = typer.Option(18, min=1, help="Autoregressive steps."),
    flow_steps: int = typer.Option(8, min=1, help="ODE steps per token (Heun: 2 flow-head calls per step)."),
    solver: str = typer.Option("heun", help="ODE solver: heun or euler."),
    device: str = typer.Option("auto", help="auto (cuda if available), cpu, cuda, ..."),
    threads: int | None = typer.Option(None, min=1, help="CPU threads for torch."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
):
    from humo.motion import Motion

    if not motion.is_file():
        raise FileNotFoundError(f"{motion} not found")
    window = _parse_span(span)
    check_output(out, SUFFIXES, force)
    kind, where = resolve_model(model)
    if kind == "motionduet":
        raise UserError(f"--model {model} is a MotionDuet model; editing needs CoAMD")
    source = Motion.load(motion)
    pipe = load_model(kind, where, device, threads)
    edited = pipe.edit(source, text, mode=mode, keep=window, seed=seed, steps=steps, flow_steps=flow_steps,
                       solver=solver, guidance=None if cfg is None else _guidance(pipe, cfg, "constant", 0.0))
    edited.save(out, overwrite=force)
    typer.echo(f"wrote {out} ({edited.duration:.1f} s, {mode} --span {span}, seed {edited.seed}): {edited.text}")
