"""Stick-figure rendering of joint motions with matplotlib (Agg, no display).

Joints are ``(T, J, 3)`` in metres with **Y up** (SMPL-22 by default). Each panel shows one motion
from a camera that follows the root: a ground plane with a 0.5 m grid (drawn at the motion's
lowest point, sliding under the character as it moves), the root trajectory on the ground (all of
it faint, the part walked so far solid), left limbs blue, right limbs red, spine/head dark grey,
and a wrapped caption on top. One figure is built per call and only line data changes per frame.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from humo.data.atomic import atomic_write, check_cancelled, signals_deferred
from humo.representations._checks import check_tensor
from humo.representations.skeleton import SMPL22, Skeleton, get_skeleton

LEFT_COLOR = "#1f6fd1"  # blue
RIGHT_COLOR = "#d62728"  # red
SPINE_COLOR = "#333333"  # dark grey
TRAJ_COLOR = "#2ca02c"  # green
GROUND_COLOR = "#e6e6e6"
GRID_COLOR = "#b0b0b0"

VIDEO_SUFFIXES = (".mp4", ".gif")
_DPI = 80
_GRID_STEP = 0.5  # metres between grid lines
_TITLE_PX = 48  # strip above each panel reserved for the caption
_BELOW = 0.3  # empty box height below the floor (fraction of the pose height): lifts the figure up
MAX_BODY_M = 5.0  # a skeleton larger than this in one frame is not a human in metres
MAX_RISE_M = 100.0  # vertical range of a whole motion (floor to highest joint)
_MAX_GRID_LINES = 40  # per axis and frame


def check_plausible(m: np.ndarray, name: str) -> None:
    """Refuse joints ``(T, J, 3)`` no human in metres could have (a 20 km tall figure from a broken
    generation, centimetres passed as metres), instead of drawing them for minutes."""
    if not np.isfinite(m).all():
        raise ValueError(f"{name} contains NaN or inf values")
    size = float((m.max(axis=1) - m.min(axis=1)).max())  # largest per-frame extent over x, y, z
    rise = float(m[..., 1].max() - m[..., 1].min())
    if size > MAX_BODY_M or rise > MAX_RISE_M:
        raise ValueError(f"{name}: the skeleton spans {size:.3g} m in one frame and {rise:.3g} m vertically "
                         f"over the motion (a person is about 2 m tall; at most {MAX_BODY_M:g} m and "
                         f"{MAX_RISE_M:g} m are drawn): not joints in metres, or a broken motion")


def _as_motions(joints, skeleton: Skeleton) -> list[np.ndarray]:
    """Validate joints: one ``(T, J, 3)``, a batch ``(B, T, J, 3)`` or a list -> list of float arrays."""
    items = list(joints) if isinstance(joints, (list, tuple)) else [joints]
    if not items:
        raise ValueError("joints: got an empty list of motions")
    motions: list[np.ndarray] = []
    for i, x in enumerate(items):
        name = "joints" if len(items) == 1 else f"joints[{i}]"
        if isinstance(x, np.ndarray):
            x = np.ascontiguousarray(x)  # torch rejects negative strides (e.g. a[::-1])
        x = check_tensor(x, name, min_dim=3, trailing=(skeleton.num_joints, 3), min_frames=1, frame_dim=-3)
        if x.ndim == 4:  # a batch (B, T, J, 3): one panel per item
            motions.extend(m.detach().cpu().double().numpy() for m in x)
        elif x.ndim == 3:
            motions.append(x.detach().cpu().double().numpy())
        else:
            raise ValueError(f"{name} must be (T, {skeleton.num_joints}, 3) or a batch, got {tuple(x.shape)}")
    for i, m in enumerate(motions):
        check_plausible(m, "joints" if len(motions) == 1 else f"joints[{i}]")
    return motions


def _as_titles(titles, n: int) -> list[str | None]:
    if titles is None:
        return [None] * n
    if isinstance(titles, str):
        titles = [titles]
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"titles: got {len(titles)} titles for {n} motions")
    return titles


def _wrap(text: str | None, width_px: int, max_lines: int = 3) -> str:
    if not text:
        return ""
    lines = textwrap.wrap(text, width=max(10, width_px // 6))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return "\n".join(lines)


class _Scene:
    """One figure with a row of 3-D panels; ``draw(frames)`` poses each panel and returns RGB pixels.

    Each panel ``p`` shows ``motions[p]`` (any number of panels may share a motion, as in contact
    sheets). Artists are created once; drawing a frame only updates their data and the view window.
    """

    def __init__(self, motions: list[np.ndarray], skeleton: Skeleton, titles: list[str | None],
                 suptitle: str | None, panel_size: tuple[int, int], fps: float):
        # Figure + Agg canvas directly (not pyplot): no display, no global backend switch.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)
        from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

        w, h = panel_size
        if w < 64 or h < 64:
            raise ValueError(f"panel_size must be at least 64x64 pixels, got {panel_size}")
        n = len(motions)
        top = _TITLE_PX if suptitle else 0
        self.fig = Figure(figsize=(w * n / _DPI, (h + top) / _DPI), dpi=_DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        H = h + top
        if suptitle:
            self.fig.text(0.5, 1 - 4 / H, _wrap(suptitle, w * n, max_lines=2), ha="center", va="top",
                          fontsize=10)
        for p in range(1, n):  # thin separators, so neighbouring grounds do not run together
            self.fig.add_artist(Line2D([p / n, p / n], [0, h / H], color="#c8c8c8", lw=1.0))
        self.motions = motions
        self.chains = skeleton.chains
        self.panels = []
        for p, (m, title) in enumerate(zip(motions, titles, strict=True)):
            # Axis rectangle in figure fractions; the caption strip (if any) sits above it.
            ax = self.fig.add_axes((p / n, 0.0, 1 / n, (h - (_TITLE_PX if title else 0)) / H),
                                   projection="3d", computed_zorder=False)
            floor = float(m[..., 1].min())
            height = float(m[..., 1].max()) - floor
            radius = max(1.0, 0.6 * height)  # half-width of the ground window (metres)
            top_y = max(1.0, 1.1 * height)  # box height: the tallest pose plus a margin
            ax.set_axis_off()
            ax.set_proj_type("persp", focal_length=2.0)  # mild perspective (FOV ~53 deg)
            ax.view_init(elev=18, azim=-58)  # data +Z (the canonical facing) is mpl -Y: a front 3/4 view
            # box sides proportional to the limits: equal metres on all axes
            ax.set_box_aspect((2 * radius, 2 * radius, (1 + _BELOW) * top_y), zoom=1.55)
            if title:
                self.fig.text((p + 0.5) / n, (h - 0.5 * _TITLE_PX) / H, _wrap(title, w), ha="center",
                              va="center", fontsize=9)
            ground = Poly3DCollection([np.zeros((4, 3))], facecolor=GROUND_COLOR, edgecolor="none",
                                      alpha=0.9, zorder=0)
            ax.add_collection3d(ground, autolim=False)
            grid = Line3DCollection([], colors=GRID_COLOR, linewidths=0.8, zorder=1)
            ax.add_collection3d(grid, autolim=False)
            traj = m[:, 0, [0, 2]]
            traj_all = ax.plot([], [], [], color=TRAJ_COLOR, lw=1.2, alpha=0.35, zorder=2)[0]
            traj_past = ax.plot([], [], [], color=TRAJ_COLOR, lw=2.0, zorder=3)[0]
            # One collection of polylines (one per chain; colour by the chain's end joint): few artists
            # keep drawing fast.
            colours = [LEFT_COLOR if skeleton.joint_names[c[-1]].startswith("left") else
                       RIGHT_COLOR if skeleton.joint_names[c[-1]].startswith("right") else SPINE_COLOR
                       for c in skeleton.chains]
            limbs = Line3DCollection([], colors=colours, linewidths=3.0, capstyle="round",
                                     joinstyle="round", zorder=4)
            ax.add_collection3d(limbs, autolim=False)
            label = ax.text2D(0.02, 0.98, "", transform=ax.transAxes, ha="left", va="top", fontsize=8,
                              color="#555555")
            self.panels.append(dict(ax=ax, floor=floor, radius=radius, top_y=top_y, ground=ground, grid=grid,
                                    traj=traj, traj_all=traj_all, traj_past=traj_past, limbs=limbs,
                                    label=label))
        self.fps = fps

    def draw(self, frames: Sequence[int]) -> np.ndarray:
        """Pose panel ``p`` at frame ``frames[p]`` (clamped: shorter motions hold their last frame)."""
        for panel, m, t in zip(self.panels, self.motions, frames, strict=True):
            t = min(max(int(t), 0), len(m) - 1)
            self._pose(panel, m, t)
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def _pose(self, panel: dict, m: np.ndarray, t: int) -> None:
        ax, y0, r = panel["ax"], panel["floor"], panel["radius"]
        cx, cz = m[t, 0, 0], m[t, 0, 2]
        # mpl axes are (X, Y, Z) = (x, -z, y): keeps the data's right-handed frame with Y up.
        ax.set_xlim(cx - r, cx + r)
        ax.set_ylim(-cz - r, -cz + r)
        ax.set_zlim(y0 - _BELOW * panel["top_y"], y0 + panel["top_y"])
        x0, x1, z0, z1 = cx - r, cx + r, cz - r, cz + r
        panel["ground"].set_verts([[(x0, -z0, y0), (x1, -z0, y0), (x1, -z1, y0), (x0, -z1, y0)]])
        step = max(_GRID_STEP, 2 * r / _MAX_GRID_LINES)
        xs = np.arange(np.ceil(x0 / step), np.floor(x1 / step) + 1) * step
        zs = np.arange(np.ceil(z0 / step), np.floor(z1 / step) + 1) * step
        panel["grid"].set_segments([[(x, -z0, y0), (x, -z1, y0)] for x in xs]
                                   + [[(x0, -z, y0), (x1, -z, y0)] for z in zs])
        # Root trajectory on the floor, cut to the view window (NaN breaks the line outside it).
        traj = panel["traj"].copy()
        outside = (np.abs(traj[:, 0] - cx) > r) | (np.abs(traj[:, 1] - cz) > r)
        traj[outside] = np.nan
        floor = np.full(len(traj), y0 + 1e-3)
        panel["traj_all"].set_data_3d(traj[:, 0], -traj[:, 1], floor)
        panel["traj_past"].set_data_3d(traj[: t + 1, 0], -traj[: t + 1, 1], floor[: t + 1])
        panel["limbs"].set_segments([m[t, list(chain)][:, [0, 2, 1]] * (1, -1, 1) for chain in self.chains])
        panel["label"].set_text(f"{t / self.fps:.2f} s  ({t + 1}/{len(m)})")

    def close(self) -> None:
        self.fig.clear()


def render_frames(joints, frames: Sequence[int] | None = None, *, titles=None, fps: float = 20.0,
                  skeleton: str | Skeleton = SMPL22, panel_size: tuple[int, int] = (320, 352)) -> np.ndarray:
    """Render motions side by side and return the frames as pixels.

    Args:
        joints: ``(T, J, 3)`` or a list of such (any lengths), or a batch ``(B, T, J, 3)``; Y up, metres.
        frames: frame indices to render; default every frame of the longest motion (shorter motions
            hold their last frame).
        titles: one caption per motion (wrapped above its panel), or None.
        fps: frame rate, only used for the time label.
        skeleton: the skeleton (``"smpl22"`` default, or ``"kit21"``).
        panel_size: (width, height) in pixels of one panel.

    Returns:
        uint8 array ``(N, H, W, 3)`` with ``W = width * len(motions)``.
    """
    return np.stack(list(_iter_frames(joints, frames, titles, fps, skeleton, panel_size)))


def _iter_frames(joints, frames, titles, fps, skeleton, panel_size) -> Iterator[np.ndarray]:
    skeleton = get_skeleton(skeleton)
    motions = _as_motions(joints, skeleton)
    titles = _as_titles(titles, len(motions))
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    scene = _Scene(motions, skeleton, titles, None, panel_size, float(fps))
    frames = list(range(max(len(m) for m in motions)) if frames is None else frames)
    if not frames:
        raise ValueError("frames: got an empty list of frame indices")
    try:
        for t in frames:
            yield scene.draw([t] * len(motions))
    finally:
        scene.close()


def _check_out(path, suffixes: tuple[str, ...], overwrite: bool) -> Path:
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; use one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    return path


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """Looping GIF with one shared palette (from the first, middle and last frames), no dithering:
    ~6x faster than per-frame adaptive palettes, smaller, and stable colours across frames."""
    from PIL import Image

    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]])
    palette = Image.fromarray(sample).quantize(colors=96, method=Image.Quantize.MEDIANCUT,
                                               dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps,
                   loop=0)


def render_video(joints, path, fps: float = 20.0, *, titles=None, overwrite: bool = False,
                 skeleton: str | Skeleton = SMPL22, panel_size: tuple[int, int] = (320, 352),
                 progress=None) -> Path:
    """Write motions side by side to an ``.mp4`` (H.264 via imageio-ffmpeg) or ``.gif``.

    Args:
        joints: ``(T, J, 3)``, a list of them (different lengths: shorter ones hold their last frame) or a
            batch ``(B, T, J, 3)``; Y up, metres.
        path: output file; the suffix picks the format. Existing files are kept unless ``overwrite``.
        fps: playback frame rate.
        titles: one caption per motion, or None.
        progress: called as ``progress(frames_done, frames_total)`` after each frame, or None.

    Returns:
        the path written.

    Raises:
        ValueError: bad shapes, NaN, or coordinates no person in metres could have
            (:func:`check_plausible`).
    """
    import imageio.v2 as iio

    path = _check_out(path, VIDEO_SUFFIXES, overwrite)
    total = max(len(m) for m in _as_motions(joints, get_skeleton(skeleton)))
    frames = _cancellable(_iter_frames(joints, None, titles, fps, skeleton, panel_size))
    if progress is not None:
        frames = _report(frames, total, progress)

    def write(tmp: Path) -> None:
        if path.suffix.lower() == ".gif":
            _write_gif(tmp, list(frames), fps)
        else:
            # ffmpeg starts at the first frame and stops at close: an interrupt is held back during both (and
            # each frame's write) so the process is never orphaned; it is raised right after
            with signals_deferred():
                writer = iio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                                        macro_block_size=2, ffmpeg_log_level="error")
            try:
                for frame in frames:  # H.264 (yuv420p) needs even sizes: pad with white, never rescale
                    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
                    with signals_deferred():
                        writer.append_data(np.pad(frame, pad, constant_values=255))
            finally:
                with signals_deferred():
                    writer.close()

    return atomic_write(path, write, overwrite=overwrite)


def _cancellable(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Stop between frames once a Ctrl-C / SIGTERM has been seen (:data:`humo.data.atomic.CANCEL`), even if
    the first ``Interrupted`` was swallowed inside a library call: a long render never runs to its end."""
    for frame in frames:
        check_cancelled()
        yield frame


