"""Pure tensor functions for motion representations (no nn, no I/O).

- :mod:`~humo.representations.skeleton`: SMPL-22 / KIT-21 definitions.
- :mod:`~humo.representations.streams`: CoAMD's joints / bones / motion streams.
- :mod:`~humo.representations.humanml3d`: the 263-d HumanML3D features, to and from joints.
- :mod:`~humo.representations.rotation`: quaternions, 6-D, Euler angles.
- :mod:`~humo.representations.normalizer`: mean / std normalisation.
"""

from humo.representations.humanml3d import (
    FEATURE_DIM,
    canonicalize,
    features_to_joints,
    joints_to_features,
    mirror_features,
    mirror_joints,
)
from humo.representations.masks import lengths_to_mask
from humo.representations.normalizer import Normalizer
from humo.representations.skeleton import KIT21, SMPL22, Skeleton, get_skeleton
from humo.representations.streams import Streams, from_streams, to_streams

__all__ = [
    "FEATURE_DIM", "KIT21", "SMPL22", "Normalizer", "Skeleton", "Streams", "canonicalize", "features_to_joints",
    "from_streams", "get_skeleton", "joints_to_features", "lengths_to_mask", "mirror_features", "mirror_joints",
    "to_streams",
]
