"""CoAMD's multi-modal motion autoencoder: absolute joints <-> continuous latent tokens (time / 4).

Architecture (CoAMD, with the T2M-GPT / MARDM convolutional trunk)::

    joints (B, T, 22, 3) -> streams J, B, M (each 66-d per frame, normalised by stored mean/std)
      -> per-stream Conv1d(66, width, 3) -> concat (3 * width) -> 1x1 Conv (early fusion) -> width
      -> [stride-2 Conv1d(4) + ResNet1D(depth, dilation growth)] x down_t -> Conv1d -> latents (B, T/4, D)
    latents -> Conv1d -> [ResNet1D + nearest upsample x2 + Conv1d] x down_t -> Conv1d -> J stream (66-d)
      -> de-normalise -> absolute joints (B, T, 22, 3)

Translation-friendly representation (what the streams are computed on). The absolute XZ position
of the root is not fed to the network: a 10 s walk would drift far outside anything a 64-frame
training window shows. Instead, every frame is expressed relative to *its own* root on the floor
plane (``local = joints - (root_x, 0, root_z)``) and the root's two XZ slots of the J stream carry the
root's frame-to-frame XZ displacement (0 at frame 0). So the network sees

* J: ``local`` joints with ``J[t, root, (x, z)] = root_xz[t] - root_xz[t-1]`` (root height kept),
* B: ``joints_to_bones(local)`` (bones are translation-invariant; the root "bone" is ``(0, y, 0)``),
* M: ``joints_to_motion(joints)`` (already translation-invariant, frame 0 is zero).

The decoder predicts the J stream; the root XZ trajectory is the cumulative sum of the predicted
displacements, starting at the origin. ``decode`` therefore returns joints whose frame-0 root is at
XZ = 0 (the canonical corpus convention); ``forward`` adds back the input's frame-0 root XZ so the
reconstruction is in the input's absolute frame. The mapping is exactly invertible
(:func:`from_local` (:func:`to_local` (x)) == x up to the frame-0 XZ offset).

Latent scale: ``latent_scale`` (a scalar buffer, 1 until :meth:`MotionAutoencoder.fit_latent_scale`)
is the standard deviation of the latents over the training data. ``encode(..., scaled=True)``
returns ``latents / latent_scale`` (about unit variance, what a flow / diffusion head wants) and
``decode(..., scaled=True)`` multiplies back before decoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from humo.models.hub import HubModel
from humo.representations._checks import check_tensor
from humo.representations.streams import joints_to_bones, joints_to_motion, to_streams

NUM_JOINTS = 22
STREAM_DIM = NUM_JOINTS * 3  # one flattened stream per frame
STREAM_NAMES = ("joints", "bones", "motion")

AE_PRESETS: dict[str, dict] = {
    # unit tests: seconds on a laptop core
    "tiny": dict(width=32, depth=1, dilation_growth=3, latent_dim=16, down_t=2),
    # CPU training (~15 min on 2 cores)
    "small": dict(width=128, depth=2, dilation_growth=3, latent_dim=64, down_t=2),
    # MARDM / T2M-GPT defaults: width 512, ResNet1D depth 3, dilation growth 3, latent 512
    "base": dict(width=512, depth=3, dilation_growth=3, latent_dim=512, down_t=2),
}


@dataclass
class AELoss:
    """Output of :func:`ae_loss`: ``total`` = weighted sum of the per-stream smooth-L1 terms (scalars)."""

    total: torch.Tensor
    joints: torch.Tensor
    bones: torch.Tensor
    motion: torch.Tensor


@dataclass
class AEOutput:
    """Output of :meth:`MotionAutoencoder.forward`.

    Attributes:
        joints: ``(B, T, 22, 3)`` reconstruction in the input's absolute frame.
        latents: ``(B, T // 4, D)`` unscaled latents.
        loss: :class:`AELoss` against the input (masked by ``mask`` when given).
    """

    joints: torch.Tensor
    latents: torch.Tensor
    loss: AELoss


def to_local(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute joints ``(..., T, 22, 3)`` -> (J stream ``(..., T, 22, 3)``, frame-0 root XZ ``(..., 3)``).

    The J stream is the pose relative to each frame's root on XZ, with the root's XZ slots holding the
    root's XZ displacement from the previous frame (0 at frame 0). The origin has Y = 0.
    """
    root = joints[..., :, :1, :]  # (..., T, 1, 3)
    floor = torch.zeros_like(root)
    floor[..., 0] = root[..., 0]
    floor[..., 2] = root[..., 2]
    local = joints - floor
    vel = joints_to_motion(root)  # (..., T, 1, 3), frame 0 is zero
    j_stream = local.clone()
    j_stream[..., :, 0, 0] = vel[..., :, 0, 0]
    j_stream[..., :, 0, 2] = vel[..., :, 0, 2]
    return j_stream, floor[..., 0, 0, :]


def from_local(j_stream: torch.Tensor, origin: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`to_local`: J stream ``(..., T, 22, 3)`` (+ origin ``(..., 3)``) -> absolute joints.

    The root XZ trajectory is the cumulative sum of the root XZ displacements, frame 0 ignored
    (it starts at ``origin``, or at XZ = 0 when ``origin`` is None).
    """
    vel = j_stream[..., :, 0, :].clone()  # (..., T, 3)
    vel[..., 0, :] = 0.0
    vel[..., :, 1] = 0.0
    traj = torch.cumsum(vel, dim=-2)  # (..., T, 3) root XZ position, Y = 0
    local = j_stream.clone()
    local[..., :, 0, 0] = 0.0
    local[..., :, 0, 2] = 0.0
    joints = local + traj.unsqueeze(-2)
    if origin is not None:
        joints = joints + origin[..., None, None, :]
    return joints


def _input_streams(joints: torch.Tensor) -> torch.Tensor:
    """Absolute joints ``(..., T, 22, 3)`` -> stacked network input streams ``(..., 3, T, 66)``."""
    j_stream, _ = to_local(joints)
    local = joints - joints[..., :, :1, :] * joints.new_tensor([1.0, 0.0, 1.0])  # XZ-root-relative pose
    streams = (j_stream, joints_to_bones(local), joints_to_motion(joints))
    return torch.stack([s.flatten(-2) for s in streams], dim=-3)


def ae_loss(pred_joints: torch.Tensor, target_joints: torch.Tensor, mask: torch.Tensor | None = None,
            scale: torch.Tensor | None = None, weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
            beta: float = 1.0) -> AELoss:
    """CoAMD reconstruction loss: smooth-L1 on the J, B and M streams of absolute joints.

    Bones and motion of the prediction are re-derived from the decoded joints with
    :func:`humo.representations.streams.to_streams`, so the three terms constrain one output.

    Args:
        pred_joints: ``(B, T, 22, 3)`` decoded absolute joints.
        target_joints: ``(B, T, 22, 3)`` ground truth.
        mask: ``(B, T)`` bool, True = valid frame; padded frames (and the motion of the first
            padded frame) do not count. None = all frames valid.
        scale: ``(3,)`` per-stream scale (metres) the differences are divided by before the
            smooth-L1 (the model passes its fitted ``loss_scale``); None = 1.
        weights: per-stream weights of ``total``.
        beta: smooth-L1 threshold, in scaled units.
    """
    pred = to_streams(check_tensor(pred_joints, "pred_joints", min_dim=4, trailing=(NUM_JOINTS, 3)))
    target = to_streams(check_tensor(target_joints, "target_joints", min_dim=4, trailing=(NUM_JOINTS, 3)))
    if pred.joints.shape != target.joints.shape:
        raise ValueError(f"pred_joints {tuple(pred.joints.shape)} and target_joints "
                         f"{tuple(target.joints.shape)} differ in shape")
    b, t = pred.joints.shape[:2]
    if mask is None:
        mask = torch.ones(b, t, dtype=torch.bool, device=pred.joints.device)
    if mask.shape != (b, t) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape {(b, t)}, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    scale = torch.ones(3, device=pred.joints.device) if scale is None else scale
    w = mask.to(pred.joints.dtype)[..., None, None]  # (B, T, 1, 1)
    denom = w.sum().clamp(min=1.0) * NUM_JOINTS * 3
    terms = []
    for k in range(3):
        err = F.smooth_l1_loss(pred[k] / scale[k], target[k] / scale[k], reduction="none", beta=beta)
        terms.append((err * w).sum() / denom)
    total = sum(wk * tk for wk, tk in zip(weights, terms, strict=True))
    return AELoss(total=total, joints=terms[0], bones=terms[1], motion=terms[2])


class ResBlock1D(nn.Module):
    """T2M-GPT residual block: ReLU -> dilated Conv1d(3) -> ReLU -> Conv1d(1), plus the input."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T)
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def resnet1d(width: int, depth: int, growth: int) -> nn.Sequential:
    """``depth`` residual blocks with dilations growth**d, largest first (T2M-GPT reverse_dilation)."""
    return nn.Sequential(*[ResBlock1D(width, growth**d) for d in reversed(range(depth))])


class MotionAutoencoder(HubModel):
    """CoAMD autoencoder: ``encode(joints (B,T,22,3)) -> (B, T//4, D)``, ``decode -> (B, 4L, 22, 3)``.

    Args:
        width: channels of the convolutional trunk (MARDM: 512).
        depth: residual blocks per ResNet1D (MARDM: 3).
        dilation_growth: dilation growth rate of the ResNet1D (MARDM: 3).
        latent_dim: width D of a latent token (CoAMD: 512).
        down_t: number of stride-2 downsamples (2 -> time / 4, the contract; keep it).
        loss_weights: weights of the J, B, M smooth-L1 terms.
    """

    def __init__(self, width: int = 512, depth: int = 3, dilation_growth: int = 3, latent_dim: int = 512,
                 down_t: int = 2, loss_weights: tuple[float, float, float] | list[float] = (1.0, 1.0, 1.0)):
        super().__init__()
        for name, v in (("width", width), ("depth", depth), ("dilation_growth", dilation_growth),
                        ("latent_dim", latent_dim), ("down_t", down_t)):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if len(loss_weights) != 3:
            raise ValueError(f"loss_weights needs 3 values (J, B, M), got {loss_weights}")
        self.latent_dim, self.down_t = int(latent_dim), int(down_t)
        self.downsample = 2**self.down_t
        self.loss_weights = tuple(float(w) for w in loss_weights)
        # normalisation of the three input streams, (3, 66); set by fit_normalization / set_stats
        self.register_buffer("stream_mean", torch.zeros(3, STREAM_DIM))
        self.register_buffer("stream_std", torch.ones(3, STREAM_DIM))
        self.register_buffer("loss_scale", torch.ones(3))  # per-stream scalar scale of ae_loss (metres)
        self.register_buffer("latent_scale", torch.ones(()))  # std of the latents (see module docstring)

        self.stream_proj = nn.ModuleList(nn.Conv1d(STREAM_DIM, width, 3, padding=1) for _ in range(3))
        self.fuse = nn.Conv1d(3 * width, width, 1)
        enc = []
        for _ in range(down_t):
            enc += [nn.Conv1d(width, width, 4, stride=2, padding=1), resnet1d(width, depth, dilation_growth)]
        self.encoder = nn.Sequential(*enc, nn.Conv1d(width, latent_dim, 3, padding=1))
        dec: list[nn.Module] = [nn.Conv1d(latent_dim, width, 3, padding=1), nn.ReLU()]
        for _ in range(down_t):
            dec += [resnet1d(width, depth, dilation_growth), nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv1d(width, width, 3, padding=1)]
        dec += [nn.Conv1d(width, width, 3, padding=1), nn.ReLU(), nn.Conv1d(width, STREAM_DIM, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> MotionAutoencoder:
        """Build from :data:`AE_PRESETS` (``tiny``, ``small``, ``base``), keyword overrides on top."""
        if name not in AE_PRESETS:
            raise ValueError(f"unknown autoencoder preset {name!r}; choose one of {sorted(AE_PRESETS)}")
        return cls(**{**AE_PRESETS[name], **overrides})

    # ---- input checks and normalisation -------------------------------------------------------------
    def _check_joints(self, joints, name: str = "joints") -> torch.Tensor:
        joints = check_tensor(joints, name, trailing=(NUM_JOINTS, 3))
        if joints.ndim != 4:
            raise ValueError(f"{name} must have shape (B, T, 22, 3), got {tuple(joints.shape)}")
        t = joints.shape[1]
        if t == 0 or t % self.downsample:
            raise ValueError(f"{name} needs a number of frames that is a positive multiple of "
                             f"{self.downsample}, got T={t}; crop or pad the clip")
        return joints.to(self.stream_mean.dtype)

    @torch.no_grad()
    def fit_normalization(self, joints_iterable: Iterable) -> None:
        """Set stream mean/std and ``loss_scale`` from unpadded clips ``(T, 22, 3)`` / ``(B, T, 22, 3)``."""
        total = sq = None
        count = 0
        for clip in joints_iterable:
            clip = check_tensor(clip, "joints", min_dim=3, trailing=(NUM_JOINTS, 3)).double()
            s = _input_streams(clip.cpu()).reshape(-1, 3, clip.shape[-3], STREAM_DIM)  # (N, 3, T, 66)
            s = rearrange(s, "n streams t c -> (n t) streams c")
            total = s.sum(0) if total is None else total + s.sum(0)
            sq = (s**2).sum(0) if sq is None else sq + (s**2).sum(0)
            count += s.shape[0]
        if count < 2:
            raise ValueError("fit_normalization needs at least 2 frames of motion")
        mean = total / count
        std = (sq / count - mean**2).clamp(min=0).sqrt()
        self.set_stats(mean, std)

    @torch.no_grad()
    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the stream statistics, each ``(3, 66)`` (J, B, M); std is floored at 1 mm."""
        mean, std = torch.as_tensor(mean), torch.as_tensor(std)
        if mean.shape != (3, STREAM_DIM) or std.shape != (3, STREAM_DIM):
            raise ValueError(f"mean and std must be (3, {STREAM_DIM}), "
                             f"got {tuple(mean.shape)}, {tuple(std.shape)}")
        std = std.clamp(min=1e-3)
        self.stream_mean.copy_(mean)
        self.stream_std.copy_(std)
        self.loss_scale.copy_(std.mean(dim=1))

    @torch.no_grad()
    def fit_latent_scale(self, joints_iterable: Iterable) -> float:
        """Set ``latent_scale`` to the std of the latents of the given clips (each ``(B, T, 22, 3)``)."""
        s = sq = 0.0
        n = 0
        for clip in joints_iterable:
            z = self.encode(clip).double()
            s, sq, n = s + z.sum().item(), sq + (z**2).sum().item(), n + z.numel()
        if n < 2:
            raise ValueError("fit_latent_scale needs at least one clip")
        std = max((sq / n - (s / n) ** 2) ** 0.5, 1e-6)
        self.latent_scale.fill_(std)
        return std

    # ---- encoder / decoder --------------------------------------------------------------------------
    def encode(self, joints: torch.Tensor, scaled: bool = False) -> torch.Tensor:
        """Absolute joints ``(B, T, 22, 3)`` (T a multiple of 4) -> latents ``(B, T // 4, D)``.

        The absolute XZ position is dropped (see the module docstring); ``scaled`` divides by
        ``latent_scale``.
        """
        joints = self._check_joints(joints)
        x = (_input_streams(joints) - self.stream_mean[:, None]) / self.stream_std[:, None]  # (B, 3, T, 66)
        x = x.transpose(-1, -2)  # (B, 3, 66, T): channels-first for Conv1d
        h = torch.cat([proj(x[:, k]) for k, proj in enumerate(self.stream_proj)], dim=1)  # (B, 3*width, T)
        h = self.fuse(F.relu(h))  # (B, width, T)
        z = self.encoder(F.relu(h)).transpose(1, 2)  # (B, D, T/4) -> (B, T/4, D)
        return z / self.latent_scale if scaled else z

    def decode(self, latents: torch.Tensor, scaled: bool = False,
               origin: torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``(B, L, D)`` -> absolute joints ``(B, 4L, 22, 3)``.

        The root starts at XZ = 0 on frame 0 unless ``origin`` ``(B, 3)`` is given. ``scaled``
        multiplies the latents by ``latent_scale`` first (inverse of ``encode(..., scaled=True)``).
        """
        latents = check_tensor(latents, "latents", min_dim=3, trailing=(self.latent_dim,))
        if latents.ndim != 3 or latents.shape[1] == 0:
            raise ValueError(f"latents must have shape (B, L>0, {self.latent_dim}), "
                             f"got {tuple(latents.shape)}")
        z = latents * self.latent_scale if scaled else latents
        y = self.decoder(z.transpose(1, 2)).transpose(1, 2)  # (B, 4L, 66) normalised J stream
        j_stream = y * self.stream_std[0] + self.stream_mean[0]
        return from_local(j_stream.unflatten(-1, (NUM_JOINTS, 3)), origin)

    def loss(self, pred_joints: torch.Tensor, target_joints: torch.Tensor,
             mask: torch.Tensor | None = None) -> AELoss:
        """:func:`ae_loss` with this model's fitted ``loss_scale`` and ``loss_weights``."""
        return ae_loss(pred_joints, target_joints, mask, scale=self.loss_scale, weights=self.loss_weights)

    def forward(self, joints: torch.Tensor, mask: torch.Tensor | None = None) -> AEOutput:
        """Reconstruct ``joints (B, T, 22, 3)`` (T a multiple of 4) and score it against the input.

        ``mask (B, T)`` (True = valid) only restricts the loss; for exact reconstructions of padded
        batches, encode each clip on its own.
        """
        joints = self._check_joints(joints)
        z = self.encode(joints)
        _, origin = to_local(joints[:, :1])
        recon = self.decode(z, origin=origin)
        return AEOutput(joints=recon, latents=z, loss=self.loss(recon, joints, mask))
