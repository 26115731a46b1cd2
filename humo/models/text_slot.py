"""The one way a model or pipeline gets its frozen text encoder: ``obj.text_encoder = encoder``.

Every class that encodes text (:class:`~humo.models.recognizer.ActionRecognizer`,
:class:`~humo.models.evaluators.ContrastiveEvaluator`, the :class:`humo.CoAMD` and :class:`humo.MotionDuet`
pipelines) mixes in :class:`TextEncoderSlot`:

* assign ``obj.text_encoder = encoder`` (anything with ``encode(list[str]) -> (B, text_dim)``; a ``dim``
  attribute, when present, is checked against the model's ``text_dim``);
* read ``obj.text_encoder``: the assigned encoder, else the default ``TextEncoder(obj.text_encoder_name)``
  created on first use, on the object's device.

The encoder is frozen and external: it is never part of ``state_dict`` nor saved with the model
(pipelines' constructors and ``from_pretrained(text_encoder=...)`` assign it the same way).
"""

from __future__ import annotations


class TextEncoderSlot:
    """Mixin: a validated, lazily defaulted ``text_encoder`` attribute (kept out of ``state_dict``).

    The class provides ``text_encoder_name`` (str), ``text_dim`` (int) and ``device``.
    """

    _text_encoder = None

    @property
    def text_encoder(self):
        """The frozen text encoder; the default ``TextEncoder(text_encoder_name)`` is made on first use."""
        if self._text_encoder is None:
            from humo.models.text_encoder import TextEncoder

            encoder = TextEncoder(self.text_encoder_name)
            self.text_encoder = encoder.to(self.device) if callable(getattr(encoder, "to", None)) else encoder
        return self._text_encoder

    @text_encoder.setter
    def text_encoder(self, encoder) -> None:
        if encoder is not None:
            if not callable(getattr(encoder, "encode", None)):
                raise ValueError("the text encoder must have an encode(list[str]) method")
            dim = getattr(encoder, "dim", self.text_dim)
            if dim != self.text_dim:
                raise ValueError(f"text encoder gives {dim}-d embeddings; {type(self).__name__} expects "
                                 f"{self.text_dim}")
        object.__setattr__(self, "_text_encoder", encoder)  # never registered as a submodule
        self._text_encoder_changed()

    def _text_encoder_changed(self) -> None:
        """Hook: drop caches that depend on the text encoder."""

    def __setattr__(self, name, value):
        if name == "text_encoder":  # nn.Module.__setattr__ would register an nn.Module value as a submodule
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
