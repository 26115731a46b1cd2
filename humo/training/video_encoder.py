"""Train the stick-figure video encoder (:class:`humo.models.motionduet.video_learned.LearnedVideoEncoder`).

Contrastive video <-> caption: each step takes a batch of corpus segments, crops each to a random window
(``min_frames`` .. its length), scales the body by a random factor (``scale_range``: people of other sizes)
and renders it from a random camera yaw (any direction), then pulls the clip's embedding towards the
frozen sentence embedding of one of its captions and away from the batch's other captions (InfoNCE both
ways; segments of a batch that share the drawn caption are positives of each other).

A caption says *what* is done, not *how*: trained on captions alone, the clip features carry the
caption's information and little else (a second, noisier text embedding). With ``motion_weight > 0`` a
second InfoNCE term pulls the clip towards the **motion it shows** and away from the batch's other
motions, same action included: a small temporal-convolution tower (:class:`MotionTower`, a training
auxiliary, not saved with the encoder) embeds the crop's normalised HumanML3D features (heading-free, so
the random camera yaw hides nothing it needs), and the clip's pooled tokens go through their own linear
head. Telling two walks apart needs their pace, stride and arm swing, so the tokens that MotionDuet reads
learn those. Runs through
:mod:`humo.training.engine` (resumable ``checkpoint/``, ``final/`` = ``save_pretrained``).

:func:`video_text_retrieval` measures what it learned: test clips rendered from a fixed 3/4 view, each
clip's caption ranked among those of its batch (shuffled batches of 32, the T2M protocol's layout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from humo.models.motionduet.video_learned import LearnedVideoEncoder
from humo.representations.masks import lengths_to_mask
from humo.training.common import save_final
from humo.training.engine import TrainConfig, fit
from humo.training.motionduet import PairCache, build_cache, pad_clips


@dataclass
class VideoEncoderTrainResult:
    """The trained ``model``, the ``step`` reached, ``seconds`` of this call, ``history`` and ``final_dir``."""

    model: LearnedVideoEncoder
    step: int
    seconds: float
    final_dir: Path
    history: list[dict] = field(default_factory=list)


class MotionTower(nn.Module):
    """Normalised HumanML3D features ``(B, T, feature_dim)`` + ``lengths (B,)`` -> unit embeddings
    ``(B, embed_dim)``: three 1-D convolutions (time /4), masked mean over the valid frames, a linear head."""

    def __init__(self, feature_dim: int = 263, width: int = 128, embed_dim: int = 384):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv1d(feature_dim, width, 5, padding=2), nn.GELU(),
                                   nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
                                   nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU())
        self.head = nn.Linear(width, embed_dim)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.convs(features.transpose(1, 2))  # (B, W, ceil(T / 4))
        keep = lengths_to_mask(((lengths + 3) // 4).clamp(1, h.shape[-1]), h.shape[-1]).to(h.dtype)  # (B, T/4)
        pooled = (h * keep[:, None]).sum(-1) / keep.sum(-1, keepdim=True)
        return F.normalize(self.head(pooled), dim=-1)


class _VideoMotionPair(nn.Module):
    """What the engine trains when ``motion_weight > 0``: the encoder, the motion tower, the clip's
    motion head and a second temperature."""

    def __init__(self, encoder: LearnedVideoEncoder, feature_dim: int, temperature: float = 0.07):
        super().__init__()
        self.encoder = encoder
        self.tower = MotionTower(feature_dim, embed_dim=encoder.embed_dim)
        self.video_head = nn.Linear(encoder.dim, encoder.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def video_motion(self, tokens: torch.Tensor) -> torch.Tensor:
        """Clip tokens ``(B, Lv, dim)`` -> unit embeddings in the motion tower's space ``(B, embed_dim)``."""
        return F.normalize(self.video_head(tokens.mean(1)), dim=-1)


class _Clips:
    """Engine source over a :class:`PairCache`: a random crop of a segment's joints (and its feature rows)
    and one caption."""

    def __init__(self, data: PairCache, min_frames: int, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None):
        self.data, self.min_frames, self.mean, self.std = data, min_frames, mean, std

    def __len__(self) -> int:
        return len(self.data)

    def item(self, index: int, generator: torch.Generator) -> dict:
        joints = self.data.joints[index]
        t = joints.shape[0]
        lo = min(self.min_frames, t)
        n = int(torch.randint(lo, t + 1, (1,), generator=generator))
        start = int(torch.randint(0, t - n + 1, (1,), generator=generator))
        caps = self.data.captions[index]
        pick = caps[int(torch.randint(len(caps), (1,), generator=generator))]
        item = {"joints": joints[start:start + n].float(), "caption": pick, "text_emb": self.data.text_emb[pick]}
        if self.mean is not None:  # feature row i is the step from frame i to i + 1
            rows = self.data.features[index][start:start + max(n - 1, 1)].float()
            item["features"] = (rows - self.mean) / self.std
        return item


