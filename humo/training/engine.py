"""One training loop for every model family, on Hugging Face ``accelerate``.

A family supplies its model, a data *source* and a loss; :func:`fit` owns the rest: device placement,
DDP / FSDP (``accelerate launch`` or ``torchrun``), bf16 / fp16 autocast, gradient accumulation and
clipping, AdamW with warmup + cosine decay (a torch ``LambdaLR``), an EMA
(:class:`torch.optim.swa_utils.AveragedModel`), logging, evaluation hooks and atomic, resumable
checkpoints.

Data. A source has ``len(source)`` and ``source.item(index, generator) -> item``; every draw of a
training item (which item, its crop, mirroring, caption) comes from a generator keyed by
``(seed, step, position in the global batch)``. The global batch of a step has
``batch_size * num_processes * grad_accum`` positions; process ``r`` loads only its own slice through a
:class:`torch.utils.data.DataLoader` (``num_workers`` worker processes) fed by :class:`StepBatchSampler`.
So the items of a step do not depend on how many processes share it (2 processes x batch B see exactly
the items of 1 process x batch 2B), and a resumed run draws what an uninterrupted one would.

Run folder::

    run_dir/checkpoint/     latest training state, written atomically (temp folder, then rename):
                            accelerate's save_state (model.safetensors, optimizer.bin, scheduler.bin,
                            random_states_<rank>.pkl, custom_checkpoint_<i>.pkl = the EMA if
                            any, then the step) + trainer.json (step, model config)
    run_dir/log.jsonl       one JSON line per ``log_every`` steps and per evaluation (process 0)

The run folder must be on a filesystem every process sees (each process writes its RNG state there).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from humo.training.common import lr_at, pick_device

PRECISIONS = ("no", "fp16", "bf16")


@dataclass
class TrainConfig:
    """Settings of :func:`fit` (``batch_size`` is per process and per micro-batch)."""

    steps: int
    batch_size: int
    lr: float = 2e-4
    warmup: int | None = None  # default 5% of steps
    schedule: str = "cosine"  # "cosine": linear warmup, then cosine to 10% of lr; "constant"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    clip_grad: float | None = 1.0
    ema_decay: float | None = None  # None: no EMA
    grad_accum: int = 1
    mixed_precision: str | None = None  # "no", "fp16", "bf16"; None: accelerate's config / launcher
    device: str = "auto"
    seed: int = 0
    resume: bool = True
    checkpoint_every: int = 500
    log_every: int = 50
    eval_every: int | None = None
    stop_at: int | None = None
    max_seconds: float | None = None
    num_workers: int = 0
    draw: str = "uniform"  # "uniform": items with replacement; "epoch": shuffled passes over the source
    progress: bool = True
    name: str = "train"

    def check(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        for key in ("batch_size", "grad_accum", "checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.mixed_precision is not None and self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.draw not in ("uniform", "epoch"):
            raise ValueError(f"draw must be 'uniform' or 'epoch', got {self.draw!r}")
        if self.num_workers < 0 or self.lr <= 0:
            raise ValueError("num_workers must be >= 0 and lr > 0")


@dataclass
class FitResult:
    """What :func:`fit` returns on every process."""

    model: nn.Module  # the live model (unwrapped)
    ema: nn.Module | None  # the EMA copy (None without EMA)
    start: int  # step resumed from
    step: int  # step reached
    seconds: float
    history: list[dict] = field(default_factory=list)
    finished: bool = False  # reached ``steps``
    out_of_time: bool = False  # stopped by ``max_seconds``
    is_main: bool = True
    num_processes: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def best(self) -> nn.Module:
        """The weights to keep: the EMA when there is one."""
        return self.ema if self.ema is not None else self.model


def step_seed(seed: int, step: int, slot: int) -> int:
    """The seed of draw ``slot`` (a batch position or a process) at ``step`` (distinct streams)."""
    return (seed * 1_000_003 + (step + 1) * 2**21 + slot) % 2**63


class StepBatchSampler(torch.utils.data.Sampler):
    """Batch keys ``(step, position)`` of one process: for each step in ``[start, end)`` and each of its
    ``grad_accum`` micro-batches, positions ``[(m * world + rank) * B, ... + B)`` of the global batch."""

    def __init__(self, start: int, end: int, batch_size: int, rank: int = 0, world: int = 1, grad_accum: int = 1):
        self.start, self.end, self.batch_size = start, end, batch_size
        self.rank, self.world, self.grad_accum = rank, world, grad_accum

    def __len__(self) -> int:
        return max(0, self.end - self.start) * self.grad_accum

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        b = self.batch_size
        for step in range(self.start, self.end):
            for m in range(self.grad_accum):
                first = (m * self.world + self.rank) * b
                yield [(step, p) for p in range(first, first + b)]


class KeyedDataset(torch.utils.data.Dataset):
    """``dataset[(step, position)]`` -> ``source.item(index, generator)`` with the generator keyed by the
    step and position; ``draw="uniform"`` picks the index from that generator, ``draw="epoch"`` walks
    seeded permutations of the source (``global_batch`` positions per step)."""

    def __init__(self, source, seed: int, global_batch: int, draw: str = "uniform"):
        self.source, self.seed, self.global_batch, self.draw = source, seed, global_batch, draw
        self.n = len(source)
        if self.n < 1:
            raise ValueError("the training data is empty")
        self._perm: tuple[int, list[int]] | None = None

    def __len__(self) -> int:
        return self.n

    def _index(self, step: int, pos: int, g: torch.Generator) -> int:
        if self.draw == "uniform":
            return int(torch.randint(self.n, (1,), generator=g))
        epoch, offset = divmod(step * self.global_batch + pos, self.n)
        if self._perm is None or self._perm[0] != epoch:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            self._perm = (epoch, order.tolist())
        return self._perm[1][offset]

    def __getitem__(self, key: tuple[int, int]):
        step, pos = key
        g = torch.Generator().manual_seed(step_seed(self.seed, step, pos))
        return self.source.item(self._index(step, pos, g), g)


class DatasetSource:
    """A source over a map-style dataset of dicts: ``item(i, g)`` sets the dataset's ``generator`` (where
    e.g. :class:`humo.data.datasets.TextMotionDataset` draws crops, mirroring and captions) to ``g`` and
    returns ``dataset[i]``, or ``dataset[i][key]`` with ``key``. With ``weights (N,)`` the item is drawn
    from ``g`` by those weights instead (``i`` is ignored), still keyed by step and position."""

    def __init__(self, dataset, key: str | None = None, weights: torch.Tensor | None = None):
        self.dataset, self.key = dataset, key
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float64)
            if weights.shape != (len(dataset),) or not bool(torch.isfinite(weights).all()) \
                    or bool((weights < 0).any()) or float(weights.sum()) <= 0:
                raise ValueError(f"weights must be ({len(dataset)},), finite, >= 0 and not all 0")
        self.weights = weights

    def __len__(self) -> int:
        return len(self.dataset)

    def item(self, index: int, generator: torch.Generator):
        if self.weights is not None:
            index = int(torch.multinomial(self.weights, 1, generator=generator))
        if hasattr(self.dataset, "generator"):
            self.dataset.generator = generator
        out = self.dataset[index]
        return out if self.key is None else out[self.key]


class _Objective(nn.Module):
    """Wraps ``model`` so the family's loss runs inside the (DDP / autocast) wrapped ``forward``."""

    def __init__(self, model: nn.Module, loss_fn: Callable):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch, generator: torch.Generator):
        return self.loss_fn(self.model, batch, generator)


