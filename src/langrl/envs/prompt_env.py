"""Single-turn prompt datasets as environments: the trivial case of the protocol, so one trainer path serves both.

``reset(seed)`` shows the prompt of row ``seed % len(rows)``; ``step(response)`` scores the response with the reward
functions (:mod:`langrl.rewards` protocol: texts and the row's columns in, a (1, k) score table out; the objectives
are summed) and ends the episode. The transcript is the prompt followed by the response, nothing added
(``action_prompt = ""``), and a response ends at EOS (``action_stop = ()``) or the token budget, exactly as the
single-turn sampler writes it.
"""
from __future__ import annotations

from typing import Callable


class PromptEnv:
    """One prompt, one response, one reward. ``rows``: dicts with a ``prompt`` and any reward columns."""

    action_prompt = ""
    action_stop: tuple[str, ...] = ()

    def __init__(self, rows: list[dict], reward: Callable, stop: tuple[str, ...] = ()):
        if not rows:
            raise ValueError("PromptEnv needs at least one row")
        self.rows, self.reward, self.action_stop = rows, reward, tuple(stop)
        self.row: dict | None = None

    def reset(self, seed: int) -> tuple[str, dict]:
        self.row = self.rows[seed % len(self.rows)]
        return self.row["prompt"], {"max_score": 1.0}

    def step(self, action: str) -> tuple[str, float, bool, dict]:
        if self.row is None:
            raise RuntimeError("step before reset")
        columns = {k: [v] for k, v in self.row.items() if k not in ("prompt", "meta")}
        out = self.reward([self.row["prompt"]], [action], **columns)
        value = float(out.scores[0].sum())  # several objectives: their sum (compose weights in the reward itself)
        self.row = None
        return "", value, True, {"score": value, "won": False, "lost": False, "max_score": 1.0}
