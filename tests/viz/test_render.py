import imageio.v2 as iio
import numpy as np
import pytest
import torch

from humo.viz import render_contact_sheet, render_frames, render_video
from humo.viz.render import LEFT_COLOR, RIGHT_COLOR, SPINE_COLOR, TRAJ_COLOR
from tests.helpers import synthetic_joints

SMALL = (128, 144)  # tiny panels keep the tests fast (multiples of 16 for H.264)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return synthetic_joints(frames=8, dtype=torch.float32)


def _mask(img: np.ndarray, hex_colour: str, tol: int = 40) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(img.astype(int) - rgb).max(-1) < tol


def _count_colour(img: np.ndarray, hex_colour: str) -> int:
    return int(_mask(img, hex_colour).sum())


def test_render_frames_shape_and_colours(clip):
    frames = render_frames(clip, panel_size=(160, 176))
    assert frames.shape == (8, 176, 160, 3) and frames.dtype == np.uint8
    for colour in (LEFT_COLOR, RIGHT_COLOR, SPINE_COLOR, TRAJ_COLOR):
        assert _count_colour(frames[-1], colour) > 10, colour
    assert not np.array_equal(frames[0], frames[-1])  # the pose changes


def test_not_mirrored(clip):
    """A body facing the camera (canonical +Z) shows its left limbs on the viewer's right."""
    img = render_frames(clip[:1], panel_size=(160, 176))[0]
    left_cols = np.nonzero(_mask(img, LEFT_COLOR))[1]
    right_cols = np.nonzero(_mask(img, RIGHT_COLOR))[1]
    assert left_cols.mean() > right_cols.mean() + 5


def test_render_frames_side_by_side_holds_last_frame(clip):
    short = clip[:5]
    frames = render_frames([clip, short.numpy()], titles=["long", "short"], panel_size=SMALL)
    w = SMALL[0]
    assert frames.shape == (8, SMALL[1], 2 * w, 3)
    right = frames[:, :, w:]
    assert np.array_equal(right[4], right[7])  # the 5-frame motion holds its last frame
    assert not np.array_equal(right[3], right[4])
    assert not np.array_equal(frames[4, :, :w], frames[7, :, :w])  # while the long one still moves


def test_render_frames_selected_frames_and_batch(clip):
    batch = torch.stack([clip, clip.flip(0)])  # (B, T, 22, 3) -> two panels
    frames = render_frames(batch, frames=[0, 7], panel_size=SMALL)
    assert frames.shape == (2, SMALL[1], 2 * SMALL[0], 3)


def test_render_video_gif_and_mp4(clip, tmp_path):
    gif = render_video(clip, tmp_path / "a.gif", fps=20, titles="a person walks", panel_size=SMALL)
    assert gif.stat().st_size > 0
    assert len(iio.mimread(gif)) == 8
    mp4 = render_video([clip, clip[:3]], tmp_path / "a.mp4", fps=20, panel_size=SMALL)
    assert mp4.stat().st_size > 0
    video = iio.mimread(mp4, memtest=False)
    assert len(video) == 8 and video[0].shape == (SMALL[1], 2 * SMALL[0], 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.mp4"]  # no temp files left


def test_contact_sheet(clip, tmp_path):
    path = render_contact_sheet([clip, clip[:4]], tmp_path / "s.png", n_frames=3, titles=["one", "two"],
                                panel_size=SMALL)
    sheet = iio.imread(path)
    assert sheet.shape[1] == 3 * SMALL[0]
    assert sheet.shape[0] > 2 * SMALL[1]  # two rows, each with a caption strip
    assert _count_colour(sheet, LEFT_COLOR) > 10 and _count_colour(sheet, RIGHT_COLOR) > 10


def test_never_overwrites_without_permission(clip, tmp_path):
    path = tmp_path / "s.png"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="already exists"):
        render_contact_sheet(clip, path, n_frames=2, panel_size=SMALL)
    gif = tmp_path / "v.gif"
    gif.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        render_video(clip, gif, panel_size=SMALL)
    assert path.read_bytes() == b"keep" and gif.read_bytes() == b"keep"
    render_contact_sheet(clip, path, n_frames=2, panel_size=SMALL, overwrite=True)
    assert iio.imread(path).ndim == 3


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(8, 21, 3), r"\(\.\.\., 22, 3\)"),
    (torch.full((8, 22, 3), float("nan")), "NaN"),
    (torch.zeros(22, 3), "at least 3 dims"),
    (torch.zeros(8, 22, 3, dtype=torch.int64), "floating-point"),
    ([], "empty"),
])
def test_bad_joints(bad, match):
    with pytest.raises(ValueError, match=match):
        render_frames(bad, panel_size=SMALL)


def test_bad_arguments(clip, tmp_path):
    with pytest.raises(ValueError, match="unsupported suffix"):
        render_video(clip, tmp_path / "a.avi")
    with pytest.raises(ValueError, match="2 titles for 1 motions"):
        render_frames(clip, titles=["a", "b"])
    with pytest.raises(ValueError, match="empty list of frame"):
        render_frames(clip, frames=[])
    with pytest.raises(ValueError, match="n_frames"):
        render_contact_sheet(clip, tmp_path / "a.png", n_frames=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_video(clip, tmp_path / "missing" / "a.gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_render_stops_between_frames_once_cancelled(clip, tmp_path, suffix):
    """A cancel seen mid-render (the CLI's SIGTERM handler sets it) stops the frame loop at the next frame
    even if the first Interrupted was swallowed somewhere, and leaves no file behind."""
    from humo.data.atomic import CANCEL, Interrupted

    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 3:
            CANCEL.set()  # as if the signal's exception had been swallowed by a library call

    try:
        with pytest.raises(Interrupted):
            render_video(clip, tmp_path / f"x{suffix}", progress=progress)
    finally:
        CANCEL.clear()
    assert max(seen) == 3 and list(tmp_path.iterdir()) == []
