"""``MotionDuet``: MLD-style latent diffusion conditioned on text + video through DUET, with DASH.

Parts (one :class:`humo.models.hub.HubModel`, so one config.json + model.safetensors):

* the first stage, one of two (``first_stage``):

  - ``"vae"`` (MLD): :class:`MotionVAE` over **normalised** HumanML3D features (mean/std buffers
    ``feat_mean``/``feat_std`` set by ``set_normalization``), ``L`` global latent tokens whatever the length;
  - ``"autoencoder"``: the J/B/M convolutional autoencoder of CoAMD
    (:class:`humo.models.autoencoder.MotionAutoencoder`, config ``autoencoder``), time-aligned latents
    ``(T / 4, C)`` of absolute joints; the denoiser then masks the tokens past each length. It reconstructs
    an order of magnitude better at the same training budget (docs/evaluation.md) and decodes straight to
    joints, which the pipeline puts on its fixed skeleton as it does CoAMD's;

  latents are mapped to model space by ``latent_mean``/``latent_std`` (``set_latent_stats``, fitted after the
  first stage);
* :class:`DUET` fuses the sentence embedding and optional video tokens into ``H (B, Lc, W)``;
  ``null_condition`` is the fusion of the learned null sentence with no video (the CFG "empty" input);
* :class:`LatentDenoiser` predicts the noise of the latents given ``H`` and the DDPM step;
* a small head maps the denoiser's latent-token states to the video feature size for DASH.

``vae_loss`` is the VAE stage's loss; ``forward`` is the diffusion stage's loss (VAE frozen): 10% of
the samples lose their whole condition (null sentence, no video) for CFG, ``video_drop`` of the rest
lose only the video (so text-only mode is trained), epsilon MSE plus ``dash_lambda`` x DASH. The model
holds no sampling loop (:class:`humo.pipelines.motionduet.MotionDuet` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.autoencoder import MotionAutoencoder
from humo.models.hub import HubModel
from humo.models.motionduet.dash import dash_loss
from humo.models.motionduet.denoiser import DenoiserOutput, LatentDenoiser
from humo.models.motionduet.duet import DUET, DuetOutput
from humo.models.motionduet.vae import MotionVAE, Posterior, VAEOutput
from humo.representations._checks import check_tensor
from humo.representations.masks import lengths_to_mask
from humo.schedulers.ddpm import DDPMScheduler

FIRST_STAGES = ("vae", "autoencoder")

PRESETS: dict[str, dict] = {
    "tiny": dict(latent_dim=32, vae_layers=3, vae_heads=2, vae_ff=64, width=32, layers=3, heads=2, ff=64,
                 cond_tokens=4, dropout=0.0),
    "small": dict(latent_dim=128, vae_layers=5, vae_heads=4, vae_ff=512, width=128, layers=5, heads=4, ff=512,
                  cond_tokens=8, dropout=0.1),
    # CPU-trainable (a 2-core CPU reaches a usable VAE in about half an hour); used for the CPU ablation
    "compact": dict(latent_dim=64, vae_layers=3, vae_heads=4, vae_ff=256, width=128, layers=5, heads=4, ff=256,
                    cond_tokens=8, dropout=0.1),
    "base": dict(),  # MLD: latent 1 x 256, 9-layer VAE and denoiser, width 256, 4 heads, ff 1024
}


@dataclass
class MotionDuetOutput:
    """Diffusion-stage training output of :meth:`MotionDuetModel.forward` (all losses 0-d).

    Attributes:
        loss: ``diffusion + dash_lambda * dash``.
        diffusion: epsilon MSE.
        dash: DASH loss (0 when not computed).
        prediction: ``(B, L, C)`` predicted noise; target: ``(B, L, C)`` the true noise.
        timesteps: ``(B,)`` the DDPM steps used; dropped: ``(B,)`` bool, condition replaced by null.
    """

    loss: torch.Tensor
    diffusion: torch.Tensor
    dash: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor
    timesteps: torch.Tensor
    dropped: torch.Tensor


class MotionDuetModel(HubModel):
    """MotionDuet. Constructor arguments are the config (JSON-able); presets in :data:`PRESETS`.

    Args:
        feature_dim: 263 (HumanML3D); text_dim: sentence-embedding size (384 MiniLM).
        video_dim: video feature size of ``video_encoder`` (0: a text-only model).
        video_encoder: name of the frozen video encoder the pipeline rebuilds (``"stick"`` or a VideoMAE
            folder).
        text_encoder: name of the frozen text encoder the pipeline loads (``"minilm"``).
        latent_tokens, latent_dim: VAE latent shape (MLD 1 x 256).
        vae_layers, vae_heads, vae_ff: VAE transformer; width, layers, heads, ff: denoiser (and DUET width).
        cond_tokens: ``Lc`` DUET output tokens; branches: DUET branches (``"fft,conv,dmm"``).
        dropout, max_frames, kl_weight: as in :class:`MotionVAE`.
        joint_weight: weight of a global joint-position loss in the VAE stage (0 = MLD's feature loss only;
            see :meth:`vae_loss`).
        cond_drop: probability of the null condition in training (CFG); video_drop: probability of
            dropping only the video (text-only mode).
        num_train_timesteps, beta_schedule, beta_start, beta_end: the DDPM process (MLD values).
        dash_margin_cos, dash_margin_pair: DASH margins.
        first_stage: ``"vae"`` (MLD's VAE over features) or ``"autoencoder"`` (CoAMD's J/B/M autoencoder,
            built from the ``autoencoder`` config dict; ``latent_tokens``/``latent_dim`` then follow it:
            ``ceil(max_frames / 4)`` time-aligned tokens of its latent size).
        dash_tokens: with the autoencoder, DASH compares ``dash_tokens`` time-pooled tokens per sample.
    """

    def __init__(self, feature_dim: int = 263, text_dim: int = 384, video_dim: int = 128,
                 video_encoder: str = "stick", text_encoder: str = "minilm", latent_tokens: int = 1,
                 latent_dim: int = 256, vae_layers: int = 9, vae_heads: int = 4, vae_ff: int = 1024,
                 width: int = 256, layers: int = 9, heads: int = 4, ff: int = 1024, cond_tokens: int = 8,
                 branches: str = "fft,conv,dmm", dropout: float = 0.1, max_frames: int = 196,
                 kl_weight: float = 1e-4, joint_weight: float = 0.0, cond_drop: float = 0.1, video_drop: float = 0.25,
                 num_train_timesteps: int = 1000, beta_schedule: str = "scaled_linear",
                 beta_start: float = 0.00085, beta_end: float = 0.012, dash_margin_cos: float = 0.1,
                 dash_margin_pair: float = 0.1, first_stage: str = "vae", autoencoder: dict | None = None,
                 dash_tokens: int = 4):
        super().__init__()
        if first_stage not in FIRST_STAGES:
            raise ValueError(f"first_stage must be one of {FIRST_STAGES}, got {first_stage!r}")
        if (first_stage == "autoencoder") != (autoencoder is not None):
            raise ValueError("first_stage='autoencoder' needs the autoencoder config (and only it takes one)")
        self.first_stage = first_stage
        self.autoencoder = MotionAutoencoder(**autoencoder) if autoencoder is not None else None
        if self.autoencoder is not None:
            self.downsample = self.autoencoder.downsample
            latent_tokens = -(-max_frames // self.downsample)
            latent_dim = int(self.autoencoder.latent_dim)
        self.dash_tokens = int(dash_tokens)
        for name, p in (("cond_drop", cond_drop), ("video_drop", video_drop)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.feature_dim, self.text_dim, self.video_dim = feature_dim, text_dim, video_dim
        self.video_encoder_name, self.text_encoder_name = video_encoder, text_encoder
        self.latent_tokens, self.latent_dim, self.max_frames = latent_tokens, latent_dim, max_frames
        self.cond_drop, self.video_drop = cond_drop, video_drop
        if joint_weight < 0:
            raise ValueError(f"joint_weight must be >= 0, got {joint_weight}")
        self.joint_weight = joint_weight
        self.dash_margins = (dash_margin_cos, dash_margin_pair)
        self.scheduler_config = dict(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                                     beta_start=beta_start, beta_end=beta_end)
        self.vae = (MotionVAE(feature_dim, latent_tokens, latent_dim, vae_layers, vae_heads, vae_ff, dropout,
                              max_frames, kl_weight) if self.autoencoder is None else None)
        self.duet = DUET(text_dim, video_dim, width, cond_tokens, branches, dropout=dropout)
        self.denoiser = LatentDenoiser(latent_tokens, latent_dim, cond_tokens, width, width, layers, heads,
                                       ff, dropout)
        self.null_text = nn.Parameter(torch.zeros(text_dim))
        self.dash_head = (nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, video_dim))
                          if video_dim else None)
        self.register_buffer("feat_mean", torch.zeros(feature_dim))
        self.register_buffer("feat_std", torch.ones(feature_dim))
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))
        self.noise_scheduler = self.make_scheduler()  # the training process (holds no weights)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> MotionDuetModel:
        """Build from :data:`PRESETS` (``tiny``, ``small``, ``base``); ``kwargs`` override it."""
        if name not in PRESETS:
            raise ValueError(f"unknown MotionDuet preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **kwargs})

    def make_scheduler(self, num_inference_steps: int = 50, eta: float = 0.0) -> DDPMScheduler:
        """A :class:`DDPMScheduler` for this model's training process (DDIM sampling with ``eta``)."""
        return DDPMScheduler(**self.scheduler_config, num_inference_steps=num_inference_steps, eta=eta)

    @property
    def device(self) -> torch.device:
        return self.feat_mean.device

    # ------------------------------------------------------------------ statistics
    @torch.no_grad()
    def set_normalization(self, mean, std) -> None:
        """Feature mean/std ``(feature_dim,)`` (the corpus ``Mean.npy``/``Std.npy``)."""
        for name, v in (("feat_mean", mean), ("feat_std", std)):
            v = check_tensor(torch.as_tensor(v), name).reshape(-1)
            if v.shape[0] != self.feature_dim:
                raise ValueError(f"{name} must have {self.feature_dim} values, got {v.shape[0]}")
            getattr(self, name).copy_(v)
        self.feat_std.clamp_(min=1e-6)

    @torch.no_grad()
    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel statistics ``(latent_dim,)`` of the VAE latents (std floored at 1e-4)."""
        self.latent_mean.copy_(torch.as_tensor(mean).reshape(self.latent_dim))
        self.latent_std.copy_(torch.as_tensor(std).reshape(self.latent_dim).clamp(min=1e-4))

    def normalize_features(self, features: torch.Tensor) -> torch.Tensor:
        """Raw features ``(..., feature_dim)`` -> normalised."""
        return (features - self.feat_mean) / self.feat_std

    def denormalize_features(self, features: torch.Tensor) -> torch.Tensor:
        """Normalised features -> raw ``(..., feature_dim)``."""
        return features * self.feat_std + self.feat_mean

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """VAE latents ``(..., latent_dim)`` -> model (diffusion) space."""
        return (latents - self.latent_mean) / self.latent_std

    def denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Model-space latents -> VAE latents ``(..., latent_dim)``."""
        return latents * self.latent_std + self.latent_mean

    # ------------------------------------------------------------------ VAE
    def encode(self, features: torch.Tensor, lengths: torch.Tensor) -> Posterior:
        """Raw features ``(B, T, feature_dim)``, ``lengths (B,)`` -> the VAE posterior (VAE latent space)."""
        self._need("vae", "encode")
        features = check_tensor(features, "features", min_dim=3, trailing=(self.feature_dim,))
        return self.vae.encode(self.normalize_features(features), lengths)

    def decode(self, latents: torch.Tensor, lengths: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Model-space latents ``(B, L, C)`` -> raw features ``(B, T, feature_dim)``, zero past each
        length (``T = frames`` or ``max(lengths)``)."""
        self._need("vae", "decode")
        out = self.vae.decode(self.denormalize_latents(latents), lengths, frames)
        mask = lengths_to_mask(torch.as_tensor(lengths, device=out.device).reshape(-1), out.shape[1])
        return self.denormalize_features(out) * mask.unsqueeze(-1).to(out.dtype)

    def vae_loss(self, features: torch.Tensor, lengths: torch.Tensor,
                 generator: torch.Generator | None = None) -> VAEOutput:
        """VAE-stage loss on raw features ``(B, T, feature_dim)`` with valid ``lengths (B,)``.

        With ``joint_weight > 0`` the loss adds that times the mean distance (metres) between the joints of
        the reconstruction and of the input, global (:func:`humo.representations.humanml3d.features_to_joints`:
        the root integrated from its velocities), so trajectory drift is penalised where it arises.
        """
        self._need("vae", "vae_loss")
        features = check_tensor(features, "features", min_dim=3, trailing=(self.feature_dim,))
        out = self.vae(self.normalize_features(features), lengths, generator)
        if self.joint_weight > 0:
            from humo.representations.humanml3d import features_to_joints

            mask = lengths_to_mask(torch.as_tensor(lengths, device=features.device), features.shape[1])
            err = (features_to_joints(self.denormalize_features(out.features)) - features_to_joints(features)
                   ).norm(dim=-1).mean(-1)  # (B, T)
            out.joints = (err * mask).sum() / mask.sum()
            out.loss = out.loss + self.joint_weight * out.joints
        return out

    def _need(self, stage: str, what: str) -> None:
        if self.first_stage != stage:
            other = "encode_joints / decode_joints" if stage == "vae" else "encode / decode (features)"
            raise ValueError(f"{what} needs first_stage={stage!r}; this model's first stage is "
                             f"{self.first_stage!r} (use {other})")

    # ------------------------------------------------------------------ autoencoder first stage
    def tokens_for(self, frames: torch.Tensor) -> torch.Tensor:
        """Latent tokens ``(B,)`` that cover ``frames (B,)`` joint frames (the autoencoder first stage)."""
        self._need("autoencoder", "tokens_for")
        return torch.div(torch.as_tensor(frames) + self.downsample - 1, self.downsample, rounding_mode="floor")

    def encode_joints(self, joints: torch.Tensor) -> torch.Tensor:
        """Absolute joints ``(B, T, 22, 3)`` (T a multiple of 4, every frame valid: encode clips of one length
        together, padding would leak through the convolutions) -> model-space latents ``(B, T / 4, C)``."""
        self._need("autoencoder", "encode_joints")
        return self.normalize_latents(self.autoencoder.encode(joints))

    def decode_joints(self, latents: torch.Tensor) -> torch.Tensor:
        """Model-space latents ``(B, L, C)`` (every token valid) -> absolute joints ``(B, 4 L, 22, 3)``, the
        root at XZ = 0 on frame 0."""
        self._need("autoencoder", "decode_joints")
        return self.autoencoder.decode(self.denormalize_latents(latents))

    # ------------------------------------------------------------------ conditioning
    def condition(self, text_emb: torch.Tensor, video: torch.Tensor | None = None,
                  video_present: torch.Tensor | None = None) -> DuetOutput:
        """Fuse sentence embeddings ``(B, text_dim)`` and optional video tokens ``(B, Lv, video_dim)``."""
        return self.duet(text_emb, video, video_present)

    def null_condition(self, batch: int) -> torch.Tensor:
        """The fused "no condition" tokens ``(batch, Lc, W)`` (null sentence, no video)."""
        return self.duet(self.null_text.unsqueeze(0).expand(batch, -1)).fused

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                mask: torch.Tensor | None = None) -> DenoiserOutput:
        """Predicted noise of model-space latents ``x_t (B, L, C)`` at steps ``t`` given ``H (B, Lc, W)``;
        ``mask (B, L)`` True = a valid latent token (the autoencoder first stage's variable lengths)."""
        return self.denoiser(x_t, t, cond, mask)

    # ------------------------------------------------------------------ diffusion-stage loss
    def forward(self, features: torch.Tensor | None, lengths: torch.Tensor, text_emb: torch.Tensor,
                video: torch.Tensor | None = None, video_present: torch.Tensor | None = None,
                dash_lambda: float = 0.0, generator: torch.Generator | None = None,
                latents: torch.Tensor | None = None) -> MotionDuetOutput:
        """Diffusion loss given ``text_emb (B, text_dim)`` and optional ``video (B, Lv, video_dim)``
        (``video_present (B,)`` marks which rows have one).

        The clean latents are either encoded here from raw ``features (B, T, feature_dim)`` with valid
        ``lengths (B,)`` (first stage ``"vae"``: a posterior sample), or given as model-space ``latents
        (B, L, C)`` with ``lengths (B,)`` counting valid **tokens** (first stage ``"autoencoder"``: encoded
        once per clip beforehand, see :meth:`encode_joints`); the loss then covers the valid tokens only.
        ``generator`` draws the condition dropout, the timesteps, the noise and the posterior sample.
        """
        dev = self.device if latents is None else latents.device
        mask = None
        if self.first_stage == "vae":
            if features is None:
                raise ValueError("this model's first stage is the VAE: pass features, not latents")
            with torch.no_grad():  # the VAE is frozen in this stage
                z0 = self.normalize_latents(self.encode(features, lengths).sample(generator))  # (B, L, C)
            dev = features.device
        else:
            if latents is None:
                raise ValueError("this model's first stage is the autoencoder: pass latents (encode_joints)")
            z0 = check_tensor(latents, "latents", min_dim=3, trailing=(self.latent_dim,))
            if z0.ndim != 3 or z0.shape[1] > self.latent_tokens:
                raise ValueError(f"latents must be (B, L <= {self.latent_tokens}, {self.latent_dim}), "
                                 f"got {tuple(z0.shape)}")
            mask = lengths_to_mask(torch.as_tensor(lengths, device=dev).reshape(-1), z0.shape[1])
        b = z0.shape[0]
        gdev = generator.device if generator is not None else dev

        def rand(*shape):
            return torch.rand(shape, generator=generator, device=gdev).to(dev)

        text_emb = check_tensor(text_emb, "text_emb", min_dim=2, trailing=(self.text_dim,)).to(dev)
        dropped = rand(b) < self.cond_drop  # (B,) condition -> null (CFG)
        text_in = torch.where(dropped[:, None], self.null_text.expand(b, -1), text_emb)
        present = None
        if video is not None:
            present = torch.ones(b, dtype=torch.bool, device=dev) if video_present is None else \
                video_present.to(dev).bool()
            present = present & ~dropped & ~(rand(b) < self.video_drop)
        h = self.condition(text_in, video, present).fused
        t = self.noise_scheduler.sample_timesteps(b, generator, device=dev)
        noise = torch.randn(z0.shape, generator=generator, device=gdev).to(dev)
        out = self.denoise(self.noise_scheduler.add_noise(z0, noise, t), t, h, mask)
        target = self.noise_scheduler.target(z0, noise)
        if mask is None:
            diffusion = F.mse_loss(out.prediction, target)
        else:
            err = (out.prediction - target).pow(2).mean(-1)  # (B, L)
            diffusion = (err * mask).sum() / mask.sum()
        dash = diffusion.new_zeros(())
        if dash_lambda and video is not None and self.dash_head is not None and bool(present.any()):
            z, v = self._dash_pairs(out.hidden, video.to(dev).float(), present, mask)
            dash = dash_loss(z, v.detach(), *self.dash_margins).loss
        return MotionDuetOutput(diffusion + dash_lambda * dash, diffusion, dash, out.prediction, target, t,
                                dropped)

    def _dash_pairs(self, hidden: torch.Tensor, video: torch.Tensor, present: torch.Tensor,
                    mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """DASH's row-aligned ``(z, v)``, each ``(N, K, video_dim)`` for the ``N`` rows with a video: ``K`` =
        the latent tokens (VAE) or ``dash_tokens`` time-pooled over each row's valid tokens (autoencoder)."""
        z = self.dash_head(hidden[present])  # (N, L, video_dim)
        v = video[present].transpose(1, 2)  # (N, video_dim, Lv)
        if mask is None:
            return z, F.adaptive_avg_pool1d(v, self.latent_tokens).transpose(1, 2)
        k = self.dash_tokens
        counts = mask[present].sum(1).tolist()
        z = torch.stack([F.adaptive_avg_pool1d(zi[:n].T, k).T for zi, n in zip(z, counts, strict=True)])
        return z, F.adaptive_avg_pool1d(v, k).transpose(1, 2)
