"""``save_pretrained`` / ``from_pretrained`` for every humo model (config.json + model.safetensors).

Built on ``huggingface_hub.PyTorchModelHubMixin`` with four changes the field needs:

* loading is **strict**: missing or unexpected keys raise with the key list (the mixin's default
  ``strict=False`` silently keeps random weights);
* pickles are never read: a folder or repo without ``model.safetensors`` is an error;
* a truncated or corrupt weight file raises a ``ValueError`` naming the file;
* a hub id that cannot be fetched (offline, unknown repo, malformed id) raises one ``FileNotFoundError``
  naming the id, and a file path where a folder belongs a ``ValueError``, before any download.

Frozen external parts (text encoders) are kept out of ``state_dict`` by the models themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from huggingface_hub import PyTorchModelHubMixin
from torch import nn

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# The model bundled with humo (CoAMD pipeline + its recognizer; model card in its README.md).
BUNDLED_MODEL = Path(__file__).resolve().parents[1] / "assets" / "coamd-merged-medium"
# The MotionDuet bundled with humo (text-only, on the CoAMD bundle's autoencoder; card in its README.md).
BUNDLED_MOTIONDUET = Path(__file__).resolve().parents[1] / "assets" / "motionduet-merged-compact"
# The held-out contrastive evaluator the results tables are measured with (merged corpus; card in its README.md).
BUNDLED_EVALUATOR = Path(__file__).resolve().parents[1] / "assets" / "evaluator-merged-small"


class HubModel(nn.Module, PyTorchModelHubMixin, library_name="humo", tags=["humo", "human-motion"]):
    """Base class: subclasses take JSON-able constructor arguments only (they become config.json)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, force_download: bool = False,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False, revision: str | None = None, **model_kwargs):
        """Load a folder written by ``save_pretrained``, or a Hugging Face Hub id.

        ``force_download``, ``token``, ``cache_dir``, ``local_files_only`` and ``revision`` apply to hub ids
        (as in ``huggingface_hub``); ``model_kwargs`` go to ``_from_pretrained`` (``map_location``,
        ``strict``).

        Raises:
            ValueError: the path is a file, or the checkpoint is corrupt or does not match the config.
            FileNotFoundError: a folder lacks ``model.safetensors``, or a hub id cannot be fetched (offline,
                unknown repo, malformed id); the message names the id and the hub's reason.
        """
        model_id = str(pretrained_model_name_or_path)
        kwargs = dict(force_download=force_download, token=token, cache_dir=cache_dir,
                      local_files_only=local_files_only, revision=revision, **model_kwargs)
        if os.path.isdir(model_id):
            return super().from_pretrained(model_id, **kwargs)
        if os.path.exists(model_id):
            raise ValueError(f"{model_id!r} is a file; from_pretrained takes a folder or a hub id")
        from huggingface_hub.errors import HFValidationError

        try:
            return super().from_pretrained(model_id, **kwargs)
        except (OSError, HFValidationError) as e:  # network errors, unknown repo, offline mode, bad id
            raise FileNotFoundError(
                f"could not get {model_id!r} from the Hugging Face Hub ({type(e).__name__}: {e}); "
                "pass a local folder made by save_pretrained"
            ) from e

    @classmethod
    def _resolve_file(cls, model_id: str, filename: str, *, revision, cache_dir, force_download,
                      local_files_only, token) -> str:
        if os.path.isdir(model_id):
            path = os.path.join(model_id, filename)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{filename} not found in {model_id!r} (humo never reads pickles)")
            return path
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo_id=model_id, filename=filename, revision=revision, cache_dir=cache_dir,
                               force_download=force_download, token=token, local_files_only=local_files_only)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision=None, cache_dir=None, force_download=False,
                         local_files_only=False, token=None, map_location: str = "cpu", strict: bool = True,
                         **model_kwargs):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        with _no_init() if strict else contextlib.nullcontext():  # strict: every tensor is overwritten below
            model = cls(**model_kwargs)
        path = cls._resolve_file(str(model_id), WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                                 force_download=force_download, local_files_only=local_files_only, token=token)
        try:
            state = load_file(path, device=str(map_location))
        except (SafetensorError, OSError, RuntimeError) as e:
            raise ValueError(f"corrupt or truncated checkpoint {path!r}: {e}") from e
        load_state_dict_strict(model, state, strict=strict)
        return model.eval()

    @classmethod
    def _load_as_pickle(cls, *args, **kwargs):  # pragma: no cover - defensive
        raise ValueError("humo never unpickles weights; save them with save_pretrained (safetensors)")

    @classmethod
    def read_config(cls, folder: str | Path) -> dict:
        """The config.json of a saved folder, with a clear error if it is missing or corrupt."""
        path = Path(folder) / CONFIG_NAME
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} not found: not a folder written by save_pretrained") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt config {path}: {e}") from e


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


@contextlib.contextmanager
def _no_init():
    """Skip ``torch.nn.init``'s random initialisation while a model is built only to be overwritten by a
    strict checkpoint load (the random draws are ~40% of loading the bundled model; transformers does the
    same in ``from_pretrained``). Parameters keep uninitialised memory until the load, which a strict load
    replaces entirely (a missing key raises). The functions are swapped module-wide for the duration of the
    constructor call, so a model built at the same moment in another thread would skip its init too."""
    from torch.nn import init

    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}
    try:
        for name in saved:
            setattr(init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def load_state_dict_strict(model: nn.Module, state: dict, strict: bool = True) -> None:
    """Load ``state`` into ``model``; with ``strict`` raise a ValueError listing missing/unexpected keys
    and shape mismatches instead of torch's long RuntimeError."""
    own = model.state_dict()
    bad_shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in state.items() if k in own and own[k].shape != v.shape]
    if bad_shapes:
        raise ValueError("checkpoint does not match the model config: " + "; ".join(bad_shapes[:10]))
    result = model.load_state_dict(state, strict=False)
    if strict and (result.missing_keys or result.unexpected_keys):
        raise ValueError(
            f"checkpoint keys do not match {type(model).__name__}: missing {result.missing_keys[:10]}, "
            f"unexpected {result.unexpected_keys[:10]}"
        )
