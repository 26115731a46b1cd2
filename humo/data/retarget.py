"""Retarget BVH skeletons to SMPL-22 joint positions (metres, Y up, 20 fps).

A *joint map* says where each SMPL-22 joint comes from: ``{smpl_name: source_joint}`` or a weighted
average ``{smpl_name: [[source_joint, weight], ...]}`` (weights sum to 1). SMPL joints the map leaves out
are interpolated:

* ``spine1``/``spine2``/``spine3`` along the source's own spine (the parent chain from the ``neck`` source
  joint down to the ``pelvis`` source joint), at SMPL's arc-length fractions 0.24 / 0.50 / 0.60 (measured
  on HumanML3D clip 012314);
* ``left_collar``/``right_collar`` = 0.15 spine3 + 0.50 shoulder + 0.35 neck (SMPL's collars sit halfway to
  the shoulder, raised towards the neck).

Presets (:data:`PRESETS`) cover Bandai Namco's 22-joint rig, the 31-joint cgspeed CMU BVH, Reallusion's
CC_Base rig, ASF/AMC skeletons (CMU, HDM05; read by :mod:`humo.data.asf`) and humo's own SMPL-22 BVH
(:func:`humo.data.bvh.write_bvh`). Each preset carries its unit scale (to metres); the up axis is
detected from the head-above-ankles direction unless given.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from humo.data.bvh import BVH, bvh_to_positions, read_bvh
from humo.data.bvh_ik import swing
from humo.representations.skeleton import SMPL22

SPINE_FRACTIONS = {"spine1": 0.239, "spine2": 0.498, "spine3": 0.602}
COLLAR_WEIGHTS = (0.15, 0.50, 0.35)  # spine3, shoulder, neck
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.056444}
_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


@dataclass(frozen=True)
class JointMap:
    """A source rig: SMPL-22 joint name -> source joint (or weighted source joints), plus its units.

    Attributes:
        name: preset name (or ``"custom"``).
        joints: ``{smpl_name: "Source" | ((source, weight), ...)}``.
        scale: multiply file units by this to get metres.
    """

    name: str
    joints: dict
    scale: float = 1.0


def _lr(template: dict[str, str], tags: tuple[str, str]) -> dict[str, str]:
    """Expand ``{"hip": "UpperLeg_{s}"}`` into left_/right_ entries with the rig's side tags."""
    out = {}
    for smpl, src in template.items():
        out[f"left_{smpl}"] = src.format(s=tags[0])
        out[f"right_{smpl}"] = src.format(s=tags[1])
    return out


PRESETS: dict[str, JointMap] = {
    "bandai-namco": JointMap("bandai-namco", {
        "pelvis": "Hips", "neck": "Neck", "head": "Head",
        **_lr({"hip": "UpperLeg_{s}", "knee": "LowerLeg_{s}", "ankle": "Foot_{s}", "foot": "Toes_{s}",
               "collar": "Shoulder_{s}", "shoulder": "UpperArm_{s}", "elbow": "LowerArm_{s}",
               "wrist": "Hand_{s}"}, ("L", "R")),
    }, scale=0.01),
    "cmu": JointMap("cmu", {
        "pelvis": "Hips", "neck": "Neck1", "head": "Head",
        **_lr({"hip": "{s}UpLeg", "knee": "{s}Leg", "ankle": "{s}Foot", "foot": "{s}ToeBase",
               "shoulder": "{s}Arm", "elbow": "{s}ForeArm", "wrist": "{s}Hand"}, ("Left", "Right")),
    }, scale=UNITS["cmu"]),
    "cc-base": JointMap("cc-base", {
        "pelvis": "CC_Base_Hip", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
        **_lr({"hip": "CC_Base_{s}_Thigh", "knee": "CC_Base_{s}_Calf", "ankle": "CC_Base_{s}_Foot",
               "foot": "CC_Base_{s}_ToeBase", "collar": "CC_Base_{s}_Clavicle",
               "shoulder": "CC_Base_{s}_Upperarm", "elbow": "CC_Base_{s}_Forearm",
               "wrist": "CC_Base_{s}_Hand"}, ("L", "R")),
    }, scale=0.01),
    # ASF/AMC bone names (CMU, HDM05) as humo.data.asf.amc_to_bvh gives them: one joint per bone at the bone's
    # start, already in metres
    "asf": JointMap("asf", {
        "pelvis": "root", "neck": "upperneck", "head": "head",
        **_lr({"hip": "{s}femur", "knee": "{s}tibia", "ankle": "{s}foot", "foot": "{s}toes",
               "shoulder": "{s}humerus", "elbow": "{s}radius", "wrist": "{s}wrist"}, ("l", "r")),
    }, scale=1.0),
    "smpl22": JointMap("smpl22", {n: n for n in SMPL22.joint_names}, scale=1.0),
}