def _collate(items: list[dict]) -> dict:
    joints, lengths = pad_clips([it["joints"] for it in items])
    batch = {"joints": joints, "lengths": lengths, "caption": torch.tensor([it["caption"] for it in items]),
             "text_emb": torch.stack([it["text_emb"] for it in items])}
    if "features" in items[0]:
        rows = [it["features"] for it in items]
        batch["features"] = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        batch["feature_lengths"] = torch.tensor([r.shape[0] for r in rows])
    return batch


def contrastive_loss(video: torch.Tensor, text: torch.Tensor, same: torch.Tensor, logit_scale: torch.Tensor
                     ) -> torch.Tensor:
    """Symmetric InfoNCE with soft targets: ``video``/``text`` ``(B, D)`` unit vectors, ``same (B, B)`` bool
    (True where two rows share a caption, diagonal included)."""
    logits = logit_scale.exp().clamp(max=100.0) * video @ text.T  # (B, B)
    target = same.float() / same.float().sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_video_encoder(corpus_dir: str | Path, out_dir: str | Path, *, steps: int = 3000, batch_size: int = 64,
                        lr: float = 1e-3, text_encoder=None, cache_dir: str | Path | None = None,
                        model: LearnedVideoEncoder | None = None, freeze_convs: bool = False,
                        motion_weight: float = 0.0, min_frames: int = 40,
                        scale_range: tuple[float, float] = (0.8, 1.2), device: str = "auto",
                        seed: int = 0, resume: bool = True, threads: int | None = None,
                        max_minutes: float | None = None, checkpoint_every: int = 500, log_every: int = 50,
                        progress: bool = True) -> VideoEncoderTrainResult:
    """Train a :class:`LearnedVideoEncoder` on a corpus' train split (see the module docstring).

    Args:
        corpus_dir / out_dir: HumanML3D-layout corpus and run folder (``checkpoint/``, ``final/``).
        text_encoder: frozen encoder with ``.encode(list[str])`` (default MiniLM); its size sets ``embed_dim``.
        cache_dir: where caption embeddings are cached (default ``out_dir/cache``).
        model: start from this encoder (default: a new one, seeded).
        freeze_convs: train only the projection head (a linear-probe baseline for the random convolutions).
        motion_weight: weight of the clip <-> motion InfoNCE term (0: captions only; see the module docstring).
        min_frames, scale_range: the crop and body-size augmentations.
        max_minutes: wall-clock budget; a run that reaches it checkpoints and stops early.
    """
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2, got {steps}, {batch_size}")
    if not math.isfinite(motion_weight) or motion_weight < 0:
        raise ValueError(f"motion_weight must be >= 0, got {motion_weight}")
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be 0 < low <= high, got {scale_range}")
    if threads is not None:
        torch.set_num_threads(threads)
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} not found")
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder("minilm")
    data = build_cache(corpus_dir, "train", text_encoder, None, out_dir / "cache" if cache_dir is None else cache_dir)
    torch.manual_seed(seed)
    model = LearnedVideoEncoder(embed_dim=int(data.text_emb.shape[-1])) if model is None else model
    if model.embed_dim != data.text_emb.shape[-1]:
        raise ValueError(f"the encoder embeds to {model.embed_dim}; the text encoder gives {data.text_emb.shape[-1]}")
    model.convs.requires_grad_(not freeze_convs)
    mean = std = None
    trained: nn.Module = model
    if motion_weight > 0:
        from humo.data.stats import load_normalizer

        stats = load_normalizer(corpus_dir)
        mean, std = stats.mean.float(), stats.std.float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            trained = _VideoMotionPair(model, int(mean.shape[-1]))

    def loss_fn(m: nn.Module, b: dict, generator) -> tuple[torch.Tensor, dict]:
        enc = m.encoder if isinstance(m, _VideoMotionPair) else m
        n = b["joints"].shape[0]
        dev = b["joints"].device
        yaw = torch.rand(n, generator=generator, device=dev) * 360.0
        scale = lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=generator, device=dev)
        with torch.no_grad():
            clips = enc.render(b["joints"] * scale, b["lengths"], yaw_degrees=yaw)
        tokens = enc(clips)  # (B, Lv, dim)
        video = F.normalize(enc.proj(tokens.mean(1)), dim=-1)  # = enc.embed(clips)
        same = b["caption"][:, None] == b["caption"][None, :]
        text_loss = contrastive_loss(video, F.normalize(b["text_emb"], dim=-1), same, enc.logit_scale)
        logs = {"temperature": 1.0 / enc.logit_scale.exp()}
        if not isinstance(m, _VideoMotionPair):
            return text_loss, logs
        motion = m.tower(b["features"], b["feature_lengths"])
        eye = torch.eye(n, dtype=torch.bool, device=dev)
        motion_loss = contrastive_loss(m.video_motion(tokens), motion, eye, m.logit_scale)
        return text_loss + motion_weight * motion_loss, {**logs, "text_loss": text_loss.detach(),
                                                         "motion_loss": motion_loss.detach()}

    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(data)), lr=lr, weight_decay=0.01,
                         device=device, seed=seed, resume=resume, checkpoint_every=checkpoint_every,
                         log_every=log_every, progress=progress, draw="epoch", name="video encoder",
                         max_seconds=None if max_minutes is None else 60 * max_minutes)
    r = fit(trained, _Clips(data, min_frames, mean, std), _collate, loss_fn, config, out_dir)
    best = r.best.encoder if isinstance(r.best, _VideoMotionPair) else r.best
    final = save_final(out_dir, best)
    return VideoEncoderTrainResult(best, r.step, r.seconds, final, r.history)


