"""Train and evaluate the MAR recognizer (:class:`humo.models.recognizer.ActionRecognizer`) on a corpus.

Run folder (see :mod:`humo.training.engine`)::

    out_dir/
      text_cache.safetensors   frozen embeddings of every caption and class prompt (computed once)
      classes.json             the action-class vocabulary (frequencies, head/medium/tail groups)
      log.jsonl                one line per logged step
      checkpoint/  final/      atomic training state / the model to use
      metrics.json             evaluate_recognizer on the test split

Training runs through :mod:`humo.training.engine`: clips are taken in seeded epoch permutations and every
crop, mirroring and caption is drawn from a generator keyed by ``(seed, step, position)``, so a resumed run
sees the same data as an uninterrupted one. Under several processes each one contrasts its own batch (the
InfoNCE negatives are per process).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from humo.models.action_classes import ActionClasses, class_prompt
from humo.models.recognizer import RECOGNIZER_PRESETS, ActionRecognizer
from humo.models.text_encoder import CachedTextEncoder, check_texts
from humo.training.common import save_final, seed_everything
from humo.training.engine import DatasetSource, TrainConfig, fit, process_state

CACHE_NAME = "text_cache.safetensors"
RETRIEVAL_KS = (1, 2, 3, 5, 10)
# Shortest clip used (frames). Lower than the generation protocol's 40: the recognizer takes any length, and
# short gestures (Bandai Namco's raise-a-hand clips are often < 40 frames) would otherwise be left out.
MIN_LEN = 16


@dataclass
class TrainResult:
    """What :func:`train_recognizer` returns."""

    model: ActionRecognizer
    steps: int
    seconds: float
    final_dir: Path
    metrics: dict[str, float]


def parse_streams(streams) -> str:
    """``("j", "b", "m")``, ``"jbm"``, ``"j,b,m"`` or ``"J+B+M"`` -> ``"jbm"`` (ValueError otherwise)."""
    text = "".join(streams) if not isinstance(streams, str) else streams
    keys = [c for c in text.lower() if c not in ",+ "]
    if not keys or any(k not in "jbm" for k in keys) or len(set(keys)) != len(keys):
        raise ValueError(f"streams must be a non-empty subset of j, b, m, got {streams!r}")
    return "".join(k for k in "jbm" if k in keys)


def _read_labels(corpus: Path) -> dict:
    path = corpus / "labels.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _action(labels: dict, clip_id: str) -> str | None:
    entry = labels.get(clip_id) or labels.get(clip_id.rsplit("-", 1)[0]) or {}
    return entry.get("action")


def _dataset(corpus: Path, split: str, **kwargs):
    from humo.data.datasets import TextMotionDataset

    if not (corpus / f"{split}.txt").is_file():
        raise FileNotFoundError(f"{corpus}/{split}.txt not found: not a corpus folder (see docs/design.md)")
    return TextMotionDataset(str(corpus), split, **kwargs)


def scan_split(corpus_dir: str | Path, split: str, min_len: int = MIN_LEN) -> list[dict]:
    """Every clip of a split, deterministically (no random crop): ``{"id", "texts", "joints" (T, 22, 3)}``."""
    ds = _dataset(Path(corpus_dir), split, random_crop=False, min_len=min_len)
    return [{"id": it["id"], "texts": check_texts(list(it["texts"])), "joints": torch.as_tensor(it["joints"])}
            for it in (ds[i] for i in range(len(ds)))]


def build_classes(corpus: Path, train_items: list[dict], encoder, num_classes: int = 400,
                  generator: torch.Generator | None = None) -> ActionClasses:
    """Classes from ``labels.json`` actions when the corpus has them, else verbs of the train captions."""
    labels = _read_labels(corpus)
    actions = [_action(labels, it["id"]) for it in train_items]
    if any(actions):
        counts = {str(i): {"action": a} for i, a in enumerate(actions) if a}
        return ActionClasses.from_labels(counts)
    captions = [t for it in train_items for t in it["texts"]]
    return ActionClasses.from_captions(captions, encoder, num_classes, generator=generator)


def clip_classes(corpus: Path, items: list[dict], classes: ActionClasses) -> list[int]:
    """Class id per item (-1 if unknown): its labels.json action, else its captions' majority verb class."""
    labels = _read_labels(corpus)
    out = []
    for it in items:
        action = _action(labels, it["id"])
        out.append(classes.get(action) if action else classes.caption_class(it["texts"]))
    return out


def class_prompts(classes: ActionClasses) -> list[str]:
    """One sentence per class: the corpus builder's own phrasing of the action when it has one
    (``bye`` -> "a person waves goodbye"), else :func:`class_prompt`; prompts shared by several classes
    (``dance-long`` / ``dance-short``) fall back to :func:`class_prompt`, so every class stays distinct."""
    from humo.data.captions import action_phrases

    out = []
    for name in classes.names:
        try:
            out.append("a person " + action_phrases(name)[0][0])
        except ValueError:
            out.append(class_prompt(name))
    return [class_prompt(n) if out.count(p) > 1 else p for n, p in zip(classes.names, out, strict=True)]


