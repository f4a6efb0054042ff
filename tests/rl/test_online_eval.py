"""The rl loop's held-out gold evaluator is the eval package's (``langrl.eval.evaluate.evaluate_responses``), so the
in-loop ``eval/gold`` and ``langrl eval``'s ``gold/gold`` are one computation on the same responses."""
import math

import pytest

from langrl.eval.evaluate import evaluate_responses
from langrl.tasks import get_task
from langrl.train.rl import eval as rl_eval


class _Task:
    """A task whose gold has a response it cannot score (NaN), as a gold scorer may."""

    def gold(self, rows, responses):
        return {"gold": [1.0, float("nan"), 0.0], "other": [0.25, 0.5, 0.75]}


def test_default_evaluator_means_are_evaluate_responses_gold(monkeypatch):
    # a real task: the in-loop values are evaluate_responses' gold/NAME entries, key for key
    task = get_task("arithmetic")
    rows = task.prompts("eval", 4, 0)
    responses = [" #### " + str(r["answer"]) if i % 2 else " no idea" for i, r in enumerate(rows)]
    gold = rl_eval.default_evaluator("task:arithmetic")(rows, responses)
    full = evaluate_responses(rows, responses, task=task)
    assert gold == {k[5:]: v for k, v in full.items() if k.startswith("gold/")}
    assert gold["gold"] == pytest.approx(0.5) and not math.isnan(gold["steps"])  # two of four answers right
    # a response the gold cannot score is left out, as evaluate_responses does: (1 + 0) / 2 = 0.5 (the old in-loop
    # mean summed every value, giving NaN); other: (0.25 + 0.5 + 0.75) / 3 = 0.5
    monkeypatch.setattr("langrl.tasks.get_task", lambda name: _Task())
    assert rl_eval.default_evaluator("task:any")(["r1", "r2", "r3"], ["a", "b", "c"]) == {"gold": 0.5, "other": 0.5}
