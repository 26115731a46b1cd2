"""Video features for MotionDuet: pluggable, frozen encoders (injected, never saved with the model).

Three ways to get video feature tokens ``(B, Lv, D_video)``:

(a) precomputed feature tensors, passed through unchanged (:func:`encode_video_input`);
(b) :class:`VideoMAEEncoder`: a ``transformers`` ``VideoMAEModel`` loaded from a local checkpoint folder;
    rendered grayscale frames are resized to its ``image_size``, repeated to RGB, ImageNet-normalised,
    and its patch tokens are averaged over space per tubelet -> ``(B, num_frames / tubelet, hidden)``;
(c) the built-in path (the seed's own method of making (motion, video) pairs from any corpus):
    :func:`render_stick_videos` rasterises joints into short grayscale stick-figure clips (default 16
    frames of 64 x 64, a fixed 3/4 view, orthographic, framed per clip) and :class:`StickVideoEncoder`, a
    small 3-D CNN with **frozen, seeded random weights** (Kaiming-normal from ``seed``), turns them into
    per-time tokens (spatial mean and max of the last feature map, LayerNorm'd). Being a pure function of
    its preset, it needs no weight file and is rebuilt identically from the name stored in the model's
    config (``video_encoder="stick"``).

``load_video_encoder(spec)`` builds one from a preset name of :data:`VIDEO_ENCODERS` or a VideoMAE folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.frozen import FrozenExternal
from humo.representations._checks import check_tensor
from humo.representations.skeleton import SMPL22

VIDEO_ENCODERS: dict[str, dict] = {
    "stick": dict(frames=16, size=64, widths=(16, 32, 64), seed=0),
    "stick-tiny": dict(frames=8, size=32, widths=(4, 8, 8), seed=0),
}
# trained encoders shipped with humo, by name (a LearnedVideoEncoder folder each, with its model card)
BUNDLED_VIDEO_ENCODERS: dict[str, Path] = {
    "stick-learned": Path(__file__).resolve().parents[2] / "assets" / "stick-video-encoder"}
IMAGENET_MEAN, IMAGENET_STD = 0.45, 0.225  # grey-level mean/std of VideoMAE's ImageNet normalisation


def render_stick_videos(joints: torch.Tensor, lengths: torch.Tensor | None = None, frames: int = 16,
                        size: int = 64, yaw_degrees: float | torch.Tensor = 45.0) -> torch.Tensor:
    """Rasterise SMPL-22 motions into grayscale stick-figure clips.

    Args:
        joints: ``(B, T, 22, 3)`` (or one ``(T, 22, 3)``), metres, Y up.
        lengths: ``(B,)`` valid frames (default ``T``); ``frames`` frames are sampled evenly over them.
        frames, size: clip length and square image side in pixels.
        yaw_degrees: camera yaw around Y (45: a 3/4 view, so sideways and forward motion both show); a
            ``(B,)`` tensor gives each clip its own camera (training augmentation).

    Returns:
        ``(B, frames, size, size)`` float32 in ``[0, 1]`` (1 = bone pixel). Each clip is framed on its own:
        centred on the joints' extent, at least 2.2 m tall and wide, so the figure keeps its scale.
    """
    joints = check_tensor(joints, "joints", min_dim=3, trailing=(SMPL22.num_joints, 3), min_frames=1,
                          frame_dim=-3)
    if joints.ndim == 3:
        joints = joints.unsqueeze(0)
    if joints.ndim != 4:
        raise ValueError(f"joints must be (B, T, 22, 3), got {tuple(joints.shape)}")
    if frames < 1 or size < 4:
        raise ValueError(f"need frames >= 1 and size >= 4, got {frames}, {size}")
    b, t = joints.shape[:2]
    dev = joints.device
    lengths = torch.full((b,), t, device=dev) if lengths is None else \
        torch.as_tensor(lengths, device=dev).long()
    if lengths.shape != (b,) or bool((lengths < 1).any()) or int(lengths.max()) > t:
        raise ValueError(f"lengths must be ({b},) in [1, {t}], got {lengths.tolist()}")
    idx = ((lengths - 1).unsqueeze(1) * torch.linspace(0, 1, frames, device=dev)).round().long()  # (B, F)
    pose = joints.float()[torch.arange(b, device=dev)[:, None], idx]  # (B, F, 22, 3)
    a = torch.deg2rad(torch.as_tensor(yaw_degrees, dtype=torch.float32, device=dev)).reshape(-1, 1, 1)
    if a.shape[0] not in (1, b):
        raise ValueError(f"yaw_degrees must be a number or ({b},), got {tuple(a.shape)}")
    u = pose[..., 0] * torch.cos(a) + pose[..., 2] * torch.sin(a)  # screen x (B, F, 22)
    y = pose[..., 1]
    lo_u, hi_u = u.flatten(1).min(1).values, u.flatten(1).max(1).values
    lo_y, hi_y = y.flatten(1).min(1).values, y.flatten(1).max(1).values
    half = torch.maximum((hi_u - lo_u) / 2, (hi_y - lo_y) / 2) + 0.15  # half side of the view, metres
    half = half.clamp(min=1.1)
    scale = (size / 2 - 1) / half  # pixels per metre, (B,)
    px = (u - ((lo_u + hi_u) / 2)[:, None, None]) * scale[:, None, None] + size / 2
    py = size / 2 - (y - ((lo_y + hi_y) / 2)[:, None, None]) * scale[:, None, None]
    pts = torch.stack([px, py], -1)  # (B, F, 22, 2)
    child = torch.arange(1, SMPL22.num_joints, device=dev)
    parent = torch.tensor(SMPL22.parents[1:], device=dev)
    k = max(2, size // 4)  # samples per bone
    s = torch.linspace(0, 1, k, device=dev)[:, None]  # (K, 1)
    seg = pts[:, :, parent, None] + s * (pts[:, :, child, None] - pts[:, :, parent, None])  # (B, F, 21, K, 2)
    ix, iy = seg[..., 0].round().long(), seg[..., 1].round().long()
    inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    clip = torch.arange(b * frames, device=dev).reshape(b, frames, 1, 1)  # flat (sample, frame) index
    flat = ((clip * size + iy) * size + ix)[inside]
    img = torch.zeros(b * frames * size * size, device=dev)
    img.index_put_((flat,), torch.ones_like(flat, dtype=img.dtype), accumulate=True)
    return img.clamp_(max=1.0).reshape(b, frames, size, size)


def stick_convs(widths) -> nn.ModuleList:
    """The three 3-D convolutions of the stick-figure encoders (channels ``widths``)."""
    w0, w1, w2 = widths
    return nn.ModuleList([
        nn.Conv3d(1, w0, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
        nn.Conv3d(w0, w1, 3, stride=(2, 2, 2), padding=1),
        nn.Conv3d(w1, w2, 3, stride=(1, 2, 2), padding=1),
    ])


def stick_tokens(convs: nn.ModuleList, clips: torch.Tensor) -> torch.Tensor:
    """Clips ``(B, F, H, W)`` -> tokens ``(B, ceil(F / 2), 2 C)``: the convolutions (ReLU between), then per
    time step the spatial mean and max of the last map, LayerNorm'd. Differentiable."""
    x = clips.unsqueeze(1)  # (B, 1, F, H, W)
    for i, conv in enumerate(convs):
        x = conv(x)
        x = F.relu(x) if i < len(convs) - 1 else x
    x = x.flatten(3)  # (B, C, F', H'W')
    tokens = torch.cat([x.mean(-1), x.amax(-1)], dim=1).transpose(1, 2)  # (B, F', 2C)
    return F.layer_norm(tokens, tokens.shape[-1:])


