"""Skeleton definitions: SMPL-22 (HumanML3D) and KIT-21 (KIT-ML).

Facts from the HumanML3D release (Guo et al., CVPR 2022); see ``docs/representations.md``.
Every constant here is plain Python data (tuples) so the module imports no tensor library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree with the joint groups the HumanML3D pipeline needs.

    Attributes:
        name: identifier (``"smpl22"`` or ``"kit21"``).
        joint_names: one name per joint, in storage order.
        parents: parent index per joint, ``-1`` for the root. Parents precede children.
        chains: kinematic chains from the root outwards (used by IK and drawing).
        face_joints: (r_hip, l_hip, r_shoulder, l_shoulder), used for the facing direction.
        feet_right / feet_left: (ankle, foot) indices used for contacts.
        leg_joints: (knee, ankle) indices whose bone lengths set the leg-length scale.
        mirror: permutation that swaps left and right joints (apply after x -> -x).
        fps: native frame rate of the dataset using this skeleton.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    chains: tuple[tuple[int, ...], ...]
    face_joints: tuple[int, int, int, int]
    feet_right: tuple[int, int]
    feet_left: tuple[int, int]
    leg_joints: tuple[int, int]
    mirror: tuple[int, ...]
    fps: float
    raw_offsets: tuple[tuple[float, float, float], ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def bone_pairs(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) for every non-root joint, in child order."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def left_joints(self) -> tuple[int, ...]:
        return tuple(i for i, n in enumerate(self.joint_names) if n.startswith("left"))

    @property
    def right_joints(self) -> tuple[int, ...]:
        return tuple(i for i, n in enumerate(self.joint_names) if n.startswith("right"))


def _mirror_perm(names: tuple[str, ...]) -> tuple[int, ...]:
    index = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        if n.startswith("left_"):
            perm.append(index["right_" + n[5:]])
        elif n.startswith("right_"):
            perm.append(index["left_" + n[6:]])
        else:
            perm.append(index[n])
    return tuple(perm)


_SMPL_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

SMPL22 = Skeleton(
    name="smpl22",
    joint_names=_SMPL_NAMES,
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19),
    chains=(
        (0, 2, 5, 8, 11),  # right leg
        (0, 1, 4, 7, 10),  # left leg
        (0, 3, 6, 9, 12, 15),  # spine / head
        (9, 14, 17, 19, 21),  # right arm
        (9, 13, 16, 18, 20),  # left arm
    ),
    face_joints=(2, 1, 17, 16),
    feet_right=(8, 11),
    feet_left=(7, 10),
    leg_joints=(5, 8),
    mirror=_mirror_perm(_SMPL_NAMES),
    fps=20.0,
    # Unit rest directions of each joint's incoming bone (the reference's t2m_raw_offsets): the rest
    # pose that naive IK measures rotations against.
    raw_offsets=((0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0), (0, -1, 0),
                 (0, -1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1), (0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1),
                 (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0)),
)

# KIT-ML: indices follow the reference chains; face joints [11, 16, 5, 8] are
# (r_hip, l_hip, r_shoulder, l_shoulder), so 11-15 are the right leg and 5-7 the right arm.
_KIT_NAMES = (
    "root", "bp", "bt", "neck", "head", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
    "right_heel", "right_toe", "left_hip", "left_knee", "left_ankle", "left_heel", "left_toe",
)

KIT21 = Skeleton(
    name="kit21",
    joint_names=_KIT_NAMES,
    parents=(-1, 0, 1, 2, 3, 3, 5, 6, 3, 8, 9, 0, 11, 12, 13, 14, 0, 16, 17, 18, 19),
    chains=(
        (0, 11, 12, 13, 14, 15),
        (0, 16, 17, 18, 19, 20),
        (0, 1, 2, 3, 4),
        (3, 5, 6, 7),
        (3, 8, 9, 10),
    ),
    face_joints=(11, 16, 5, 8),
    feet_right=(14, 15),
    feet_left=(19, 20),
    leg_joints=(17, 18),
    mirror=_mirror_perm(_KIT_NAMES),
    fps=12.5,
    raw_offsets=((0, 0, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0),
                 (-1, 0, 0), (0, -1, 0), (0, -1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 0, 1), (0, 0, 1),
                 (-1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 0, 1), (0, 0, 1)),
)

SKELETONS: dict[str, Skeleton] = {"smpl22": SMPL22, "kit21": KIT21}


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Look a skeleton up by name (``"smpl22"`` or ``"kit21"``); a Skeleton passes through."""
    if isinstance(name, Skeleton):
        return name
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}") from None
