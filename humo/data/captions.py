"""Captions: template phrasings for labelled clips, HumanML3D caption lines, left/right swapping.

Caption lines follow HumanML3D: ``caption#tok/POS tok/POS ...#start#end`` (``0.0#0.0`` = whole clip).
There is no tagger dependency: a small lexicon lemmatises and tags the words the templates use (and the
common words of mocap descriptions); any other word is written ``word/X``.
"""

from __future__ import annotations

import random
import re

from humo.data.phrasings import (
    ACTION_TABLE,
    BODY_PARTS,
    HELD_OUT_PLACES,
    HELD_OUT_SUBJECTS,
    PLACES,
    STATIONARY,
    STYLE_TABLE,
    SUBJECTS,
    TEST_TEMPLATES,
    TRAIN_TEMPLATES,
)


# --- phrasings ------------------------------------------------------------------------------------------
def _entries(table: str) -> dict[str, str]:
    """``name: body`` entries; indented lines continue the previous entry."""
    out: dict[str, str] = {}
    name = ""
    for line in table.strip().splitlines():
        if line.startswith(" "):
            out[name] += " " + line.strip()
        else:
            name, body = line.split(":", 1)
            out[name] = body.strip()
    return out


def _phrases(body: str, held_out: bool) -> list[tuple[str, str]]:
    pairs = [p.strip() for p in body.split(";")]
    return [tuple(x.strip() for x in p.lstrip("!").split("|")) for p in pairs if p.startswith("!") == held_out]


_TABLE = _entries(ACTION_TABLE)
ACTIONS: dict[str, list[tuple[str, str]]] = {name: _phrases(body, False) for name, body in _TABLE.items()}
HELD_OUT_ACTIONS: dict[str, list[tuple[str, str]]] = {name: _phrases(body, True) for name, body in _TABLE.items()}
for _d in (ACTIONS, HELD_OUT_ACTIONS):
    _d["dance-long"] = _d["dance-short"] = _d["dance"]
STYLES: dict[str, dict[str, list[str]]] = {
    name: dict(zip(("adv", "manner", "subj"),
                   (["" if w.strip() == "-" else w.strip() for w in part.split(",")]
                    for part in body.split("/")), strict=True))
    for name, body in _entries(STYLE_TABLE).items()
}
STYLES["normal"]["subj"] = list(SUBJECTS)
STYLES["masculinity"] = STYLES["masculine"]
STYLES["old"] = STYLES["elderly"]

# --- left / right -----------------------------------------------------------------------------------------
_SWAP = {"left": "right", "right": "left", "leftward": "rightward", "rightward": "leftward",
         "leftwards": "rightwards", "rightwards": "leftwards", "clockwise": "counterclockwise",
         "counterclockwise": "clockwise", "anticlockwise": "clockwise", "counter-clockwise": "clockwise",
         "anti-clockwise": "clockwise"}
_SWAP_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SWAP), key=len, reverse=True)) + r")\b", re.I)


def swap_left_right(text: str) -> str:
    """Swap "left"<->"right" and "clockwise"<->"counterclockwise"/"anticlockwise" (case kept)."""
    def repl(m: re.Match) -> str:
        word = m.group(0)
        new = _SWAP[word.lower()]
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new
    return _SWAP_RE.sub(repl, text)


def action_phrases(action: str, held_out: bool = False) -> list[tuple[str, str]]:
    """Verb phrases ``(third person, gerund)`` for ``action``: the train phrasings, or with ``held_out`` the
    ones only test captions use (ValueError naming the known actions if unknown)."""
    table = HELD_OUT_ACTIONS if held_out else ACTIONS
    if action in table:
        return table[action]
    mirrored = swap_left_right(action)
    if mirrored != action and mirrored in table:
        return [(swap_left_right(a), swap_left_right(b)) for a, b in table[mirrored]]
    raise ValueError(f"no phrasing for action {action!r}; known: {sorted(ACTIONS)}")