def load_joint_map(spec, scale: float | str | None = None) -> JointMap:
    """A :class:`JointMap` from a preset name, a dict, a JointMap or a JSON file path.

    A JSON file holds either the joints dict itself or ``{"joints": {...}, "scale": 0.01}``. ``scale``
    (a number or a unit name in :data:`UNITS`) overrides the map's scale.
    """
    if isinstance(spec, JointMap):
        jm = spec
    elif isinstance(spec, str) and spec in PRESETS:
        jm = PRESETS[spec]
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"joint map {str(spec)!r} is neither a preset {sorted(PRESETS)} nor a JSON file")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        jm = _from_dict(data, name=path.stem)
    elif isinstance(spec, dict):
        jm = _from_dict(spec, name="custom")
    else:
        raise ValueError(f"joint map must be a preset name, dict, JointMap or JSON path, "
                         f"got {type(spec).__name__}")
    if scale is not None:
        jm = JointMap(jm.name, jm.joints, _unit_scale(scale))
    return jm


def detect_preset(bvh: BVH) -> str:
    """Name of the first preset whose source joints all exist in ``bvh`` (ValueError if none fits)."""
    names = set(bvh.names)
    for name, jm in PRESETS.items():
        needed = {n for smpl, v in jm.joints.items() for n, _ in _weights(v, smpl)}
        if needed <= names:
            return name
    raise ValueError(f"no joint-map preset fits this skeleton (joints {bvh.names[:8]}...); "
                     f"pass a joint map; presets: {sorted(PRESETS)}")


def _unit_scale(scale: float | str) -> float:
    if isinstance(scale, str):
        if scale not in UNITS:
            raise ValueError(f"unknown unit {scale!r}; known: {sorted(UNITS)} or a number")
        return UNITS[scale]
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return float(scale)


def _from_dict(data: dict, name: str) -> JointMap:
    if not isinstance(data, dict):
        raise ValueError(f"joint map {name!r} must be a JSON object")
    if isinstance(data.get("joints"), dict):
        joints, scale = data["joints"], _unit_scale(data.get("scale", 1.0))
    else:
        joints, scale = data, 1.0
    unknown = sorted(set(joints) - set(SMPL22.joint_names))
    if unknown:
        raise ValueError(f"joint map names unknown SMPL-22 joints {unknown}; "
                         f"known: {list(SMPL22.joint_names)}")
    return JointMap(name, dict(joints), scale)


def _weights(src, smpl_name: str) -> list[tuple[str, float]]:
    if isinstance(src, str):
        return [(src, 1.0)]
    try:
        pairs = [(str(n), float(w)) for n, w in src]
    except (TypeError, ValueError):
        raise ValueError(f"joint map entry for {smpl_name!r} must be a joint name or [[name, weight], ...]") \
            from None
    if not pairs or abs(sum(w for _, w in pairs) - 1.0) > 1e-6:
        raise ValueError(f"joint map weights for {smpl_name!r} must sum to 1, got {pairs}")
    return pairs


