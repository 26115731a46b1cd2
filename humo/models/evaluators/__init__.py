"""Text-motion evaluators used to *measure* generators (never to guide them).

* :class:`T2MEvaluator` -- the T2M (CVPR 2022) matching model, loadable from the official files;
* :class:`ContrastiveEvaluator` -- a contrastive evaluator trainable in humo
  (``humo.training.evaluator.train_evaluator`` / ``humo train evaluator``); ``load_evaluator("bundled")``
  loads the one humo's tables are measured with.

Both implement the :class:`humo.metrics.MotionEvaluator` interface: ``embed_text(list[str])`` and
``embed_motion(raw features (B, T, 263), lengths (B,))``, normalising features with their own buffers.
"""

from humo.models.evaluators.contrastive import PRESETS as CONTRASTIVE_PRESETS
from humo.models.evaluators.contrastive import ContrastiveEvaluator, ContrastiveOutput, load_evaluator
from humo.models.evaluators.t2m import POS_ENUMERATOR, EvaluatorOutput, T2MEvaluator, load_glove

__all__ = [
    "POS_ENUMERATOR",
    "CONTRASTIVE_PRESETS",
    "ContrastiveEvaluator",
    "ContrastiveOutput",
    "EvaluatorOutput",
    "T2MEvaluator",
    "load_evaluator",
    "load_glove",
]
