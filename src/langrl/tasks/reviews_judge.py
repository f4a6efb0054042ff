"""The held-out naturalness judge of the ``reviews`` gold: a smoothed word trigram LM plus grammar/repetition checks.

The LM is trained only on a held-out sample of the review grammar's natural sentences (openings and positive,
negative and neutral continuations), drawn from a seed stream no training data uses, and never on keyword-stuffed
("gushing") text. Its per-token perplexity on a sentence maps to a score in [0, 1]:

    lm_score = clip((log PPL_BAD - log ppl) / (log PPL_BAD - log PPL_GOOD), 0, 1)

Smoothing is interpolated absolute discounting (D = 0.75) down to an add-one unigram with an unknown-word slot
(Ney, Essen & Kneser 1994), a simpler cousin of Kneser-Ney. The checks multiply in penalties for a word repeated
back to back, a repeated sentence (or one copied from the opening), a sentence that does not start with a capital or
end with . ! ?, more than one "!", and more than three sentences.
"""
from __future__ import annotations

import functools
import math
from collections import Counter

from langrl.tasks.base import make_rng, sentences
from langrl.tasks.reviews_grammar import CONTINUATIONS, OPENINGS, fill, tokens

DISCOUNT = 0.75
PPL_GOOD, PPL_BAD = 8.0, 2000.0
JUDGE_SENTENCES = 4000
PENALTY = {"repeated_word": 0.4, "repeated_sentence": 0.4, "form": 0.8, "exclamations": 0.6, "too_long": 0.7}
_BOS, _EOS = "<s>", "</s>"

#: Hand-written natural review sentences outside the grammar, so the judge knows some plain English beyond it.
#: They appear in no corpus, SFT set or prompt.
HELDOUT_SENTENCES = [
    "The movie was good.", "The movie was very good.", "The film was not very good.", "It was a good film.",
    "I liked the movie a lot.", "I did not like the movie.", "It was a lot of fun.",
    "The film was a lot better than I thought.", "The actors did a great job.", "The story was easy to follow.",
    "The music fit the story well.", "The ending was a nice surprise.", "It made me laugh more than once.",
    "The jokes did not land for me.", "The movie felt much too long.", "I would tell my friends to see it.",
    "It is worth seeing on a big screen.", "The lead actor was great in every scene.", "The pictures were beautiful.",
    "The plot had a few holes.", "I was moved by the last scene.", "The second act drags a little.",
    "Some scenes were hard to watch.", "My friends loved it more than I did.", "Overall, I had a good time.",
    "It is one of the best films of the year.", "The kids in the cast were wonderful.", "The dialogue sounded real.",
    "The film never quite found its feet.", "I was happy with the ending.", "The middle part was a bit slow.",
    "It did not live up to the book.", "I enjoyed it more the second time.", "The whole cast was in fine form.",
    "The score was lovely and quiet.", "It is a sweet and simple film.",
    "The theater was full and people clapped at the end.", "It took a while to get going, but it was worth the wait.",
    "I did not expect to like it, but I did.", "The movie is better than the reviews say.",
    "There were some great moments.", "I think most people will enjoy it.", "It was a nice way to spend an evening.",
    "Here, I'll tell you why.", "Let me tell you why.", "The effects looked cheap.",
    "The story moved too fast at the end.",
]


