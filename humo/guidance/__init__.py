"""Composable guidance shared by every generator (style rule 3).

Prediction guidance (:class:`ClassifierFreeGuidance`, :class:`AutoGuidance`) combines two network
passes and tells the loop how many passes it needs; latent guidance (:class:`RecognizerGuidance`) is a
hook that updates latents after a step; :class:`ContactGuidance` refines the finished latents so that planted
feet do not slide.
"""

from humo.guidance.autoguidance import AutoGuidance, DegradeMode
from humo.guidance.base import LatentGuidance, PredictionGuidance, split_guidance
from humo.guidance.cfg import CFGSchedule, ClassifierFreeGuidance
from humo.guidance.contact import ContactGuidance, contact_energy
from humo.guidance.defaults import (
    DEFAULT_CFG_RESCALE,
    DEFAULT_CFG_SCALE,
    DEFAULT_CONTACT_STEPS,
    default_guidance,
)
from humo.guidance.recognizer import RecognizerGuidance

__all__ = ["DEFAULT_CFG_RESCALE", "DEFAULT_CFG_SCALE", "DEFAULT_CONTACT_STEPS", "AutoGuidance", "CFGSchedule",
           "ClassifierFreeGuidance", "ContactGuidance", "DegradeMode", "LatentGuidance", "PredictionGuidance",
           "RecognizerGuidance", "contact_energy", "default_guidance", "split_guidance"]
