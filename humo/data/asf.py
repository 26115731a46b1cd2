"""ASF/AMC motion capture (the CMU database's and HDM05's format): read, forward kinematics, to BVH.

An ``.asf`` file is the skeleton: ``:units`` (``length`` multiplier, ``angle deg|rad``), ``:root``
(``order TX TY TZ RX RY RZ``, ``axis XYZ``, ``orientation``), ``:bonedata`` (per bone its rest
``direction`` in world axes, ``length``, ``axis`` angles + order, ``dof`` and ``limits``) and
``:hierarchy``. An ``.amc`` file is the motion (``:FULLY-SPECIFIED``, ``:DEGREES`` or ``:RADIANS``): per
frame a frame number, then one line per bone with its dof values in ``dof`` order.

Conventions (those of the CMU viewer and the Acclaim format):

* Rotation orders list axes in the order they are *applied*: ``axis ... XYZ`` and ``dof rx ry rz`` mean
  ``R = R_Z @ R_Y @ R_X`` (column vectors), i.e. the BVH channel order ``Zrotation Yrotation Xrotation``.
* A bone's local rotation is ``L = C @ M @ C^T``: ``C`` from its ``axis`` angles, ``M`` from its dof
  values. Global ``G = G_parent @ L``; a bone starts where its parent ends and ends at
  ``start + G @ (direction * length)``. The root: ``C`` from ``orientation``, translation from the AMC
  ``TX TY TZ`` values (the ASF ``position`` is ignored, as in the CMU viewer).
* Units: lengths are inches divided by ``:units length`` (CMU and HDM05: 0.45), so
  metres = value x 0.0254 / length (:attr:`ASF.scale`).

Each bone becomes one joint located at the bone's *start* (where it rotates), as in the CMU BVH
conversions (``lfemur`` is the hip joint, ``ltibia`` the knee); leaf bones get an end site.
:func:`amc_to_bvh` turns skeleton + motion into a :class:`humo.data.bvh.BVH` (metres, 3 Euler
channels per joint, root 6), so retargeting (:mod:`humo.data.retarget`, preset ``"asf"``), BVH export
and everything else that reads a BVH work on it unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humo.data.bvh import BVH, _read_text, forward_kinematics
from humo.representations.rotation import axis_rotation, matrix_to_euler

AMC_FPS = 120.0  # CMU and HDM05 capture rate; AMC files do not store it
_DOFS = ("tx", "ty", "tz", "rx", "ry", "rz", "l")


@dataclass
class ASF:
    """An ASF skeleton. Per-bone lists follow ``names`` (root first, parents before children).

    Attributes:
        names: bone names, ``"root"`` first.
        parents: parent index per bone (``-1`` for the root).
        directions: ``(J, 3)`` unit rest directions in world axes (root: zeros).
        lengths: ``(J,)`` bone lengths in file units (root: 0).
        axes: ``(J, 3)`` axis angles in degrees (root: its ``orientation``).
        axis_orders: per bone the axis rotation order (``"XYZ"``).
        dofs: per bone its dof tokens in file order (``("rx", "rz")``; root: ``("tx", ..., "rz")``).
        limits: per bone ``(len(dofs), 2)`` limits as written (``inf`` allowed); root: empty.
        length_unit: the ``:units length`` multiplier (1.0 when absent).
        angle_unit: ``"deg"`` or ``"rad"``.
    """

    names: list[str]
    parents: list[int]
    directions: np.ndarray
    lengths: np.ndarray
    axes: np.ndarray
    axis_orders: list[str]
    dofs: list[tuple[str, ...]]
    limits: list[np.ndarray] = field(default_factory=list)
    length_unit: float = 1.0
    angle_unit: str = "deg"
    name: str = ""

    @property
    def num_bones(self) -> int:
        return len(self.names)

    @property
    def scale(self) -> float:
        """Metres per file length unit (``0.0254 / length``; CMU and HDM05: 0.056444)."""
        return 0.0254 / self.length_unit

    def index(self, name: str) -> int:
        """Index of bone ``name`` (ValueError listing the bones if absent)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"bone {name!r} is not in this ASF; bones: {self.names}") from None

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` bone start positions in the rest pose (root at the origin), file units."""
        start = np.zeros((self.num_bones, 3))
        for j, p in enumerate(self.parents):
            if p >= 0:
                start[j] = start[p] + self.directions[p] * self.lengths[p]
        return start


@dataclass
class AMC:
    """AMC motion: frame numbers and, per bone with dofs, its values ``(T, len(dofs))`` (angles in degrees,
    root translation in file units), columns in the ASF ``dof`` order."""

    frames: np.ndarray
    values: dict[str, np.ndarray]

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


# --- ASF --------------------------------------------------------------------------------------------------
def read_asf(path: str | os.PathLike) -> ASF:
    """Read a ``.asf`` (plain or gzipped). Raises FileNotFoundError, or ValueError naming file and problem."""
    path = Path(path)
    return parse_asf(_read_text(path, "ASF"), source=str(path))


def _sections(text: str) -> dict[str, list[list[str]]]:
    """``{":keyword": [tokens of each line]}``; comments (``#``) and blank lines dropped."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, *rest = line.split(None, 1)
            current = out.setdefault(key.lower(), [])
            if rest:
                current.append(rest[0].split())
        elif current is not None:
            current.append(line.split())
    return out


def _floats(vals: list[str], what: str, source: str) -> list[float]:
    try:
        out = [float(v) for v in vals]
    except ValueError:
        raise ValueError(f"{source}: non-numeric {what}: {' '.join(vals)}") from None
    if not np.isfinite(out).all():
        raise ValueError(f"{source}: NaN or inf in {what}: {' '.join(vals)}")
    return out


def _name(block: dict) -> str:
    return (block.get("name") or ["?"])[0]


def _bone_blocks(rows: list[list[str]], source: str) -> list[dict]:
    bones, cur = [], None
    for row in rows:
        key = row[0].lower()
        if key == "begin":
            if cur is not None:
                raise ValueError(f"{source}: 'begin' inside the block of bone {_name(cur)!r} "
                                 f"(missing 'end')")
            cur = {"limits": []}
        elif key == "end":
            if cur is None:
                raise ValueError(f"{source}: 'end' without 'begin' in :bonedata")
            bones.append(cur)
            cur = None
        elif cur is None:
            raise ValueError(f"{source}: {' '.join(row)!r} outside a begin/end block in :bonedata")
        elif key == "limits" or row[0].startswith("("):
            vals = " ".join(row[1:] if key == "limits" else row).replace("(", " ").replace(")", " ").split()
            cur["limits"] += [_floats(vals[i:i + 2], f"limits of bone {_name(cur)}", source)
                              for i in range(0, len(vals), 2)]
        else:
            cur[key] = row[1:]
    if cur is not None:
        raise ValueError(f"{source}: truncated: the block of bone {_name(cur)!r} has no 'end'")
    return bones


def _bone(block: dict, source: str) -> dict:
    if not block.get("name"):
        raise ValueError(f"{source}: a :bonedata block has no name")
    name = block["name"][0]
    for key in ("direction", "length"):
        if key not in block:
            raise ValueError(f"{source}: bone {name!r} has no {key}")
    direction = np.asarray(_floats(block["direction"][:3], f"direction of bone {name}", source))
    if len(direction) != 3:
        raise ValueError(f"{source}: bone {name!r} direction needs 3 values")
    length = _floats(block["length"][:1], f"length of bone {name}", source)[0]
    axis = block.get("axis", ["0", "0", "0", "XYZ"])
    order = axis[3].upper() if len(axis) > 3 else "XYZ"
    if len(axis) < 3 or sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"{source}: bone {name!r} axis must be three angles and an order like XYZ")
    dofs = tuple(d.lower() for d in block.get("dof", []))
    if set(dofs) - set(_DOFS) or len(set(dofs)) != len(dofs):
        raise ValueError(f"{source}: bone {name!r} has bad dof {' '.join(dofs)!r}; known: {' '.join(_DOFS)}")
    limits = np.asarray(block["limits"], dtype=np.float64).reshape(-1, 2)
    if len(limits) and len(limits) != len(dofs):
        raise ValueError(f"{source}: bone {name!r} has {len(limits)} limits for {len(dofs)} dofs")
    norm = np.linalg.norm(direction)
    return {"name": name, "direction": direction / norm if norm > 0 else direction, "length": length,
            "axis": _floats(axis[:3], f"axis of bone {name}", source), "order": order, "dofs": dofs,
            "limits": limits}


def parse_asf(text: str, source: str = "<string>") -> ASF:
    """Parse ASF ``text``; ``source`` names it in error messages."""
    if not text.strip():
        raise ValueError(f"{source}: empty file")
    sec = _sections(text)
    if ":bonedata" not in sec:
        raise ValueError(f"{source}: no :bonedata section (truncated or not an ASF file)")
    blocks = _bone_blocks(sec[":bonedata"], source)
    if ":hierarchy" not in sec:
        raise ValueError(f"{source}: no :hierarchy section (truncated ASF file)")
    units = {row[0].lower(): row[1:] for row in sec.get(":units", []) if row}
    length_unit = _floats(units.get("length", ["1.0"])[:1], "units length", source)[0]
    if not length_unit > 0:
        raise ValueError(f"{source}: ':units length' must be > 0, got {length_unit}")
    angle_unit = (units.get("angle", ["deg"]) or ["deg"])[0].lower()[:3]
    if angle_unit not in ("deg", "rad"):
        raise ValueError(f"{source}: ':units angle' must be deg or rad, got {angle_unit!r}")
    root = {row[0].lower(): row[1:] for row in sec.get(":root", []) if row}
    root_dofs = tuple(d.lower() for d in root.get("order", "TX TY TZ RX RY RZ".split()))
    if set(root_dofs) - set(_DOFS) or len(set(root_dofs)) != len(root_dofs):
        raise ValueError(f"{source}: bad root order {' '.join(root_dofs)!r}")
    root_axis = (root.get("axis") or ["XYZ"])[0].upper()
    if sorted(root_axis) != ["X", "Y", "Z"]:
        raise ValueError(f"{source}: bad root axis {root_axis!r}")
    bones = {}
    for block in blocks:
        b = _bone(block, source)
        if b["name"] in bones or b["name"] == "root":
            raise ValueError(f"{source}: bone {b['name']!r} defined twice")
        bones[b["name"]] = b
    if not bones:
        raise ValueError(f"{source}: :bonedata has no bones")
    children: dict[str, list[str]] = {}
    for row in sec[":hierarchy"]:
        if row[0].lower() in ("begin", "end"):
            continue
        for name in row:
            if name != "root" and name not in bones:
                raise ValueError(f"{source}: :hierarchy names unknown bone {name!r}")
        children.setdefault(row[0], []).extend(row[1:])
    names, parents, stack = [], [], [("root", -1)]
    while stack:  # depth first, in the hierarchy's listing order
        name, parent = stack.pop()
        if name in names:
            raise ValueError(f"{source}: bone {name!r} has two parents in :hierarchy")
        names.append(name)
        parents.append(parent)
        stack.extend((c, len(names) - 1) for c in reversed(children.get(name, [])))
    unplaced = sorted(set(bones) - set(names))
    if unplaced:
        raise ValueError(f"{source}: bones {unplaced} are not below root in :hierarchy")
    orientation = _floats((root.get("orientation") or ["0", "0", "0"])[:3], "root orientation", source)
    rows = [bones.get(n, {"direction": np.zeros(3), "length": 0.0, "axis": orientation, "order": root_axis,
                          "dofs": root_dofs, "limits": np.zeros((0, 2))}) for n in names]
    axes = np.asarray([r["axis"] for r in rows], dtype=np.float64)
    return ASF(names=names, parents=parents, directions=np.stack([r["direction"] for r in rows]),
               lengths=np.asarray([r["length"] for r in rows]),
               axes=np.rad2deg(axes) if angle_unit == "rad" else axes,
               axis_orders=[r["order"] for r in rows], dofs=[r["dofs"] for r in rows],
               limits=[r["limits"] for r in rows], length_unit=length_unit, angle_unit=angle_unit,
               name=" ".join(sec.get(":name", [[""]])[0]))


# --- AMC --------------------------------------------------------------------------------------------------
def read_amc(path: str | os.PathLike, asf: ASF) -> AMC:
    """Read a ``.amc`` (plain or gzipped) for skeleton ``asf``; ValueError naming file and problem."""
    path = Path(path)
    return parse_amc(_read_text(path, "AMC"), asf, source=str(path))


def parse_amc(text: str, asf: ASF, source: str = "<string>") -> AMC:
    """Parse AMC ``text`` (every frame must list the same bones in the same order, as AMC writers do)."""
    if not text.strip():
        raise ValueError(f"{source}: empty file")
    degrees, rows = asf.angle_unit == "deg", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            if rows:
                raise ValueError(f"{source}: header line {line!r} after the first frame")
            degrees = {":DEGREES": True, ":RADIANS": False}.get(line.split()[0].upper(), degrees)
            continue
        rows.append(line.split())
    is_frame = np.array([len(r) == 1 and r[0].isdigit() for r in rows], dtype=bool)
    starts = np.flatnonzero(is_frame)
    if len(starts) == 0 or starts[0] != 0:
        raise ValueError(f"{source}: no frame number before the first bone line (not an AMC file?)")
    counts = np.diff(np.append(starts, len(rows))) - 1
    per_frame, frame_no = int(counts[0]), [rows[s][0] for s in starts]
    if per_frame == 0:
        raise ValueError(f"{source}: frame {frame_no[0]} has no bone lines")
    bad = np.flatnonzero(counts != per_frame)
    if len(bad):
        f = int(bad[0])
        if f == len(starts) - 1 and counts[f] < per_frame:
            raise ValueError(f"{source}: truncated: last frame {frame_no[f]} has {counts[f]} of {per_frame} "
                             f"bone lines")
        raise ValueError(f"{source}: frame {frame_no[f]} has {counts[f]} bone lines, frame {frame_no[0]} has "
                         f"{per_frame}")
    body = [r for r, s in zip(rows, is_frame, strict=True) if not s]
    names = np.array([r[0] for r in body], dtype=object).reshape(len(starts), per_frame)
    order = list(names[0])
    known = np.isin(names, np.array(asf.names, dtype=object))
    if not known.all():
        f, k = (int(i[0]) for i in np.nonzero(~known))
        raise ValueError(f"{source}: frame {frame_no[f]}: unknown bone {names[f, k]!r} (not in the ASF)")
    for f, k in zip(*np.nonzero(names != names[0]), strict=True):
        raise ValueError(f"{source}: frame {frame_no[f]} lists {names[f, k]!r} where frame {frame_no[0]} lists "
                         f"{order[k]!r}")
    if len(set(order)) != len(order):
        raise ValueError(f"{source}: frame {frame_no[0]} lists a bone twice")
    missing = [b for j, b in enumerate(asf.names) if asf.dofs[j] and b not in order]
    if missing:
        raise ValueError(f"{source}: bones {missing} have dofs in the ASF but no values in the AMC")
    want = np.array([len(asf.dofs[asf.index(b)]) for b in order])
    got = np.array([len(r) - 1 for r in body]).reshape(names.shape)
    for f, k in zip(*np.nonzero(got != want), strict=True):
        what = "truncated: " if (f, k) == (len(starts) - 1, per_frame - 1) and got[f, k] < want[k] else ""
        raise ValueError(f"{source}: {what}frame {frame_no[f]}: bone {order[k]} has {got[f, k]} values, "
                         f"expected {want[k]} (its ASF dof)")
    flat = [v for r in body for v in r[1:]]
    try:
        data = np.array(flat, dtype=np.float64).reshape(len(starts), int(want.sum()))
    except ValueError:
        f, r = next((i // per_frame, r) for i, r in enumerate(body) if not _numeric(r[1:]))
        raise ValueError(f"{source}: non-numeric value in frame {frame_no[f]}, bone {r[0]}: "
                         f"{' '.join(r[1:])}") from None
    if not np.isfinite(data).all():
        raise ValueError(f"{source}: NaN or inf in the motion data")
    values, col = {}, 0
    for bone, width in zip(order, want.tolist(), strict=True):
        block = data[:, col:col + width].copy()
        if not degrees:
            dofs = asf.dofs[asf.index(bone)]
            rot = [i for i, d in enumerate(dofs) if d.startswith("r")]
            block[:, rot] = np.rad2deg(block[:, rot])
        values[bone] = block
        col += width
    return AMC(frames=np.array([int(n) for n in frame_no]), values=values)


def _numeric(vals: list[str]) -> bool:
    try:
        [float(v) for v in vals]
    except ValueError:
        return False
    return True


# --- kinematics -------------------------------------------------------------------------------------------
def _applied(angles: torch.Tensor, order: str) -> torch.Tensor:
    """``R_{order[-1]} @ ... @ R_{order[0]}`` for ``angles (..., len(order))`` radians (first axis applied
    first); identity for an empty order."""
    out = torch.eye(3, dtype=angles.dtype).expand(angles.shape[:-1] + (3, 3))
    for k, axis in enumerate(order):
        out = axis_rotation(axis, angles[..., k]) @ out
    return out


def local_transforms(asf: ASF, amc: AMC, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor,
                                                                                       torch.Tensor]:
    """Local rotations ``(T, J, 3, 3)`` (``C M C^T``) and translations ``(T, J, 3)`` (file units) in the
    BVH convention of :func:`humo.data.bvh.forward_kinematics` (bones grouped by dof axes, no frame loop)."""
    T, J = amc.num_frames, asf.num_bones
    c = torch.eye(3, dtype=dtype).repeat(J, 1, 1)
    for order in set(asf.axis_orders):
        idx = [j for j in range(J) if asf.axis_orders[j] == order]
        c[idx] = _applied(torch.as_tensor(np.deg2rad(asf.axes[idx]), dtype=dtype), order)
    angles = torch.zeros(T, J, 3, dtype=dtype)
    groups: dict[str, list[int]] = {}
    for j, (name, dofs) in enumerate(zip(asf.names, asf.dofs, strict=True)):
        rot = [d for d in dofs if d.startswith("r")]
        if name in amc.values and rot:
            vals = amc.values[name][:, [dofs.index(d) for d in rot]]
            angles[:, j, :len(rot)] = torch.as_tensor(np.deg2rad(vals), dtype=dtype)
            groups.setdefault("".join(d[1].upper() for d in rot), []).append(j)
    rotations = torch.eye(3, dtype=dtype).expand(T, J, 3, 3).clone()
    for order, idx in groups.items():
        rotations[:, idx] = _applied(angles[:, idx, :len(order)], order)
    rotations = c @ rotations @ c.transpose(-1, -2)
    offsets = np.zeros((J, 3))
    for j, p in enumerate(asf.parents):
        if p >= 0:
            offsets[j] = asf.directions[p] * asf.lengths[p]
    translations = torch.as_tensor(offsets, dtype=dtype).expand(T, J, 3).clone()
    root_vals = amc.values.get(asf.names[0])
    for k, d in enumerate(asf.dofs[0]):
        if d.startswith("t") and root_vals is not None:
            translations[:, 0, "xyz".index(d[1])] = torch.as_tensor(root_vals[:, k], dtype=dtype)
    return rotations, translations


def amc_positions(asf: ASF, amc: AMC, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Global joint positions ``(T, J, 3)`` in metres (each bone's start, order of ``asf.names``)."""
    rotations, translations = local_transforms(asf, amc)
    _, pos = forward_kinematics(rotations, translations, asf.parents)
    return (pos * asf.scale).to(dtype)


def amc_to_bvh(asf: ASF, amc: AMC, fps: float = AMC_FPS) -> BVH:
    """The motion as a :class:`BVH` in metres: joints named after the bones, ``Zrotation Yrotation
    Xrotation`` on every joint (the root also ``X/Y/Zposition``), an end site on each leaf bone.
    :func:`humo.data.bvh.bvh_to_positions` of it equals :func:`amc_positions`."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    rotations, translations = local_transforms(asf, amc)
    euler = np.rad2deg(matrix_to_euler(rotations, "ZYX").numpy())
    positions = translations.numpy() * asf.scale
    rot = ("Zrotation", "Yrotation", "Xrotation")
    channels = [("Xposition", "Yposition", "Zposition") + rot] + [rot] * (asf.num_bones - 1)
    has_child = set(asf.parents)
    ends = [(j, asf.directions[j] * asf.lengths[j] * asf.scale) for j in range(asf.num_bones)
            if j not in has_child]
    return BVH(names=list(asf.names), parents=list(asf.parents), offsets=positions[0].copy(),
               channels=channels, rotations=euler, positions=positions, frame_time=1.0 / fps,
               orders=["ZYX"] * asf.num_bones, end_sites=ends)


def read_asf_amc(amc_path: str | os.PathLike, asf_path: str | os.PathLike | None = None,
                 fps: float = AMC_FPS) -> BVH:
    """:func:`amc_to_bvh` of the files; ``asf_path`` defaults to the only ``.asf`` beside the AMC."""
    amc_path = Path(amc_path)
    if asf_path is None:
        asf_path = find_asf(amc_path)
    asf = read_asf(asf_path)
    return amc_to_bvh(asf, read_amc(amc_path, asf), fps)


def find_asf(amc_path: Path) -> Path:
    """The single ``.asf`` (or ``.asf.gz``) in the AMC's folder (ValueError when none or several)."""
    found = sorted(p for p in Path(amc_path).parent.glob("*") if re.search(r"\.asf(\.gz)?$", p.name, re.I))
    if len(found) != 1:
        what = "no .asf file" if not found else f"{len(found)} .asf files"
        raise ValueError(f"{amc_path}: {what} beside it; pass the skeleton (--asf FILE)")
    return found[0]


def is_amc(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like an AMC motion (``.amc`` or ``.amc.gz``)."""
    return re.search(r"\.amc(\.gz)?$", str(path), re.I) is not None
