"""Evaluation metrics: one functional core (:mod:`humo.metrics.functional`), a thin accumulator
(:class:`MotionMetrics`) and the protocol runner (:func:`evaluate`, :func:`to_markdown`)."""

from humo.metrics.accumulator import METRIC_NAMES, MotionMetrics
from humo.metrics.functional import (
    FidReference,
    RetrievalMetrics,
    activation_statistics,
    clip_score,
    diversity,
    diversity_times,
    euclidean_distance_matrix,
    fid,
    frechet_distance,
    matching_score,
    multimodality,
    r_precision,
    retrieval_hits,
    retrieval_metrics,
)
from humo.metrics.protocol import (
    GenerateFn,
    MotionEvaluator,
    evaluate,
    reference_crop,
    summarize,
    to_markdown,
    with_converter,
)

__all__ = [
    "METRIC_NAMES",
    "GenerateFn",
    "MotionEvaluator",
    "FidReference",
    "MotionMetrics",
    "RetrievalMetrics",
    "activation_statistics",
    "clip_score",
    "diversity",
    "diversity_times",
    "euclidean_distance_matrix",
    "evaluate",
    "fid",
    "frechet_distance",
    "matching_score",
    "multimodality",
    "r_precision",
    "retrieval_hits",
    "retrieval_metrics",
    "reference_crop",
    "summarize",
    "to_markdown",
    "with_converter",
]