class StickVideoEncoder(nn.Module):
    """Frozen, seeded random-init 3-D CNN over rendered stick-figure clips.

    Input ``(B, frames, size, size)`` -> conv3d(5x5 spatial, stride 2) -> conv3d(3, stride 2 in time and
    space) -> conv3d(3, stride 2 in space), ReLU between -> per time step the spatial mean and max of the
    last map, LayerNorm'd -> tokens ``(B, ceil(frames / 2), 2 * widths[-1])``.

    Args:
        frames, size: the clip it renders (:func:`render_stick_videos`).
        widths: channels of the three convolutions.
        seed: the weights are drawn from ``torch.Generator().manual_seed(seed)``.
    """

    def __init__(self, frames: int = 16, size: int = 64, widths: tuple[int, int, int] = (16, 32, 64),
                 seed: int = 0):
        super().__init__()
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths must be 3 positive ints, got {widths}")
        self.frames, self.size, self.widths, self.seed = frames, size, tuple(widths), seed
        w2 = widths[-1]
        self.convs = stick_convs(widths)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for conv in self.convs:
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                conv.bias.zero_()
        self.requires_grad_(False).eval()
        self.source: str | None = None  # the preset name when built by load_video_encoder
        self.dim = 2 * w2
        self.tokens = (frames + 1) // 2

    def train(self, mode: bool = True) -> StickVideoEncoder:  # frozen: always in eval mode
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.convs[0].weight.device

    @torch.no_grad()
    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """Grayscale clips ``(B, frames, size, size)`` in ``[0, 1]`` -> tokens ``(B, tokens, dim)``."""
        if clips.ndim != 4:
            raise ValueError(f"clips must be (B, F, H, W), got {tuple(clips.shape)}")
        return stick_tokens(self.convs, clips.to(self.device, torch.float32))

    @torch.no_grad()
    def encode_motion(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Render joints ``(B, T, 22, 3)`` and encode them -> ``(B, tokens, dim)``."""
        clips = render_stick_videos(joints.to(self.device), lengths, frames=self.frames, size=self.size)
        return self.encode_video(clips)


class VideoMAEEncoder(FrozenExternal):
    """A frozen ``transformers`` VideoMAE model (from a local folder, or an already built model).

    Rendered clips are made with ``render_size`` pixels and ``num_frames`` frames (the model's), then
    resized to its ``image_size``. The model lives outside the module registry (never in a state dict).
    """

    def __init__(self, model_or_path, render_size: int = 64):
        super().__init__()
        if isinstance(model_or_path, (str, Path)):
            path = Path(model_or_path)
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"{path} is not a VideoMAE checkpoint folder (no config.json)")
            from transformers import VideoMAEModel

            model = VideoMAEModel.from_pretrained(str(path))
            self.source = str(path)
        else:
            model, self.source = model_or_path, None
        self._hold(model)
        cfg = model.config
        self.frames, self.image_size = int(cfg.num_frames), int(cfg.image_size)
        self.tubelet, self.channels = int(cfg.tubelet_size), int(cfg.num_channels)
        self.size = render_size
        self.dim = int(cfg.hidden_size)
        self.tokens = self.frames // self.tubelet

    @torch.no_grad()
    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """Grayscale clips ``(B, F, H, W)`` in ``[0, 1]`` -> tokens ``(B, num_frames / tubelet, hidden)``."""
        if clips.ndim != 4:
            raise ValueError(f"clips must be (B, F, H, W), got {tuple(clips.shape)}")
        b, f = clips.shape[:2]
        clips = clips.to(self.device, torch.float32)
        if f != self.frames:  # resample time to the model's frame count
            idx = torch.linspace(0, f - 1, self.frames, device=clips.device).round().long()
            clips = clips[:, idx]
        side = (self.image_size, self.image_size)
        x = F.interpolate(clips, size=side, mode="bilinear", align_corners=False)  # (B, T, S, S)
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
        x = x.unsqueeze(2).expand(-1, -1, self.channels, -1, -1)  # grey -> RGB: (B, T, C, S, S)
        hidden = self._model(pixel_values=x).last_hidden_state  # (B, T/tubelet * (S/p)^2, D), (t, h, w) order
        return hidden.reshape(b, self.tokens, -1, self.dim).mean(2)  # average over space per tubelet

    @torch.no_grad()
    def encode_motion(self, joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Render joints ``(B, T, 22, 3)`` and encode them -> ``(B, tokens, hidden)``."""
        clips = render_stick_videos(joints.to(self.device), lengths, frames=self.frames, size=self.size)
        return self.encode_video(clips)


def load_video_encoder(spec: str):
    """A preset name of :data:`VIDEO_ENCODERS` (``"stick"``, random weights), a bundled trained encoder of
    :data:`BUNDLED_VIDEO_ENCODERS` (``"stick-learned"``), a trained
    :class:`~humo.models.motionduet.video_learned.LearnedVideoEncoder` folder, or a local VideoMAE
    checkpoint folder (told apart by their ``config.json``)."""
    if spec in VIDEO_ENCODERS:
        encoder = StickVideoEncoder(**VIDEO_ENCODERS[spec])
        encoder.source = spec
        return encoder
    if spec in BUNDLED_VIDEO_ENCODERS:
        from humo.models.motionduet.video_learned import LearnedVideoEncoder

        folder = BUNDLED_VIDEO_ENCODERS[spec]
        if not (folder / "model.safetensors").is_file():
            raise FileNotFoundError(f"the bundled video encoder {spec!r} is missing ({folder}): reinstall humo")
        encoder = LearnedVideoEncoder.from_pretrained(folder)
        encoder.name = spec
        return encoder
    if Path(spec).is_dir():
        config = Path(spec) / "config.json"
        try:
            keys = set(json.loads(config.read_text())) if config.is_file() else set()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{config}: not valid JSON ({e})") from None
        if {"widths", "embed_dim"} <= keys:
            from humo.models.motionduet.video_learned import LearnedVideoEncoder

            return LearnedVideoEncoder.from_pretrained(spec)
        return VideoMAEEncoder(spec)
    raise FileNotFoundError(f"unknown video encoder {spec!r}: not one of {sorted(VIDEO_ENCODERS)} "
                            "and not a VideoMAE checkpoint folder")


def encode_video_input(video, encoder, batch: int | None = None, lengths: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Turn what a user passes as ``video`` into feature tokens ``(B, Lv, D)``.

    Accepts precomputed features ``(Lv, D)`` / ``(B, Lv, D)`` (``D == encoder.dim`` when an encoder is
    given), joints ``(T, 22, 3)`` / ``(B, T, 22, 3)`` or a :class:`humo.motion.Motion` (rendered and
    encoded), or grayscale clips ``(B, F, H, W)`` with ``H == W == encoder.size``. A single video is
    repeated to ``batch`` rows.
    """
    from humo.motion import Motion

    if isinstance(video, Motion):
        video = video.joints
    video = check_tensor(video, "video", min_dim=2)
    is_joints = video.ndim in (3, 4) and tuple(video.shape[-2:]) == (SMPL22.num_joints, 3)
    if is_joints:
        if encoder is None:
            raise ValueError("video is a motion (joints) but no video encoder is available to render it")
        feats = encoder.encode_motion(video if video.ndim == 4 else video.unsqueeze(0), lengths)
    elif video.ndim == 4:
        if encoder is None or video.shape[-1] != video.shape[-2]:
            raise ValueError(f"video of shape {tuple(video.shape)}: clips must be (B, F, S, S) and need "
                             "an encoder")
        feats = encoder.encode_video(video)
    elif video.ndim in (2, 3):
        feats = video if video.ndim == 3 else video.unsqueeze(0)
        if encoder is not None and feats.shape[-1] != encoder.dim:
            raise ValueError(f"video features have {feats.shape[-1]} channels; the encoder gives "
                             f"{encoder.dim}")
    else:
        raise ValueError(f"cannot interpret video of shape {tuple(video.shape)}")
    if batch is not None and feats.shape[0] != batch:
        if feats.shape[0] != 1:
            raise ValueError(f"{feats.shape[0]} videos for {batch} prompts")
        feats = feats.expand(batch, -1, -1)
    return feats.float()
