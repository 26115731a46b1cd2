"""Action-class vocabularies for the MAR recognizer (pure python + torch, no ``nn``).

A vocabulary is built either

* from a corpus's ``labels.json`` (``"action"`` field), one class per distinct label, or
* from captions, as in CoAMD: one verb per caption (the first verb after the subject, taken from the
  ``word/VERB`` POS tags of the HumanML3D caption format when present, otherwise found with a small
  English verb lexicon and suffix lemmatisation rules), then synonyms merged by clustering the verbs'
  text embeddings with :func:`balanced_kmeans` (CoAMD uses 400 classes for HumanML3D).

Classes are ordered by training frequency (most frequent first); :func:`frequency_groups` splits them into
head (top 10%), medium (next 30%) and tail (last 60%). Vocabularies round-trip through JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

# Common verbs of motion-capture captions (base forms).
VERB_LEXICON = frozenset("""
act adjust aim applaud approach arch argue ascend attack back balance bang bat beat beckon bend bike
blow bob bounce bow box brace break breathe bring brush bump call carry cartwheel catch celebrate
charge chase cheer chop circle clap clean climb close coil collapse conduct cough cower crawl cross
crouch cry curl curtsy cut dance dash descend dig dive dodge drag draw drink drive drop duck eat
elevate exercise extend fall fan fight fix flail flap flex flick flip float fly fold follow gallop
gesture get give glide grab greet grind guard guide hammer hand hang hit hold hop hug hunch hurry
jab jog juggle jump kick kneel knock land laugh lay lead lean leap lie lift limp look lower lunge
march mime mix move nod open paddle pause pace pat perform pick pivot place play point pose pour
pray prepare press proceed pull pump punch push put raise rake reach read relax respond rest return
rise rock roll rotate row rub run salute saunter scratch shake shift shimmy shoot shove shrug shuffle
sidestep signal sing sip sit skate skip slap slash slide slip slouch smell sneak sneeze spar speak
spin sprint squat stagger stamp stand start step stir stomp stoop stop strafe stretch stride stroll
strum stumble sway sweep swim swing swipe swirl take talk tap tear throw tilt tiptoe toss touch trip
trot turn twirl twist type uppercut vault wait walk wash wave wiggle wipe wobble work wrap write yawn
""".split())

IRREGULAR = {
    "ran": "run", "sat": "sit", "stood": "stand", "went": "go", "goes": "go", "took": "take", "fell": "fall",
    "got": "get", "swam": "swim", "threw": "throw", "thrown": "throw", "caught": "catch", "held": "hold",
    "knelt": "kneel", "leapt": "leap", "lay": "lie", "lying": "lie", "rose": "rise", "risen": "rise",
    "swung": "swing", "spun": "spin", "struck": "hit", "dove": "dive", "flew": "fly", "drew": "draw",
    "does": "do", "did": "do", "shook": "shake", "strode": "stride", "slid": "slide", "stole": "steal",
}

SUBJECT_WORDS = frozenset("""
person man woman he she someone somebody figure human character they individual guy girl boy lady
people subject actor dancer player child kid body it one male female
""".split())

NON_VERBS = frozenset("is are was were be been being am has have had the a an and then with his her".split())


def lemmatize(word: str) -> str | None:
    """The base form of ``word`` if it (or a rule-based lemma of it) is in :data:`VERB_LEXICON`, else None.

    Rules: irregular table; ``-ies -> -y``; ``-es``/``-s``; ``-ing``/``-ed`` with silent-e restoration and
    doubled-consonant removal (``running -> run``, ``dancing -> dance``, ``carried -> carry``).
    """
    w = word.lower().strip(".,;:!?'\"()")
    if not w or w in NON_VERBS:
        return None
    if w in IRREGULAR:
        return IRREGULAR[w]
    candidates = [w]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            stem = w[: -len(suffix)]
            candidates += [stem, stem + "e"]
            if len(stem) > 2 and stem[-1] == stem[-2]:
                candidates.append(stem[:-1])
            if suffix == "ed" and stem.endswith("i"):
                candidates.append(stem[:-1] + "y")
    if w.endswith("ies"):
        candidates.append(w[:-3] + "y")
    if w.endswith("es"):
        candidates.append(w[:-2])
    if w.endswith("s") and not w.endswith("ss"):
        candidates.append(w[:-1])
    return next((c for c in candidates if c in VERB_LEXICON), None)


def extract_verb(caption: str) -> str | None:
    """The main verb (base form) of one caption, or None if none is found.

    ``caption`` is a plain sentence or a HumanML3D caption line ``text#tok/POS tok/POS ...#start#end``;
    with POS tags the first ``/VERB`` lemma after the first noun/pronoun (the subject) is used, else the
    first ``/VERB`` at all. Without tags: the first lexicon verb after the first subject word.
    """
    parts = caption.split("#")
    if len(parts) > 1 and "/" in parts[1]:
        tagged = [t.rsplit("/", 1) for t in parts[1].split() if "/" in t]
        subject = next((i for i, (_, pos) in enumerate(tagged) if pos in ("NOUN", "PRON", "PROPN")), -1)
        verbs = [w.lower() for i, (w, pos) in enumerate(tagged) if pos == "VERB" and i > subject]
        verbs = verbs or [w.lower() for w, pos in tagged if pos == "VERB"]
        if verbs:
            return verbs[0]
    words = re.findall(r"[a-zA-Z]+", parts[0].lower())
    start = next((i + 1 for i, w in enumerate(words) if w in SUBJECT_WORDS), 0)
    for w in words[start:] + words[:start]:
        lemma = lemmatize(w)
        if lemma is not None:
            return lemma
    return None


def third_person(verb: str) -> str:
    """``walk -> walks``, ``punch -> punches``, ``carry -> carries``."""
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def class_prompt(name: str) -> str:
    """The sentence used as the text of an action class: ``"walk-back" -> "a person walks back"``.

    Names whose first word is not a known verb become ``"a person performs the action <name>"``.
    """
    words = re.split(r"[\s_\-]+", name.strip().lower())
    words = [w for w in words if w]
    if not words:
        raise ValueError("an action class name is empty")
    if words[0] in VERB_LEXICON:
        return " ".join(["a person", third_person(words[0]), *words[1:]])
    return "a person performs the action " + " ".join(words)


def frequency_groups(counts: list[int]) -> list[str]:
    """``"head"`` / ``"medium"`` / ``"tail"`` per class: top 10% / next 30% / last 60% by frequency.

    Group sizes are ``round(0.1 K)`` (at least 1) and ``round(0.4 K) - head``, rounding halves up;
    ties in frequency keep the given order.
    """
    k = len(counts)
    n_head = max(1, math.floor(0.1 * k + 0.5)) if k else 0
    n_medium = max(0, min(k, math.floor(0.4 * k + 0.5)) - n_head)
    order = sorted(range(k), key=lambda i: -counts[i])
    groups = [""] * k
    for rank, i in enumerate(order):
        groups[i] = "head" if rank < n_head else "medium" if rank < n_head + n_medium else "tail"
    return groups


@dataclass
class KMeansResult:
    """Output of :func:`balanced_kmeans`: ``assign (N,)`` cluster ids, ``centroids (K, D)``, ``iters``."""

    assign: torch.Tensor
    centroids: torch.Tensor
    iters: int


def _balanced_assign(dist: torch.Tensor) -> torch.Tensor:
    """Greedy assignment of ``N`` points to ``K`` clusters (closest pairs first) with sizes in
    ``{floor(N/K), ceil(N/K)}``; always completes because the capacities sum to ``N``."""
    n, k = dist.shape
    base, extra = divmod(n, k)
    assign = [-1] * n
    sizes = [0] * k
    left = n
    for flat in dist.flatten().argsort(stable=True).tolist():
        i, c = divmod(flat, k)
        if assign[i] >= 0:
            continue
        if sizes[c] < base or (sizes[c] == base and extra > 0):
            extra -= sizes[c] == base
            assign[i], sizes[c], left = c, sizes[c] + 1, left - 1
            if left == 0:
                break
    return torch.tensor(assign, dtype=torch.long, device=dist.device)


def balanced_kmeans(x: torch.Tensor, k: int, iters: int = 50, generator: torch.Generator | None = None
                    ) -> KMeansResult:
    """k-means whose clusters differ in size by at most one (greedy capacity-constrained assignment).

    Args:
        x: ``(N, D)`` points (use L2-normalised embeddings for cosine clustering).
        k: number of clusters, ``1 <= k <= N``.
        iters: maximum Lloyd iterations (stops early when the assignment is stable).
        generator: draws the k-means++ initialisation.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not torch.is_floating_point(x):
        raise ValueError(f"x must be a float (N, D) tensor, got {getattr(x, 'shape', type(x))}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf values")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, N={n}], got {k}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    first = int(torch.randint(n, (1,), generator=generator, device=gen_device))
    centroids = [x[first]]
    for _ in range(1, k):  # k-means++: next centre with probability proportional to squared distance
        d2 = torch.cdist(x, torch.stack(centroids)).min(1).values.pow(2)
        probs = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)
        centroids.append(x[int(torch.multinomial(probs.to(gen_device), 1, generator=generator))])
    cent = torch.stack(centroids)
    assign = torch.full((n,), -1, dtype=torch.long, device=x.device)
    done = 0
    while done < iters:
        done += 1
        new = _balanced_assign(torch.cdist(x, cent))
        if torch.equal(new, assign):
            break
        assign = new
        sizes = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        cent = torch.zeros_like(cent).index_add_(0, assign, x) / sizes
    return KMeansResult(assign, cent, done)