@torch.no_grad()
def video_text_retrieval(encoder: LearnedVideoEncoder, data: PairCache, batch: int = 32, repeats: int = 20,
                         seed: int = 0, yaw_degrees: float = 45.0) -> dict:
    """Video -> text R@1/2/3 of ``encoder`` on a split: each segment's clip (whole segment, one camera)
    ranks the first captions of the segments of its batch; ``repeats`` shufflings into batches of
    ``batch``, averaged. Duplicate captions in a batch count as hits. Returns ``{"R@1", "R@2", "R@3", "n"}``."""
    encoder.eval()
    emb = []
    for s in range(0, len(data), 64):
        padded, lens = pad_clips(data.joints[s:s + 64])
        emb.append(encoder.embed(encoder.render(padded, lens, yaw_degrees=yaw_degrees)).cpu())
    video = torch.cat(emb)
    caption = torch.tensor([c[0] for c in data.captions])
    text = F.normalize(data.text_emb[caption], dim=-1)
    return _batched_recall(video, text, caption, batch, repeats, seed)


@torch.no_grad()
def view_retrieval(encoder, data: PairCache, batch: int = 32, repeats: int = 20, seed: int = 0,
                   yaws: tuple[float, float] = (45.0, 135.0)) -> dict:
    """How much of a *particular* motion the video tokens carry: each segment rendered from two cameras
    (``yaws``), its mean-pooled tokens from the first view rank the second views of the segments of its
    batch (cosine; shuffled batches of ``batch``, ``repeats`` shufflings). Caption retrieval cannot see
    this (two walks share a caption). Works for the stick encoders (``frames``, ``size``, ``device``,
    ``encode_video``), trained or not. Returns ``{"R@1", "R@2", "R@3", "n"}``."""
    views = []
    for yaw in yaws:
        emb = []
        for s in range(0, len(data), 64):
            padded, lens = pad_clips(data.joints[s:s + 64])
            clips = _render(encoder, padded, lens, yaw)
            emb.append(F.normalize(encoder.encode_video(clips).mean(1), dim=-1).cpu())
        views.append(torch.cat(emb))
    return _batched_recall(views[0], views[1], torch.arange(len(data)), batch, repeats, seed)


def _render(encoder, joints: torch.Tensor, lengths: torch.Tensor, yaw: float) -> torch.Tensor:
    """Render ``joints (B, T, 22, 3)`` as the clips ``encoder`` reads, from camera ``yaw`` (degrees)."""
    from humo.models.motionduet.video import render_stick_videos

    return render_stick_videos(joints.to(encoder.device), lengths, frames=encoder.frames, size=encoder.size,
                               yaw_degrees=yaw)


def _batched_recall(query: torch.Tensor, gallery: torch.Tensor, group: torch.Tensor, batch: int, repeats: int,
                    seed: int) -> dict:
    """R@1/2/3 of unit rows ``query (N, D)`` against ``gallery (N, D)`` in shuffled batches of ``batch``
    (``repeats`` shufflings): row i's rank = the batch's gallery rows of another ``group (N,)`` scoring above
    its best same-group row."""
    g = torch.Generator().manual_seed(seed)
    hits = torch.zeros(3)
    count = 0
    for _ in range(repeats):
        order = torch.randperm(len(query), generator=g)
        for s in range(0, len(order) - batch + 1, batch):
            idx = order[s:s + batch]
            sim = query[idx] @ gallery[idx].T  # (b, b)
            same = group[idx][:, None] == group[idx][None, :]
            ranks = (sim > sim.masked_fill(~same, float("-inf")).amax(1, keepdim=True)).sum(1)
            for k in range(3):
                hits[k] += (ranks <= k).sum()
            count += len(idx)
    return {"R@1": float(hits[0] / count), "R@2": float(hits[1] / count), "R@3": float(hits[2] / count), "n": count}
