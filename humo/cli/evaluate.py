"""``humo evaluate``: the standard protocol on a corpus split for a CoAMD or MotionDuet pipeline under several
guidance settings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from humo.cli.app import UserError, app
from humo.cli.io import check_output

CONDITIONS = ("none", "cfg", "cfg+recognizer", "none+contact", "cfg+contact", "cfg+recognizer+contact")


@app.command("evaluate")
def evaluate_command(
    corpus: Path = typer.Argument(..., help="Corpus folder (HumanML3D layout) holding the test split."),
    model: str = typer.Option("coamd", "--model", help="coamd or motionduet (the bundled models), or a CoAMD or "
                              "MotionDuet model folder."),
    evaluator: str = typer.Option("bundled", "--evaluator", help="Contrastive evaluator: 'bundled' (the held-out "
                                  "evaluator of the published tables) or a folder (never the guiding model)."),
    recognizer: Path | None = typer.Option(None, "--recognizer", help="Recognizer for guidance (default: the "
                                           "pipeline's own)."),
    conditions: str = typer.Option("none,cfg,cfg+recognizer", help=f"Comma list among {', '.join(CONDITIONS)}."),
    cfg: float = typer.Option(4.5, help="Classifier-free guidance scale."),
    cfg_rescale: float = typer.Option(0.0, help="CFG rescale 0..1 (0: the committed tables' setting; the generation "
                                      "default is humo.guidance.DEFAULT_CFG_RESCALE)."),
    kinematics: bool = typer.Option(True, "--kinematics/--no-kinematics", help="Also compare each generated "
                                    "motion's kinematics with the real clips of its class (labels.json)."),
    recognizer_scale: float = typer.Option(1.0, help="Recognizer guidance step gamma."),
    contact_steps: int = typer.Option(50, help="Adam steps of contact guidance (the '+contact' conditions)."),
    steps: int = typer.Option(18, help="AR steps per generation window (CoAMD)."),
    ddim_steps: int = typer.Option(50, help="DDIM steps (MotionDuet)."),
    flow_steps: int = typer.Option(8, help="Flow ODE steps per revealed token."),
    solver: str = typer.Option("heun", help="Flow ODE solver: heun or euler."),
    split: str = typer.Option("test", help="Split file to evaluate on."),
    replications: int = typer.Option(20, help="Protocol replications (20 in the papers)."),
    mm_prompts: int = typer.Option(32, help="MultiModality prompts (0 = skip)."),
    mm_repeats: int = typer.Option(10, help="Generations per MultiModality prompt."),
    seed: int = typer.Option(0, help="Protocol and generation seed."),
    device: str = typer.Option("auto", help="auto, cpu, cuda."),
    threads: int | None = typer.Option(None, help="CPU threads for torch."),
    out: Path | None = typer.Option(None, "--out", help="Write the markdown table here (and .json beside it)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Evaluate generation with the text-to-motion protocol (R-precision, FID, MM-Dist, Diversity, MM, CLIP).

    Example: humo evaluate corpora/bandai-namco --evaluator runs/evaluator-small/final --replications 20
    """
    # every path first, before any import, download attempt or model load
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} not found")
    if not (corpus / f"{split}.txt").is_file():
        raise FileNotFoundError(f"{corpus / (split + '.txt')} not found: {corpus} has no {split!r} split")
    for option, folder in (("--evaluator", None if evaluator == "bundled" else Path(evaluator)),
                           ("--recognizer", recognizer)):
        if folder is not None and not folder.is_dir():
            raise FileNotFoundError(f"{option} {folder}: no such folder")
    if contact_steps < 0:
        raise UserError(f"--contact-steps must be >= 0, got {contact_steps}")
    if steps < 1 or flow_steps < 1 or ddim_steps < 1:
        raise UserError(f"--steps, --flow-steps and --ddim-steps must be >= 1, got {steps}, {flow_steps}, {ddim_steps}")
    from humo.cli.generate import resolve_model

    kind, where = resolve_model(model)
    from humo.schedulers.flow_matching import Solver  # checked up front: a protocol run takes minutes to hours

    if solver not in {s.value for s in Solver}:
        raise UserError(f"unknown --solver {solver!r}; choose {' or '.join(s.value for s in Solver)}")
    if out is not None:
        check_output(out, (".md", ".txt"), force)
        check_output(out.with_suffix(".json"), (".json",), force)

    import torch

    from humo.cli.generate import load_model
    from humo.data.atomic import atomic_write_bytes
    from humo.guidance import ClassifierFreeGuidance, ContactGuidance, RecognizerGuidance
    from humo.models.evaluators import load_evaluator
    from humo.pipelines.evaluation import corpus_test_set, evaluate_conditions
    from humo.training.common import pick_device

    names = [c.strip() for c in conditions.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CONDITIONS))
    if unknown or not names:
        raise UserError(f"unknown condition(s) {unknown}; choose among {', '.join(CONDITIONS)}")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    pipe = load_model(kind, where, device, threads, batch=32)
    duet = type(pipe).__name__ == "MotionDuet"
    if duet and any("recognizer" in n for n in names):
        raise UserError("recognizer guidance is CoAMD's (MotionDuet takes prediction and contact guidance)")
    ev = load_evaluator(evaluator).to(dev)
    guides: dict[str, list] = {}
    for name in names:
        parts = name.split("+")
        guide = [] if parts[0] == "none" else [ClassifierFreeGuidance(cfg, rescale=cfg_rescale)]
        if "recognizer" in parts:
            rec = pipe.recognizer
            if recognizer is not None:
                from humo.models.recognizer import ActionRecognizer

                rec = ActionRecognizer.from_pretrained(recognizer).to(dev)
            if rec is None:
                raise UserError("cfg+recognizer needs --recognizer or a pipeline with a recognizer/ component")
            rec.text_encoder = pipe.text_encoder
            guide.append(RecognizerGuidance(rec, scale=recognizer_scale))
        cfg_label = f"CFG {cfg:g}" + (f" rescale {cfg_rescale:g}" if cfg_rescale else "")
        who = "MotionDuet" if duet else "CoAMD"
        label = f"{who}, no guidance" if parts[0] == "none" else f"{who} + {cfg_label}"
        if "recognizer" in parts:
            label += f" + recognizer {recognizer_scale:g}"
        if "contact" in parts:
            guide.append(ContactGuidance(steps=contact_steps, fps=pipe.fps))
            label += f" + contact {contact_steps}"
        guides[label] = guide
    dataset = corpus_test_set(corpus, split)
    real = None
    if kinematics and (corpus / "labels.json").is_file():
        from humo.pipelines.plausibility import real_statistics

        real = real_statistics(corpus)
    sampler = dict(steps=ddim_steps) if duet else dict(steps=steps, flow_steps=flow_steps, solver=solver)
    results, table = evaluate_conditions(pipe, guides, dataset, ev, replications=replications, seed=seed,
                                         mm_prompts=mm_prompts, mm_repeats=mm_repeats, progress=progress,
                                         real_kinematics=real, **sampler)
    typer.echo(table)
    real_kin = next((r["kinematics_real"] for r in results.values() if r.get("kinematics_real")), None)
    if real_kin is not None:
        inside = ", ".join(f"{k} {v:.2f}" for k, v in real_kin["overall"].items())
        typer.echo(f"real data: share inside the real 5-95% range of the class: {inside}")
    for name, res in results.items():
        typer.echo(f"{name}: {res['seconds']:.0f} s")
        if "kinematics" in res:
            inside = ", ".join(f"{k} {v:.2f}" for k, v in res["kinematics"]["overall"].items())
            typer.echo(f"  share inside the real 5-95% range of the class: {inside}")
    if out is not None:
        atomic_write_bytes(out, (table + "\n").encode(), overwrite=force)
        slim = {k: {"seconds": v["seconds"], **{row: {m: {"mean": s["mean"], "interval": s["interval"]}
                                                      for m, s in v[row].items()} for row in ("real", "generated")},
                    **{k2: v[k2] for k2 in ("kinematics", "kinematics_real") if v.get(k2) is not None}}
                for k, v in results.items()}
        atomic_write_bytes(out.with_suffix(".json"), (json.dumps(slim, indent=2) + "\n").encode(), overwrite=force)
        typer.echo(f"wrote {out}")
