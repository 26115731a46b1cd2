"""CoAMD text-to-motion pipeline: autoencoder + masked autoregressive flow model + guidance.

One loop (:meth:`CoAMD.sample_tokens`) serves generation, long-motion outpainting and
editing: tokens marked as *given* are kept exactly, the others are revealed over ``steps`` AR steps
(cosine schedule, random order); each revealed token is integrated from noise by the flow
scheduler with the transformer context ``h``. Prediction guidance (CFG or auto-guidance) decides per
step whether a second pass runs; latent hooks (recognizer guidance) then move the tokens just revealed.

Randomness is per sample: sample ``i`` of a request uses ``torch.Generator().manual_seed(seeds[i])``
for its token order and its noise, so the same seed gives the same motion whatever the batch.

Saved layout (``save_pretrained``)::

    folder/pipeline.json   folder/autoencoder/   folder/coamd/ (the transformer)   [folder/recognizer/]
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from humo.guidance import (
    DEFAULT_CFG_RESCALE,
    DEFAULT_CFG_SCALE,
    DEFAULT_CONTACT_STEPS,
    ClassifierFreeGuidance,
    ContactGuidance,
    RecognizerGuidance,
    split_guidance,
)
from humo.models.hub import BUNDLED_MODEL
from humo.models.text_encoder import check_texts
from humo.models.text_slot import TextEncoderSlot
from humo.pipelines.cleanup import SKELETON_FILE, MotionCleanup, save_skeleton
from humo.pipelines.coamd_edit import EDIT_MODES, CoAMDEditMixin, EditLatents, keep_mask
from humo.pipelines.common import decode_by_length, length_value, resolve_pretrained, sample_seeds
from humo.schedulers.flow_matching import FlowMatchingScheduler, Solver

FPS = 20.0
MAX_FRAMES = 12000  # 10 minutes at 20 fps, the most one call outpaints
# Component classes a pipeline.json may name (an allow-list: nothing else is ever imported).
__all__ = ["BUNDLED_MODEL", "CoAMD", "EDIT_MODES", "EditLatents", "keep_mask"]
COMPONENTS = {"MotionAutoencoder": "humo.models.autoencoder", "ActionRecognizer": "humo.models.recognizer"}


def _describe(guidance) -> list[str]:
    pred, hooks = split_guidance(guidance)
    return [repr(g) for g in ([pred] if pred is not None else []) + hooks]


class CoAMD(TextEncoderSlot, CoAMDEditMixin):
    """Text -> motion with CoAMD: the user-facing pipeline (``humo.CoAMD``).

        from humo import CoAMD
        motion = CoAMD.from_pretrained().generate("a person runs")   # the bundled model, offline

    Args:
        autoencoder: :class:`humo.models.autoencoder.MotionAutoencoder` (``encode``/``decode``,
            ``downsample``, ``latent_dim``).
        transformer: :class:`humo.models.coamd.CoAMDTransformer` trained on that autoencoder's latents.
        text_encoder: frozen encoder with ``.encode(list[str]) -> (B, text_dim)``, assigned to
            :attr:`text_encoder` (default: ``TextEncoder(text_encoder_name)`` on first use; English only).
        recognizer: optional ``ActionRecognizer`` used by :class:`humo.guidance.RecognizerGuidance`.
        cleanup: :class:`humo.pipelines.cleanup.MotionCleanup` applied to every decoded motion (fixed
            skeleton, floor, foot locking); default: per-clip skeletons (a loaded pipeline uses its
            ``skeleton.json``).
    """

    DEFAULT_CFG = DEFAULT_CFG_SCALE  # the CFG of generate / edit when guidance is None (humo.guidance.defaults)
    DEFAULT_CFG_RESCALE = DEFAULT_CFG_RESCALE
    DEFAULT_CONTACT_STEPS = DEFAULT_CONTACT_STEPS  # contact guidance on the finished latents (0: none)
    DEFAULT_RECOGNIZER_SCALE = 1.0  # recognizer guidance per AR step when there is a recognizer (0: none)

    def __init__(self, autoencoder, transformer, text_encoder=None, recognizer=None,
                 text_encoder_name: str = "minilm", fps: float = FPS, cleanup: MotionCleanup | None = None):
        if autoencoder.latent_dim != transformer.latent_dim:
            raise ValueError(f"autoencoder latents are {autoencoder.latent_dim}-d but the transformer expects "
                             f"{transformer.latent_dim}")
        self.autoencoder = autoencoder.eval()  # sampling never trains: dropout off
        self.transformer = transformer.eval()
        self._recognizer_loader = None  # set by from_pretrained: the recognizer loads on first use
        self.recognizer = recognizer
        self.text_encoder_name = text_encoder_name
        self.text_encoder = text_encoder
        self.fps = float(fps)
        self.downsample = int(getattr(autoencoder, "downsample", 4))
        self.cleanup = cleanup if cleanup is not None else MotionCleanup(fps=self.fps)

    # ------------------------------------------------------------------ components
    @property
    def recognizer(self):
        """The pipeline's ``ActionRecognizer`` (or ``None``); a loaded pipeline reads it from its folder on
        first use, so generation alone never pays for it."""
        if self._recognizer is None and self._recognizer_loader is not None:
            loader, self._recognizer_loader = self._recognizer_loader, None
            self._recognizer = loader().eval().to(self.device)
        return self._recognizer

    @recognizer.setter
    def recognizer(self, value) -> None:
        self._recognizer = value.eval() if value is not None else None
        self._recognizer_loader = None

    @property
    def text_dim(self) -> int:
        return self.transformer.text_dim

    @property
    def device(self) -> torch.device:
        return self.transformer.latent_mean.device

    @property
    def window_frames(self) -> int:
        """Frames the transformer sees at once (``max_tokens * downsample``, 196 by default)."""
        return self.transformer.max_tokens * self.downsample

    def to(self, device) -> CoAMD:
        for m in (self.autoencoder, self.transformer, self._recognizer, self._text_encoder):
            if isinstance(m, torch.nn.Module):
                m.to(device)
        return self

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings ``(B, text_dim)`` on the pipeline's device."""
        emb = torch.as_tensor(self.text_encoder.encode(texts)).to(self.device, torch.float32)
        if emb.shape != (len(texts), self.transformer.text_dim):
            raise ValueError(f"text encoder gives {tuple(emb.shape)}; the transformer expects "
                             f"(B, {self.transformer.text_dim})")
        return emb

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Model-space tokens ``(B, L, D)`` -> joints ``(B, L * downsample, 22, 3)``."""
        return self.autoencoder.decode(self.transformer.denormalize_latents(tokens))

    # ------------------------------------------------------------------ the one sampling loop
    @torch.no_grad()
    def sample_tokens(self, cond: torch.Tensor, texts: list[str], given: torch.Tensor,
                      given_mask: torch.Tensor, token_valid: torch.Tensor, generators: list[torch.Generator],
                      steps: int = 18, flow_steps: int = 8, solver: Solver | str = Solver.HEUN,
                      guidance=None, temperature: float = 1.0) -> torch.Tensor:
        """Fill the non-given valid tokens; returns model-space tokens ``(B, L, D)``.

        Args:
            cond: ``(B, text_dim)`` sentence embeddings; texts: the ``B`` prompts (for latent hooks).
            given: ``(B, L, D)`` model-space tokens, used where ``given_mask (B, L)`` is True.
            token_valid: ``(B, L)`` bool, True = token to output (False = padding).
            generators: one ``torch.Generator`` per sample (its token order and noise).
            steps: AR steps (cosine schedule); flow_steps/solver: the ODE per revealed token.
            guidance: a guidance object or list (at most one prediction guidance + latent hooks).
            temperature: scale of the initial noise.
        """
        pred_g, hooks = split_guidance(guidance)
        if steps < 1 or flow_steps < 1:
            raise ValueError(f"steps and flow_steps must be >= 1, got {steps}, {flow_steps}")
        if not 0.0 <= temperature < float("inf"):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        b, l, d = given.shape
        dev = given.device
        scheduler = FlowMatchingScheduler(flow_steps, solver)
        unknown = token_valid & ~given_mask
        tokens = given.masked_fill(~(given_mask & token_valid).unsqueeze(-1), 0.0)
        # per-sample draws of a fixed size (max_tokens): a sample's randomness is independent of the batch
        n = self.transformer.max_tokens
        scores = torch.stack([torch.rand(n, generator=g, device=g.device) for g in generators])
        noise = torch.stack([torch.randn(n, d, generator=g, device=g.device) for g in generators])
        scores, noise = scores[:, :l].to(dev), noise[:, :l].to(dev)
        rank = scores.masked_fill(~unknown, 2.0).argsort(1).argsort(1)  # random order of unknown tokens
        n_unknown = unknown.sum(1)
        null = self.transformer.null_condition(b)
        lengths = token_valid.sum(1) * self.downsample
        still = n_unknown  # tokens still masked before the step
        for k in range(steps):
            frac = math.cos(math.pi / 2 * (k + 1) / steps) if k < steps - 1 else 0.0
            after = torch.floor(n_unknown * frac).long()
            masked_now = unknown & (rank < still.unsqueeze(1))
            reveal = masked_now & (rank >= after.unsqueeze(1))
            still = after
            if not bool(reveal.any()):
                continue
            progress = 1.0 - frac
            passes = pred_g.num_passes(k, steps, progress) if pred_g is not None else 1
            if passes == 2:
                cond2 = torch.cat([pred_g.second_condition(cond[i:i + 1], null[i:i + 1], generators[i])
                                   for i in range(b)])
                h = self.transformer.context(tokens.repeat(2, 1, 1), torch.cat([cond, cond2]),
                                       masked_now.repeat(2, 1), token_valid.repeat(2, 1))
                h_cond, h_other = h.chunk(2)  # (B, L, W) each: conditional / second pass
                hs = torch.cat([h_cond[reveal], h_other[reveal]])
            else:
                hs = self.transformer.context(tokens, cond, masked_now, token_valid)[reveal]
            z = noise[reveal] * temperature  # (N, D) tokens revealed this step
            scheduler.set_timesteps(flow_steps)
            flow = self.transformer.flow_condition(scheduler.timesteps.to(dev), hs)  # every ODE time at once
            for i, t in enumerate(scheduler.timesteps):
                v = self.transformer.velocity_at(z.repeat(passes, 1), flow, i)
                if passes == 2:
                    v = pred_g(*v.chunk(2), k, steps, progress)
                z = scheduler.step(v, t, z).prev_sample
            tokens = tokens.clone()
            tokens[reveal] = z
            for hook in hooks:
                if not hook.final:
                    tokens = hook(tokens, self.decode, texts, reveal, lengths=lengths)
        for hook in hooks:
            if hook.final:
                tokens = hook(tokens, self.decode, texts, unknown, lengths=lengths)
        return tokens

    # ------------------------------------------------------------------ generation
    def _frames(self, n: int, seconds, frames, cond: torch.Tensor) -> list[int]:
        if seconds is not None and frames is not None:
            raise ValueError("give seconds or frames, not both")
        if seconds is None and frames is None:
            if self.transformer.length_head is not None:
                return (self.transformer.predict_tokens(cond) * self.downsample).tolist()
            return [int(4 * self.fps)] * n
        values = seconds if seconds is not None else frames
        values = list(values) if isinstance(values, (list, tuple)) else [values] * n
        if len(values) != n:
            raise ValueError(f"got {len(values)} lengths for {n} texts")
        out = []
        for i, v in enumerate(values):
            f = length_value(v, i, "seconds" if seconds is not None else "frames")
            f = f * self.fps if seconds is not None else f
            if not math.isfinite(f) or round(f) < self.downsample or round(f) > MAX_FRAMES:
                unit = "s" if seconds is not None else "frames"
                raise ValueError(f"length {v} {unit} is out of range: need "
                                 f"{self.downsample}..{MAX_FRAMES} frames ({self.downsample / self.fps:g} s.."
                                 f"{MAX_FRAMES / self.fps:g} s)")
            out.append(int(round(f)))
        return out

    @torch.no_grad()
    def _generate_batch(self, cond, texts, frames, seeds, overlap, foot_lock=None, **loop) -> list[torch.Tensor]:
        """Joints ``(T_i, 22, 3)`` per sample; windows after the first continue from ``overlap`` tokens."""
        w, dev, d = self.transformer.max_tokens, self.device, self.transformer.latent_dim
        need = [math.ceil(f / self.downsample) for f in frames]
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        out: list[torch.Tensor | None] = [None] * len(texts)
        while True:
            todo = [i for i in range(len(texts)) if out[i] is None or out[i].shape[0] < need[i]]
            if not todo:
                break
            prefix = [0 if out[i] is None else overlap for i in todo]  # tokens carried over per sample
            have = [0 if out[i] is None else out[i].shape[0] for i in todo]
            size = [min(w, o + need[i] - h) for o, i, h in zip(prefix, todo, have, strict=True)]
            width = max(size)  # pad only to the longest window of this batch
            given = torch.zeros(len(todo), width, d, device=dev)
            given_mask = torch.zeros(len(todo), width, dtype=torch.bool, device=dev)
            valid = torch.zeros_like(given_mask)
            for j, i in enumerate(todo):
                if prefix[j]:
                    given[j, :prefix[j]], given_mask[j, :prefix[j]] = out[i][-prefix[j]:], True
                valid[j, :size[j]] = True
            z = self.sample_tokens(cond[todo], [texts[i] for i in todo], given, given_mask, valid,
                                   [gens[i] for i in todo], **loop)
            for j, i in enumerate(todo):
                new = z[j][valid[j] & ~given_mask[j]]
                out[i] = new if out[i] is None else torch.cat([out[i], new])
        return self.cleanup.apply(decode_by_length(out, self.decode, frames), foot_lock=foot_lock)

    def default_guidance(self, cfg: float | None = None, rescale: float | None = None, schedule: str = "constant",
                         recognizer_scale: float | None = None, contact_steps: int | None = None) -> list:
        """The guidance of ``guidance=None`` (``docs/evaluation.md``, "Guidance on the new model"), any part
        overridden: CFG ``DEFAULT_CFG`` with rescale ``DEFAULT_CFG_RESCALE``; recognizer guidance
        ``DEFAULT_RECOGNIZER_SCALE`` when the pipeline has a recognizer (CoAMD's gradient guidance from MAR);
        contact guidance ``DEFAULT_CONTACT_STEPS`` on the finished latents. 0 turns a part off."""
        out: list = [ClassifierFreeGuidance(self.DEFAULT_CFG if cfg is None else cfg, schedule=schedule,
                                            rescale=self.DEFAULT_CFG_RESCALE if rescale is None else rescale)]
        rec = self.recognizer
        if recognizer_scale and rec is None:
            raise ValueError("recognizer guidance needs a CoAMD model folder with a recognizer/ component")
        scale = self.DEFAULT_RECOGNIZER_SCALE if recognizer_scale is None else recognizer_scale
        if scale and rec is not None:
            if getattr(rec, "_text_encoder", None) is None and rec.text_encoder_name == self.text_encoder_name:
                rec.text_encoder = self.text_encoder  # one encoder for both (the recognizer's own by default)
            out.append(RecognizerGuidance(rec, scale=scale))
        steps = self.DEFAULT_CONTACT_STEPS if contact_steps is None else contact_steps
        if steps:
            out.append(ContactGuidance(steps=steps, fps=self.fps))
        return out

    def generate(self, text: str | list[str], seconds=None, frames=None, seed: int | None = None,
                 steps: int = 18, flow_steps: int = 8, solver: Solver | str = Solver.HEUN, guidance=None,
                 batch_size: int = 32, generator: torch.Generator | None = None, temperature: float = 1.0,
                 overlap_seconds: float | None = None, foot_lock: bool = True):
        """Generate motion(s) from text.

        Args:
            text: a prompt or a list of prompts.
            seconds / frames: length (a number, or one per prompt); default: the length head's guess
                (else 4 s). Longer than the window (9.8 s) -> autoregressive outpainting.
            seed: sample ``i`` uses ``seed + i``; or ``generator`` draws the seeds; default random.
            steps: AR steps; flow_steps, solver: the flow ODE per token (``heun`` / ``euler``). The
                default, Heun with 8 steps (16 flow-head calls), is as close to the exact ODE solution as
                Euler with 32 (``benchmarks/quality_flow_steps.py``) at half the calls.
            guidance: guidance object(s); ``None`` -> :meth:`default_guidance` (CFG 3 with rescale 0.7,
                recognizer guidance where the pipeline has a recognizer, then contact guidance: planted feet
                that do not slide); ``[]`` -> none.
            batch_size: prompts per forward pass.
            temperature: initial-noise scale.
            overlap_seconds: context kept between outpainting windows (default half a window).
            foot_lock: pin planted feet (``self.cleanup``: every motion is on the pipeline's fixed skeleton
                and on the floor either way).

        Returns:
            a :class:`humo.motion.Motion` for a string prompt, a list for a list of prompts.
        """
        from humo.motion import Motion

        texts = check_texts(text)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if guidance is None:
            guidance = self.default_guidance()
        w = self.transformer.max_tokens
        overlap = w // 2 if overlap_seconds is None else round(overlap_seconds * self.fps / self.downsample)
        if not 1 <= overlap < w:
            raise ValueError(f"overlap_seconds must give 1..{w - 1} tokens, got {overlap}")
        cond = self.encode_text(texts)
        lengths = self._frames(len(texts), seconds, frames, cond)
        seeds = sample_seeds(len(texts), seed, generator)
        loop = dict(steps=steps, flow_steps=flow_steps, solver=solver, guidance=guidance,
                    temperature=temperature)
        motions = []
        for s in range(0, len(texts), batch_size):
            sl = slice(s, s + batch_size)
            joints = self._generate_batch(cond[sl], texts[sl], lengths[sl], seeds[sl], overlap, foot_lock, **loop)
            meta = {"model": "coamd", "steps": steps, "flow_steps": flow_steps, "solver": Solver(solver).value,
                    "guidance": _describe(guidance), "cleanup": self.cleanup.describe(foot_lock)}
            motions += [Motion(j.cpu(), fps=self.fps, text=t, seed=sd, meta=meta)
                        for j, t, sd in zip(joints, texts[sl], seeds[sl], strict=True)]
        return motions[0] if isinstance(text, str) else motions

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``autoencoder/``, ``coamd/``, optional ``recognizer/`` and ``pipeline.json``."""
        from humo import __version__

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.autoencoder.save_pretrained(folder / "autoencoder")
        self.transformer.save_pretrained(folder / "coamd")
        if self.recognizer is not None:
            self.recognizer.save_pretrained(folder / "recognizer")
        if self.cleanup.offsets is not None:
            save_skeleton(folder / SKELETON_FILE, self.cleanup.offsets)
        meta = {"pipeline": "CoAMD", "humo_version": __version__, "fps": self.fps,
                "text_encoder": self.text_encoder_name, "autoencoder": type(self.autoencoder).__name__,
                "recognizer": None if self.recognizer is None else type(self.recognizer).__name__}
        (folder / "pipeline.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder_or_hub_id: str | Path | None = None, text_encoder=None,
                        map_location: str = "cpu", load_recognizer: bool = True,
                        autoencoder_cls=None) -> CoAMD:
        """Load a folder written by :meth:`save_pretrained`, a training run folder (its ``final/``) or a
        Hugging Face Hub repo id; with no argument, the model bundled with humo (see its model card,
        ``humo/assets/coamd-merged-medium/README.md``: trained on Bandai Namco + CMU + HDM05, CC BY-NC 4.0)."""
        import importlib

        from humo.models.coamd import CoAMDTransformer

        folder = resolve_pretrained(BUNDLED_MODEL if folder_or_hub_id is None else folder_or_hub_id)
        if not (folder / "pipeline.json").is_file() and (folder / "final" / "pipeline.json").is_file():
            folder = folder / "final"  # a training run folder
        path = folder / "pipeline.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: not a folder written by CoAMD.save_pretrained"
                                    )
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt {path}: {e}") from e

        def component(name: str):
            if name not in COMPONENTS:
                raise ValueError(f"{path} names an unknown component {name!r}")
            return getattr(importlib.import_module(COMPONENTS[name]), name)

        ae_cls = autoencoder_cls or component(meta.get("autoencoder", "MotionAutoencoder"))
        ae = ae_cls.from_pretrained(folder / "autoencoder", map_location=map_location)
        transformer = CoAMDTransformer.from_pretrained(folder / "coamd", map_location=map_location)
        fps = float(meta.get("fps", FPS))
        pipe = cls(ae, transformer, text_encoder=text_encoder, text_encoder_name=meta.get("text_encoder", "minilm"),
                   fps=fps, cleanup=MotionCleanup.from_folder(folder, fps=fps))
        if load_recognizer and meta.get("recognizer"):
            rec_cls, rec_dir = component(meta["recognizer"]), folder / "recognizer"
            if not (rec_dir / "model.safetensors").is_file():
                raise FileNotFoundError(f"{rec_dir / 'model.safetensors'} not found, but {path} names a recognizer")
            pipe._recognizer_loader = lambda: rec_cls.from_pretrained(rec_dir, map_location=map_location)
        return pipe
