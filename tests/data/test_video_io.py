"""Reading a video file into an encoder clip: a stick-figure render written as mp4 / gif reads back as the
same clip (either polarity), and bad files fail with the file named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humo.data.video_io import read_video_clip
from humo.models.motionduet.video import render_stick_videos
from tests.helpers import synthetic_joints


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return render_stick_videos(synthetic_joints(frames=40, seed=0).float(), frames=16, size=64)[0]  # (16, 64, 64)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
@pytest.mark.parametrize("bright_background", [False, True])
def test_a_written_render_reads_back(clip, tmp_path, suffix, bright_background):
    import imageio.v3 as iio

    frames = clip if not bright_background else 1.0 - clip
    rgb = (frames[..., None].expand(-1, -1, -1, 3).numpy() * 255).round().astype(np.uint8)
    rgb = np.pad(rgb, ((0, 0), (0, 0), (32, 32), (0, 0)), constant_values=255 if bright_background else 0)  # 64x128
    path = tmp_path / f"v{suffix}"
    kw = {"fps": 8, "macro_block_size": 1} if suffix == ".mp4" else {"duration": 125}
    iio.imwrite(path, rgb, **kw)
    back = read_video_clip(path, frames=16, size=64)
    assert back.shape == (16, 64, 64) and back.dtype == torch.float32
    assert 0.0 <= float(back.min()) and float(back.max()) <= 1.0
    assert float((back - clip).abs().mean()) < 0.03  # compression and the 601 luma only


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video_clip(tmp_path / "nope.mp4")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00 not a video")
    with pytest.raises(ValueError, match="broken.mp4"):
        read_video_clip(bad)
    with pytest.raises(ValueError, match="frames >= 1"):
        read_video_clip(bad, frames=0)
