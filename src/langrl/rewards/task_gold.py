"""``gold``: a built-in task's hidden gold evaluator used as a reward (the *oracle* reward).

Training on it answers "how far can this RL recipe go when the reward is exactly right?", the upper bound that a
learned reward model is measured against. It reads the columns that ``task:NAME`` prompts carry (``meta``,
``answer``), so it only works on a built-in task's prompts. The demo never trains on it: there the gold signal stays
hidden and is only evaluated.
"""
from __future__ import annotations

from typing import Any

from langrl.errors import InputError
from langrl.rewards.protocol import RewardOutput, column, single


class TaskGoldReward:
    """One gold score (``score=gold`` or a component such as ``factuality``) of a built-in task's evaluator."""

    def __init__(self, task: str, score: str = "gold", name: str = "gold"):
        from langrl.tasks import get_task

        self.task = get_task(task)
        self.name, self.score = name, score

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        column(columns, "meta", self.name, len(responses))  # a clear error when the prompts are not a task's
        cols = {k: list(v) for k, v in columns.items() if v is not None}
        rows = [{"prompt": p, **{k: v[i] for k, v in cols.items()}}
                for i, p in enumerate(prompts)]  # the task's rows back: prompt plus every column (meta, answer ...)
        out = self.task.gold(rows, responses)
        if self.score not in out:
            raise InputError(f"reward {self.name!r}: task {self.task.name!r} has no gold score {self.score!r}; "
                             f"it has {', '.join(out)}", field="score")
        return single(self.name, out[self.score])
