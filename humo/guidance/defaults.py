"""The default guidance of humo's generators, chosen by measurement (``docs/evaluation.md``).

* Classifier-free guidance 3 with a rescale of 0.7: every guided setting of the sweep on the Bandai Namco
  test split had the same text alignment within its intervals (R@1 0.33-0.38 +- 0.03-0.04); this one moves
  locomotion at the most realistic speeds of them (old default CFG 4.5: runs at 8 m/s).
* Contact guidance, 50 Adam steps on the finished latents (:class:`humo.guidance.ContactGuidance`): on the
  merged test split (bundled CoAMD, one replication) R@3 0.913 -> 0.924, FID 0.096 -> 0.083, locomotion
  speed inside the real 5-95% range 0.70 -> 0.85 of generations, jerk inside 0.48 -> 0.63.

:meth:`humo.CoAMD.default_guidance` adds recognizer guidance (scale 1) between the two where the pipeline has
a recognizer: R@3 0.924 -> 0.940, FID 0.083 -> 0.073 on the same protocol.
"""

from __future__ import annotations

from humo.guidance.cfg import ClassifierFreeGuidance
from humo.guidance.contact import ContactGuidance

DEFAULT_CFG_SCALE = 3.0
DEFAULT_CFG_RESCALE = 0.7
DEFAULT_CONTACT_STEPS = 50


def default_guidance(contact_steps: int = DEFAULT_CONTACT_STEPS) -> list:
    """``[ClassifierFreeGuidance(DEFAULT_CFG_SCALE, rescale=DEFAULT_CFG_RESCALE), ContactGuidance(contact_steps)]``
    (a new list each call; no contact guidance with ``contact_steps=0``)."""
    out: list = [ClassifierFreeGuidance(DEFAULT_CFG_SCALE, rescale=DEFAULT_CFG_RESCALE)]
    if contact_steps:
        out.append(ContactGuidance(steps=contact_steps))
    return out
