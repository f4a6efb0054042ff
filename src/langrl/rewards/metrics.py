"""Reference-based text metrics as rewards: BLEU, chrF, TER (sacrebleu), ROUGE (rouge-score), SQuAD exact match.

Every score is the library's own sentence-level number on the same inputs (tests pin that): sacrebleu's
``sentence_score`` (0-100; BLEU with ``effective_order=True`` as ``sacrebleu.sentence_bleu`` does) and rouge-score's
``RougeScorer.score`` / ``score_multi`` (0-1; with several references rouge-score keeps the best F-measure).
Departure: TER is an *error* rate (lower is better), so the reward is ``-TER`` unless ``negate=False``.

References come from the column ``references`` (a list per sample) or ``reference`` (a string), or a named ``column``.
The libraries are imported when a reward is built, not when this module is imported.
"""
from __future__ import annotations

import re
import string
from typing import Any

from langrl.errors import InputError
from langrl.rewards.protocol import RewardOutput, map_samples, references, single


class _SacreReward:
    """Shared body of the sacrebleu rewards: ``metric.sentence_score(hyp, refs).score`` per sample."""

    sign = 1.0

    def __init__(self, name: str, metric: Any, column: str | None):
        self.name, self.metric, self.ref_column = name, metric, column

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        refs = references(columns, self.name, len(responses), self.ref_column)
        vals = map_samples(self.name, lambda h, r: self.sign * self.metric.sentence_score(h, r).score, responses, refs)
        return single(self.name, vals)


class BLEUReward(_SacreReward):
    """Sentence BLEU (sacrebleu, 0-100, effective order, ``smooth`` method)."""

    def __init__(self, tokenize: str = "13a", lowercase: bool = False, smooth: str = "exp",
                 column: str | None = None, name: str = "bleu"):
        from sacrebleu.metrics import BLEU

        super().__init__(name, BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth,
                                    effective_order=True), column)


class CHRFReward(_SacreReward):
    """Sentence chrF (sacrebleu, 0-100); ``word_order=2`` gives chrF++."""

    def __init__(self, char_order: int = 6, word_order: int = 0, beta: int = 2, lowercase: bool = False,
                 column: str | None = None, name: str = "chrf"):
        from sacrebleu.metrics import CHRF

        super().__init__(name, CHRF(char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase),
                         column)


class TERReward(_SacreReward):
    """Sentence TER (sacrebleu, 0-100+, an edit rate): the reward is ``-TER`` unless ``negate=False``."""

    def __init__(self, negate: bool = True, case_sensitive: bool = False, column: str | None = None,
                 name: str = "ter"):
        from sacrebleu.metrics import TER

        super().__init__(name, TER(case_sensitive=case_sensitive), column)
        self.sign = -1.0 if negate else 1.0


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
ROUGE_MEASURES = {"f": "fmeasure", "p": "precision", "r": "recall"}


class ROUGEReward:
    """ROUGE-1/2/L/Lsum (rouge-score, 0-1), one of F-measure / precision / recall.

    rougeLsum splits summaries into sentences at newlines (rouge-score's convention); with several references the
    reference with the best F-measure is used (``RougeScorer.score_multi``). The objective is named after the type
    (``rougeL``; ``rouge1_p`` for precision), so several ROUGE variants can be combined.
    """

    def __init__(self, type: str = "rougeL", measure: str = "f", stemmer: bool = False,
                 column: str | None = None, name: str | None = None):
        if type not in ROUGE_TYPES:
            raise InputError(f"rouge: type must be one of {', '.join(ROUGE_TYPES)}, got {type!r}", field="type")
        if measure not in ROUGE_MEASURES:
            raise InputError(f"rouge: measure must be f, p or r, got {measure!r}", field="measure")
        from rouge_score import rouge_scorer

        self.name = name or (type if measure == "f" else f"{type}_{measure}")  # objective: rougeL, rouge1_p, ...
        self.type, self.attr, self.ref_column = type, ROUGE_MEASURES[measure], column
        self.scorer = rouge_scorer.RougeScorer([type], use_stemmer=stemmer)

    def _one(self, hyp: str, refs: list[str]) -> float:
        scores = self.scorer.score(refs[0], hyp) if len(refs) == 1 else self.scorer.score_multi(refs, hyp)
        return getattr(scores[self.type], self.attr)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        refs = references(columns, self.name, len(responses), self.ref_column)
        return single(self.name, map_samples(self.name, self._one, responses, refs))


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str, *, case: bool = True, punct: bool = True, articles: bool = True,
                     space: bool = True) -> str:
    """SQuAD-style normalisation: lower-case, drop punctuation, drop articles (a/an/the), collapse whitespace.

    Each step can be turned off. The order is SQuAD's (``lower`` → punctuation → articles → whitespace).
    """
    if case:
        text = text.lower()
    if punct:
        text = "".join(ch for ch in text if ch not in _PUNCT)
    if articles:
        text = _ARTICLES.sub(" ", text)
    if space:
        text = " ".join(text.split())
    return text


class ExactMatchReward:
    """1.0 if the normalised response equals any normalised reference, else 0.0 (SQuAD exact match)."""

    def __init__(self, case: bool = True, punct: bool = True, articles: bool = True, space: bool = True,
                 column: str | None = None, name: str = "exact"):
        self.name, self.ref_column = name, column
        self.flags = dict(case=case, punct=punct, articles=articles, space=space)

    def _one(self, hyp: str, refs: list[str]) -> float:
        h = normalize_answer(hyp, **self.flags)
        return float(any(h == normalize_answer(r, **self.flags) for r in refs))

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        refs = references(columns, self.name, len(responses), self.ref_column,
                          fallbacks=("references", "reference", "answer"))
        return single(self.name, map_samples(self.name, self._one, responses, refs))