def along_chain(points: torch.Tensor, fractions) -> torch.Tensor:
    """Points at arc-length ``fractions`` along polylines ``points (T, K, 3)`` -> ``(T, F, 3)``."""
    seg = points[:, 1:] - points[:, :-1]
    seglen = seg.norm(dim=-1)  # (T, K-1)
    cum = torch.cat([torch.zeros_like(seglen[:, :1]), seglen.cumsum(-1)], -1)  # (T, K)
    target = cum[:, -1:] * torch.as_tensor(fractions, dtype=points.dtype)  # (T, F)
    idx = torch.searchsorted(cum[:, 1:].contiguous(), target.contiguous()).clamp(max=seg.shape[1] - 1)
    start = torch.gather(cum, 1, idx)
    length = torch.gather(seglen, 1, idx)
    t = ((target - start) / length.clamp(min=1e-9)).clamp(0, 1)[..., None]
    base = torch.gather(points, 1, idx[..., None].expand(-1, -1, 3))
    step = torch.gather(seg, 1, idx[..., None].expand(-1, -1, 3))
    return base + t * step


def _chain(bvh: BVH, top: str, bottom: str) -> list[int]:
    """Joint indices from ``bottom`` up to ``top`` following parents (inclusive, bottom first)."""
    j, path = bvh.index(top), []
    stop = bvh.index(bottom)
    while j != stop:
        path.append(j)
        j = bvh.parents[j]
        if j < 0:
            raise ValueError(f"{top!r} is not below {bottom!r} in the source hierarchy")
    return [stop] + path[::-1]


def map_joints(bvh: BVH, joint_map, positions: torch.Tensor | None = None) -> torch.Tensor:
    """SMPL-22 joints ``(T, 22, 3)`` (source units and axes, float64) from a parsed BVH and a joint map."""
    jm = load_joint_map(joint_map)
    pos = bvh_to_positions(bvh, dtype=torch.float64) if positions is None else positions
    out: dict[str, torch.Tensor] = {}
    for name in SMPL22.joint_names:
        if name in jm.joints:
            out[name] = sum(w * pos[:, bvh.index(n)] for n, w in _weights(jm.joints[name], name))
    missing_spine = [n for n in SPINE_FRACTIONS if n not in out]
    if missing_spine:
        if not (isinstance(jm.joints.get("pelvis"), str) and isinstance(jm.joints.get("neck"), str)):
            raise ValueError(f"cannot interpolate {missing_spine}: map 'pelvis' and 'neck' to single joints")
        chain = pos[:, _chain(bvh, jm.joints["neck"], jm.joints["pelvis"])]
        pts = along_chain(chain, [SPINE_FRACTIONS[n] for n in missing_spine])
        out.update({n: pts[:, k] for k, n in enumerate(missing_spine)})
    for side in ("left", "right"):
        if f"{side}_collar" not in out and f"{side}_shoulder" in out and "neck" in out:
            a, b, c = COLLAR_WEIGHTS
            out[f"{side}_collar"] = a * out["spine3"] + b * out[f"{side}_shoulder"] + c * out["neck"]
    missing = [n for n in SMPL22.joint_names if n not in out]
    if missing:
        raise ValueError(f"joint map {jm.name!r} gives no source for SMPL-22 joints {missing}")
    return torch.stack([out[n] for n in SMPL22.joint_names], dim=1)


def up_rotation(joints: torch.Tensor, up: str = "auto") -> torch.Tensor:
    """Rotation ``(3, 3)`` taking the rig's up axis to +Y.

    Args:
        joints: SMPL-22 ``(T, 22, 3)``; used when ``up="auto"``: the up axis is the signed coordinate axis
            closest to the mean head-minus-ankles direction.
        up: ``"auto"`` or a signed axis (``"y"``, ``"+z"``, ``"-y"``, ...).
    """
    if up == "auto":
        d = (joints[:, 15] - 0.5 * (joints[:, 7] + joints[:, 8])).mean(0)
        k = int(d.abs().argmax())
        axis = torch.zeros(3, dtype=joints.dtype)
        axis[k] = torch.sign(d[k])
    else:
        key = up.lower().lstrip("+")
        sign = -1.0 if key.startswith("-") else 1.0
        if key.lstrip("-") not in _AXES:
            raise ValueError(f"up must be 'auto' or one of x/y/z with an optional sign, got {up!r}")
        axis = sign * torch.tensor(_AXES[key.lstrip("-")], dtype=joints.dtype)
    return swing(axis, torch.tensor([0.0, 1.0, 0.0], dtype=joints.dtype))


