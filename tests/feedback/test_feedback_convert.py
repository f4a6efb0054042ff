"""Conversions between kinds, checked by hand."""
from __future__ import annotations

import pytest

from langrl.errors import InputError
from langrl.feedback import (Comparison, Critique, Rating, Ranking, SpanFeedback, comparison_to_ranking,
                             critique_to_comparison, ranking_to_comparisons, record_from_dict, spans_to_comparison,
                             to_comparisons)

# responses A..D; "B > C = D > A" -> tiers [[1], [2, 3], [0]]
RANK = record_from_dict({"prompt": "p", "responses": ["A", "B", "C", "D"], "ranking": "B > C = D > A",
                         "labels": ["A", "B", "C", "D"], "id": "q1"})


def _pairs(comps):
    return [(c.chosen, c.rejected, c.tie) for c in comps]


def test_all_pairs_of_a_ranking_with_a_tie():
    assert RANK.tiers == [[1], [2, 3], [0]]
    # strict pairs = sum over tier pairs of size products = 1*2 (B>C, B>D) + 1*1 (B>A) + 2*1 (C>A, D>A) = 5
    assert _pairs(ranking_to_comparisons(RANK)) == [
        ("B", "C", False), ("B", "D", False), ("B", "A", False), ("C", "A", False), ("D", "A", False)]
    # with ties: the one pair inside tier [2, 3] (C = D) is added
    comps = ranking_to_comparisons(RANK, ties=True)
    assert len(comps) == 6 and _pairs(comps[5:]) == [("C", "D", True)]
    assert [c.extra["pair"] for c in comps] == [[1, 2], [1, 3], [1, 0], [2, 0], [3, 0], [2, 3]]
    assert all(c.extra["id"] == "q1" and c.prompt == "p" for c in comps)


def test_adjacent_pairs_skip_tiers():
    # adjacent tiers only: [1] vs [2, 3] (B>C, B>D) and [2, 3] vs [0] (C>A, D>A); B>A is two tiers apart
    assert _pairs(ranking_to_comparisons(RANK, mode="adjacent")) == [
        ("B", "C", False), ("B", "D", False), ("C", "A", False), ("D", "A", False)]
    with pytest.raises(InputError, match="field 'mode'"):
        ranking_to_comparisons(RANK, mode="some")


def test_strict_ranking_of_four_gives_six_pairs():
    rec = Ranking("p", ["w", "x", "y", "z"], [[3], [2], [1], [0]])
    assert len(ranking_to_comparisons(rec)) == 6  # 4 choose 2
    assert len(ranking_to_comparisons(rec, mode="adjacent")) == 3
    assert ranking_to_comparisons(Ranking("p", ["a", "b", "c"], [[0, 1, 2]])) == []  # all tied, no strict pair


def test_comparison_to_ranking_and_back():
    c = Comparison("p", "good", "bad", margin=2.0, extra={"id": 7})
    r = comparison_to_ranking(c)
    assert r == Ranking("p", ["good", "bad"], [[0], [1]], extra={"id": 7, "margin": 2.0})
    (back,) = ranking_to_comparisons(r)
    assert (back.chosen, back.rejected, back.tie) == ("good", "bad", False)
    tie = comparison_to_ranking(Comparison("p", "a", "b", tie=True))
    assert tie.tiers == [[0, 1]] and _pairs(ranking_to_comparisons(tie, ties=True)) == [("a", "b", True)]


def test_critique_and_correction_prefer_the_improved_response():
    c = critique_to_comparison(Critique("p", "draft", "too short", "longer draft", extra={"id": 1}))
    assert c == Comparison("p", "longer draft", "draft", extra={"id": 1, "critique": "too short"})
    assert record_from_dict(c.to_dict()) == c  # "critique" in extra makes to_dict write "kind": "comparison"
    with pytest.raises(InputError, match="field 'refinement': missing"):
        critique_to_comparison(Critique("p", "draft", "too short"))
    s = spans_to_comparison(SpanFeedback("p", "wrong", corrected="right"))
    assert (s.chosen, s.rejected) == ("right", "wrong")
    with pytest.raises(InputError, match="field 'corrected'"):
        spans_to_comparison(SpanFeedback("p", "wrong"))


def test_to_comparisons_collects_every_pairwise_preference():
    records = [Rating("p", "r", True), Comparison("p", "a", "b"), Comparison("p", "a", "c", tie=True), RANK,
               Critique("p", "x", "bad"), Critique("p", "x", "bad", "y"), SpanFeedback("p", "u", corrected="v")]
    # 1 comparison + 5 from the ranking + 1 critique with refinement + 1 correction = 8 (the tie is dropped)
    assert len(to_comparisons(records)) == 8
    # with ties: + the tie comparison + C = D from the ranking = 10
    assert len(to_comparisons(records, ties=True)) == 10
