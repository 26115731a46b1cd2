"""MotionDuet text (+ video) -> motion pipeline: DUET condition, DDIM loop over latents, guidance.

The latents are the first stage's: MLD's VAE (``L`` global tokens, decoded to HumanML3D features, then
joints) or CoAMD's autoencoder (one token per 4 frames, ``ceil(frames / 4)`` per motion, the rest masked;
decoded straight to joints). Either way every motion then goes through :attr:`MotionDuet.cleanup`, the
fixed skeleton, floor and foot locking CoAMD's output gets.

The loop (:meth:`MotionDuet.sample_latents`) is the only sampling loop of MotionDuet. Per step
it asks the prediction guidance how many passes to run; with two passes it evaluates the denoiser on
``guidance.second_condition(H, H_null, generator)`` -- the null condition for
:class:`~humo.guidance.ClassifierFreeGuidance`, a degraded copy of the fused condition ``H`` for
:class:`~humo.guidance.AutoGuidance` -- and combines the two noise predictions.

Randomness is per sample: sample ``i`` uses ``torch.Generator().manual_seed(seeds[i])`` for its initial
noise and its auto-guidance degradation, so a seed gives the same motion whatever the batch (with
``eta > 0`` the DDIM noise comes from the first sample's generator).

Saved layout (``save_pretrained``): ``folder/pipeline.json`` + ``folder/model/`` (config.json +
model.safetensors). ``from_pretrained`` also accepts a bare model folder (a training run's ``final/``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from humo.guidance import DEFAULT_CONTACT_STEPS, ClassifierFreeGuidance, ContactGuidance, split_guidance
from humo.models.motionduet.model import MotionDuetModel
from humo.models.motionduet.video import encode_video_input, load_video_encoder
from humo.models.motionduet.video_learned import VIDEO_ENCODER_DIR, LearnedVideoEncoder
from humo.models.text_encoder import check_texts
from humo.models.text_slot import TextEncoderSlot
from humo.pipelines.cleanup import SKELETON_FILE, MotionCleanup, save_skeleton
from humo.pipelines.common import decode_by_length, length_value, resolve_pretrained, sample_seeds

FPS = 20.0
NO_BUNDLED_MOTIONDUET = ("this installation has no bundled MotionDuet model (humo/assets/motionduet-merged-compact "
                         "is missing): pass a folder written by MotionDuet.save_pretrained or a training run "
                         "(humo train motionduet CORPUS RUN), e.g. MotionDuet.from_pretrained('RUN/final')")


class MotionDuet(TextEncoderSlot):
    """Text (+ optional video) -> motion with MotionDuet: the user-facing pipeline (``humo.MotionDuet``).

        from humo import MotionDuet
        motion = MotionDuet.from_pretrained("runs/motionduet/final").generate("a person runs")

    Args:
        model: a trained :class:`~humo.models.motionduet.MotionDuetModel` (VAE + DUET + denoiser).
        text_encoder: frozen encoder with ``.encode(list[str]) -> (B, text_dim)``, assigned to
            :attr:`text_encoder` (default: ``TextEncoder(model.text_encoder_name)`` on first use).
        video_encoder: frozen encoder with ``encode_motion`` / ``encode_video`` and ``.dim``; default
            ``load_video_encoder(model.video_encoder_name)`` on first use (only for video-capable models).
        scheduler: a :class:`humo.schedulers.DDPMScheduler`; default ``model.make_scheduler()`` (DDIM, eta 0).
        cleanup: :class:`humo.pipelines.cleanup.MotionCleanup` for every generated motion (fixed skeleton,
            floor, foot locking); default per-clip skeletons (a loaded folder uses its ``skeleton.json``).
        cfg, cfg_rescale: the classifier-free guidance of ``guidance=None`` (default MLD's 7.5, no rescale; a
            saved pipeline keeps its own, chosen by measurement for the bundled model).
        video_scale: the video's own CFG weight of ``guidance=None`` where a video is given (None: text and
            video guided together by ``cfg``; a saved pipeline keeps its own).
    """

    DEFAULT_CFG = 7.5  # MLD's classifier-free guidance scale
    DEFAULT_CFG_RESCALE = 0.0
    DEFAULT_VIDEO_SCALE: float | None = None
    DEFAULT_CONTACT_STEPS = DEFAULT_CONTACT_STEPS  # contact guidance (autoencoder first stage only; 0: none)

    def __init__(self, model: MotionDuetModel, text_encoder=None, video_encoder=None, scheduler=None,
                 fps: float = FPS, cleanup: MotionCleanup | None = None, cfg: float | None = None,
                 cfg_rescale: float | None = None, video_scale: float | None = None):
        if _checked_video_scale(model, video_scale) is not None:
            self.DEFAULT_VIDEO_SCALE = float(video_scale)
        if cfg is not None:
            self.DEFAULT_CFG = float(cfg)
        if cfg_rescale is not None:
            self.DEFAULT_CFG_RESCALE = float(cfg_rescale)
        self.model = model.eval().requires_grad_(False)
        self.cleanup = cleanup if cleanup is not None else MotionCleanup(fps=float(fps))
        self.text_encoder = text_encoder
        if video_encoder is not None and getattr(video_encoder, "dim", None) != model.video_dim:
            raise ValueError(f"video encoder gives {getattr(video_encoder, 'dim', None)}-d features; "
                             f"the model expects {model.video_dim}")
        self._video_encoder = video_encoder
        self.scheduler = scheduler if scheduler is not None else model.make_scheduler()
        self.fps = float(fps)

    def default_guidance(self, cfg: float | None = None, rescale: float | None = None, schedule: str = "constant",
                         recognizer_scale: float | None = None, contact_steps: int | None = None,
                         video_scale: float | None = None) -> list:
        """The guidance of ``guidance=None``, any part overridden (as :meth:`humo.CoAMD.default_guidance`):
        ``ClassifierFreeGuidance(DEFAULT_CFG, rescale=DEFAULT_CFG_RESCALE)``, then
        ``ContactGuidance(DEFAULT_CONTACT_STEPS)`` with the autoencoder first stage (joints from tokens).
        ``video_scale``: the video's own CFG weight where a video is given (see
        :class:`~humo.guidance.ClassifierFreeGuidance`; None: text and video guided together)."""
        if recognizer_scale:
            raise ValueError("recognizer guidance is CoAMD's (MotionDuet takes prediction and contact guidance)")
        _checked_video_scale(self.model, video_scale)
        out: list = [ClassifierFreeGuidance(self.DEFAULT_CFG if cfg is None else cfg, schedule=schedule,
                                            rescale=self.DEFAULT_CFG_RESCALE if rescale is None else rescale,
                                            video_scale=self.DEFAULT_VIDEO_SCALE if video_scale is None
                                            else video_scale)]
        tokens_to_joints = self.model.first_stage == "autoencoder"
        if contact_steps and not tokens_to_joints:
            raise ValueError("contact guidance needs joints decoded from tokens (the autoencoder first stage); "
                             "this MotionDuet decodes features with a VAE")
        steps = self.DEFAULT_CONTACT_STEPS if contact_steps is None else contact_steps
        if steps and tokens_to_joints:
            out.append(ContactGuidance(steps=steps, fps=self.fps))
        return out

    # ------------------------------------------------------------------ components
    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def text_encoder_name(self) -> str:
        return self.model.text_encoder_name

    @property
    def text_dim(self) -> int:
        return self.model.text_dim

    @property
    def video_encoder(self):
        if self._video_encoder is None and self.model.video_dim:
            if self.model.video_encoder_name.startswith("learned-"):
                raise FileNotFoundError(f"this model was trained with a learned video encoder "
                                        f"({self.model.video_encoder_name}); load it from its folder: "
                                        f"MotionDuet(model, video_encoder=load_video_encoder(FOLDER)), or keep it "
                                        f"as {VIDEO_ENCODER_DIR}/ beside the model")
            enc = load_video_encoder(self.model.video_encoder_name).to(self.device)
            if enc.dim != self.model.video_dim:
                raise ValueError(f"video encoder {self.model.video_encoder_name!r} gives {enc.dim}-d "
                                 f"features; the model expects {self.model.video_dim}")
            self._video_encoder = enc
        return self._video_encoder

    def to(self, device) -> MotionDuet:
        for m in (self.model, self._text_encoder, self._video_encoder):
            if isinstance(m, torch.nn.Module):
                m.to(device)
        return self

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings ``(B, text_dim)`` on the pipeline's device."""
        emb = torch.as_tensor(self.text_encoder.encode(texts)).to(self.device, torch.float32)
        if emb.shape != (len(texts), self.model.text_dim):
            raise ValueError(f"text encoder gives {tuple(emb.shape)}; the model expects "
                             f"(B, {self.model.text_dim})")
        return emb

    def encode_video(self, video, batch: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(features (B, Lv, video_dim), present (B,) bool)`` from ``video``: None (text only), one video
        for every prompt, or a list with one entry (or None) per prompt. An entry is precomputed features
        ``(Lv, D)`` / ``(1, Lv, D)``, joints ``(T, 22, 3)``, a :class:`~humo.motion.Motion` or clips."""
        if video is None:
            return None, None
        if not self.model.video_dim:
            raise ValueError("this MotionDuet model was trained without video (video_dim=0); pass video=None")
        if not isinstance(video, (list, tuple)):  # one video for every prompt: encode it once
            feats = encode_video_input(video, self.video_encoder, batch=1).to(self.device)
            return feats.expand(batch, -1, -1), torch.ones(batch, dtype=torch.bool, device=self.device)
        entries = list(video)
        if len(entries) != batch:
            raise ValueError(f"got {len(entries)} videos for {batch} prompts")
        present = torch.tensor([e is not None for e in entries], dtype=torch.bool, device=self.device)
        if not bool(present.any()):
            return None, None
        encoder = self.video_encoder
        feats = {i: encode_video_input(e, encoder, batch=1).to(self.device) for i, e in enumerate(entries)
                 if e is not None}
        shapes = {tuple(f.shape) for f in feats.values()}
        if len(shapes) != 1:
            raise ValueError(f"all videos must give the same feature shape, got {sorted(shapes)}")
        ref = next(iter(feats.values()))
        out = torch.cat([feats.get(i, torch.zeros_like(ref)) for i in range(batch)])  # (B, Lv, D)
        return out, present

    # ------------------------------------------------------------------ the sampling loop
    @torch.no_grad()
    def sample_latents(self, cond: torch.Tensor, generators: list[torch.Generator], steps: int = 50,
                       guidance=None, tokens: list[int] | None = None,
                       text_cond: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise latents from noise with DDIM; returns model-space latents ``(B, L, C)``.

        Args:
            cond: ``(B, Lc, W)`` fused condition ``H`` (:meth:`MotionDuetModel.condition`).
            generators: one ``torch.Generator`` per sample (initial noise, auto-guidance degradation).
            steps: DDIM steps (50).
            guidance: a prediction-guidance object or list (CFG or auto-guidance; ``[]`` = none), plus final
                latent hooks (:class:`humo.guidance.ContactGuidance`, autoencoder first stage only).
            tokens: latent tokens per sample (the autoencoder first stage, required there: ``L = max(tokens)``,
                the tokens past each count are masked and left as noise); None for the VAE (``L`` fixed).
            text_cond: ``(B, Lc, W)`` the condition of the text alone, where ``cond`` has a video too: with
                a CFG that has ``video_scale``, a third pass on it gives text and video their own weights.
        """
        pred_g, hooks = split_guidance(guidance)
        if any(not h.final for h in hooks):
            raise ValueError("MotionDuet takes prediction guidance (CFG, auto-guidance) and final latent hooks "
                             "(contact guidance), not step hooks such as recognizer guidance")
        if hooks and self.model.first_stage != "autoencoder":
            raise ValueError("contact guidance needs the autoencoder first stage (joints decoded from tokens); "
                             "this MotionDuet decodes features with a VAE")
        b, dev = cond.shape[0], cond.device
        if len(generators) != b:
            raise ValueError(f"{len(generators)} generators for {b} samples")
        mask = None
        if self.model.first_stage == "autoencoder":
            if tokens is None or len(tokens) != b or not all(1 <= n <= self.model.latent_tokens for n in tokens):
                raise ValueError(f"give 1..{self.model.latent_tokens} latent tokens per sample, got {tokens}")
            x = torch.nn.utils.rnn.pad_sequence(  # each sample's noise from its own generator: batch-independent
                [torch.randn((n, self.model.latent_dim), generator=g, device=g.device).to(dev)
                 for n, g in zip(tokens, generators, strict=True)], batch_first=True)
            mask = torch.arange(x.shape[1], device=dev) < torch.tensor(tokens, device=dev)[:, None]
        else:
            shape = (self.model.latent_tokens, self.model.latent_dim)
            x = torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generators]).to(dev)
        null = self.model.null_condition(b)
        three = text_cond is not None and getattr(pred_g, "video_scale", None) is not None
        if three and text_cond.shape != cond.shape:
            raise ValueError(f"text_cond {tuple(text_cond.shape)} must match cond {tuple(cond.shape)}")
        sched = self.scheduler
        sched.set_timesteps(steps, device=dev)
        n = len(sched.timesteps)
        for i, t in enumerate(sched.timesteps):
            tt = torch.full((b,), int(t), device=dev, dtype=torch.long)
            passes = pred_g.num_passes(i, n) if pred_g is not None else 1
            if passes == 2:
                # per sample, on its generator's device (auto-guidance draws its degradation there)
                cond2 = torch.cat([
                    pred_g.second_condition(cond[j:j + 1].to(g.device), null[j:j + 1].to(g.device), g).to(dev)
                    for j, g in enumerate(generators)])
                conds = [cond, cond2] + ([text_cond] if three else [])
                k = len(conds)
                eps = self.model.denoise(x.repeat(k, 1, 1), tt.repeat(k), torch.cat(conds),
                                         None if mask is None else mask.repeat(k, 1)).prediction
                eps = eps.chunk(k)  # (strong/conditional, weak/unconditional[, text alone])
                eps = pred_g(eps[0], eps[1], i, n, pred_text=eps[2]) if three else pred_g(eps[0], eps[1], i, n)
            else:
                eps = self.model.denoise(x, tt, cond, mask).prediction
            x = sched.step(eps, t, x, generator=generators[0]).prev_sample
        for hook in hooks:  # final hooks on the finished tokens (the autoencoder first stage)
            x = hook(x, self.model.decode_joints, None, mask, lengths=mask.sum(1) * self.model.downsample)
        return x

    # ------------------------------------------------------------------ generation
    def _frames(self, n: int, seconds, frames) -> list[int]:
        if seconds is not None and frames is not None:
            raise ValueError("give seconds or frames, not both")
        if seconds is None and frames is None:
            seconds = 4.0
        values = seconds if seconds is not None else frames
        values = list(values) if isinstance(values, (list, tuple, torch.Tensor)) else [values] * n
        if len(values) != n:
            raise ValueError(f"got {len(values)} lengths for {n} texts")
        top = self.model.max_frames
        out = []
        for i, v in enumerate(values):
            f = length_value(v, i, "seconds" if seconds is not None else "frames")
            f = f * self.fps if seconds is not None else f
            if not math.isfinite(f) or not 4 <= round(f) <= top:
                unit = "s" if seconds is not None else "frames"
                raise ValueError(f"length {v} {unit} is out of range: need 4..{top} frames "
                                 f"({4 / self.fps:g}..{top / self.fps:g} s)")
            out.append(int(round(f)))
        return out

    def _check_lengths(self, texts: list[str], lengths) -> torch.Tensor:
        lengths = torch.as_tensor(lengths).long().reshape(-1).cpu()
        if lengths.shape[0] != len(texts):
            raise ValueError(f"{lengths.shape[0]} lengths for {len(texts)} texts")
        if bool((lengths < 1).any()) or int(lengths.max()) > self.model.max_frames:
            raise ValueError(f"lengths must be in [1, {self.model.max_frames}], got {lengths.tolist()}")
        return lengths

    @torch.no_grad()
    def _latents(self, texts: list[str], video, seeds: list[int], steps: int, guidance,
                 tokens: list[int] | None) -> torch.Tensor:
        """One batch: condition on ``texts`` (+ ``video``) and denoise; model-space latents ``(B, L, C)``."""
        v, present = self.encode_video(video, len(texts))
        text_emb = self.encode_text(texts)
        cond = self.model.condition(text_emb, v, present).fused
        pred_g, _ = split_guidance(guidance)
        text_cond = None  # the text alone, for a CFG with its own video weight
        if v is not None and getattr(pred_g, "video_scale", None) is not None:
            text_cond = self.model.condition(text_emb).fused
        gens = [torch.Generator().manual_seed(int(sd)) for sd in seeds]
        return self.sample_latents(cond, gens, steps=steps, guidance=guidance, tokens=tokens, text_cond=text_cond)

    def _batches(self, texts: list[str], video, seeds: list[int], batch_size: int):
        """``(slice, texts, video, seeds)`` per batch of ``batch_size`` prompts."""
        per_prompt = isinstance(video, (list, tuple))
        if per_prompt and len(video) != len(texts):
            raise ValueError(f"got {len(video)} videos for {len(texts)} prompts")
        for s in range(0, len(texts), batch_size):
            sl = slice(s, s + batch_size)
            yield sl, texts[sl], (list(video[sl]) if per_prompt else video), seeds[sl]

    @torch.no_grad()
    def generate_features(self, texts: list[str], lengths, video=None, seeds: list[int] | None = None,
                          steps: int = 50, guidance=None, batch_size: int = 64
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw HumanML3D features ``(B, T, 263)`` (zero past each length) and ``lengths (B,)``.

        ``lengths`` are feature frames per prompt; ``video`` as in :meth:`encode_video`; ``seeds`` one per
        prompt (default ``0..B-1``); guidance ``None`` -> :meth:`default_guidance`.
        This is the ``generate_fn`` shape of :func:`humo.metrics.protocol.evaluate`. With the autoencoder
        first stage the features are those of the generated joints (``lengths + 1`` frames, after cleanup).
        """
        texts = check_texts(texts)
        lengths = self._check_lengths(texts, lengths)
        seeds = list(range(len(texts))) if seeds is None else list(seeds)
        if guidance is None:
            guidance = self.default_guidance()
        out = torch.zeros(len(texts), int(lengths.max()), self.model.feature_dim)
        if self.model.first_stage == "autoencoder":
            from humo.representations.humanml3d import joints_to_features

            joints = self.generate_joints(texts, (lengths + 1).tolist(), video, seeds, steps, guidance, batch_size)
            for i, j in enumerate(joints):
                f = joints_to_features(j.double()).float()
                out[i, : f.shape[0]] = f[: out.shape[1]]
            return out, lengths
        for sl, tx, v, sd in self._batches(texts, video, seeds, batch_size):
            z = self._latents(tx, v, sd, steps, guidance, None)
            feats = self.model.decode(z, lengths[sl].to(self.device))  # (n, max len in chunk, 263)
            out[sl, : feats.shape[1]] = feats.float().cpu()
        return out, lengths

    @torch.no_grad()
    def generate_joints(self, texts: list[str], frames: list[int], video=None, seeds: list[int] | None = None,
                        steps: int = 50, guidance=None, batch_size: int = 64, foot_lock: bool = True
                        ) -> list[torch.Tensor]:
        """Joints ``(frames_i, 22, 3)`` per prompt, after :attr:`cleanup` (arguments as :meth:`generate`)."""
        from humo.representations.humanml3d import features_to_joints

        texts = check_texts(texts)
        seeds = list(range(len(texts))) if seeds is None else list(seeds)
        if guidance is None:
            guidance = self.default_guidance()
        if self.model.first_stage == "vae":
            feats, _ = self.generate_features(texts, frames, video=video, seeds=seeds, steps=steps,
                                              guidance=guidance, batch_size=batch_size)  # a joint frame per row
            raw = [features_to_joints(feats[i, :f]) for i, f in enumerate(frames)]
            return self.cleanup.apply(raw, foot_lock)
        self._check_lengths(texts, frames)
        tokens = self.model.tokens_for(torch.tensor(frames)).tolist()
        raw: list[torch.Tensor] = []
        for sl, tx, v, sd in self._batches(texts, video, seeds, batch_size):
            z = self._latents(tx, v, sd, steps, guidance, tokens[sl])
            valid = [z[j, :n] for j, n in enumerate(tokens[sl])]
            raw += [j.float().cpu() for j in decode_by_length(valid, self.model.decode_joints, frames[sl])]
        return self.cleanup.apply(raw, foot_lock)

    def generate(self, text: str | list[str], video=None, seconds=None, frames=None, seed: int | None = None,
                 steps: int = 50, guidance=None, generator: torch.Generator | None = None,
                 batch_size: int = 64, foot_lock: bool = True):
        """Generate motion(s) from text and optionally video.

        Args:
            text: a prompt or a list of prompts.
            video: ``None`` (text-only mode), one video for all prompts or a list (entries may be None):
                precomputed features ``(Lv, video_dim)``, joints ``(T, 22, 3)`` / a ``Motion`` (rendered and
                encoded by the video encoder), or grayscale clips.
            seconds / frames: length (a number or one per prompt), 4 s by default, at most ``max_frames``.
            seed: sample ``i`` uses ``seed + i``; or ``generator`` draws the seeds; default random.
            steps: DDIM steps (50).
            guidance: ``None`` -> :meth:`default_guidance` (MLD's CFG 7.5 unless the saved pipeline has its own); e.g.
                ``[AutoGuidance(mode="dropout", strength=0.05, scale=1.25)]``; ``[]`` -> no guidance.
            foot_lock: pin planted feet (every motion is on ``self.cleanup``'s skeleton and floor either way).

        Returns:
            a :class:`humo.motion.Motion` for a string prompt, a list for a list of prompts.
        """
        from humo.motion import Motion

        texts = check_texts(text)
        lengths = self._frames(len(texts), seconds, frames)
        seeds = sample_seeds(len(texts), seed, generator)
        if guidance is None:
            guidance = self.default_guidance()
        joints = self.generate_joints(texts, lengths, video=video, seeds=seeds, steps=steps, guidance=guidance,
                                      batch_size=batch_size, foot_lock=foot_lock)
        pred_g, _ = split_guidance(guidance)
        videos = list(video) if isinstance(video, (list, tuple)) else [video] * len(texts)
        motions = []
        for i, (t, sd) in enumerate(zip(texts, seeds, strict=True)):
            meta = {"model": "motionduet", "steps": steps, "video": videos[i] is not None,
                    "guidance": [] if pred_g is None else [repr(pred_g)], "cleanup": self.cleanup.describe(foot_lock)}
            motions.append(Motion(joints[i], fps=self.fps, text=t, seed=sd, meta=meta))
        return motions[0] if isinstance(text, str) else motions

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model/`` (config.json + model.safetensors), ``pipeline.json`` and, for a learned video
        encoder, ``video_encoder/``."""
        from humo import __version__

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder / "model")
        if isinstance(self._video_encoder, LearnedVideoEncoder):
            self._video_encoder.save_pretrained(folder / VIDEO_ENCODER_DIR)
        meta = {"pipeline": "MotionDuet", "humo_version": __version__, "fps": self.fps,
                "scheduler": self.scheduler.config(),
                "guidance": {"cfg": self.DEFAULT_CFG, "cfg_rescale": self.DEFAULT_CFG_RESCALE,
                             **({} if self.DEFAULT_VIDEO_SCALE is None else {"video_scale": self.DEFAULT_VIDEO_SCALE})}}
        (folder / "pipeline.json").write_text(json.dumps(meta, indent=2) + "\n")
        if self.cleanup.offsets is not None:
            save_skeleton(folder / SKELETON_FILE, self.cleanup.offsets)
        return folder

    @classmethod
    def from_pretrained(cls, folder_or_hub_id: str | Path | None = None, text_encoder=None, video_encoder=None,
                        map_location: str = "cpu") -> MotionDuet:
        """Load a folder written by :meth:`save_pretrained`, a bare ``MotionDuetModel`` folder (a training
        run's ``final/``), a training run folder, or a Hugging Face Hub repo id.

        No argument: the bundled model (``humo/assets/motionduet-merged-compact``, card in its README.md).

        Raises:
            FileNotFoundError: no argument and no bundled model in this installation, or nothing at that path.
        """
        from humo.models.hub import BUNDLED_MOTIONDUET
        from humo.schedulers.ddpm import DDPMScheduler

        if folder_or_hub_id is None:
            if not (BUNDLED_MOTIONDUET / "pipeline.json").is_file():
                raise FileNotFoundError(NO_BUNDLED_MOTIONDUET)
            folder_or_hub_id = BUNDLED_MOTIONDUET
        folder = resolve_pretrained(folder_or_hub_id)
        if not (folder / "pipeline.json").is_file() and not (folder / "config.json").is_file() and (
                folder / "final").is_dir():
            folder = folder / "final"  # a training run folder
        meta_path = folder / "pipeline.json"
        if not meta_path.is_file():
            if (folder / "config.json").is_file():  # a bare model folder (e.g. a run's final/)
                model = MotionDuetModel.from_pretrained(folder, map_location=map_location)
                return cls(model, text_encoder=text_encoder, video_encoder=_saved_video_encoder(folder, video_encoder))
            raise FileNotFoundError(f"{folder} holds neither pipeline.json nor a MotionDuetModel config.json")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt {meta_path}: {e}") from e
        model = MotionDuetModel.from_pretrained(folder / "model", map_location=map_location)
        scheduler = DDPMScheduler(**meta["scheduler"]) if "scheduler" in meta else None
        fps = float(meta.get("fps", FPS))
        g = meta.get("guidance", {})
        return cls(model, text_encoder=text_encoder, video_encoder=_saved_video_encoder(folder, video_encoder),
                   scheduler=scheduler, fps=fps, cleanup=MotionCleanup.from_folder(folder, fps=fps),
                   cfg=g.get("cfg"), cfg_rescale=g.get("cfg_rescale"), video_scale=g.get("video_scale"))


def _checked_video_scale(model: MotionDuetModel, video_scale: float | None) -> float | None:
    """``video_scale`` unchanged; a ``ValueError`` when it is set for a text-only model."""
    if video_scale is not None and not model.video_dim:
        raise ValueError("video_scale weighs a video; this MotionDuet model is text-only")
    return video_scale


def _saved_video_encoder(folder: Path, given):
    """``given`` if set, else the learned video encoder saved in ``folder/video_encoder/`` (or None)."""
    if given is not None or not (folder / VIDEO_ENCODER_DIR).is_dir():
        return given
    return load_video_encoder(str(folder / VIDEO_ENCODER_DIR))