def has_phrasing(action: str | None) -> bool:
    """Whether the grammar knows ``action`` (its captions can be templated)."""
    return bool(action) and (action in ACTIONS or swap_left_right(action) in ACTIONS)


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,])", r"\1", text)
    return text.lstrip(", ").strip()


def clip_captions(action: str | None, style: str | None, given: list[str], test: bool, key: str) -> list[str]:
    """A clip's captions: its ``given`` ones (KIT-ML, descriptions) then templated phrasings of its action
    (3, or 2 next to given captions; none if the grammar does not know the action and captions are given),
    seeded by ``key``; ``test`` clips get a held-out first templated phrasing (:func:`make_captions`)."""
    if given and not has_phrasing(action):
        return list(given)
    templated = make_captions(str(action), style, random.Random(key), n=2 if given else 3, test=test)
    return list(dict.fromkeys([*given, *templated]))


def _body_words(text: str, rng: random.Random) -> str:
    """Say a body part either way ("the left hand" / "the left arm")."""
    for word, options in BODY_PARTS.items():
        if word in text:
            text = text.replace(word, rng.choice(options))
    return text


def _place(action: str, rng: random.Random, held_out: bool) -> str:
    if swap_left_right(action) not in STATIONARY and action not in STATIONARY:
        return ""
    if held_out:
        return rng.choice(["", " " + rng.choice(HELD_OUT_PLACES)])
    return rng.choice(["", ""] + [" " + p for p in PLACES])


def make_captions(action: str, style: str | None, rng: random.Random, n: int = 3,
                  test: bool = False) -> list[str]:
    """``n`` distinct phrasings of ``action`` performed in ``style``.

    Train/val clips draw from the train grammar only (:data:`TRAIN_TEMPLATES`, the train verb phrases,
    subjects, places and body-part words). A test clip's (``test=True``) first caption is **held out**
    whole: a :data:`TEST_TEMPLATES` template, a held-out verb phrase of the action, a held-out subject (for
    unstyled clips) and maybe a held-out place phrase; its other captions come from the train grammar.
    """
    words = STYLES.get(style or "normal")
    if words is None:
        raise ValueError(f"no phrasing for style {style!r}; known: {sorted(STYLES)}")
    phrases, held = action_phrases(action), action_phrases(action, held_out=True) or action_phrases(action)
    pool = list(TRAIN_TEMPLATES)
    rng.shuffle(pool)
    templates = ([rng.choice(TEST_TEMPLATES)] if test else []) + pool
    out: list[str] = []
    for i, tmpl in enumerate(templates):
        if len(out) == n:
            break
        held_out = test and i == 0
        for _ in range(5):  # redraw the words if this phrasing is already taken
            vp, ving = rng.choice(held if held_out else phrases)
            if not held_out:
                vp, ving = _body_words(vp, rng), _body_words(ving, rng)
            # held-out phrasings always carry style words, so they never collapse onto a train phrasing
            fill = {k: rng.choice([w for w in words[k] if w or not held_out]) for k in ("subj", "adv", "manner")}
            if held_out and (style or "normal") == "normal":
                fill["subj"] = rng.choice(HELD_OUT_SUBJECTS)
            where = _place(action, rng, held_out)
            text = _clean(tmpl.format(vp=vp, ving=ving, where=where, **fill))
            if text not in out:
                out.append(text)
                break
    return out


# --- tagging ----------------------------------------------------------------------------------------------
_VERBS = ("walk run jog sprint dash stroll step move bow bend wave say guide gesture point show "
          "respond react answer call beckon come punch throw strike kick deliver slash swing make "
          "dance perform do turn raise lift put keep stand sit jump hop climb hang pick hold take "
          "pose go stop start look reach lean crouch kneel squat stretch spin rotate carry push pull "
          "fall lie get play swim skip shake clap amble race retreat bid direct motion reply box jab cut fight "
          "hold place set lay drop touch bring twist tap grab bounce curve snap lower circle windmill sneak "
          "tiptoe creep stalk crouch rise shoot toss leap dribble handle fence practice spar hurry stoop "
          "wash scrub shower rinse").split()
