"""The T2M text-motion matching evaluator (Guo et al., CVPR 2022), layer for layer.

Sub-module and parameter names follow ``networks/modules.py`` of EricGuo5513/text-to-motion, so the
official ``text_mot_match/model/finest.tar`` (keys ``movement_encoder``, ``text_encoder``,
``motion_encoder``) loads with :meth:`T2MEvaluator.load_official`. The GloVe vocabulary
(``our_vab_*``), the evaluator's own feature mean/std (``Comp_v6_KLD01/meta/{mean,std}.npy``) are
stored as buffers, so a ``save_pretrained`` folder is self-contained (the word list is in config.json).

Differences from the reference wrapper, none of which change an embedding:

* ``embed_text`` / ``embed_motion`` return rows in input order (the reference sorts by motion length
  and returns the sorted order); packing uses ``enforce_sorted=False``;
* ``embed_motion`` takes raw features and normalises them itself, zeroing frames past each length
  and padding to 196 frames (the reference loader pads normalised motions with zeros to 196; the
  convolutions see that padding, so a different padded size would change the last movement steps).

Text input: the HumanML3D ``tokens`` field (``"a/DET man/NOUN kick/VERB ..."``, hence
``text_key = "tokens"``). A plain caption is accepted too: lower-cased alphabetic words with POS
``OTHER`` (VIP words keep their VIP class) -- without the reference's spaCy tags and lemmas, so its
embeddings differ from the official ones.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from humo.models.evaluators._common import set_feature_stats
from humo.models.hub import HubModel, load_state_dict_strict
from humo.representations._checks import check_tensor

POS_ENUMERATOR = {"VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
                  "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14}
VIP_WORDS = {  # words whose POS class the reference's WordVectorizer overrides
    "Loc_VIP": "left right clockwise counterclockwise anticlockwise forward back backward up down straight "
               "curve".split(),
    "Body_VIP": "arm chin foot feet face hand mouth leg waist eye knee shoulder thigh".split(),
    "Obj_VIP": "stair dumbbell chair window floor car ball handrail baseball basketball".split(),
    "Act_VIP": "walk run swing pick bring kick put squat throw hop dance jump turn stumble stop sit lift "
               "lower raise wash stand kneel stroll rub bend balance flap jog shuffle lean rotate spin "
               "spread climb".split(),
    "Desc_VIP": "slowly carefully fast careful slow quickly happy angry sad happily angrily sadly".split(),
}
_VIP_OF = {w: pos for pos, words in VIP_WORDS.items() for w in words}
SPECIAL_WORDS = ("sos", "eos", "unk")


def _init_weight(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.Linear)):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class MovementConvEncoder(nn.Module):
    """``(B, T, input) -> (B, T // 4, output)``: two stride-2 convolutions and a linear layer."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)
        self.apply(_init_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, C) -> (B, C, T) for Conv1d, and back
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class _BiGRUCo(nn.Module):
    """Linear input embedding, bidirectional GRU with a learned initial state, MLP on the last states."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size),
                                        nn.LeakyReLU(0.2), nn.Linear(hidden_size, output_size))
        self.input_emb.apply(_init_weight)
        self.output_net.apply(_init_weight)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def _encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.input_emb(x), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, last = self.gru(packed, self.hidden.repeat(1, x.shape[0], 1))  # last: (2, B, H), input order
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class MotionEncoderBiGRUCo(_BiGRUCo):
    """``movements (B, T', input), lengths (B,) -> (B, output)``."""

    def forward(self, movements: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._encode(movements, lengths)


class TextEncoderBiGRUCo(_BiGRUCo):
    """``words (B, L, 300), pos one-hot (B, L, 15), lengths (B,) -> (B, output)``."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int):
        super().__init__(word_size, hidden_size, output_size)
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.pos_emb.apply(_init_weight)

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        return self._encode(word_embs + self.pos_emb(pos_onehot), lengths)


@dataclass
class EvaluatorOutput:
    """Paired embeddings: ``text_emb`` and ``motion_emb`` ``(B, D)``."""

    text_emb: torch.Tensor
    motion_emb: torch.Tensor


class _BuiltinsUnpickler(pickle.Unpickler):
    """Reads pickles of plain containers only (the GloVe word list / index): no class is importable."""

    SAFE = {"dict", "list", "tuple", "set", "frozenset", "str", "int", "float", "bool", "bytes"}

    def find_class(self, module: str, name: str):
        if module == "builtins" and name in self.SAFE:
            import builtins

            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a vocabulary pickle")


def load_glove(glove_dir: str | Path, prefix: str = "our_vab") -> tuple[list[str], np.ndarray]:
    """The T2M GloVe vocabulary: ``(words, vectors (V, 300))`` in word-list order.

    Reads ``{prefix}_data.npy`` (no pickle), ``{prefix}_words.pkl`` (list) and ``{prefix}_idx.pkl``
    (dict word -> row) with an unpickler that only builds builtin containers.
    """
    root = Path(glove_dir)
    paths = [root / f"{prefix}_{s}" for s in ("data.npy", "words.pkl", "idx.pkl")]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"GloVe file {p} not found")
    data = np.load(paths[0], allow_pickle=False)
    with open(paths[1], "rb") as f:
        words = _BuiltinsUnpickler(f).load()
    with open(paths[2], "rb") as f:
        index = _BuiltinsUnpickler(f).load()
    if not isinstance(words, list) or not isinstance(index, dict) or data.ndim != 2:
        raise ValueError(f"{root}: expected a word list, a word->row dict and a (V, D) array")
    missing = [w for w in SPECIAL_WORDS if w not in index]
    if missing:
        raise ValueError(f"GloVe vocabulary in {root} lacks the special words {missing}")
    words = [str(w) for w in words]
    return words, np.stack([data[int(index[w])] for w in words]).astype(np.float32)


class T2MEvaluator(HubModel):
    """The T2M co-embedding evaluator (movement conv encoder + motion BiGRU + text BiGRU).

    Args:
        dim_pose: feature size (263 HumanML3D, 251 KIT); the last 4 (foot contacts) are not used.
        dim_word, dim_pos_ohot: GloVe (300) and POS one-hot (15) sizes.
        dim_movement_enc_hidden, dim_movement_latent: conv encoder widths (512, 512).
        dim_text_hidden, dim_motion_hidden, dim_coemb_hidden: GRU widths (512, 1024) and output (512).
        unit_length: frames per movement step (4).
        max_text_len: tokens kept before ``sos``/``eos`` are added (20).
        max_motion_length: motions are zero-padded to this many frames (196), as in the reference.
        vocab: the GloVe word list (its vectors are the ``word_vectors`` buffer).
    """

    text_key = "tokens"

    def __init__(self, dim_pose: int = 263, dim_word: int = 300, dim_pos_ohot: int = 15,
                 dim_movement_enc_hidden: int = 512, dim_movement_latent: int = 512,
                 dim_text_hidden: int = 512, dim_motion_hidden: int = 1024, dim_coemb_hidden: int = 512,
                 unit_length: int = 4, max_text_len: int = 20, max_motion_length: int = 196,
                 vocab: list[str] | None = None):
        super().__init__()
        if dim_pos_ohot != len(POS_ENUMERATOR):
            raise ValueError(f"dim_pos_ohot must be {len(POS_ENUMERATOR)} (the POS classes), "
                             f"got {dim_pos_ohot}")
        self.dim_pose, self.unit_length, self.max_text_len = dim_pose, unit_length, max_text_len
        self.max_motion_length = max_motion_length
        self.vocab = list(vocab or [])
        self._index = {w: i for i, w in enumerate(self.vocab)}
        # the last 4 features (foot contacts) are not used
        self.movement_encoder = MovementConvEncoder(dim_pose - 4, dim_movement_enc_hidden,
                                                    dim_movement_latent)
        self.text_encoder = TextEncoderBiGRUCo(dim_word, dim_pos_ohot, dim_text_hidden, dim_coemb_hidden)
        self.motion_encoder = MotionEncoderBiGRUCo(dim_movement_latent, dim_motion_hidden, dim_coemb_hidden)
        self.register_buffer("mean", torch.zeros(dim_pose))
        self.register_buffer("std", torch.ones(dim_pose))
        self.register_buffer("word_vectors", torch.zeros(len(self.vocab), dim_word))

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def set_normalization(self, mean, std) -> None:
        """Set the feature mean/std ``(dim_pose,)`` the evaluator was trained with (std clamped at 1e-8,
        as :class:`humo.representations.normalizer.Normalizer`)."""
        set_feature_stats(self, mean, std)

    def _token(self, token: str, tagged: bool) -> tuple[int, int]:
        word, pos = token.rsplit("/", 1) if tagged else (token, "OTHER")
        if word not in self._index:
            return self._index["unk"], POS_ENUMERATOR["OTHER"]
        pos = _VIP_OF.get(word, pos)
        return self._index[word], POS_ENUMERATOR.get(pos, POS_ENUMERATOR["OTHER"])

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(word_embs (B, L+2, 300), pos_onehot (B, L+2, 15), lengths (B,))`` as the reference loader
        builds them: ``sos`` + at most ``max_text_len`` tokens + ``eos``, padded with ``unk``."""
        if not self.vocab:
            raise ValueError("this T2MEvaluator has no GloVe vocabulary; build it with load_official(...)")
        if isinstance(texts, str) or not texts:
            raise ValueError("texts must be a non-empty list of strings")
        rows, lengths = [], []
        for text in texts:
            parts = text.split()
            tagged = bool(parts) and all("/" in p for p in parts)
            if not tagged:
                parts = re.findall(r"[a-z]+", text.lower())
            ids = [self._token(p, tagged) for p in parts[: self.max_text_len]]
            ids = [self._token("sos/OTHER", True)] + ids + [self._token("eos/OTHER", True)]
            lengths.append(len(ids))
            rows.append(ids + [self._token("unk/OTHER", True)] * (self.max_text_len + 2 - len(ids)))
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)  # (B, L, 2): word row, POS class
        pos = nn.functional.one_hot(idx[..., 1], len(POS_ENUMERATOR)).to(self.word_vectors.dtype)
        return self.word_vectors[idx[..., 0]], pos, torch.tensor(lengths)

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``(B, 512)`` caption embeddings (HumanML3D ``word/POS`` token strings, or plain captions)."""
        words, pos, lengths = self.tokenize(texts)
        return self.text_encoder(words, pos, lengths)

    def _motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        features = check_tensor(features, "features", min_dim=3, trailing=(self.dim_pose,))
        lengths = torch.as_tensor(lengths).long().reshape(-1).cpu()
        if features.ndim != 3 or lengths.shape[0] != features.shape[0]:
            raise ValueError(f"features must be (B, T, {self.dim_pose}) with lengths (B,), got "
                             f"{tuple(features.shape)} and {tuple(lengths.shape)}")
        if bool((lengths < self.unit_length).any()) or int(lengths.max()) > features.shape[1]:
            raise ValueError(f"lengths must be in [{self.unit_length}, T={features.shape[1]}], "
                             f"got {lengths.tolist()}")
        # The reference pads normalised motions with zeros to exactly max_motion_length frames; the
        # convolutions see those frames near the end of each motion, so the same padding is needed.
        width = max(self.max_motion_length, int(lengths.max()))
        x = (features[:, :width].to(self.device, self.mean.dtype) - self.mean) / self.std
        x = nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))  # (B, width, dim_pose)
        valid = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)  # (B, width) True = valid frame
        x = x * valid.to(x.device).unsqueeze(-1)
        movements = self.movement_encoder(x[..., :-4])  # foot contacts are not used
        return self.motion_encoder(movements, lengths // self.unit_length)

    @torch.no_grad()
    def embed_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, 512)`` embeddings of raw features ``(B, T, dim_pose)`` with lengths ``(B,)``."""
        return self._motion(features, lengths)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor, texts: list[str]) -> EvaluatorOutput:
        """Paired text and motion embeddings (with gradients)."""
        words, pos, text_lengths = self.tokenize(texts)
        return EvaluatorOutput(self.text_encoder(words, pos, text_lengths), self._motion(features, lengths))

    @classmethod
    def load_official(cls, checkpoint: str | Path, glove_dir: str | Path, mean: str | Path | None = None,
                      std: str | Path | None = None) -> T2MEvaluator:
        """Build the evaluator from the official files.

        Args:
            checkpoint: ``checkpoints/t2m/text_mot_match/model/finest.tar``; read with
                ``torch.load(weights_only=True)`` (tensors and plain containers only, no code runs).
            glove_dir: the folder with ``our_vab_data.npy``, ``our_vab_words.pkl``, ``our_vab_idx.pkl``.
            mean, std: ``.npy`` feature statistics the evaluator was trained with
                (``checkpoints/t2m/Comp_v6_KLD01/meta/{mean,std}.npy``); without them the caller must
                pass features already normalised that way.
        """
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"T2M evaluator checkpoint {path} not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
        parts = ("movement_encoder", "text_encoder", "motion_encoder")
        if not isinstance(state, dict) or any(p not in state for p in parts):
            raise ValueError(f"{path} is not a T2M text_mot_match checkpoint (needs keys {parts})")
        words, vectors = load_glove(glove_dir)
        conv0 = state["movement_encoder"]["main.0.weight"]  # (hidden, dim_pose - 4, 4)
        model = cls(dim_pose=conv0.shape[1] + 4, dim_word=vectors.shape[1],
                    dim_movement_enc_hidden=conv0.shape[0],
                    dim_movement_latent=state["movement_encoder"]["out_net.weight"].shape[0],
                    dim_text_hidden=state["text_encoder"]["input_emb.weight"].shape[0],
                    dim_motion_hidden=state["motion_encoder"]["input_emb.weight"].shape[0],
                    dim_coemb_hidden=state["text_encoder"]["output_net.3.weight"].shape[0], vocab=words)
        for p in parts:
            load_state_dict_strict(getattr(model, p), dict(state[p]))
        model.word_vectors.copy_(torch.from_numpy(vectors))
        if (mean is None) != (std is None):
            raise ValueError("pass both mean and std, or neither")
        if mean is not None:
            model.set_normalization(torch.from_numpy(np.load(mean, allow_pickle=False)),
                                    torch.from_numpy(np.load(std, allow_pickle=False)))
        return model.eval()
