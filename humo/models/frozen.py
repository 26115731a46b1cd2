"""Base for frozen external models (text / video encoders): held outside the module registry."""

from __future__ import annotations

import torch
from torch import nn


class FrozenExternal(nn.Module):
    """Wraps a pretrained model that must never enter a ``state_dict`` (style rule 7) but should still
    follow ``.to(device)`` / dtype changes of its owner."""

    def _hold(self, model: nn.Module) -> None:
        model.eval().requires_grad_(False)
        # Stored outside nn.Module's registry so that state_dict()/save_pretrained never include it.
        object.__setattr__(self, "_model", model)

    def _apply(self, fn, recurse=True):  # keep the hidden model on the same device/dtype
        super()._apply(fn, recurse)
        self._model._apply(fn)
        return self

    @property
    def device(self) -> torch.device:
        return next(self._model.parameters()).device
