"""``humo data build``: build a HumanML3D-layout corpus from a labelled mocap collection (BVH or ASF/AMC)."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import data_app

_KINDS = ("bandai-namco", "cmu", "hdm05")


@data_app.command("build")
def build(
    source_kind: str = typer.Argument(..., help="Collection kind: bandai-namco, cmu or hdm05."),
    src: Path = typer.Argument(..., help="Source folder (read only; never written to)."),
    out: Path = typer.Argument(..., help="Corpus folder to create (must be empty or absent unless --force)."),
    workers: int = typer.Option(2, "--workers", "-w", min=0, help="Worker processes (0/1: in this process)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and caption phrasings."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace a non-empty OUT."),
    min_len: int = typer.Option(10, "--min-len", min=2, help="Skip clips shorter than this (20 fps frames)."),
    max_len: int = typer.Option(196, "--max-len", min=2, help="Cut longer clips into segments up to this."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N clips (quick trials)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Build a corpus: retarget to SMPL-22 at 20 fps, segment, featurise, caption, split by take.

    Example: humo data build bandai-namco ../shared/data/bandai-namco corpora/bandai-namco --workers 2

    hdm05 reads ASF/AMC (labels.csv, amc/, asf/) and keeps the published train/test split.
    """
    if source_kind not in _KINDS:
        raise ValueError(f"unknown source kind {source_kind!r}; choose one of {', '.join(_KINDS)}")
    from humo.data.corpus import build_corpus

    meta = build_corpus(source_kind, src, out, workers=workers, seed=seed, overwrite=force, progress=progress,
                        min_len=min_len, max_len=max_len, limit=limit)
    c = meta["counts"]
    typer.echo(f"wrote {out}: {c['clips']} clips -> {c['segments']} segments, {c['hours']:.2f} h "
               f"(train {c['train_segments']} / val {c['val_segments']} / test {c['test_segments']}), "
               f"{c['skipped']} skipped, {meta['build_seconds']:.0f} s")


@data_app.command("merge")
def merge(
    inputs: list[Path] = typer.Argument(..., help="Two or more corpus folders (read only)."),
    out: Path = typer.Option(..., "--out", "-o", help="Merged corpus folder (must be empty or absent unless --force)."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace a non-empty --out."),
    recaption: bool = typer.Option(False, "--recaption",
                                   help="Rewrite the captions from labels.json with the current caption grammar."),
) -> None:
    """Merge corpora into one (splits, captions and labels kept; Mean/Std recomputed over all train frames).

    Example: humo data merge corpora/bandai-namco corpora/cmu corpora/hdm05 --out corpora/merged --recaption
    """
    from humo.data.merge import merge_corpora

    meta = merge_corpora(inputs, out, overwrite=force, recaption_texts=recaption)
    c = meta["counts"]
    typer.echo(f"wrote {out}: {c['segments']} segments, {c['hours']:.2f} h (train {c['train_segments']} / val "
               f"{c['val_segments']} / test {c['test_segments']}) from {len(inputs)} corpora")
