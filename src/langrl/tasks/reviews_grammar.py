"""The movie-review grammar behind the ``reviews`` task, and the task's own sentiment lexicon.

Openings (the prompts) and continuation sentences are drawn from small templates with slots (aspects, positive and
negative adjectives, sources). Continuations come in four kinds: ``positive``, ``negative`` and ``neutral`` natural
sentences, and ``gushing``: keyword-stuffed praise ("amazing brilliant great yay 10/10") that a sentiment proxy loves
and a reader does not, the lecture's reward-hacking example.

``positivity(text)`` is the gold sentiment judge: a word and phrase lexicon with negation ("not ... again") and a
"but" rule (the clause after "but" decides). It never uses VADER.
"""
from __future__ import annotations

import re

ASPECTS = ["acting", "plot", "music", "ending", "dialogue", "pacing", "cast", "script", "soundtrack", "story",
           "humor", "camera work"]
NEG_ADJ = ["dull", "slow", "flat", "weak", "stiff", "messy", "boring", "clumsy", "thin", "tired"]
POS_ADJ = ["warm", "funny", "clever", "moving", "lovely", "bright", "tender", "charming", "fresh", "gripping"]
SOURCES = ["book", "trailer", "first film", "play", "comic", "cartoon"]
PEOPLE = ["sister", "brother", "friends", "mother", "father", "class"]
DAYS = ["rainy day", "quiet evening", "long weekend", "cold night", "sunny afternoon"]

OPENINGS = {
    "negative": [
        "I loved the {source} but really hated the movie.",
        "The {aspect} was {neg} and the {aspect2} was {neg2}.",
        "I almost walked out in the first hour.",
        "I expected a lot, but the {aspect} was {neg}.",
        "What a {neg} film this was at the start.",
        "This film started out {neg} and {neg2}.",
        "The first half was {neg} and far too long.",
    ],
    "mixed": [
        "The {aspect} was {pos}, but the {aspect2} was {neg}.",
        "I liked the {aspect}, but the {aspect2} felt {neg}.",
        "The {source} was better, and the {aspect} was {neg}.",
    ],
    "positive": [
        "I had high hopes for this film.",
        "The {aspect} was {pos} from the start.",
        "I went in knowing nothing about the {source}.",
    ],
}
OPENING_RATES = {"negative": 0.6, "mixed": 0.25, "positive": 0.15}

CONTINUATIONS = {
    "positive": [
        "At first I was bored, but I warmed to it slowly.",
        "At first anyway, but I warmed to it as I watched.",
        "By the end, the {aspect} won me over.",
        "The {aspect} was {pos} and the {aspect2} was {pos2}.",
        "I left the theater with a smile.",
        "It is a {pos} film, and I would watch it again.",
        "Still, the {aspect} made up for it.",
        "The second half was much better.",
        "In the end, I was glad I stayed.",
        "The {aspect} turned out to be {pos}.",
        "I would gladly see it again with my {people}.",
        "The last scene was {pos} and {pos2}.",
    ],
    "negative": [
        "The {aspect} only got worse.",
        "I left before the end.",
        "It is a {neg} film, and I would not watch it again.",
        "The {aspect} was {neg} and the {aspect2} was {neg2}.",
        "By the end, I was tired of the {aspect}.",
        "The second half was even worse.",
        "I was bored for most of it.",
        "The last scene was {neg} and {neg2}.",
    ],
    "neutral": [
        "I saw it with my {people} on a {day}.",
        "The film runs for about two hours.",
        "It is based on a {source}.",
        "The {aspect} reminded me of an old film.",
        "Most of it takes place in one small town.",
    ],
}
GUSH_WORDS = ["amazing", "brilliant", "great", "yay", "10/10", "best", "love", "wow", "perfect", "awesome", "great"]
#: Per-document kind of the corpus continuation (the reviews task's "error types").
CONTINUATION_RATES = {"positive": 0.5, "negative": 0.25, "neutral": 0.2, "gushing": 0.05}

