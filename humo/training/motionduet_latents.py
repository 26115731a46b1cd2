"""MotionDuet on CoAMD's autoencoder: the first stage is a trained J/B/M autoencoder, not MLD's VAE.

:func:`load_autoencoder` reads the autoencoder (a CoAMD pipeline folder's ``autoencoder/``, a bare
``MotionAutoencoder`` folder, or ``"bundled"`` for the bundled CoAMD's); :func:`encode_segments` encodes
every segment of a split **once**, one clip at a time (a padded batch would leak through the convolutions),
and caches the latents ``(T_i / 4, C)`` in a safetensors file keyed by the segment ids, lengths and the
autoencoder's weights; :func:`first_stage_metrics` measures the reconstruction the diffusion stage is
bounded by (MPJPE of decoded joints, global and root-relative, in mm).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from humo.models.autoencoder import MotionAutoencoder


def load_autoencoder(source: str | Path) -> MotionAutoencoder:
    """A frozen :class:`MotionAutoencoder` from ``"bundled"``, a CoAMD pipeline folder (its ``autoencoder/``)
    or a folder written by ``MotionAutoencoder.save_pretrained``."""
    from humo.models.hub import BUNDLED_MODEL

    folder = BUNDLED_MODEL if str(source) == "bundled" else Path(source)
    if (folder / "autoencoder" / "config.json").is_file():
        folder = folder / "autoencoder"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{source}: no autoencoder there (want a CoAMD pipeline folder, an autoencoder "
                                "folder with config.json, or 'bundled')")
    return MotionAutoencoder.from_pretrained(folder).eval().requires_grad_(False)


def weights_digest(module: torch.nn.Module) -> str:
    """A short digest of ``module``'s state (names, shapes and values) that keys caches."""
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_segments(autoencoder: MotionAutoencoder, joints: list[torch.Tensor], ids: list[str],
                    cache_file: str | Path | None = None) -> list[torch.Tensor]:
    """Latents ``(T_i / 4, C)`` (unscaled, the autoencoder's own space) of clips ``(T_i, 22, 3)`` (``T_i`` a
    multiple of 4), read from ``cache_file`` when it holds the same ids, lengths and weights."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    lengths = [int(j.shape[0]) for j in joints]
    key = json.dumps({"ids": ids, "lengths": lengths, "autoencoder": weights_digest(autoencoder)}, sort_keys=True)
    path = None if cache_file is None else Path(cache_file)
    if path is not None and path.is_file():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("key") == key:
                flat = f.get_tensor("latents")
                return list(flat.split([n // autoencoder.downsample for n in lengths]))
    dev = autoencoder.stream_mean.device
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_length.setdefault(n, []).append(i)
    out: list[torch.Tensor | None] = [None] * len(joints)
    for idx in by_length.values():  # equal lengths together: no padding
        for s in range(0, len(idx), 64):
            chunk = idx[s:s + 64]
            z = autoencoder.encode(torch.stack([joints[i] for i in chunk]).float().to(dev)).cpu()
            for j, i in enumerate(chunk):
                out[i] = z[j]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"latents": torch.cat(out).contiguous()}, str(tmp), metadata={"key": key})
        tmp.replace(path)
    return out


@torch.no_grad()
def first_stage_metrics(autoencoder: MotionAutoencoder, joints: list[torch.Tensor],
                        latents: list[torch.Tensor]) -> dict:
    """Reconstruction of the clips from their latents: ``mpjpe_mm`` (global, the trajectory drift included;
    both start at the clip's frame-0 root XZ) and ``local_mpjpe_mm`` (root-relative), means over clips."""
    glob, local = [], []
    for j, z in zip(joints, latents, strict=True):
        j = j.float()
        origin = j[:1, 0].clone()
        origin[:, 1] = 0.0
        rec = autoencoder.decode(z[None].to(autoencoder.stream_mean.device), origin=origin)[0].cpu()
        diff = rec - j
        glob.append(diff.norm(dim=-1).mean().item())
        local.append((diff - diff[:, :1]).norm(dim=-1).mean().item())
    return {"mpjpe_mm": 1000 * sum(glob) / len(glob), "local_mpjpe_mm": 1000 * sum(local) / len(local),
            "clips": len(glob)}


def attach_latents(model, autoencoder: MotionAutoencoder, train, val, cache_dir: Path) -> dict:
    """Copy ``autoencoder`` into the MotionDuet ``model``, encode every segment once (cached), fit the latent
    statistics on the training latents and set the model-space ``latents`` of each split (a
    :class:`humo.training.motionduet.PairCache`); returns the first stage's reconstruction of the
    validation split (of the training split when there is none)."""
    model.autoencoder.load_state_dict(autoencoder.state_dict())
    raw = {}
    for name, data in (("train", train), ("val", val)):
        if data is not None:
            raw[name] = encode_segments(model.autoencoder, data.joints, data.ids,
                                        cache_dir / f"latents-{name}.safetensors")
    z = torch.cat(raw["train"])  # (N tokens, C)
    model.set_latent_stats(z.mean(0), z.std(0, unbiased=False) if z.shape[0] > 1 else torch.ones(z.shape[1]))
    for name, data in (("train", train), ("val", val)):
        if data is not None:
            data.latents = [model.normalize_latents(x.to(model.device)).cpu() for x in raw[name]]
    check = "val" if val is not None else "train"
    data = val if val is not None else train
    return {"split": check, **first_stage_metrics(model.autoencoder, data.joints, raw[check])}