@dataclass
class ActionClasses:
    """An action-class vocabulary.

    Attributes:
        names: class names, most frequent first.
        counts: training frequency per class (same order).
        members: class name -> labels or verbs merged into it.
        source: ``"labels"`` or ``"captions"``.
    """

    names: list[str]
    counts: list[int]
    members: dict[str, list[str]] = field(default_factory=dict)
    source: str = "labels"

    def __post_init__(self):
        if len(self.names) != len(self.counts):
            raise ValueError(f"{len(self.names)} class names but {len(self.counts)} counts")
        if len(set(self.names)) != len(self.names):
            raise ValueError("class names must be unique")
        self.members = {n: list(self.members.get(n, [n])) for n in self.names}
        self._lookup = {m: i for i, n in enumerate(self.names) for m in [n, *self.members[n]]}

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Class id of a class name or member (label / verb); ValueError if unknown."""
        if name not in self._lookup:
            raise ValueError(f"unknown action class {name!r}")
        return self._lookup[name]

    def get(self, name: str | None) -> int:
        """Class id, or -1 for None / an unknown name."""
        return self._lookup.get(name, -1) if name is not None else -1

    def caption_class(self, captions: Iterable[str]) -> int:
        """Most common class among the verbs of a clip's captions (-1 if none is in the vocabulary)."""
        votes = Counter(c for c in (self.get(extract_verb(t)) for t in captions) if c >= 0)
        return votes.most_common(1)[0][0] if votes else -1

    def prompts(self) -> list[str]:
        """One sentence per class (:func:`class_prompt`)."""
        return [class_prompt(n) for n in self.names]

    def groups(self) -> list[str]:
        """head / medium / tail per class (:func:`frequency_groups`)."""
        return frequency_groups(self.counts)

    def to_dict(self) -> dict:
        return {"names": self.names, "counts": self.counts, "members": self.members, "source": self.source,
                "groups": self.groups()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ActionClasses:
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"action-class file {path} not found") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt action-class file {path}: {e}") from e
        return cls(d["names"], [int(c) for c in d["counts"]], d.get("members", {}), d.get("source", "labels"))

    @classmethod
    def from_labels(cls, labels: Mapping[str, Mapping] | str | Path, ids: Iterable[str] | None = None,
                    key: str = "action") -> ActionClasses:
        """One class per distinct ``labels[id][key]`` (``labels.json`` or its dict), counted over ``ids``."""
        if not isinstance(labels, Mapping):
            try:
                labels = json.loads(Path(labels).read_text())
            except FileNotFoundError:
                raise FileNotFoundError(f"labels file {labels} not found") from None
        ids = list(labels) if ids is None else list(ids)
        counts = Counter(labels[i][key] for i in ids if i in labels and labels[i].get(key))
        if not counts:
            raise ValueError(f"no {key!r} labels found for the given ids")
        names = sorted(counts, key=lambda n: (-counts[n], n))
        return cls(names, [counts[n] for n in names], source="labels")

    @classmethod
    def from_captions(cls, captions: Iterable[str], encoder, num_classes: int,
                      generator: torch.Generator | None = None) -> ActionClasses:
        """Verbs extracted from ``captions``, merged into ``num_classes`` classes by balanced k-means on
        the text embeddings (``encoder.encode(list[str]) -> (N, D)``) of their :func:`class_prompt`.

        With at most ``num_classes`` distinct verbs every verb is its own class. A cluster is named after
        its most frequent verb.
        """
        counts = Counter(v for v in map(extract_verb, captions) if v is not None)
        if not counts:
            raise ValueError("no verbs could be extracted from the captions")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        verbs = sorted(counts, key=lambda v: (-counts[v], v))
        if len(verbs) <= num_classes:
            return cls(verbs, [counts[v] for v in verbs], source="captions")
        emb = torch.as_tensor(encoder.encode([class_prompt(v) for v in verbs])).float()
        result = balanced_kmeans(torch.nn.functional.normalize(emb, dim=-1), num_classes, generator=generator)
        clusters: dict[int, list[str]] = {}
        for v, c in zip(verbs, result.assign.tolist(), strict=True):
            clusters.setdefault(c, []).append(v)  # verbs are frequency-ordered: the first one names it
        ranked = sorted(clusters.values(), key=lambda m: (-sum(counts[v] for v in m), m[0]))
        return cls([m[0] for m in ranked], [sum(counts[v] for v in m) for m in ranked],
                   {m[0]: m for m in ranked}, source="captions")
