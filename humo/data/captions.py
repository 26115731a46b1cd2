"""Captions: template phrasings for labelled clips, HumanML3D caption lines, left/right swapping.

Caption lines follow HumanML3D: ``caption#tok/POS tok/POS ...#start#end`` (``0.0#0.0`` = whole clip).
There is no tagger dependency: a small lexicon lemmatises and tags the words the templates use (and the
common words of mocap descriptions); any other word is written ``word/X``.
"""

from __future__ import annotations

import random
import re

# --- phrasings ------------------------------------------------------------------------------------------
# action: third-person verb phrase | gerund phrase; ... ("-right" actions are derived from "-left" ones)
_ACTION_TABLE = """
walk: walks forward|walking forward; walks ahead|walking ahead;
  walks straight forward|walking straight forward; strolls forward|strolling forward
run: runs forward|running forward; jogs ahead|jogging ahead; runs straight ahead|running straight ahead
dash: sprints forward|sprinting forward; dashes ahead|dashing ahead;
  runs forward at full speed|running forward at full speed
walk-back: walks backward|walking backward; walks backwards|walking backwards;
  steps back several times|stepping back several times
walk-left: walks to the left|walking to the left; walks toward the left|walking toward the left;
  moves to the left|moving to the left
bow: bows|bowing; bows politely|bowing politely; bends forward in a bow|bending forward in a bow
bye: waves goodbye|waving goodbye; waves a hand to say bye|waving a hand to say bye;
  says goodbye with a wave|saying goodbye with a wave
byebye: waves goodbye again and again|waving goodbye again and again; waves bye bye|waving bye bye;
  keeps on waving goodbye|waving goodbye repeatedly
guide: gestures to show the way|gesturing to show the way;
  guides someone with a hand gesture|guiding someone with a hand gesture;
  points the way with a hand|pointing the way with a hand
respond: responds with a gesture|responding with a gesture; reacts to someone|reacting to someone;
  answers someone with a gesture|answering someone with a gesture
call: calls someone over|calling someone over; beckons someone to come|beckoning someone to come;
  calls out to someone|calling out to someone
punch: punches|punching; throws punches|throwing punches; strikes with a fist|striking with a fist
kick: kicks|kicking; kicks forward|kicking forward; delivers a kick|delivering a kick
slash: slashes with a sword|slashing with a sword; swings a sword|swinging a sword;
  makes slashing motions|making slashing motions
dance: dances|dancing; performs a dance|performing a dance; does a dance routine|doing a dance routine
walk-turn-left: walks and turns left|walking and turning left;
  walks forward and then turns to the left|walking forward and then turning to the left;
  turns left while walking|turning left while walking
wave-both-hands: waves both hands|waving both hands; waves with both hands|waving with both hands;
  waves both arms|waving both arms
wave-left-hand: waves the left hand|waving the left hand; waves with the left hand|waving with the left hand;
  raises the left hand and waves|raising the left hand and waving
raise-up-both-hands: raises both hands|raising both hands; lifts both arms up|lifting both arms up;
  puts both hands up|putting both hands up
raise-up-left-hand: raises the left hand|raising the left hand; lifts the left arm up|lifting the left arm up;
  puts the left hand up|putting the left hand up
"""

# style: adverbs (before the verb) / manner phrases (after it) / subjects; "-" = no style words
_STYLE_TABLE = """
normal: -, normally, casually / -, in a normal way, in a relaxed manner / a person, someone, a man
happy: happily, cheerfully, joyfully / in a happy way, in a cheerful manner, with joy /
  a happy person, a cheerful person, someone happy
sad: sadly, gloomily, sorrowfully / in a sad way, in a gloomy manner, with sadness /
  a sad person, an unhappy person, someone sad
angry: angrily, furiously, irritably / in an angry way, in a furious manner, with anger /
  an angry person, a furious person, someone angry
proud: proudly, confidently, arrogantly / in a proud way, with pride, in a confident manner /
  a proud person, a confident person, someone proud
not-confident: timidly, shyly, nervously / in an unconfident way, without confidence, in a timid manner /
  a timid person, a shy person, an insecure person
masculine: manfully, boldly, sturdily / in a masculine way, in a manly manner, like a tough man /
  a masculine person, a manly person, a macho man
feminine: gracefully, elegantly, daintily / in a feminine way, in a feminine manner, like a graceful woman /
  a feminine person, a graceful woman, an elegant person
childish: childishly, playfully, boyishly / like a child, in a childish way, in a childlike manner /
  a child, a childish person, a playful kid
youthful: youthfully, spryly, buoyantly / in a youthful way, like a young person, with youthful energy /
  a young person, a youthful person, a teenager
elderly: stiffly, feebly, frailly / like an old person, in an elderly way, like an elderly man /
  an old person, an elderly person, an old man
tired: tiredly, wearily, sluggishly / in a tired way, in an exhausted way, with fatigue /
  a tired person, an exhausted person, a weary person
exhausted: wearily, tiredly, exhaustedly / in an exhausted way, as if exhausted, with great fatigue /
  an exhausted person, a drained person, a weary person
active: energetically, actively, vigorously / in an active way, with lots of energy, in an energetic manner /
  an energetic person, an active person, a lively person
musical: rhythmically, theatrically, musically / like in a musical, in a musical style,
  with theatrical flair / a musical performer, a stage performer, a theatrical person
giant: heavily, ponderously, lumberingly / like a giant, like a huge heavy giant, with heavy giant steps /
  a giant, a huge person, a hulking giant
chimpira: cockily, swaggeringly, menacingly / like a thug, like a street punk, with a swagger /
  a thug, a street punk, a delinquent
"""


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


