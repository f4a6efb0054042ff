"""Inter-annotator agreement: Krippendorff's alpha (nominal) against hand-worked and published numbers."""
from __future__ import annotations

import pytest

from langrl.annotate.agreement import kind_agreement, krippendorff_alpha_nominal, pairwise_agreement


def test_alpha_by_hand():
    # units (a,a), (a,b), (b,b): coincidences o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 5 * 2 / 18 = 0.4444
    units = [["a", "a"], ["a", "b"], ["b", "b"]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(4 / 9)
    assert pairwise_agreement(units) == pytest.approx(2 / 3)
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == 1.0
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None  # no variation: undefined
    assert krippendorff_alpha_nominal([["a"], ["b"]]) is None            # nobody overlaps
    assert pairwise_agreement([["a"]]) is None


def test_alpha_matches_krippendorffs_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 observers x 12 units example with
    # missing values; nominal alpha = 0.743
    obs = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
           [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
           [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
           [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
    units = [[v for v in col if v is not None] for col in zip(*obs)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def _j(annotator, unit, fields, responses=("abcd",), item=1):
    return {"annotator": annotator, "item_pk": item, "unit": unit, "fields": fields, "responses": list(responses),
            "time_spent_s": None}


def test_ranking_agreement_is_pair_by_pair():
    # A: 0 > 1 > 2; B: 0 > 1 = 2. Pairs (0,1): first/first, (0,2): first/first, (1,2): first/tie.
    # pairwise 2/3; alpha: n_first = 5, n_tie = 1, n = 6, disagreeing coincidences 2 -> 1 - 5 * 2 / (36 - 26) = 0
    js = [_j("A", "0,1,2", {"ranking": [[0], [1], [2]]}), _j("B", "0,1,2", {"ranking": [[0], [1, 2]]})]
    got = kind_agreement("ranking", js)
    assert got["units"] == 1 and got["pair_units"] == 3
    assert got["pairwise"] == pytest.approx(2 / 3) and got["alpha"] == pytest.approx(0.0)


def test_span_agreement_is_per_character_and_category():
    # "abcd": A marks [0, 2) irrelevant, B marks [1, 3). Characters (A, B): (1,0) (1,1) (0,1) (0,0)
    # n_1 = n_0 = 4, n = 8; disagreeing coincidences 2 + 2 = 4 -> alpha = 1 - 7 * 4 / (64 - 32) = 0.125
    span = lambda s, e: {"response": 0, "spans": [{"start": s, "end": e, "category": "irrelevant"}],  # noqa: E731
                         "missing": [], "corrected": None}
    got = kind_agreement("spans", [_j("A", "0", span(0, 2)), _j("B", "0", span(1, 3))], ["irrelevant", "untruthful"])
    assert got["alpha_by_category"]["irrelevant"] == pytest.approx(0.125)
    assert got["alpha_by_category"]["untruthful"] is None  # nobody used it: no variation


def test_comparison_values_ignore_the_order_shown():
    # A saw (0, 1) and chose 0; B saw (1, 0) and chose 0 too: they agree
    js = [_j("A", "0,1", {"chosen": 0, "rejected": 1}), _j("B", "0,1", {"chosen": 0, "rejected": 1}),
          _j("A", "0,1", {"preferred": "tie", "pair": [0, 1]}, item=2), _j("B", "0,1", {"chosen": 1, "rejected": 0},
                                                                         item=2)]
    got = kind_agreement("comparison", js)
    assert got["units"] == 2 and got["pairwise"] == 0.5
    assert kind_agreement("critique", js) is None
