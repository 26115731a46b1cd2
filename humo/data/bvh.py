"""BVH motion files: read (plain or gzipped), forward kinematics in torch, and write.

Conventions (the common BVH reading, as in Blender's importer):

* ``CHANNELS`` may list position and rotation channels in any order, on any joint. A joint's local
  translation is its ``OFFSET``; position channels, where present, *replace* the offset's matching
  axes for that frame (Bandai Namco files carry 6 channels on every joint, their values equal to the
  offsets).
* Rotation channels listed as ``Zrotation Xrotation Yrotation`` mean ``R = R_Z @ R_X @ R_Y`` acting on
  column vectors (intrinsic rotations in the listed order), angles in degrees in the file.
* Global rotation ``G_j = G_parent @ R_j``; global position ``p_j = p_parent + G_parent @ t_j``.

Units are whatever the file uses (``bvh_to_positions`` does not rescale): retargeting
(:mod:`humo.data.retarget`) converts to metres.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from humo.data.atomic import atomic_write_bytes
from humo.representations.rotation import axis_rotation, euler_to_matrix

_CHANNEL_NAMES = {
    f"{axis}{kind}".lower(): (kind, axis) for axis in "XYZ" for kind in ("position", "rotation")
}


@dataclass
class BVH:
    """One BVH file in memory.

    Attributes:
        names: joint names ``(J,)`` in file order (parents precede children).
        parents: parent index per joint, ``-1`` for a root.
        offsets: ``(J, 3)`` rest offsets from the parent, file units.
        channels: per joint, the channel names as written (e.g. ``("Xposition", ..., "Yrotation")``).
        rotations: ``(T, J, 3)`` Euler angles in degrees, in the order ``orders[j]`` (zeros where a
            joint has fewer rotation channels).
        positions: ``(T, J, 3)`` local translations per frame (the offset where no position channels).
        frame_time: seconds per frame.
        orders: per joint, its rotation-channel axes in file order (``"ZXY"``; ``""`` if none).
        end_sites: ``(joint index, offset (3,))`` for every ``End Site``.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    rotations: np.ndarray
    positions: np.ndarray
    frame_time: float
    orders: list[str] = field(default_factory=list)
    end_sites: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        """Index of joint ``name`` (ValueError listing the joints if absent)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"joint {name!r} is not in this BVH; joints: {self.names}") from None


def _read_text(path: Path, kind: str = "BVH") -> str:
    """The text of a plain or gzipped file (gzip detected from the bytes); ``kind`` names it in errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip stream ({e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_bvh(path: str | os.PathLike) -> BVH:
    """Read a ``.bvh`` or gzipped ``.bvh.gz`` file (gzip detected from the bytes, not the suffix).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, truncated or malformed; the message names the file and problem.
    """
    path = Path(path)
    return parse_bvh(_read_text(path), source=str(path))


def _parse_hierarchy(tokens: list[str], source: str):
    names, parents, offsets, channels, end_sites = [], [], [], [], []
    stack: list[int] = []  # joint index per open brace; -2 marks an End Site block
    i, n = 0, len(tokens)

    def need(k: int, what: str) -> list[str]:
        if i + k > n:
            raise ValueError(f"{source}: hierarchy ends early while reading {what}")
        return tokens[i:i + k]

    def floats(vals: list[str], what: str) -> list[float]:
        try:
            return [float(v) for v in vals]
        except ValueError:
            raise ValueError(f"{source}: non-numeric {what}: {' '.join(vals)}") from None

    pending: tuple[str, int] | None = None  # ("joint", index) or ("end", parent) awaiting "{"
    while i < n:
        tok = tokens[i]
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            name = need(2, f"{tok} name")[1]
            parent = next((s for s in reversed(stack) if s >= 0), -1) if up == "JOINT" else -1
            if up == "JOINT" and not stack:
                raise ValueError(f"{source}: JOINT {name} outside any ROOT")
            names.append(name)
            parents.append(parent)
            offsets.append(None)
            channels.append(())
            pending = ("joint", len(names) - 1)
            i += 2
        elif up == "END":
            if not stack or stack[-1] < 0:
                raise ValueError(f"{source}: End Site outside a joint")
            pending = ("end", stack[-1])
            i += 2 if i + 1 < n and tokens[i + 1].upper() == "SITE" else 1
        elif tok == "{":
            if pending is None:
                raise ValueError(f"{source}: unexpected '{{' in hierarchy")
            stack.append(pending[1] if pending[0] == "joint" else -2)
            if pending[0] == "end":
                end_sites.append([pending[1], None])
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                raise ValueError(f"{source}: unbalanced '}}' in hierarchy")
            stack.pop()
            i += 1
        elif up == "OFFSET":
            vals = floats(need(4, "OFFSET")[1:], "OFFSET")
            if not stack:
                raise ValueError(f"{source}: OFFSET outside a joint")
            if stack[-1] == -2:
                end_sites[-1][1] = np.asarray(vals, dtype=np.float64)
            else:
                offsets[stack[-1]] = vals
            i += 4
        elif up == "CHANNELS":
            try:
                count = int(need(2, "CHANNELS")[1])
            except ValueError:
                raise ValueError(f"{source}: bad channel count {tokens[i + 1]!r}") from None
            chans = tuple(need(2 + count, "CHANNELS")[2:])
            if not stack or stack[-1] < 0:
                raise ValueError(f"{source}: CHANNELS outside a joint")
            for c in chans:
                if c.lower() not in _CHANNEL_NAMES:
                    raise ValueError(f"{source}: unknown channel name {c!r} on joint {names[stack[-1]]}")
            channels[stack[-1]] = chans
            i += 2 + count
        else:
            raise ValueError(f"{source}: unexpected token {tok!r} in hierarchy")
    if stack:
        raise ValueError(f"{source}: hierarchy has {len(stack)} unclosed '{{'")
    if not names:
        raise ValueError(f"{source}: no ROOT joint in hierarchy")
    for j, off in enumerate(offsets):
        if off is None:
            raise ValueError(f"{source}: joint {names[j]} has no OFFSET")
    for j, off in end_sites:
        if off is None:
            raise ValueError(f"{source}: End Site of {names[j]} has no OFFSET")
    return names, parents, np.asarray(offsets, np.float64), channels, [(j, o) for j, o in end_sites]


def parse_bvh(text: str, source: str = "<string>") -> BVH:
    """Parse BVH ``text``; ``source`` names it in error messages."""
    if not text.strip():
        raise ValueError(f"{source}: empty file")
    parts = re.split(r"^\s*MOTION\s*$", text, maxsplit=1, flags=re.M | re.I)
    if len(parts) != 2:
        raise ValueError(f"{source}: no MOTION section (truncated or not a BVH file)")
    head, motion = parts
    tokens = head.split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise ValueError(f"{source}: does not start with HIERARCHY")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(tokens[1:], source)

    lines = motion.strip().splitlines()
    m_frames = re.match(r"\s*Frames:\s*(\d+)\s*$", lines[0], re.I) if lines else None
    m_time = re.match(r"\s*Frame\s+Time:\s*([-+0-9.eE]+)\s*$", lines[1], re.I) if len(lines) > 1 else None
    if m_frames is None or m_time is None:
        raise ValueError(f"{source}: MOTION must start with 'Frames: N' and 'Frame Time: dt' lines")
    num_frames, frame_time = int(m_frames.group(1)), float(m_time.group(1))
    if num_frames < 1:
        raise ValueError(f"{source}: 'Frames: {num_frames}' (no motion data)")
    if not frame_time > 0:
        raise ValueError(f"{source}: Frame Time must be > 0, got {frame_time}")
    rows = [ln.split() for ln in lines[2:] if ln.strip()]
    if len(rows) != num_frames:
        what = "truncated" if len(rows) < num_frames else "too many frame lines"
        raise ValueError(f"{source}: {what}: header says {num_frames} frames, found {len(rows)} lines")
    width = sum(len(c) for c in channels)
    for r, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"{source}: frame {r} has {len(row)} values, expected {width} "
                             f"(sum of CHANNELS)")
    try:
        data = np.array(rows, dtype=np.float64).reshape(num_frames, width)
    except ValueError:
        raise ValueError(f"{source}: non-numeric value in MOTION data") from None
    if not np.isfinite(data).all():
        raise ValueError(f"{source}: NaN or inf in MOTION data")

    J = len(names)
    rotations = np.zeros((num_frames, J, 3))
    positions = np.repeat(offsets[None], num_frames, axis=0)
    orders, col = [], 0
    for j, chans in enumerate(channels):
        order = ""
        for c in chans:
            kind, axis = _CHANNEL_NAMES[c.lower()]
            if kind == "position":
                positions[:, j, "XYZ".index(axis)] = data[:, col]
            else:
                if axis in order:
                    raise ValueError(f"{source}: joint {names[j]} repeats the {axis}rotation channel")
                rotations[:, j, len(order)] = data[:, col]
                order += axis
            col += 1
        orders.append(order)
    return BVH(names=names, parents=parents, offsets=offsets, channels=list(channels), rotations=rotations,
               positions=positions, frame_time=frame_time, orders=orders, end_sites=end_sites)


def local_rotations(bvh: BVH, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Local rotation matrices ``(T, J, 3, 3)`` from the Euler channels (joints grouped by order)."""
    rad = torch.as_tensor(np.deg2rad(bvh.rotations), dtype=dtype)
    out = torch.eye(3, dtype=dtype).expand(bvh.num_frames, bvh.num_joints, 3, 3).clone()
    by_order: dict[str, list[int]] = {}
    for j, order in enumerate(bvh.orders):
        by_order.setdefault(order, []).append(j)
    for order, idx in by_order.items():
        if not order:
            continue
        ang = rad[:, idx]  # (T, n, 3)
        if len(order) == 3:
            out[:, idx] = euler_to_matrix(ang, order)
        else:  # one or two rotation channels: compose what is there
            m = axis_rotation(order[0], ang[..., 0])
            for k in range(1, len(order)):
                m = m @ axis_rotation(order[k], ang[..., k])
            out[:, idx] = m
    return out


def forward_kinematics(rotations: torch.Tensor, translations: torch.Tensor, parents) -> tuple[torch.Tensor,
                                                                                                torch.Tensor]:
    """Global rotations ``(..., J, 3, 3)`` and positions ``(..., J, 3)``.

    Args:
        rotations: local rotation matrices ``(..., J, 3, 3)`` (any batch dims, e.g. frames).
        translations: local translations ``(..., J, 3)`` (offsets from the parent, in the parent frame).
        parents: parent index per joint (parents precede children), ``-1`` for roots.
    """
    g_rot, g_pos = [], []
    for j, p in enumerate(parents):
        if p < 0:
            g_rot.append(rotations[..., j, :, :])
            g_pos.append(translations[..., j, :])
        else:
            g_rot.append(g_rot[p] @ rotations[..., j, :, :])
            g_pos.append(g_pos[p] + (g_rot[p] @ translations[..., j, :, None])[..., 0])
    return torch.stack(g_rot, dim=-3), torch.stack(g_pos, dim=-2)


def bvh_to_positions(bvh: BVH, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Global joint positions ``(T, J, 3)`` in file units (FK batched over frames, in float64)."""
    trans = torch.as_tensor(bvh.positions, dtype=torch.float64)
    _, pos = forward_kinematics(local_rotations(bvh), trans, bvh.parents)
    return pos.to(dtype)


def format_bvh(bvh: BVH, precision: int = 6) -> str:
    """Serialise ``bvh`` to BVH text (channels as in ``bvh.channels``)."""
    children: dict[int, list[int]] = {}
    for j, p in enumerate(bvh.parents):
        children.setdefault(p, []).append(j)
    ends: dict[int, list[np.ndarray]] = {}
    for j, off in bvh.end_sites:
        ends.setdefault(j, []).append(off)
    fmt = f"{{:.{precision}f}}"

    def vec(v: np.ndarray) -> str:  # no "-0.000000"
        return " ".join(fmt.format(x) for x in np.where(np.abs(v) < 0.5 * 10.0**-precision, 0.0, v))

    out = ["HIERARCHY"]

    written: list[int] = []  # file order of the joints (depth first), which the MOTION columns follow

    def emit(j: int, depth: int) -> None:
        written.append(j)
        pad = "  " * depth
        out.append(f"{pad}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}  OFFSET " + vec(bvh.offsets[j]))
        out.append(f"{pad}  CHANNELS {len(bvh.channels[j])} " + " ".join(bvh.channels[j]))
        for c in children.get(j, []):
            emit(c, depth + 1)
        for off in ends.get(j, []):
            out.extend([f"{pad}  End Site", f"{pad}  {{",
                        f"{pad}    OFFSET " + vec(off), f"{pad}  }}"])
        out.append(pad + "}")

    for root in children.get(-1, []):
        emit(root, 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.8f}"]
    cols = []
    for j in written:
        order = bvh.orders[j]
        for c in bvh.channels[j]:
            kind, axis = _CHANNEL_NAMES[c.lower()]
            src = bvh.positions if kind == "position" else bvh.rotations
            k = "XYZ".index(axis) if kind == "position" else order.index(axis)
            cols.append(src[:, j, k])
    data = np.stack(cols, axis=1) if cols else np.zeros((bvh.num_frames, 0))
    data = np.where(np.abs(data) < 0.5 * 10.0**-precision, 0.0, data)  # no "-0.000000"
    out.extend(" ".join(fmt.format(v) for v in row) for row in data)
    return "\n".join(out) + "\n"


def save_bvh(path: str | os.PathLike, bvh: BVH, overwrite: bool = False, precision: int = 6) -> Path:
    """Write ``bvh`` atomically (temp file, then ``os.replace``); gzip if ``path`` ends with ``.gz``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = format_bvh(bvh, precision).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data, overwrite=overwrite)
    return path


def write_bvh(path: str | os.PathLike, joints, fps: float = 20.0, *, order: str = "ZXY",
              overwrite: bool = False) -> BVH:
    """Write SMPL-22 joints ``(T, 22, 3)`` (metres, Y up) as a BVH in metres that Blender opens.

    A template skeleton is fitted to the clip (see :func:`humo.data.bvh_ik.joints_to_bvh`): mean bone
    lengths, SMPL-22 rest directions, swing-only IK along the chains, the root and chest orientations from
    the hips/collars so twists are stable. Returns the :class:`BVH` written; reading it back with
    :func:`bvh_to_positions` reproduces ``joints`` up to bone-length variation within the clip.
    """
    from humo.data.bvh_ik import joints_to_bvh

    bvh = joints_to_bvh(joints, fps=fps, order=order)
    save_bvh(path, bvh, overwrite=overwrite)
    return bvh