_IRREGULAR = {"running": "run", "stepping": "step", "putting": "put", "jogging": "jog", "sitting": "sit",
              "swimming": "swim", "hopping": "hop", "skipping": "skip", "stopping": "stop", "getting": "get",
              "does": "do", "goes": "go", "says": "say", "lying": "lie", "swung": "swing", "threw": "throw",
              "bidding": "bid", "boxes": "box", "jabbing": "jab", "cutting": "cut", "tapping": "tap",
              "dropping": "drop", "snapping": "snap", "rising": "rise", "sparring": "spar", "hurries": "hurry",
              "stooping": "stoop", "lays": "lay", "laying": "lay", "tiptoes": "tiptoe", "tiptoeing": "tiptoe",
              "windmilling": "windmill", "practicing": "practice", "dribbling": "dribble", "fencing": "fence"}
_POS_WORDS = {
    "DET": "a an the this that each every some another",
    "PRON": "someone somebody he she they it his her their its him them something",
    "ADP": "to in with like without at of toward towards from by on for into as over around across through",
    "CCONJ": "and or but",
    "SCONJ": "while if before after until",
    "AUX": "is are was were be been",
    "NUM": "one two three four five several",
    "ADV": "forward ahead straight back backward backwards again up down away around repeatedly "
           "slowly quickly sideways once twice also very really then",
    "ADJ": "happy cheerful sad unhappy gloomy angry furious proud confident timid shy insecure "
           "unconfident masculine manly macho tough feminine graceful elegant childish childlike "
           "playful young youthful old elderly tired exhausted weary drained energetic active lively "
           "musical theatrical huge heavy hulking normal relaxed left right both full great slow fast "
           "large small big high low",
    "NOUN": "person man woman child kid teenager thug punk delinquent performer stage giant way "
            "manner hand hands arm arms fist sword kick dance routine bow wave motions motion steps "
            "step speed gesture pride confidence joy sadness anger fatigue energy flair style lots "
            "times swagger street bye goodbye leg legs foot feet head body circle ladder bar floor "
            "ground object ball human direction",
}
_LEXICON: dict[str, tuple[str, str]] = {w: (w, pos) for pos, ws in _POS_WORDS.items() for w in ws.split()}


def _verb_forms(lemma: str) -> list[str]:
    third = lemma + ("es" if lemma.endswith(("s", "sh", "ch", "x", "o")) else "s")
    ing = (lemma[:-1] if lemma.endswith("e") and not lemma.endswith("ee") else lemma) + "ing"
    return [lemma, third, ing, lemma + "ed" if not lemma.endswith("e") else lemma + "d"]


for _v in _VERBS:
    for _form in _verb_forms(_v):
        _LEXICON.setdefault(_form, (_v, "VERB"))
for _form, _v in _IRREGULAR.items():
    _LEXICON[_form] = (_v, "VERB")
_LEXICON["waves"] = ("wave", "VERB")  # the verb, as in every template

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def tag(text: str) -> str:
    """``"tok/POS ..."``: lemma/POS from the lexicon, ``word/ADV`` for ``-ly`` words, else ``word/X``."""
    out = []
    for word in _TOKEN.findall(text.lower()):
        if word in _LEXICON:
            lemma, pos = _LEXICON[word]
        elif word.endswith("ly") and len(word) > 4:
            lemma, pos = word, "ADV"
        elif word.isdigit():
            lemma, pos = word, "NUM"
        else:
            lemma, pos = word, "X"
        out.append(f"{lemma}/{pos}")
    return " ".join(out)


def caption_line(text: str, start: float = 0.0, end: float = 0.0) -> str:
    """One HumanML3D caption line ``text#tags#start#end`` (``#`` and newlines removed from ``text``)."""
    text = re.sub(r"[#\r\n]+", " ", text).strip()
    if not text:
        raise ValueError("empty caption")
    return f"{text}#{tag(text)}#{start:.1f}#{end:.1f}"


def parse_caption_line(line: str) -> str:
    """The caption text of a HumanML3D caption line (everything before the first ``#``)."""
    return line.split("#", 1)[0].strip()