class _Counter:
    """The step, checkpointed with the rest of the state."""

    def __init__(self):
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


def _ema_update(decay: float):
    """AveragedModel ``multi_avg_fn``: EMA (one fused lerp per device and dtype) ramped as
    ``min(decay, (1 + n) / (10 + n))``; integer buffers are copied."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        n = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


def process_state(device: str = "auto"):
    """accelerate's :class:`~accelerate.PartialState` (process index, count, device, ``main_process_first``)
    before :func:`fit`, e.g. to build a data cache on process 0 first; same settings as :func:`fit`."""
    from accelerate import PartialState

    dev = pick_device(device)
    if dev.type == "cuda" and dev.index is not None and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        torch.cuda.set_device(dev)
    return PartialState(cpu=dev.type == "cpu")


def make_accelerator(device: str = "auto", mixed_precision: str | None = None, grad_accum: int = 1,
                     find_unused_parameters: bool = False):
    """An :class:`accelerate.Accelerator` for ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import DistributedDataParallelKwargs

    cpu = process_state(device).device.type == "cpu"  # clear error when CUDA is asked for and absent
    # accelerate keeps its settings in process-wide singletons; a new training in the same process (a
    # notebook, MotionDuet's second stage) may use other ones. The process group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(cpu=cpu, mixed_precision=mixed_precision,
                       gradient_accumulation_steps=grad_accum, step_scheduler_with_optimizer=False,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)])


