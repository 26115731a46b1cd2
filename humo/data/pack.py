"""Pack a corpus folder into one compact file and unpack it again.

For moving a training corpus to a machine that cannot see the source data (a lent GPU): joints are
stored once, as the root trajectory in float32 plus root-relative joints in float16 by default (error
under 0.5 mm: relative coordinates stay within ~1 m), with captions, labels, splits and statistics;
the 263-d features are recomputed from the joints on unpacking with the library's own
``joints_to_features`` (never stored twice).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from humo.representations.humanml3d import joints_to_features

SPLITS = ("train", "val", "test", "all")


def pack_corpus(corpus: str | Path, out: str | Path, dtype: torch.dtype = torch.float16,
                overwrite: bool = False) -> dict:
    """Write ``corpus`` (HumanML3D layout) into the single safetensors file ``out``; returns a summary."""
    from safetensors.torch import save_file

    corpus, out = Path(corpus), Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite=True)")
    ids = [line.strip() for line in (corpus / "all.txt").read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"{corpus}/all.txt lists no clips")
    clips = [np.load(corpus / "new_joints" / f"{i}.npy", allow_pickle=False) for i in ids]
    lengths = [c.shape[0] for c in clips]
    meta = {
        "ids": ids,
        "texts": {i: (corpus / "texts" / f"{i}.txt").read_text() for i in ids},
        "labels": json.loads((corpus / "labels.json").read_text()) if (corpus / "labels.json").exists() else {},
        "splits": {s: (corpus / f"{s}.txt").read_text() for s in SPLITS if (corpus / f"{s}.txt").exists()},
        "meta": (corpus / "meta.json").read_text() if (corpus / "meta.json").exists() else "{}",
    }
    joints = torch.from_numpy(np.concatenate(clips)).float()  # (N, 22, 3)
    root = joints[:, :1, :]
    tensors = {
        "root": root[:, 0].contiguous(),
        "joints": (joints - root).to(dtype).contiguous(),  # root-relative: small values, fine in float16
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "mean": torch.from_numpy(np.load(corpus / "Mean.npy")).float(),
        "std": torch.from_numpy(np.load(corpus / "Std.npy")).float(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".tmp", delete=False) as fh:
        tmp = Path(fh.name)
    save_file(tensors, str(tmp), metadata={"humo_corpus": json.dumps(meta)})
    tmp.replace(out)
    return {"clips": len(ids), "frames": int(sum(lengths)), "bytes": out.stat().st_size}


def unpack_corpus(packed: str | Path, out: str | Path, device: str = "cpu", overwrite: bool = False) -> Path:
    """Rebuild the corpus folder from :func:`pack_corpus`'s file (features recomputed on ``device``)."""
    from safetensors import safe_open

    packed, out = Path(packed), Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty (pass overwrite=True)")
    try:
        with safe_open(str(packed), "pt") as fh:
            meta = json.loads(fh.metadata()["humo_corpus"])
            joints = fh.get_tensor("joints").float() + fh.get_tensor("root")[:, None, :]
            lengths = fh.get_tensor("lengths").tolist()
            mean, std = fh.get_tensor("mean"), fh.get_tensor("std")
    except Exception as e:  # noqa: BLE001 - any failure here means a bad file
        raise ValueError(f"{packed} is not a packed humo corpus: {e}") from e
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=out.parent if out.parent.exists() else None))
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (tmp / sub).mkdir()
    start = 0
    for clip_id, n in zip(meta["ids"], lengths, strict=True):
        clip = joints[start:start + n]
        start += n
        feats = joints_to_features(clip.to(device).double(), target_lengths=None).float().cpu()
        np.save(tmp / "new_joints" / f"{clip_id}.npy", clip.numpy())
        np.save(tmp / "new_joint_vecs" / f"{clip_id}.npy", feats.numpy())
        (tmp / "texts" / f"{clip_id}.txt").write_text(meta["texts"][clip_id])
    for split, text in meta["splits"].items():
        (tmp / f"{split}.txt").write_text(text)
    (tmp / "labels.json").write_text(json.dumps(meta["labels"]))
    (tmp / "meta.json").write_text(meta["meta"])
    np.save(tmp / "Mean.npy", mean.numpy())
    np.save(tmp / "Std.npy", std.numpy())
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out
