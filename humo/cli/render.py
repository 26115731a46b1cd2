"""``humo render`` (videos / contact sheets of motions) and ``humo export`` (convert a motion file).

Inputs are ``.npy`` joints ``(T, 22, 3)`` or HumanML3D features ``(T, 263)`` (told apart by shape),
``.json`` motions written by :meth:`humo.motion.Motion.save`, ``.bvh`` files (any rig a preset of
:mod:`humo.data.retarget` knows) or ASF/AMC motion capture (``.amc`` with ``--asf``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import app
from humo.cli.io import Progress, check_output

_VIDEO = (".mp4", ".gif")
_ASF_HELP = "ASF skeleton of .amc inputs (default: the only .asf beside each AMC)."


@app.command("render")
def render(
    inputs: list[Path] = typer.Argument(..., help="Motion files (.npy joints or 263-d features, .json, "
                                                  ".bvh, .amc); several are drawn side by side."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .mp4, .gif, or .png (contact sheet)."),
    fps: float | None = typer.Option(None, "--fps", help="Playback frame rate (default: the first input's)."),
    title: list[str] | None = typer.Option(None, "--title", help="Caption per input (repeat the option); "
                                                                 "default: the motion's text or file name."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace existing output files."),
    contact_sheet: bool = typer.Option(False, "--contact-sheet",
                                       help="Also write a PNG contact sheet next to the video "
                                            "(OUT with .png)."),
    frames: int = typer.Option(8, "--frames", min=1, help="Frames per row in contact sheets."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    asf: Path | None = typer.Option(None, "--asf", help=_ASF_HELP),
) -> None:
    """Render motions side by side to a video (.mp4/.gif) or a contact sheet (.png)."""
    from humo.motion import Motion
    from humo.viz import render_contact_sheet, render_video
    from humo.viz.render import check_plausible

    check_output(out, _VIDEO + (".png",), force)  # every output, before loading and drawing
    suffix = out.suffix.lower()
    sheet = out if suffix == ".png" else out.with_suffix(".png") if contact_sheet else None
    if sheet is not None:
        check_output(sheet, (".png",), force)
    if title and len(title) != len(inputs):
        raise ValueError(f"got {len(title)} --title values for {len(inputs)} inputs")
    motions = [Motion.load(p, asf=asf) for p in inputs]
    for m, p in zip(motions, inputs, strict=True):
        check_plausible(m.numpy(), str(p))  # a message naming the file, before any drawing
    titles = list(title) if title else [m.text or p.stem for m, p in zip(motions, inputs, strict=True)]
    rate = fps if fps is not None else motions[0].fps
    joints = [m.joints for m in motions]
    if suffix in _VIDEO:
        with Progress("rendering", max(len(j) for j in joints), quiet) as bar:
            render_video(joints, out, fps=rate, titles=titles, overwrite=force, progress=bar.update)
        typer.echo(f"wrote {out}")
    if sheet is not None:
        render_contact_sheet(joints, sheet, n_frames=frames, titles=titles, fps=rate, overwrite=force)
        typer.echo(f"wrote {sheet}")


@app.command("export")
def export(
    input: Path = typer.Argument(..., help="Motion file (.npy joints or 263-d features, .json, .bvh, .amc)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .bvh, .npy, .json, .mp4, .gif or .png."),
    fps: float | None = typer.Option(None, "--fps",
                                     help="Frame rate of the input (default: the file's, else 20)."),
    title: str | None = typer.Option(None, "--title", help="Caption stored in .json / drawn in videos."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    asf: Path | None = typer.Option(None, "--asf", help=_ASF_HELP),
) -> None:
    """Convert a motion file to another format (chosen by the suffix of --out); ASF/AMC -> BVH too.

    Example: humo export 02_01.amc --asf 02.asf --out 02_01.bvh
    """
    from humo.motion import SAVE_SUFFIXES, Motion

    check_output(out, SAVE_SUFFIXES + (".bvh.gz",), force)
    motion = Motion.load(input, fps=fps, asf=asf)
    if title is not None:
        motion.text = title
    with Progress("rendering", len(motion), quiet) as bar:
        motion.save(out, overwrite=force, progress=bar.update)
    typer.echo(f"wrote {out}")