def _read_trainer(ckpt: Path) -> dict:
    try:
        return json.loads((ckpt / "trainer.json").read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{ckpt}/trainer.json is unreadable ({e}); delete {ckpt} or pass resume=False") from e


def _config_of(model: nn.Module):
    return getattr(model, "_hub_mixin_config", None)


def save_state(accelerator, run_dir: Path, step: int, model: nn.Module) -> Path:
    """Write the training state to ``run_dir/checkpoint`` atomically (call on every process)."""
    tmp, final, old = run_dir / ".checkpoint-tmp", run_dir / "checkpoint", run_dir / ".checkpoint-old"
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer.json").write_text(json.dumps({"step": step, "num_processes": accelerator.num_processes,
                                                      "model_config": _config_of(model)}, default=str))
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def fit(model: nn.Module, source, collate: Callable, loss_fn: Callable, config: TrainConfig, run_dir: str | Path,
        *, params: list[nn.Parameter] | None = None, evaluate: Callable | None = None,
        find_unused_parameters: bool = False) -> FitResult:
    """Train ``model`` (see the module docstring); returns on every process.

    Args:
        model: the model to train (moved to the process's device).
        source: ``len(source)`` and ``source.item(index, generator)``.
        collate: list of items -> batch (tensors, dicts, lists or objects with ``.to``).
        loss_fn: ``(model, batch on the device, generator) -> (loss, {name: scalar tensor})``; the
            generator (on the device) is keyed by ``(seed, step, process, micro-batch)``.
        config: :class:`TrainConfig`.
        run_dir: where ``checkpoint/`` and ``log.jsonl`` go.
        params: the parameters to optimise (default: every parameter that requires grad).
        evaluate: ``(model, step) -> dict`` run on process 0 every ``eval_every`` steps and at the end with
            the EMA model (or the model); its numbers are logged.
        find_unused_parameters: DDP option for models whose forward leaves some parameters unused.
    """
    from accelerate.utils import send_to_device
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from torch.optim.swa_utils import AveragedModel

    config.check()
    c = config
    run_dir = Path(run_dir)
    acc = make_accelerator(c.device, c.mixed_precision, c.grad_accum, find_unused_parameters)
    rank, world, dev = acc.process_index, acc.num_processes, acc.device
    if c.ema_decay is not None and acc.distributed_type.value in ("FSDP", "DEEPSPEED", "MEGATRON_LM"):
        raise ValueError(f"the EMA needs whole parameters; it is not supported under {acc.distributed_type.value} "
                         "(train this model with DDP)")
    if world > 1:  # distinct dropout streams per process
        torch.manual_seed(step_seed(c.seed, -1, rank))
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad] if params is None else params
    optimizer = torch.optim.AdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
    warmup = max(1, c.steps // 20) if c.warmup is None else max(1, c.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, (lambda s: lr_at(s, c.steps, 1.0, warmup)) if c.schedule == "cosine" else (lambda s: 1.0))
    net, optimizer, scheduler = acc.prepare(_Objective(model, loss_fn), optimizer, scheduler)
    ema = AveragedModel(model, multi_avg_fn=_ema_update(c.ema_decay), use_buffers=True) if c.ema_decay is not None \
        else None
    counter = _Counter()
    acc.register_for_checkpointing(*([ema] if ema is not None else []), counter)

    ckpt = run_dir / "checkpoint"
    if c.resume and (ckpt / "trainer.json").is_file():
        saved = _read_trainer(ckpt).get("model_config")
        if saved is not None and _config_of(model) is not None and \
                json.loads(json.dumps(_config_of(model), default=str)) != saved:
            raise ValueError(f"{ckpt} was trained with config {saved}, not {_config_of(model)}; "
                             "use another run folder or resume=False")
        try:
            acc.load_state(str(ckpt))
        except Exception as e:  # a truncated or corrupt file: one clear line, the checkpoint is left as it is
            raise ValueError(f"cannot resume from {ckpt} ({type(e).__name__}: {e}); delete it or pass "
                             "resume=False") from e
    start = counter.step
    end = c.steps if c.stop_at is None else min(c.steps, c.stop_at)
    global_batch = c.batch_size * world * c.grad_accum
    loader = torch.utils.data.DataLoader(
        KeyedDataset(source, c.seed, global_batch, c.draw), collate_fn=collate, num_workers=c.num_workers,
        batch_sampler=StepBatchSampler(start, end, c.batch_size, rank, world, c.grad_accum),
        pin_memory=dev.type == "cuda", generator=torch.Generator(),  # the global RNG is left to the model
        persistent_workers=False)

    history: list[dict] = []

    def log(entry: dict) -> None:
        history.append(entry)
        if acc.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
            with (run_dir / "log.jsonl").open("a") as fh:
                fh.write(json.dumps(entry) + "\n")

    def run_eval(step: int) -> None:
        if evaluate is not None and acc.is_main_process:
            was = model.training
            out = evaluate(ema.module if ema is not None else model, step)
            model.train(was)
            if out:
                log({"step": step, **out})
        acc.wait_for_everyone()

    bar = Progress(TextColumn(f"[bold]{c.name}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   disable=not c.progress or not acc.is_main_process)
    t0 = time.perf_counter()
    sums: dict[str, torch.Tensor] = {}
    count, step, micro, out_of_time = 0, start, 0, False
    step_sums: dict[str, torch.Tensor] = {}
    model.train()
    with bar:
        task = bar.add_task(c.name, total=c.steps, completed=start, info="")
        for batch in loader:
            batch = send_to_device(batch, dev, non_blocking=True)
            gen = torch.Generator(dev).manual_seed(step_seed(c.seed, step, 1_000_000 + rank * 1000 + micro))
            with acc.accumulate(net):
                loss, parts = net(batch, gen)
                acc.backward(loss)
                if acc.sync_gradients and c.clip_grad is not None:
                    acc.clip_grad_norm_(params, c.clip_grad)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            for k, v in {"loss": loss, **parts}.items():
                step_sums[k] = step_sums.get(k, 0.0) + v.detach().float() / c.grad_accum
            micro += 1
            if not acc.sync_gradients:
                continue
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            step, micro = step + 1, 0
            counter.step = step
            for k, v in step_sums.items():  # summed on the device; averaged over processes when logged
                sums[k] = sums.get(k, 0.0) + v
            step_sums, count = {}, count + 1
            if step % c.log_every == 0 or step == end:
                keys = list(sums)
                values = (acc.reduce(torch.stack([sums[k] for k in keys]).to(dev), "mean") / count).tolist()
                mean = dict(zip(keys, values, strict=True))
                log({"step": step, **mean, "lr": lr, "seconds": round(time.perf_counter() - t0, 3)})
                bar.update(task, info=f"loss {mean['loss']:.4f}")
                sums, count = {}, 0
            if c.max_seconds is not None:
                flag = torch.tensor([float(time.perf_counter() - t0 > c.max_seconds)], device=dev)
                out_of_time = bool(acc.reduce(flag, "sum").item() > 0)  # every process stops at the same step
            if c.eval_every and step % c.eval_every == 0 and step != c.steps:
                run_eval(step)
            if step % c.checkpoint_every == 0 or step == end or out_of_time:
                save_state(acc, run_dir, step, model)
            bar.update(task, completed=step)
            if out_of_time:
                break
    seconds = time.perf_counter() - t0
    if step == c.steps and start < c.steps:
        run_eval(step)
    acc.wait_for_everyone()
    return FitResult(model=model, ema=None if ema is None else ema.module, start=start, step=step,
                     seconds=seconds, history=history, finished=step >= c.steps, out_of_time=out_of_time,
                     is_main=acc.is_main_process, num_processes=world, device=dev)