class TrigramLM:
    """Interpolated absolute-discounting trigram LM over word tokens (see the module docstring)."""

    def __init__(self, sentences_tokens: list[list[str]], discount: float = DISCOUNT):
        self.d = discount
        self.c1, self.c2, self.c3 = Counter(), Counter(), Counter()
        self.ctx1, self.ctx2 = Counter(), Counter()  # counts of v and (u, v) as contexts
        self.fan1, self.fan2 = Counter(), Counter()  # distinct followers of v and of (u, v)
        for toks in sentences_tokens:
            seq = [_BOS, _BOS] + toks + [_EOS]
            for i in range(2, len(seq)):
                u, v, w = seq[i - 2], seq[i - 1], seq[i]
                self.c1[w] += 1
                if self.c2[(v, w)] == 0:
                    self.fan1[v] += 1
                self.c2[(v, w)] += 1
                self.ctx1[v] += 1
                if self.c3[(u, v, w)] == 0:
                    self.fan2[(u, v)] += 1
                self.c3[(u, v, w)] += 1
                self.ctx2[(u, v)] += 1
        self.total = sum(self.c1.values())
        self.vocab = len(self.c1) + 1  # + one slot for unknown words

    def prob(self, u: str, v: str, w: str) -> float:
        p = (self.c1[w] + 1) / (self.total + self.vocab)
        n = self.ctx1[v]
        if n:
            p = max(self.c2[(v, w)] - self.d, 0) / n + self.d * self.fan1[v] / n * p
        n = self.ctx2[(u, v)]
        if n:
            p = max(self.c3[(u, v, w)] - self.d, 0) / n + self.d * self.fan2[(u, v)] / n * p
        return p

    def perplexity(self, toks: list[str]) -> float:
        """Per-token perplexity of one sentence (the end-of-sentence token included)."""
        seq = [_BOS, _BOS] + toks + [_EOS]
        logp = sum(math.log(self.prob(seq[i - 2], seq[i - 1], seq[i])) for i in range(2, len(seq)))
        return math.exp(-logp / (len(seq) - 2))


def judge_corpus(n: int = JUDGE_SENTENCES, seed: int = 0) -> list[str]:
    """The judge's training text: ``n`` grammar sentences from a seed stream used by nothing else, plus
    ``HELDOUT_SENTENCES``."""
    rng = make_rng("reviews-judge-heldout", seed)
    templates = [t for ts in OPENINGS.values() for t in ts] + [t for ts in CONTINUATIONS.values() for t in ts]
    return [fill(rng.choice(templates), rng) for _ in range(n)] + list(HELDOUT_SENTENCES)


@functools.lru_cache(maxsize=1)
def judge_lm() -> TrigramLM:
    return TrigramLM([tokens(s) for s in judge_corpus()])


def lm_score(sentence: str) -> float:
    """The LM part of naturalness for one sentence, in [0, 1]."""
    toks = tokens(sentence)
    if not toks:
        return 0.0
    ppl = judge_lm().perplexity(toks)
    return min(1.0, max(0.0, (math.log(PPL_BAD) - math.log(ppl)) / (math.log(PPL_BAD) - math.log(PPL_GOOD))))


def has_repeated_word(sentence: str) -> bool:
    toks = [t for t in tokens(sentence) if t not in ".,!?"]
    return any(a == b for a, b in zip(toks, toks[1:]))


def naturalness(text: str, context: str = "") -> dict:
    """Naturalness of a continuation ``text`` of ``context`` (the opening), in [0, 1], with its parts.

    Returns ``{"naturalness", "lm", "penalties": [names], "sentences": [(start, end, lm_score, problems)]}``;
    an empty text scores 0.
    """
    spans = sentences(text)
    if not spans:
        return {"naturalness": 0.0, "lm": 0.0, "penalties": ["empty"], "sentences": []}
    seen = {" ".join(tokens(s)) for s in (context[a:b] for a, b in sentences(context))}
    per, penalties = [], []
    for a, b in spans:
        sent, problems = text[a:b], []
        if has_repeated_word(sent):
            problems.append("repeated_word")
        key = " ".join(tokens(sent))
        if key in seen:
            problems.append("repeated_sentence")
        seen.add(key)
        if not (sent[0].isupper() and sent[-1] in ".!?"):
            problems.append("form")
        per.append((a, b, lm_score(sent), problems))
        penalties += problems
    if text.count("!") > 1:
        penalties.append("exclamations")
    if len(spans) > 3:
        penalties.append("too_long")
    lm = sum(p[2] for p in per) / len(per)
    score = lm
    for name in penalties:
        score *= PENALTY[name]
    return {"naturalness": score, "lm": lm, "penalties": penalties, "sentences": per}
