"""Rendering of joint motions: side-by-side videos (mp4/gif), contact sheets (png), raw frames."""

from humo.viz.render import render_contact_sheet, render_frames, render_video

__all__ = ["render_contact_sheet", "render_frames", "render_video"]