def train_recognizer(corpus_dir: str | Path, out_dir: str | Path, preset: str = "small", steps: int = 2000,
                     batch_size: int = 64, lr: float = 2e-4, device: str = "auto", seed: int = 0,
                     resume: bool = True, streams=("j", "b", "m"), text_encoder=None, num_classes: int = 400,
                     mirror: bool = False, min_len: int = MIN_LEN, checkpoint_every: int = 250,
                     log_every: int = 25, max_seconds: float | None = None, evaluate: bool = True,
                     progress: bool = True, grad_accum: int = 1, mixed_precision: str | None = None,
                     num_workers: int = 0, **overrides) -> TrainResult:
    """Train an :class:`ActionRecognizer` with AdamW (warm-up then cosine decay to 0.1 ``lr``).

    Args:
        corpus_dir: corpus folder (HumanML3D layout with ``labels.json``).
        out_dir: run folder (created; resumed from its checkpoint when ``resume``).
        preset: key of :data:`RECOGNIZER_PRESETS`; ``overrides`` replace preset entries.
        streams: which motion streams to use (the J / J+B / J+M / J+B+M ablation).
        text_encoder: frozen encoder (``.encode``, ``.dim``, ``.name``); default ``TextEncoder("minilm")``.
        num_classes: vocabulary size when classes come from caption verbs (no ``labels.json``).
        mirror: random left/right mirroring of clips, captions and labels (see ``TextMotionDataset``).
        min_len: shortest clip (and random crop) in frames.
        max_seconds: stop early (checkpoint + final model) after this much training time.
        batch_size: clips per step and process; grad_accum, mixed_precision, num_workers: see
            :class:`humo.training.engine.TrainConfig`.
    """
    from humo.data.datasets import collate

    if preset not in RECOGNIZER_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(RECOGNIZER_PRESETS)}")
    if steps < 1 or batch_size < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {steps}, {batch_size}")
    corpus, out = Path(corpus_dir), Path(out_dir)
    seed_everything(seed)
    if text_encoder is None:
        from humo.models.text_encoder import TextEncoder

        text_encoder = TextEncoder("minilm")
    train = _dataset(corpus, "train", mirror=mirror, min_len=min_len)
    if len(train) < batch_size:
        raise ValueError(f"the train split has {len(train)} clips, fewer than batch_size={batch_size}")
    items = scan_split(corpus, "train", min_len)
    out.mkdir(parents=True, exist_ok=True)
    classes = build_classes(corpus, items, text_encoder, num_classes, torch.Generator().manual_seed(seed))
    state = process_state(device)
    if state.is_main_process:
        classes.save(out / "classes.json")
    label_of = dict(zip((it["id"] for it in items), clip_classes(corpus, items, classes), strict=True))
    # the dataset's label ids (mirror-aware) -> our class ids; caption-verb classes go by clip id
    from_dataset = [classes.get(name) for name in train.classes] if train.classes else None

    cache_path = out / CACHE_NAME
    prompts = class_prompts(classes)
    texts = [t for it in items for t in it["texts"]] + prompts
    if mirror:  # mirrored clips get left/right-swapped captions
        from humo.data.captions import swap_left_right

        texts += [swap_left_right(t) for t in texts]
    if evaluate and (corpus / "test.txt").is_file():  # the evaluation captions too, encoded once
        texts += [t for it in scan_split(corpus, "test", min_len) for t in it["texts"]]
    with state.main_process_first():  # process 0 encodes and saves, the others then load
        cache = CachedTextEncoder.load(str(cache_path), fallback=text_encoder) if cache_path.is_file() else None
        if cache is None or cache.name != getattr(text_encoder, "name", cache.name):
            cache = CachedTextEncoder.build(texts, text_encoder)
        cache.encode(texts)  # fills anything missing
        if state.is_main_process:
            cache.save(str(cache_path))
    caption_key = {t: i for i, t in enumerate(cache.table)}
    label_table = cache.encode(prompts)

    def collate_batch(clips: list[dict]) -> dict:
        batch = collate(clips)
        captions = check_texts(list(batch["texts"]))
        if from_dataset is None:
            labels = torch.tensor([label_of.get(i, -1) for i in batch["ids"]])
        else:
            labels = torch.tensor([from_dataset[c] if c >= 0 else -1 for c in batch["labels"].tolist()])
        unseen: dict[str, int] = {}  # captions outside the cache: equal captions share a new key
        keys = [caption_key[t] if t in caption_key else unseen.setdefault(t, len(caption_key) + len(unseen))
                for t in captions]
        return {"joints": batch["joints"].float(), "lengths": batch["lengths"], "captions": cache.encode(captions),
                "caption_keys": torch.tensor(keys),
                "label_emb": label_table[labels.clamp_min(0)], "labels": labels}

    def loss_fn(m: ActionRecognizer, b: dict, generator) -> tuple[torch.Tensor, dict]:
        out = m(b["joints"], b["lengths"], b["captions"], b["caption_keys"], b["label_emb"], b["labels"])
        return out.loss, {}

    config = {**RECOGNIZER_PRESETS[preset], **overrides}
    model = ActionRecognizer(streams=parse_streams(streams), text_dim=cache.dim,
                             text_encoder=getattr(text_encoder, "name", "minilm"), class_names=classes.names,
                             class_prompts=prompts, **config)
    model.fit_normalization(it["joints"] for it in items)
    model.text_encoder = cache
    settings = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup=max(1, min(200, steps // 10)),
                           weight_decay=0.01, betas=(0.9, 0.999), grad_accum=grad_accum,
                           mixed_precision=mixed_precision, device=device, seed=seed, resume=resume,
                           checkpoint_every=checkpoint_every, log_every=log_every, max_seconds=max_seconds,
                           num_workers=num_workers, draw="epoch", progress=progress, name="recognizer")
    r = fit(model, DatasetSource(train), collate_batch, loss_fn, settings, out)
    model.eval()
    final, metrics = out / "final", {}
    if r.is_main:
        final = save_final(out, model)
        _note_training_data(final, corpus)
        if evaluate and (corpus / "test.txt").is_file():
            metrics = evaluate_recognizer(model, corpus, "test", seed=seed, min_len=min_len)
            metrics.update({"train/steps": r.step, "train/seconds": round(r.seconds, 1)})
            (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return TrainResult(model, r.step, r.seconds, final, metrics)


def _note_training_data(final: Path, corpus: Path) -> None:
    """Append the corpus's source and licence (meta.json) to the model card: the model inherits its terms."""
    meta = json.loads((corpus / "meta.json").read_text()) if (corpus / "meta.json").is_file() else {}
    if meta.get("licence"):
        with (final / "README.md").open("a") as card:
            card.write(f"\n\n## Training data\n\nTrained on `{corpus.name}` ({meta.get('source', '?')}), "
                       f"licence: {meta['licence']}. The model inherits these terms.\n")


@torch.no_grad()
def evaluate_recognizer(model: ActionRecognizer, corpus_dir: str | Path, split: str = "test",
                        batch_size: int = 32, seed: int = 0, classes: ActionClasses | None = None,
                        embed_batch: int = 128, min_len: int = MIN_LEN) -> dict[str, float]:
    """Action accuracy and text <-> motion retrieval on a corpus split (deterministic crop, first caption).

    * ``action/top1`` overall and ``action/top1_head|medium|tail``: argmax of the model's class-prompt
      similarities vs the clip's class; groups by frequency in the **train** split.
    * ``t2m/R@k`` and ``m2t/R@k`` for k in 1, 2, 3, 5, 10: the T2M protocol (shuffled batches of
      ``batch_size`` = 32, each query ranks the batch's 32 candidates; L2-normalised embeddings, so the
      Euclidean ranking of :func:`humo.metrics.functional.r_precision` is the cosine ranking). Splits
      smaller than ``batch_size`` use one batch of all samples (``retrieval/batch_size`` says which).
    """
    from humo.metrics.functional import r_precision

    corpus = Path(corpus_dir)
    model.eval()
    items = scan_split(corpus, split, min_len)
    if len(items) < 2:
        raise ValueError(f"the {split} split of {corpus} has {len(items)} clips; need at least 2")
    dev = next(model.parameters()).device
    motion = model.embed_clips([it["joints"].float() for it in items], embed_batch).fused
    captions = [it["texts"][0] for it in items]
    text = torch.cat([model.embed_text(captions[i:i + embed_batch])
                      for i in range(0, len(captions), embed_batch)])
    motion, text = F.normalize(motion, dim=-1), F.normalize(text.to(dev), dim=-1)
    metrics: dict[str, float] = {"eval/clips": float(len(items))}

    if model.class_names:
        if classes is None:
            has_train = (corpus / "train.txt").is_file()
            train_items = scan_split(corpus, "train", min_len) if has_train else items
            classes = build_classes(corpus, train_items, model.text_encoder)
        group = dict(zip(classes.names, classes.groups(), strict=True))
        truth = [classes.names[c] if c >= 0 else None for c in clip_classes(corpus, items, classes)]
        pred = (motion @ F.normalize(model.class_text(), dim=-1).T).argmax(-1).tolist()
        hits: dict[str, list[bool]] = {"": [], "_head": [], "_medium": [], "_tail": []}
        for name, p in zip(truth, pred, strict=True):
            if name is None or name not in model.class_names:
                continue
            ok = model.class_names[p] == name
            hits[""].append(ok)
            hits["_" + group.get(name, "tail")].append(ok)
        for suffix, h in hits.items():  # a group without test clips gets only its count (0)
            metrics[f"action/n{suffix}"] = float(len(h))
            if h:
                metrics[f"action/top1{suffix}"] = sum(h) / len(h)

    bs = min(batch_size, len(items))
    top_k = min(max(RETRIEVAL_KS), bs)
    for name, (a, b) in {"t2m": (text, motion), "m2t": (motion, text)}.items():
        r = r_precision(a, b, top_k=top_k, batch_size=bs, generator=torch.Generator().manual_seed(seed))
        for k in RETRIEVAL_KS:
            if k <= top_k:
                metrics[f"{name}/R@{k}"] = float(r[k - 1])
    metrics["retrieval/batch_size"] = float(bs)
    return metrics
