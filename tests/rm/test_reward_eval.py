"""Evaluation metrics, hand-checked on tiny cases, and the driver that expands feedback into them."""
from __future__ import annotations

import math

import pytest
import torch

from langrl.feedback import read_rows
from langrl.models.rm.eval import (evaluate, expected_calibration_error, kendall_tau, pairwise_accuracy,
                                       precision_recall_f1, roc_auc)

from .fixed_scores import FixedScores


def test_kendall_tau_known_orderings():
    assert kendall_tau([3.0, 2.0, 1.0], [[0], [1], [2]]) == 1.0
    assert kendall_tau([1.0, 2.0, 3.0], [[0], [1], [2]]) == -1.0
    # tiers [[1], [0, 2]], scores [1, 3, 2]: pairs (0,1) concordant (1 ranked and scored higher), (0,2) tied in gold,
    # (1,2) concordant. C=2, D=0, n0=3, gold ties 1, score ties 0 -> tau_b = 2 / sqrt((3-1)(3-0)) = 0.8165
    assert kendall_tau([1.0, 3.0, 2.0], [[1], [0, 2]]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(kendall_tau([1.0, 2.0], [[0, 1]]))  # a single tier: undefined


def test_expected_calibration_error_by_hand():
    # P(chosen wins) = 0.9, 0.9, 0.6, 0.4; the chosen side always won.
    # folded confidences 0.9, 0.9, 0.6, 0.6; correct T, T, T, F.
    # bin [0.90, 0.95): acc 1.0 vs conf 0.9 -> 0.1 x 2/4;  bin [0.60, 0.65): acc 0.5 vs conf 0.6 -> 0.1 x 2/4
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.4], [True] * 4) == pytest.approx(0.1)
    assert expected_calibration_error([1.0, 0.0], [True, False]) == pytest.approx(0.0)  # sure and right


def test_auc_accuracy_and_f1_by_hand():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert roc_auc([1.0, 1.0], [True, False]) == 0.5  # a tie counts 1/2


def test_auc_from_ranks_equals_its_definition_with_ties():
    import math
    import random

    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(2, 40)
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(n)]  # many ties
        pos = [rng.random() < 0.3 for _ in range(n)]
        p = [s for s, y in zip(scores, pos) if y]
        q = [s for s, y in zip(scores, pos) if not y]
        if not p or not q:
            assert math.isnan(roc_auc(scores, pos))
            continue
        want = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in p for b in q) / (len(p) * len(q))
        assert roc_auc(scores, pos) == pytest.approx(want, abs=1e-12)
    assert pairwise_accuracy([2.0, 1.0, 0.0], [1.0, 1.0, 1.0]) == pytest.approx(0.5)  # right, tie (1/2), wrong
    assert precision_recall_f1([True, True, False, False], [True, False, True, False]) == (0.5, 0.5, 0.5)
    assert precision_recall_f1([False], [False]) == (0.0, 0.0, 0.0)




def test_evaluate_expands_rankings_and_counts():
    table = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"},            # right
            {"prompt": "p", "chosen": "d", "rejected": "c"},            # wrong
            {"prompt": "p", "responses": ["a", "b"], "tie": True},      # a tie: no pair
            {"prompt": "p", "responses": ["c", "a", "b"], "ranking": [[1], [2], [0]]},  # a > b > c: 3 right pairs
            {"prompt": "p", "response": "a", "rating": 1}, {"prompt": "p", "response": "d", "rating": -1}]
    res = evaluate(FixedScores(table), read_rows(rows).records)
    assert res["n_pairs"] == 5 and res["pairwise_accuracy"] == pytest.approx(4 / 5)
    assert res["comparison_accuracy"] == 0.5 and res["n_ties"] == 1 and res["n_comparisons"] == 3
    assert res["kendall_tau"] == 1.0 and res["n_rankings"] == 1
    # rating "d" has score 0.0, not > 0, so predicted bad: both right; AUC 1 (3 > 0)
    assert res["rating_accuracy"] == 1.0 and res["rating_auc"] == 1.0
    # ECE over the 5 pairs: gaps 1, -1 (wrong side), 1, 1, 2 -> confidences sigma(1) x4, sigma(2); correct T F T T T
    s1, s2 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-2))
    by_hand = 4 / 5 * abs(3 / 4 - s1) + 1 / 5 * abs(1 - s2)
    assert res["ece"] == pytest.approx(by_hand)
