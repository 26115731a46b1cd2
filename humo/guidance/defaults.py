"""The default guidance of humo's generators, chosen by the sweep in ``docs/evaluation.md`` (text alignment
and kinematic plausibility on the Bandai Namco test split): classifier-free guidance with a rescale, which
keeps the text alignment of a high scale without its impossible speeds."""

from __future__ import annotations

from humo.guidance.cfg import ClassifierFreeGuidance

DEFAULT_CFG_SCALE = 4.5
DEFAULT_CFG_RESCALE = 0.7


def default_guidance() -> list:
    """``[ClassifierFreeGuidance(DEFAULT_CFG_SCALE, rescale=DEFAULT_CFG_RESCALE)]`` (a new list each call)."""
    return [ClassifierFreeGuidance(DEFAULT_CFG_SCALE, rescale=DEFAULT_CFG_RESCALE)]
