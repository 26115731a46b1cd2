"""Write a trained MotionDuet run as the bundled pipeline folder (``humo/assets/motionduet-merged-compact``).

    python scripts/bundle_motionduet.py RUN/final humo/assets/motionduet-merged-compact --cfg 4 \
        --card docs/models-motionduet.md

The folder gets ``model/`` (config.json + model.safetensors, the autoencoder included), ``pipeline.json``
(fps, DDIM scheduler, the default guidance chosen by measurement), the CoAMD bundle's ``skeleton.json``
(both bundled models put their output on the same fixed skeleton) and the model card as ``README.md``.
The destination is replaced only after the new folder is complete.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from humo.models.hub import BUNDLED_MODEL
from humo.models.motionduet.video import BUNDLED_VIDEO_ENCODERS
from humo.pipelines.cleanup import SKELETON_FILE, MotionCleanup
from humo.pipelines.motionduet import MotionDuet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a MotionDuet training run's final/ (or a saved pipeline)")
    ap.add_argument("dest", type=Path)
    ap.add_argument("--cfg", type=float, required=True, help="default CFG scale (from the guidance sweep)")
    ap.add_argument("--cfg-rescale", type=float, default=0.0)
    ap.add_argument("--video-scale", type=float, default=None,
                    help="the video's own CFG weight where a video is given (video models; default: none)")
    ap.add_argument("--card", type=Path, required=True, help="model card markdown, copied as README.md")
    args = ap.parse_args()
    pipe = MotionDuet.from_pretrained(args.run)
    pipe.cleanup = MotionCleanup.from_folder(BUNDLED_MODEL, fps=pipe.fps)
    pipe.DEFAULT_CFG, pipe.DEFAULT_CFG_RESCALE = args.cfg, args.cfg_rescale
    if args.video_scale is not None:
        if not pipe.model.video_dim:
            raise SystemExit("--video-scale: this MotionDuet model is text-only")
        pipe.DEFAULT_VIDEO_SCALE = args.video_scale
    tmp = args.dest.with_name(args.dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    assert (tmp / SKELETON_FILE).is_file()
    shutil.copyfile(args.card, tmp / "README.md")
    enc = tmp / "video_encoder" / "model.safetensors"
    for known in BUNDLED_VIDEO_ENCODERS.values():  # a bundled encoder keeps its own model card
        if enc.is_file() and enc.read_bytes() == (known / "model.safetensors").read_bytes():
            shutil.copyfile(known / "README.md", enc.parent / "README.md")
    if args.dest.exists():
        shutil.rmtree(args.dest)
    tmp.rename(args.dest)
    size = sum(p.stat().st_size for p in args.dest.rglob("*") if p.is_file())
    print(f"wrote {args.dest} ({size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
