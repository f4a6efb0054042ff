"""Preference conditioning (Rewards-in-Context, Yang et al. 2024; Conditioned Language Policies, Wang et al. 2024):
the weight vector w written into the prompt, so one policy serves every user's trade-off.

The documented prefix, put before the prompt text (and stripped before any reward function sees the prompt)::

    [w helpful=0.7 harmless=0.3] Q: Pim in Dorvik asks: how do I open the copper gate?

``[w``, then ``NAME=W`` for every objective in order (W printed with ``:g``, at most 4 significant digits), then
``] ``. A byte-level BPE tokenizer (``tiny``'s, GPT-2's, Llama 3's) decodes its tokens back to exactly this text, so the
prefix survives tokenisation intact. Training (``langrl rl --condition true``) draws w for each prompt uniformly from
the simplex grid with ``condition_steps`` steps (:func:`langrl.rewards.weights.weight_grid`), seeded by (seed, step,
prompt index), and the prompt's reward is w·r over its objectives. At inference ``langrl sample --weights`` and
``langrl eval --weights`` write the user's w the same way.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from langrl.errors import InputError

_PREFIX = re.compile(r"^\[w((?: [A-Za-z0-9_.\-]+=[0-9.eE+\-]+)+)\] ")


def weight_prefix(weights: Mapping[str, float]) -> str:
    """``{"helpful": 0.7, "harmless": 0.3}`` → ``"[w helpful=0.7 harmless=0.3] "``."""
    for name in weights:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise InputError(f"objective name {name!r}: a conditioning prefix needs names of letters, digits, _ . -",
                             field="weights")
    return "[w " + " ".join(f"{k}={float(v):.4g}" for k, v in weights.items()) + "] "


def condition_prompt(prompt, weights: Mapping[str, float]):
    """The prompt with the weight prefix: before the text, or before the first user message's content."""
    prefix = weight_prefix(weights)
    if isinstance(prompt, str):
        return prefix + prompt
    if isinstance(prompt, list):
        out, done = [], False
        for m in prompt:
            if not done and isinstance(m, dict) and m.get("role") == "user":
                m, done = {**m, "content": prefix + str(m.get("content", ""))}, True
            out.append(m)
        if done:
            return out
    raise InputError("a conditioned prompt must be text or a message list with a user message", field="prompt")


def parse_condition_weights(text: str | None, field: str = "weights") -> dict[str, float] | None:
    """``"helpful=0.7,harmless=0.3"`` → {name: w} for ``sample``/``eval --weights`` (by name: the policy was trained
    with those names; non-negative, not all 0); None for no text."""
    if not text:
        return None
    from langrl.rewards.weights import parse_weights

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts or not all("=" in p for p in parts):
        raise InputError(f"expected NAME=W,... (the conditioned run's objective names), got {text!r}", field=field)
    return parse_weights(text, [p.split("=", 1)[0].strip() for p in parts], field=field)


def strip_prefix(text: str) -> tuple[str, dict[str, float] | None]:
    """(the text without a leading weight prefix, its weights) or (text, None) when it has none."""
    m = _PREFIX.match(text)
    if not m:
        return text, None
    pairs = [p.split("=", 1) for p in m.group(1).split()]
    return text[m.end():], {k: float(v) for k, v in pairs}


def sample_condition_weights(names: Sequence[str], count: int, *, seed: int, step: int,
                             steps: int = 10) -> list[dict[str, float]]:
    """``count`` weight vectors drawn uniformly (with replacement) from the simplex grid of ``steps`` steps over
    ``names``, one per prompt, from a generator seeded by (seed, step): the same draw whatever the number of ranks."""
    import random

    from langrl.rewards.weights import weight_grid

    grid = weight_grid(len(names), steps)
    rng = random.Random(f"condition|{seed}|{step}")  # a string seed: stable across runs and PYTHONHASHSEED
    return [dict(zip(names, grid[rng.randrange(len(grid))])) for _ in range(count)]


CONDITION_COLUMN = "condition_weights"
"""The row column that carries a conditioned prompt's w (popped before any reward function is called)."""


def condition_rows(rows: list[dict], names: Sequence[str], *, seed: int, step: int, steps: int = 10) -> list[dict]:
    """Copies of ``rows`` with a sampled w written before each prompt and kept in the ``condition_weights`` column
    (a list in the order of ``names``)."""
    ws = sample_condition_weights(names, len(rows), seed=seed, step=step, steps=steps)
    return [{**r, "prompt": condition_prompt(r["prompt"], w), CONDITION_COLUMN: list(w.values())}
            for r, w in zip(rows, ws)]