def _report(frames: Iterator[np.ndarray], total: int, progress) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames, 1):
        yield frame
        progress(i, total)


def render_contact_sheet(joints, path, n_frames: int = 8, *, titles=None, fps: float = 20.0,
                         overwrite: bool = False, skeleton: str | Skeleton = SMPL22,
                         panel_size: tuple[int, int] = (240, 264)) -> Path:
    """Write a PNG grid: one row per motion (caption above it), ``n_frames`` evenly spaced frames each.

    Args:
        joints: ``(T, J, 3)``, a list of them or a batch ``(B, T, J, 3)``; Y up, metres.
        path: output ``.png``; existing files are kept unless ``overwrite``.
        n_frames: columns per row (frames from first to last, evenly spaced).
        titles: one caption per motion (row), or None.
    """
    import imageio.v2 as iio

    path = _check_out(path, (".png",), overwrite)
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    skeleton = get_skeleton(skeleton)
    motions = _as_motions(joints, skeleton)
    titles = _as_titles(titles, len(motions))
    rows = []
    for m, title in zip(motions, titles, strict=True):
        scene = _Scene([m] * n_frames, skeleton, [None] * n_frames, title, panel_size, float(fps))
        rows.append(scene.draw(np.linspace(0, len(m) - 1, n_frames).round().astype(int).tolist()))
        scene.close()
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                            for r in rows])
    return atomic_write(path, lambda tmp: iio.imwrite(tmp, sheet), overwrite=overwrite)
