"""CoAMD's multi-modal action recognizer (MAR): recognition, retrieval and the guidance score.

See :class:`ActionRecognizer` (``model.py``); the building blocks live in ``encoder.py``, the
multi-positive InfoNCE in ``losses.py`` and the logistic-regression probe in ``probe.py``.
"""

from humo.models.recognizer.losses import multi_positive_info_nce
from humo.models.recognizer.model import (
    RECOGNIZER_PRESETS,
    ActionRecognizer,
    MotionEmbedding,
    RecognizerOutput,
    Retrieval,
)
from humo.models.recognizer.probe import ProbeResult, linear_probe

__all__ = [
    "RECOGNIZER_PRESETS",
    "ActionRecognizer",
    "MotionEmbedding",
    "ProbeResult",
    "RecognizerOutput",
    "Retrieval",
    "linear_probe",
    "multi_positive_info_nce",
]
