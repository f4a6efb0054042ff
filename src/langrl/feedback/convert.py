"""Turning one kind of feedback into another, for trainers that read only pairs or only rankings.

- A ranking gives pairwise comparisons: every response over every response in a lower tier (``mode="all"``, the
  K-choose-2 comparisons of InstructGPT, Ouyang et al. 2022, Sec. 3.5) or only over the next tier down
  (``mode="adjacent"``); responses in one tier become tie comparisons when ``ties=True``, else no pair.
- A comparison is a ranking of two (a tie: one tier of two).
- A critique with a refinement, or span feedback with a corrected response, is a comparison preferring the
  refinement/correction over the original response.

Converted records copy the source's ``extra``; pairs from a ranking also record ``extra["pair"] = [i, j]``, the indices
of chosen and rejected (for a tie, the first and second response) in the ranking's responses.
"""
from __future__ import annotations

from typing import Iterable

from langrl.errors import InputError
from langrl.feedback.records import Comparison, Critique, Ranking, Record, SpanFeedback


def _pairs(rec: Ranking, mode: str) -> list[tuple[int, int]]:
    """(better, worse) index pairs across tiers, in tier order then item order."""
    if mode not in ("all", "adjacent"):
        raise InputError(f"expected 'all' or 'adjacent', got {mode!r}", field="mode")
    pairs = []
    for t, upper in enumerate(rec.tiers):
        lowers = rec.tiers[t + 1:] if mode == "all" else rec.tiers[t + 1:t + 2]
        pairs += [(a, b) for lower in lowers for a in upper for b in lower]
    return pairs


def ranking_to_comparisons(rec: Ranking, mode: str = "all", ties: bool = False) -> list[Comparison]:
    """A ranking as pairwise comparisons.

    ``"B > C = D > A"`` (tiers ``[[1], [2, 3], [0]]``) with ``mode="all"`` gives B>C, B>D, B>A, C>A, D>A, and with
    ``ties=True`` also C=D; with ``mode="adjacent"`` it gives B>C, B>D, C>A, D>A.
    """
    r = rec.responses
    out = [Comparison(rec.prompt, r[a], r[b], extra={**rec.extra, "pair": [a, b]}) for a, b in _pairs(rec, mode)]
    if ties:
        for tier in rec.tiers:
            out += [Comparison(rec.prompt, r[a], r[b], tie=True, extra={**rec.extra, "pair": [a, b]})
                    for k, a in enumerate(tier) for b in tier[k + 1:]]
    return out


def comparison_to_ranking(rec: Comparison) -> Ranking:
    """A comparison as a ranking of two: ``[[0], [1]]`` (chosen first), or ``[[0, 1]]`` for a tie.

    A margin has no place in a ranking; it is kept as ``extra["margin"]``.
    """
    extra = dict(rec.extra)
    if rec.margin is not None:
        extra["margin"] = rec.margin
    tiers = [[0, 1]] if rec.tie else [[0], [1]]
    return Ranking(rec.prompt, [rec.chosen, rec.rejected], tiers, extra=extra)


def critique_to_comparison(rec: Critique) -> Comparison:
    """The refinement preferred over the critiqued response; the critique itself is kept as ``extra["critique"]``."""
    if rec.refinement is None:
        raise InputError("missing (a critique without a refinement gives no comparison)", field="refinement")
    return Comparison(rec.prompt, rec.refinement, rec.response, extra={**rec.extra, "critique": rec.critique})


def spans_to_comparison(rec: SpanFeedback) -> Comparison:
    """The corrected response preferred over the original one."""
    if rec.corrected is None:
        raise InputError("missing (span feedback without a corrected response gives no comparison)", field="corrected")
    return Comparison(rec.prompt, rec.corrected, rec.response, extra=dict(rec.extra))


def to_comparisons(records: Iterable[Record], mode: str = "all", ties: bool = False) -> list[Comparison]:
    """Every pairwise preference the records hold: comparisons as they are, rankings as pairs, critiques with a
    refinement and span feedback with a correction as one pair each. Ratings, critiques without a refinement and span
    feedback without a correction give none; tie comparisons are kept only with ``ties=True``."""
    out: list[Comparison] = []
    for rec in records:
        if isinstance(rec, Comparison):
            if ties or not rec.tie:
                out.append(rec)
        elif isinstance(rec, Ranking):
            out += ranking_to_comparisons(rec, mode=mode, ties=ties)
        elif isinstance(rec, Critique) and rec.refinement is not None:
            out.append(critique_to_comparison(rec))
        elif isinstance(rec, SpanFeedback) and rec.corrected is not None:
            out.append(spans_to_comparison(rec))
    return out
