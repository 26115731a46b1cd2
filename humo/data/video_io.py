"""Read a video file into the grayscale clip a MotionDuet video encoder takes.

``read_video_clip(path, frames, size) -> (frames, size, size)`` float32 in ``[0, 1]``: every frame is
turned to grey (ITU-R 601 luma), centre-cropped to a square, area-resized to ``size``; ``frames`` frames
are taken evenly over the whole video. humo's video encoders were trained on stick figures drawn bright on
a dark background (:func:`humo.models.motionduet.video.render_stick_videos`), so a clip whose
background is bright (the median pixel above 0.5, as in ``humo render`` output) is inverted. A video of
a real person is outside what these encoders saw: it is read, but expect little from it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov", ".avi", ".mkv")


def read_video_clip(path: str | Path, frames: int = 16, size: int = 64) -> torch.Tensor:
    """The clip ``(frames, size, size)`` of the video at ``path`` (see the module docstring).

    Raises:
        FileNotFoundError: no such file; ValueError: not a readable video, or no frames.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} not found")
    if frames < 1 or size < 4:
        raise ValueError(f"need frames >= 1 and size >= 4, got {frames}, {size}")
    try:
        raw = iio.imread(path, index=None)  # (N, H, W[, C]) uint8
    except Exception as e:  # noqa: BLE001 - the decoders raise many types; name the file and the cause
        raise ValueError(f"cannot read video {path}: {e}") from None
    x = torch.as_tensor(raw)
    if x.ndim == 3:  # one colour image (H, W, C), or grayscale frames (N, H, W)
        x = x.unsqueeze(0) if x.shape[-1] in (3, 4) else x.unsqueeze(-1)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"video {path} has no frames (shape {tuple(x.shape)})")
    x = x.float() / 255.0
    if x.shape[-1] >= 3:
        x = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]  # (N, H, W)
    else:
        x = x[..., 0]
    idx = torch.linspace(0, x.shape[0] - 1, frames).round().long()
    x = x[idx]
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[:, top:top + side, left:left + side]
    x = F.interpolate(x.unsqueeze(1), size=(size, size), mode="area").squeeze(1)
    if float(x.median()) > 0.5:  # bright background: the figure must be the bright part
        x = 1.0 - x
    return x.clamp(0.0, 1.0).contiguous()