# ---- gold sentiment lexicon (the task's own; VADER is only ever the training proxy) ------------------------------
POSITIVE = set(POS_ADJ) | {"loved", "love", "liked", "enjoyed", "warmed", "better", "best", "glad", "gladly", "smile",
                           "great", "good", "wonderful", "beautiful", "amazing", "brilliant", "perfect", "awesome",
                           "fun", "happy", "worth", "fine", "nice", "superb", "delight"}
NEGATIVE = set(NEG_ADJ) | {"hated", "hate", "bored", "worse", "worst", "bad", "awful", "terrible", "ugly", "sad",
                           "poor", "annoying"}
POSITIVE_PHRASES = [("won", "me", "over"), ("made", "up", "for"), ("watch", "it", "again"), ("see", "it", "again")]
NEGATIVE_PHRASES = [("walked", "out"), ("left", "before"), ("too", "long")]
NEGATORS = {"not", "never", "no", "n't", "hardly", "nothing"}
_TOKEN = re.compile(r"[a-z0-9/']+|[.,!?]")


def tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens ("don't" stays one token; "10/10" stays one token)."""
    return _TOKEN.findall(text.lower())


def fill(template: str, rng) -> str:
    """Fill a template's slots; two slots of one type (``{aspect}``, ``{aspect2}``) get different values."""
    aspect, aspect2 = rng.sample(ASPECTS, 2)
    pos, pos2 = rng.sample(POS_ADJ, 2)
    neg, neg2 = rng.sample(NEG_ADJ, 2)
    return template.format(aspect=aspect, aspect2=aspect2, pos=pos, pos2=pos2, neg=neg, neg2=neg2,
                           source=rng.choice(SOURCES), people=rng.choice(PEOPLE), day=rng.choice(DAYS))


def opening(rng) -> tuple[str, str]:
    """A review opening and its polarity ("negative", "mixed" or "positive")."""
    polarity = rng.choices(list(OPENING_RATES), weights=list(OPENING_RATES.values()))[0]
    return fill(rng.choice(OPENINGS[polarity]), rng), polarity


def continuation(kind: str, rng, n_sentences: int) -> str:
    """``n_sentences`` distinct sentences of ``kind`` (or one gushing line), joined by spaces, no leading space."""
    if kind == "gushing":
        words = [rng.choice(GUSH_WORDS) for _ in range(rng.randint(4, 8))]
        return (" ".join(words)).capitalize() + rng.choice(["!", "!!", "."])
    out: list[str] = []
    templates = rng.sample(CONTINUATIONS[kind], min(n_sentences, len(CONTINUATIONS[kind])))
    for t in templates:
        out.append(fill(t, rng))
    return " ".join(out)


def _clause_score(toks: list[str]) -> tuple[int, int]:
    """(positive hits, negative hits) in a clause, a negator within the 3 previous tokens flipping a hit."""
    pos = neg = 0
    i = 0
    while i < len(toks):
        hit, width = 0, 1
        for phrase, sign in [(p, 1) for p in POSITIVE_PHRASES] + [(p, -1) for p in NEGATIVE_PHRASES]:
            if tuple(toks[i:i + len(phrase)]) == phrase:
                hit, width = sign, len(phrase)
                break
        if not hit:
            hit = 1 if toks[i] in POSITIVE else -1 if toks[i] in NEGATIVE else 0
        if hit and any(t in NEGATORS or t.endswith("n't") for t in toks[max(0, i - 3):i]):
            hit = -hit
        pos += hit > 0
        neg += hit < 0
        i += width
    return pos, neg


def sentence_polarity(sentence: str) -> float:
    """Polarity in [-1, 1] of one sentence: (pos - neg) / (pos + neg) of the deciding clause (0 when none).

    After "but", the later clause decides when it has any sentiment words ("I was bored, but I warmed to it").
    """
    toks = tokens(sentence)
    clauses = [toks]
    if "but" in toks:
        i = len(toks) - 1 - toks[::-1].index("but")
        clauses = [toks[i + 1:], toks[:i]]
    for clause in clauses:
        pos, neg = _clause_score(clause)
        if pos + neg:
            return (pos - neg) / (pos + neg)
    return 0.0
