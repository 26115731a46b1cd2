"""A stick-figure video encoder that learned: the 3-D CNN of :class:`~.video.StickVideoEncoder`, trained.

No pretrained video weights can be had offline, so this one is trained here, contrastively: a rendered
clip of a motion (:func:`~.video.render_stick_videos`, random camera yaw and body size) against the
sentence embedding of one of its captions (InfoNCE, both directions; captions shared within a batch count
as positives). Training: :func:`humo.training.video_encoder.train_video_encoder`.

For MotionDuet it is a drop-in video encoder (``dim``, ``tokens``, ``encode_video``, ``encode_motion``):
the tokens are the same LayerNorm'd per-time features as the random-weight encoder's, now from trained
convolutions. ``embed`` gives the pooled, projected, unit-length clip embedding used in training and for
video -> text retrieval. Saved and loaded like every humo model (``save_pretrained`` /
``from_pretrained``: ``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

import hashlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.hub import HubModel
from humo.models.motionduet.video import render_stick_videos, stick_convs, stick_tokens

VIDEO_ENCODER_DIR = "video_encoder"  # where a MotionDuet folder keeps its learned video encoder


class LearnedVideoEncoder(HubModel):
    """Trainable stick-figure video encoder.

    Args:
        frames, size: the clips it renders (frames of ``size`` x ``size`` pixels).
        widths: channels of the three 3-D convolutions (tokens have ``2 * widths[-1]`` channels).
        embed_dim: size of the contrastive embedding (the text encoder's: 384 for MiniLM).
        temperature: initial InfoNCE temperature (learned).
    """

    def __init__(self, frames: int = 16, size: int = 64, widths: tuple[int, int, int] | list[int] = (16, 32, 64),
                 embed_dim: int = 384, temperature: float = 0.07):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths must be 3 positive ints, got {widths}")
        if frames < 1 or size < 16 or embed_dim < 1 or not 0 < temperature < 1:
            raise ValueError(f"bad sizes: frames {frames}, size {size}, embed_dim {embed_dim}, "
                             f"temperature {temperature}")
        self.frames, self.size, self.widths, self.embed_dim = frames, size, widths, embed_dim
        self.convs = stick_convs(widths)
        self.dim = 2 * widths[-1]
        self.tokens = (frames + 1) // 2
        self.proj = nn.Sequential(nn.Linear(self.dim, self.dim), nn.GELU(), nn.Linear(self.dim, embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.name: str | None = None  # the bundled name (``"stick-learned"``) when loaded by name

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    @property
    def source(self) -> str:
        """Names these weights (caches of encoded videos are keyed by it): ``learned-<digest>``."""
        h = hashlib.sha1()
        for k, v in sorted(self.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
        return f"learned-{h.hexdigest()[:12]}"

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips ``(B, frames, size, size)`` in ``[0, 1]`` -> tokens ``(B, tokens, dim)`` (differentiable)."""
        if clips.ndim != 4 or clips.shape[-2:] != (self.size, self.size):
            raise ValueError(f"clips must be (B, F, {self.size}, {self.size}), got {tuple(clips.shape)}")
        return stick_tokens(self.convs, clips.to(self.device, torch.float32))

    def embed(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips -> unit-length embeddings ``(B, embed_dim)`` (mean of the tokens, projected)."""
        return F.normalize(self.proj(self(clips).mean(1)), dim=-1)

    def render(self, joints: torch.Tensor, lengths: torch.Tensor | None = None,
               yaw_degrees: float | torch.Tensor = 45.0) -> torch.Tensor:
        """Joints ``(B, T, 22, 3)`` -> the clips this encoder reads ``(B, frames, size, size)``."""
        return render_stick_videos(joints.to(self.device), lengths, frames=self.frames, size=self.size,
                                   yaw_degrees=yaw_degrees)

    @torch.no_grad()
    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """Grayscale clips ``(B, frames, size, size)`` -> tokens ``(B, tokens, dim)`` (eval mode)."""
        was = self.training
        self.eval()
        try:
            return self(clips)
        finally:
            self.train(was)

    @torch.no_grad()
    def encode_motion(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Render joints ``(B, T, 22, 3)`` (3/4 view) and encode them -> ``(B, tokens, dim)``."""
        return self.encode_video(self.render(joints, lengths))
