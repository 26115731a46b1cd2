"""scripts/motionduet_ablation.py: the reference videos its rows are conditioned on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("motionduet_ablation", REPO / "scripts" / "motionduet_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Encoder:
    """Encodes a clip as its first joint coordinate, so a feature names the segment it came from."""

    def encode_motion(self, joints: torch.Tensor) -> torch.Tensor:
        return joints[:, :1, 0, :1]  # (1, 1, 1)


def test_reference_videos_match_mismatch_and_another_clip_of_the_action():
    # four segments: two walks (w1, w2), a wave, a third walk sharing w1's caption
    segments = [("w1", "walk", ["a person walks", "someone walks"]), ("w2", "walk", ["a man walks"]),
                ("v1", "wave", ["a person waves"]), ("w3", "walk", ["a person walks"])]
    data = [{"id": f"{sid}#0", "texts": texts, "joints": torch.full((5, 22, 3), float(i))}
            for i, (sid, _, texts) in enumerate(segments)]
    actions = {sid: action for sid, action, _ in segments}
    matched, mismatched, same = _script().reference_videos(data, _Encoder(), "cpu", actions)

    def seg(table, caption):
        return int(table[caption].item())

    assert seg(matched, "a person walks") == 0  # the first segment carrying the caption
    assert seg(matched, "a man walks") == 1 and seg(matched, "a person waves") == 2
    for caption in ("a person walks", "someone walks", "a man walks"):
        assert segments[seg(mismatched, caption)][1] == "wave"  # another action
        other = seg(same, caption)
        assert segments[other][1] == "walk" and other != seg(matched, caption)  # another clip of the action
    assert segments[seg(mismatched, "a person waves")][1] == "walk"
    assert seg(same, "a person waves") == 2  # the only wave: its own clip
