"""A CMU-like ASF skeleton and AMC walk written as text by the tests themselves (no real data needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# (bone, parent, direction, length, dofs, axis angles): Y up, facing +Z, left = +X, CMU bone names
_LEFT = [
    ("lhipjoint", "root", (1, -1, 0), 2.0, "", (0, 0, 0)),
    ("lfemur", "lhipjoint", (0, -1, 0), 7.5, "rx ry rz", (0, 0, 20)),
    ("ltibia", "lfemur", (0, -1, 0), 7.5, "rx", (0, 0, 20)),
    ("lfoot", "ltibia", (0, -0.3, 1), 2.5, "rx rz", (-90, 0, 20)),
    ("ltoes", "lfoot", (0, 0, 1), 1.0, "rx", (-90, 0, 20)),
]
_SPINE = [
    ("lowerback", "root", (0, 1, 0), 2.0, "rx ry rz", (0, 0, 0)),
    ("upperback", "lowerback", (0, 1, 0), 2.0, "rx ry rz", (0, 0, 0)),
    ("thorax", "upperback", (0, 1, 0), 2.0, "rx ry rz", (0, 0, 0)),
    ("lowerneck", "thorax", (0, 1, 0), 1.5, "rx ry rz", (0, 0, 0)),
    ("upperneck", "lowerneck", (0, 1, 0), 1.5, "rx ry rz", (0, 0, 0)),
    ("head", "upperneck", (0, 1, 0), 1.5, "rx ry rz", (0, 0, 0)),
]
_LEFT_ARM = [
    ("lclavicle", "thorax", (1, 0.2, 0), 3.0, "ry rz", (0, 0, 0)),
    ("lhumerus", "lclavicle", (1, 0, 0), 5.0, "rx ry rz", (0, 0, 90)),
    ("lradius", "lhumerus", (1, 0, 0), 4.5, "rx", (0, 0, 90)),
    ("lwrist", "lradius", (1, 0, 0), 1.5, "ry", (0, 0, 90)),
    ("lhand", "lwrist", (1, 0, 0), 1.0, "rx rz", (0, 0, 90)),
    ("lthumb", "lwrist", (1, 0, 1), 0.5, "rx rz", (0, 0, 90)),
]


def _mirror(rows):
    out = []
    for name, parent, (x, y, z), length, dofs, (ax, ay, az) in rows:
        out.append(("r" + name[1:], parent if parent in ("root", "thorax") else "r" + parent[1:], (-x, y, z),
                    length, dofs, (ax, -ay, -az)))
    return out


BONES = _LEFT + _mirror(_LEFT) + _SPINE + _LEFT_ARM + _mirror(_LEFT_ARM)
SCALE = 0.0254 / 0.45  # metres per unit (":units length 0.45")


def asf_text(bones=BONES, units: str = "  mass 1.0\n  length 0.45\n  angle deg\n") -> str:
    out = [":version 1.10", ":name TEST", ":units", units.rstrip("\n"), ":root", "   order TX TY TZ RX RY RZ",
           "   axis XYZ", "   position 0 0 0", "   orientation 0 0 0", ":bonedata"]
    for i, (name, _, d, length, dofs, axis) in enumerate(bones, 1):
        out += ["  begin", f"     id {i}", f"     name {name}", "     direction " + " ".join(map(str, d)),
                f"     length {length}", "     axis " + " ".join(map(str, axis)) + "  XYZ"]
        if dofs:
            out.append(f"    dof {dofs}")
            out.append("    limits " + "\n           ".join("(-180.0 180.0)" for _ in dofs.split()))
        out.append("  end")
    children: dict[str, list[str]] = {}
    for name, parent, *_ in bones:
        children.setdefault(parent, []).append(name)
    out += [":hierarchy", "  begin"] + [f"    {p} {' '.join(c)}" for p, c in children.items()] + ["  end"]
    return "\n".join(out) + "\n"


def walk_values(frames: int = 240, fps: float = 120.0, speed: float = 1.2, turn: float = 0.0) -> dict:
    """``{bone: (T, dofs)}``: a walk along +Z (metres/s ``speed``), legs and arms swinging; ``turn``: root
    yaw in degrees at the last frame."""
    t = np.arange(frames) / fps
    ph = 2 * np.pi * 1.0 * t
    vals: dict[str, np.ndarray] = {}
    yaw = np.linspace(0.0, turn, frames)
    vals["root"] = np.stack([np.zeros_like(t), 17.0 + 0.2 * np.sin(2 * ph), speed * t / SCALE,
                             np.zeros_like(t), yaw, np.zeros_like(t)], 1)
    for name, _, _, _, dofs, _ in BONES:
        if dofs:
            vals[name] = np.zeros((frames, len(dofs.split())))
    for side, sign in (("l", 1.0), ("r", -1.0)):
        vals[f"{side}femur"][:, 0] = -25.0 * sign * np.sin(ph)  # rx: swing forward / back
        vals[f"{side}tibia"][:, 0] = 20.0 + 20.0 * np.maximum(0.0, sign * np.sin(ph))
        vals[f"{side}humerus"][:, 0] = 20.0 * sign * np.sin(ph)
        vals[f"{side}radius"][:, 0] = 15.0
    return vals


def amc_text(values: dict, header: str = ":FULLY-SPECIFIED\n:DEGREES\n") -> str:
    frames = next(iter(values.values())).shape[0]
    order = ["root"] + [name for name, *_ in BONES if name in values]
    out = ["# written by the humo tests", header.rstrip("\n")]
    for f in range(frames):
        out.append(str(f + 1))
        out += [name + " " + " ".join(f"{v:.6f}" for v in values[name][f]) for name in order]
    return "\n".join(out) + "\n"


def write_asf_amc(folder: Path, stem: str = "walk", gz: bool = False, **kwargs) -> tuple[Path, Path]:
    """Write ``folder/TEST.asf`` and ``folder/<stem>.amc`` (``.amc.gz`` when ``gz``)."""
    folder.mkdir(parents=True, exist_ok=True)
    asf = folder / "TEST.asf"
    asf.write_text(asf_text())
    data = amc_text(walk_values(**kwargs)).encode()
    amc = folder / (f"{stem}.amc.gz" if gz else f"{stem}.amc")
    amc.write_bytes(gzip.compress(data) if gz else data)
    return asf, amc
