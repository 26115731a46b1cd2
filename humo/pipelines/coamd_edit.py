"""Editing for :class:`humo.pipelines.coamd.CoAMD`: inpaint, outpaint, prefix, suffix.

An edit is generation with given tokens: the input motion is encoded, the tokens whose frames are
all kept are marked as given, and the pipeline's one loop (``sample_tokens``) generates the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from humo.guidance import ClassifierFreeGuidance, ContactGuidance
from humo.models.text_encoder import check_texts
from humo.pipelines.common import sample_seeds
from humo.schedulers.flow_matching import Solver

EDIT_MODES = ("inpaint", "outpaint", "prefix", "suffix")


@dataclass
class EditLatents:
    """Output of ``CoAMD.edit_latents``.

    Attributes:
        latents: ``(1, L, D)`` autoencoder latents of the edited motion.
        given: ``(L,)`` bool, True for tokens copied from the input (unchanged).
        source: ``(1, L, D)`` autoencoder latents of the input motion.
        frames: number of frames of the input (and of the edited motion).
        seed: the seed used.
    """

    latents: torch.Tensor
    given: torch.Tensor
    source: torch.Tensor
    frames: int
    seed: int


def keep_mask(frames: int, mode: str, keep, fps: float = 20.0) -> torch.Tensor:
    """Frames kept by an edit, ``(frames,)`` bool (True = keep).

    ``keep`` is a ``(start_s, end_s)`` pair (either end may be ``None``) or a bool ``(frames,)`` mask
    (then ``mode`` is only checked). For a pair: ``prefix`` keeps ``[0, end)``, ``suffix`` keeps
    ``[start, T)``, ``outpaint`` keeps ``[start, end)`` and ``inpaint`` keeps all but ``[start, end)``.
    """
    if mode not in EDIT_MODES:
        raise ValueError(f"unknown edit mode {mode!r}; choose one of {', '.join(EDIT_MODES)}")
    if isinstance(keep, torch.Tensor) and keep.dtype == torch.bool:
        if keep.shape != (frames,):
            raise ValueError(f"keep mask must have shape ({frames},), got {tuple(keep.shape)}")
        return keep.cpu()
    if keep is None or len(keep) != 2:
        raise ValueError("keep must be (start_s, end_s) or a bool frame mask")
    start = 0.0 if keep[0] is None else float(keep[0])
    end = frames / fps if keep[1] is None else float(keep[1])
    if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start < end:
        raise ValueError(f"keep=({keep[0]}, {keep[1]}) must satisfy 0 <= start < end (seconds)")
    t = torch.arange(frames) / fps
    span = (t >= start) & (t < end)
    if mode == "prefix":
        return t < end
    if mode == "suffix":
        return t >= start
    return span if mode == "outpaint" else ~span


class CoAMDEditMixin:
    """``edit`` and ``edit_latents``; mixed into ``CoAMD`` (needs its loop and components)."""

    @torch.no_grad()
    def edit_latents(self, motion, text: str, mode: str = "inpaint", keep=None, seed: int | None = None,
                     steps: int = 18, flow_steps: int = 8, solver: Solver | str = Solver.HEUN,
                     guidance=None, generator: torch.Generator | None = None,
                     temperature: float = 1.0) -> EditLatents:
        """Latent-space edit (see :meth:`edit`): given tokens are the encoded input, the rest is generated."""
        joints = getattr(motion, "joints", motion)
        if getattr(motion, "fps", self.fps) != self.fps:
            raise ValueError(f"the motion is at {motion.fps:g} fps; CoAMD works at {self.fps:g} fps")
        joints = torch.as_tensor(joints, dtype=torch.float32)
        if joints.ndim != 3 or joints.shape[1:] != (22, 3):
            raise ValueError(f"motion joints must be (T, 22, 3), got {tuple(joints.shape)}")
        if not bool(torch.isfinite(joints).all()):
            raise ValueError("the motion to edit contains NaN or inf values")
        n = joints.shape[0]
        if not self.downsample <= n <= self.window_frames:
            raise ValueError(f"the motion to edit has {n} frames; edit takes {self.downsample}.."
                             f"{self.window_frames} frames (one window)")
        texts = check_texts(text)
        if len(texts) != 1:
            raise ValueError("edit takes one text")
        kept = keep_mask(n, mode, keep, self.fps)
        pad = -n % self.downsample  # repeat the last frame up to a multiple of the downsampling
        joints = torch.cat([joints, joints[-1:].expand(pad, -1, -1)]).to(self.device)
        kept = torch.cat([kept, kept[-1:].expand(pad)])
        given = kept.reshape(-1, self.downsample).all(1).to(self.device)  # (L,): all frames of the token kept
        if bool(given.all()):
            raise ValueError("nothing to generate: keep covers the whole motion")
        if not bool(given.any()):
            raise ValueError(f"keep covers no complete {self.downsample}-frame token; nothing would be kept")
        source = self.autoencoder.encode(joints.unsqueeze(0))  # (1, L, D)
        cond = self.encode_text(texts)
        seed = sample_seeds(1, seed, generator)[0]
        if guidance is None:  # CFG, then contact guidance on the regenerated tokens (the kept ones are held)
            guidance = [ClassifierFreeGuidance(self.DEFAULT_CFG)]
            if self.DEFAULT_CONTACT_STEPS:
                guidance.append(ContactGuidance(steps=self.DEFAULT_CONTACT_STEPS, fps=self.fps))
        gens = [torch.Generator().manual_seed(seed)]
        tokens = self.sample_tokens(cond, texts, self.transformer.normalize_latents(source), given.unsqueeze(0),
                                    torch.ones_like(given).unsqueeze(0), gens, steps=steps,
                                    flow_steps=flow_steps, solver=solver, guidance=guidance,
                                    temperature=temperature)
        latents = torch.where(given[None, :, None], source, self.transformer.denormalize_latents(tokens))
        return EditLatents(latents, given, source, n, seed)

    @torch.no_grad()
    def edit(self, motion, text: str, mode: str = "inpaint", keep=None, seed: int | None = None,
             steps: int = 18, flow_steps: int = 8, solver: Solver | str = Solver.HEUN, guidance=None,
             generator: torch.Generator | None = None, temperature: float = 1.0):
        """Regenerate part of ``motion`` (a Motion or joints ``(T, 22, 3)`` at 20 fps, T <= 196) from text.

        ``mode`` / ``keep`` pick the frames kept (:func:`keep_mask`): ``prefix`` keeps ``[0, end)``,
        ``suffix`` ``[start, T)``, ``outpaint`` ``[start, end)``, ``inpaint`` all but ``[start, end)``;
        a bool ``(T,)`` mask can be given instead. Tokens whose 4 frames are all kept are copied from
        the encoded input exactly; kept joints are reproduced up to the autoencoder's error. The
        output starts at the input's frame-0 root position and has the input's length. ``guidance=None``:
        CFG ``DEFAULT_CFG``, then contact guidance on the regenerated tokens (no recognizer guidance).
        """
        from humo.motion import Motion

        res = self.edit_latents(motion, text, mode, keep, seed=seed, steps=steps, flow_steps=flow_steps,
                                solver=solver, guidance=guidance, generator=generator,
                                temperature=temperature)
        src = torch.as_tensor(getattr(motion, "joints", motion), dtype=torch.float32).to(self.device)
        origin = src[:1, 0] * torch.tensor([1.0, 0.0, 1.0], device=self.device)  # (1, 3) frame-0 root XZ
        joints = self.autoencoder.decode(res.latents, origin=origin)[:, :res.frames]
        joints = self.cleanup(joints)[0]  # fixed skeleton, floor, planted feet (humo.pipelines.cleanup)
        pair = isinstance(keep, (list, tuple))
        keep_desc = [None if k is None else float(k) for k in keep] if pair else "mask"
        meta = {"model": "coamd", "edit": mode, "keep": keep_desc,
                "source_text": getattr(motion, "text", None), "steps": steps, "flow_steps": flow_steps,
                "solver": Solver(solver).value, "cleanup": self.cleanup.describe()}
        return Motion(joints.cpu(), fps=self.fps, text=check_texts(text)[0], seed=res.seed, meta=meta)
