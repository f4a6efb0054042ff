"""Reward-model evaluation against a task's hidden gold ordering, hand-checked on tiny cases."""
from __future__ import annotations

import pytest
import torch

from langrl.feedback import read_rows
from langrl.models.rm.eval import TaskGold, evaluate, gold_tiers

from .fixed_scores import FixedScores


class TableTask:
    """A stand-in task: gold is looked up by response; span labels too."""

    name = "table"

    def __init__(self, gold, spans=None):
        self.table, self.span_table = gold, spans or {}

    def gold(self, rows, responses):
        assert all("meta" in r for r in rows)  # TaskGold hands the task its rows back
        return {"gold": [self.table[r] for r in responses]}

    def label_spans(self, row, response):
        return self.span_table.get(response, []), []




def test_gold_tiers_groups_equal_gold_best_first():
    assert gold_tiers([0.5, 1.0, 0.5, 0.8]) == [[1], [3], [0, 2]]


def test_gold_ordered_pairs_ties_agreement_and_tau_by_hand():
    scores = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}
    gold = {"a": 1.0, "b": 0.5, "c": 0.5, "d": 0.8}
    m = {"meta": {}}
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", **m},         # gold a > b; model 3 > 2: right
            {"prompt": "p", "chosen": "c", "rejected": "d", **m},         # gold d > c; model 0 < 1: wrong
            {"prompt": "p", "responses": ["a", "d"], "tie": True, **m},   # annotator tie, gold a > d: right
            {"prompt": "p", "chosen": "b", "rejected": "c", **m},         # gold tie (0.5 = 0.5): left out
            {"prompt": "q", "chosen": "d", "rejected": "a"},              # no meta for prompt q: no gold
            {"prompt": "p", "responses": ["c", "a", "d"], "ranking": [[0], [1], [2]], **m}]
    res = evaluate(FixedScores(scores), read_rows(rows).records, gold=TaskGold(TableTask(gold)))
    # comparisons against gold: (a,b) right, (d,c) wrong, (a,d) right -> 2 of 3
    assert res["n_gold_comparisons"] == 3 and res["gold_comparison_accuracy"] == pytest.approx(2 / 3)
    # decided annotator comparisons with distinct gold: a>b agrees, c>d disagrees -> 1/2 (b>c is a gold tie)
    assert res["annotator_gold_agreement"] == pytest.approx(1 / 2)
    # the ranking's 3 pairs by gold: (a,c) right (3 > 1), (d,c) wrong (0 < 1), (a,d) right -> 2 of 3;
    # with the comparisons: (2 + 2) / (3 + 3)
    assert res["n_gold_pairs"] == 6 and res["gold_pairwise_accuracy"] == pytest.approx(4 / 6)
    # ranking scores [1, 3, 0] vs gold tiers [[1], [2], [0]]: (0,1) concordant, (0,2) discordant (gold d > c, score
    # c > d), (1,2) concordant; C = 2, D = 1, no ties -> tau = 1/3
    assert res["gold_kendall_tau"] == pytest.approx(1 / 3)
    # against the annotator the same model looks better: a>b (3 > 2), c>d (1 > 0), b>c (2 > 1) right, d>a wrong
    assert res["comparison_accuracy"] == pytest.approx(3 / 4)


def test_no_gold_without_meta_or_without_a_gold_evaluator():
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    model = FixedScores({"a": 1.0, "b": 0.0})
    assert not any(k.startswith("gold_") for k in evaluate(model, read_rows(rows).records))
    res = evaluate(model, read_rows(rows).records, gold=TaskGold(TableTask({"a": 1.0, "b": 0.0})))
    assert not any(k.startswith("gold_") for k in res)


class FixedSegments:
    """A span model with one category: two segments per response, P(bad) = 0.9 then 0.1."""

    categories = ["bad"]

    def score_heads(self, prompts, responses, batch_size=32, normalize=False):
        return torch.zeros(len(responses), 1)

    def segment_probs(self, prompts, responses, batch_size=32):
        return [{"segments": [(0, 1), (2, 3)], "probs": [[0.9], [0.1]]} for _ in responses]


def test_span_f1_against_gold_labels_by_hand():
    # the annotator marks the second segment, the task's noiseless labels the first; the model predicts the first.
    # annotator: pred [T, F] vs labels [F, T] -> tp 0 -> F1 0.  gold: pred [T, F] vs [T, F] -> P = R = F1 = 1.
    rows = [{"prompt": "p", "response": "x y", "spans": [{"start": 2, "end": 3, "category": "bad"}], "meta": {}}]
    task = TableTask({"x y": 0.0}, spans={"x y": [{"start": 0, "end": 1, "category": "bad"}]})
    res = evaluate(FixedSegments(), read_rows(rows).records, gold=TaskGold(task))
    assert res["f1/bad"] == 0.0 and res["span_macro_f1"] == 0.0
    assert res["gold_f1/bad"] == 1.0 and res["gold_span_macro_f1"] == 1.0 and res["n_gold_span_records"] == 1
    # threshold-free: P(bad) 0.9 on the gold-labelled segment, 0.1 on the other -> AUC 1; one of two labelled
    assert res["gold_auc/bad"] == 1.0 and res["gold_positive_rate/bad"] == 0.5


class LowSegments(FixedSegments):
    """Every probability under 0.5, the labelled segment still ranked first: P(bad) = 0.3 then 0.1."""

    def segment_probs(self, prompts, responses, batch_size=32):
        return [{"segments": [(0, 1), (2, 3)], "probs": [[0.3], [0.1]]} for _ in responses]


def test_a_head_under_threshold_has_f1_zero_and_still_ranks_by_auc():
    rows = [{"prompt": "p", "response": "x y", "spans": [], "meta": {}}]
    task = TableTask({"x y": 0.0}, spans={"x y": [{"start": 0, "end": 1, "category": "bad"}]})
    res = evaluate(LowSegments(), read_rows(rows).records, gold=TaskGold(task))
    assert res["gold_f1/bad"] == 0.0 and res["gold_auc/bad"] == 1.0  # nothing over 0.5, but the order is right


def test_factqa_gold_reads_meta_from_the_record():
    from langrl.tasks import get_task
    from langrl.tasks.factqa import render_answer

    task = get_task("factqa")
    row = task.prompts("eval", 1, 0)[0]
    meta = row["meta"]
    right = " " + render_answer(meta)
    wrong = " " + render_answer({**meta, "items": [meta["other_items"][0], *meta["items"][1:]]})
    assert task.gold([row], [right])["gold"] == [1.0] and task.gold([row], [wrong])["gold"][0] < 1.0
    recs = read_rows([{"prompt": row["prompt"], "chosen": wrong, "rejected": right, "meta": meta}]).records
    # the annotator (here) preferred the wrong answer; a model that scores the right one higher is right by gold
    res = evaluate(FixedScores({right: 1.0, wrong: 0.0}), recs, gold=TaskGold("factqa"))
    assert res["comparison_accuracy"] == 0.0 and res["gold_comparison_accuracy"] == 1.0
    assert res["annotator_gold_agreement"] == 0.0