def resample(x: torch.Tensor, src_fps: float, dst_fps: float) -> torch.Tensor:
    """Linear resampling in time of ``x (T, ...)`` from ``src_fps`` to ``dst_fps`` (first frame kept)."""
    if not (src_fps > 0 and dst_fps > 0):
        raise ValueError(f"frame rates must be > 0, got {src_fps} -> {dst_fps}")
    T = x.shape[0]
    n = int(np.floor((T - 1) * dst_fps / src_fps + 1e-6)) + 1
    t = torch.arange(n, dtype=torch.float64) * (src_fps / dst_fps)
    i0 = t.floor().long().clamp(max=T - 1)
    i1 = (i0 + 1).clamp(max=T - 1)
    w = (t - i0).to(x.dtype).reshape((n,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i1] * w


def trim_jumps(joints: torch.Tensor, fps: float, max_speed: float = 10.0, edge: int = 5) -> torch.Tensor:
    """Drop bind-pose frames glued to a clip's ends: within the first / last ``edge`` frames, cut at any root
    step faster than ``max_speed`` m/s (e.g. the T-pose frame 0, 2 m away, of some iClone CMU exports).

    ``joints``: ``(T, 22, 3)`` metres at ``fps``; returns ``(T', 22, 3)``.
    """
    speed = (joints[1:, 0] - joints[:-1, 0]).norm(dim=-1) * fps  # (T-1,)
    jumps = [int(i) for i in torch.nonzero(speed > max_speed).flatten()]
    start = max([i + 1 for i in jumps if i < edge], default=0)
    end = min([i + 1 for i in jumps if i >= len(speed) - edge and i + 1 > start], default=joints.shape[0])
    return joints[start:end]


def retarget(bvh: BVH, joint_map="bandai-namco", *, scale: float | str | None = None, up: str = "auto",
             fps: float = 20.0, trim: bool = True) -> torch.Tensor:
    """SMPL-22 joints ``(T', 22, 3)`` float32, metres, Y up, resampled to ``fps``.

    Args:
        bvh: a parsed file (:func:`humo.data.bvh.read_bvh`).
        joint_map: preset name, dict, :class:`JointMap` or JSON path (see :func:`load_joint_map`).
        scale: file units -> metres (number or unit name); default: the map's own scale.
        up: the file's up axis, or ``"auto"`` to detect it.
        fps: output frame rate.
        trim: drop bind-pose frames at the ends (:func:`trim_jumps`).
    """
    jm = load_joint_map(joint_map, scale)
    x = map_joints(bvh, jm) * jm.scale
    if trim:
        x = trim_jumps(x, bvh.fps)
    x = x @ up_rotation(x, up).T  # row vectors: (R v)^T = v^T R^T
    return resample(x, bvh.fps, fps).to(torch.float32)


def retarget_file(path: str | os.PathLike, joint_map="bandai-namco", **kwargs) -> torch.Tensor:
    """:func:`retarget` applied to the BVH file at ``path`` (plain or gzipped)."""
    return retarget(read_bvh(path), joint_map, **kwargs)


def left_right_agreement(joints: torch.Tensor) -> float:
    """Fraction of frames whose left/right labels agree with the body's facing, in ``[0, 1]``.

    The facing comes from the lower (stance) foot, ankle -> toe on the ground plane, rather than from the
    labelled hips, so a swapped or mirrored rig scores near 0: SMPL's left side is ``up x forward`` (left =
    +x facing +z). The swing foot is ignored: in a run it trails behind, pointing backwards.
    ``joints``: SMPL-22 ``(T, 22, 3)``, Y up.
    """
    left_lower = (joints[:, 10, 1] < joints[:, 11, 1])[:, None]
    fwd = torch.where(left_lower, joints[:, 10] - joints[:, 7], joints[:, 11] - joints[:, 8])
    fwd = fwd * torch.tensor([1.0, 0.0, 1.0], dtype=joints.dtype)
    left = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0], dtype=joints.dtype).expand_as(fwd), fwd, dim=-1)
    across = (joints[:, 1] - joints[:, 2]) + (joints[:, 16] - joints[:, 17])
    return float(((across * left).sum(-1) > 0).double().mean())
