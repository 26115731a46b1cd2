"""``humo represent``: convert between joints (T, 22, 3) and HumanML3D features (T, 263), with a round-trip check."""

from __future__ import annotations

from pathlib import Path

import typer

from humo.cli.app import UserError, app, load_npy
from humo.cli.io import check_output


@app.command()
def represent(
    input: Path = typer.Argument(..., help="A .npy of joints (T, 22, 3) or HumanML3D features (T, 263), or a "
                                           "motion file (.json, .bvh: joints)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the converted array here (.npy)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
):
    """Convert joints <-> 263-d features and report the round-trip error.

    Example: humo represent ../shared/data/humanml3d/new_joints/012314.npy --out feats.npy
    """
    import io

    import numpy as np

    from humo.data.atomic import atomic_write_bytes
    from humo.motion import Motion
    from humo.representations.humanml3d import canonicalize, features_to_joints, joints_to_features, uniform_skeleton

    if out is not None:
        check_output(out, (".npy",), force)
    if not input.is_file():
        raise FileNotFoundError(f"{input} not found")
    if input.name.lower().endswith(".npy"):
        data = load_npy(input, "float64")
    else:  # .json / .bvh / .bvh.gz: a motion file (retargeted to SMPL-22 if needed)
        data = Motion.load(input).joints.double()
    if data.ndim == 3 and data.shape[-2:] == (22, 3):
        if data.shape[0] < 2:
            raise UserError(f"{input}: {data.shape[0]} frame; features need at least 2 frames")
        feats = joints_to_features(data)
        back = features_to_joints(feats)
        ref = canonicalize(uniform_skeleton(data))[:-1]
        err = float((back - ref).abs().max())
        typer.echo(f"joints {tuple(data.shape)} -> features {tuple(feats.shape)}; "
                   f"features -> joints max abs error vs canonicalised input: {err:.2e} m")
        result = feats
    elif data.ndim == 2 and data.shape[-1] == 263:
        result = features_to_joints(data)
        typer.echo(f"features {tuple(data.shape)} -> joints {tuple(result.shape)}")
    else:
        raise UserError(f"{input}: expected joints (T, 22, 3) or features (T, 263), got {tuple(data.shape)}")
    if out is not None:
        buf = io.BytesIO()
        np.save(buf, result.float().numpy())
        atomic_write_bytes(out, buf.getvalue(), overwrite=force)
        typer.echo(f"wrote {out}")