ACTIONS: dict[str, list[tuple[str, str]]] = {
    name: [tuple(p.strip() for p in pair.split("|")) for pair in body.split(";")]
    for name, body in _entries(_ACTION_TABLE).items()
}
ACTIONS["dance-long"] = ACTIONS["dance-short"] = ACTIONS["dance"]
STYLES: dict[str, dict[str, list[str]]] = {
    name: dict(zip(("adv", "manner", "subj"),
                   (["" if w.strip() == "-" else w.strip() for w in part.split(",")]
                    for part in body.split("/")), strict=True))
    for name, body in _entries(_STYLE_TABLE).items()
}
STYLES["masculinity"] = STYLES["masculine"]
STYLES["old"] = STYLES["elderly"]

TRAIN_TEMPLATES = ("{subj} {vp}.", "a person {vp} {manner}.", "someone {adv} {vp}.", "{subj} is {ving}.",
                   "{subj} {vp} {adv}.", "a person is {ving} {manner}.")
TEST_TEMPLATES = ("{manner}, someone {vp}.", "a person {ving} {adv}.")  # never used for train/val clips

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


def action_phrases(action: str) -> list[tuple[str, str]]:
    """Verb phrases for ``action`` (ValueError naming the known actions if unknown)."""
    if action in ACTIONS:
        return ACTIONS[action]
    mirrored = swap_left_right(action)
    if mirrored != action and mirrored in ACTIONS:
        return [(swap_left_right(a), swap_left_right(b)) for a, b in ACTIONS[mirrored]]
    raise ValueError(f"no phrasing for action {action!r}; known: {sorted(ACTIONS)}")


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,])", r"\1", text)
    return text.lstrip(", ").strip()


def make_captions(action: str, style: str | None, rng: random.Random, n: int = 3,
                  test: bool = False) -> list[str]:
    """``n`` distinct phrasings of ``action`` performed in ``style``.

    Train/val clips draw from :data:`TRAIN_TEMPLATES` only; test clips (``test=True``) draw from all templates
    and always include at least one of :data:`TEST_TEMPLATES`.
    """
    phrases = action_phrases(action)
    words = STYLES.get(style or "normal")
    if words is None:
        raise ValueError(f"no phrasing for style {style!r}; known: {sorted(STYLES)}")
    pool = list(TRAIN_TEMPLATES)
    templates = [rng.choice(TEST_TEMPLATES)] if test else []
    if test:
        pool += [t for t in TEST_TEMPLATES if t not in templates]
    rng.shuffle(pool)
    templates += pool[: n - len(templates)]
    out: list[str] = []
    for tmpl in templates:
        # test-only phrasings always carry their style words, so "normal" clips cannot collapse them onto a
        # train phrasing ("someone walks forward.")
        test_only = tmpl in TEST_TEMPLATES
        for _ in range(5):  # redraw the words if this phrasing is already taken
            vp, ving = rng.choice(phrases)
            fill = {k: rng.choice([w for w in words[k] if w or not test_only]) for k in ("subj", "adv",
                                                                                           "manner")}
            text = _clean(tmpl.format(vp=vp, ving=ving, **fill))
            if text not in out:
                out.append(text)
                break
    return out


# --- tagging ----------------------------------------------------------------------------------------------
_VERBS = ("walk run jog sprint dash stroll step move bow bend wave say guide gesture point show "
          "respond react answer call beckon come punch throw strike kick deliver slash swing make "
          "dance perform do turn raise lift put keep stand sit jump hop climb hang pick hold take "
          "pose go stop start look reach lean crouch kneel squat stretch spin rotate carry push pull "
          "fall lie get play swim skip shake clap").split()
_IRREGULAR = {"running": "run", "stepping": "step", "putting": "put", "jogging": "jog", "sitting": "sit",
              "swimming": "swim", "hopping": "hop", "skipping": "skip", "stopping": "stop", "getting": "get",
              "does": "do", "goes": "go", "says": "say", "lying": "lie", "swung": "swing", "threw": "throw"}
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
