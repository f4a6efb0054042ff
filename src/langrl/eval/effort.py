"""Equal-annotator-effort comparison of feedback methods: paired gold statistics and the claim
``language_feedback_wins`` (issue 18; ``scripts/lf-effort`` runs the methods and calls these).

Every policy is scored on the same held-out prompts; ``per_prompt[m][i]`` is method m's mean gold over its samples
of prompt i. Differences are paired per prompt, so the prompts' difficulty cancels. Shapes: p prompts, s seeds.

The claim, per (task, N annotator actions) (:func:`language_feedback_wins`, :data:`CLAIM_RULE`): let c* be the
critique-based method with the highest mean gold and b* the comparison-based one with the highest mean gold; the
claim holds when the paired difference d = mean_i(g_c*[i] - g_b*[i]) is positive and d >= 2 · se(d). Over several
seeds (:func:`pool_seeds`) a prompt's gold is first averaged over the seeds, so the unit stays the prompt.

Larger N (:func:`scaled_steps`): a stage that learns from the N annotations (DPO, a reward model, ILF's and
distillation's fine-tuning) takes max(its step budget, ceil(E · examples / batch)) optimizer steps, so at N = 512 a
fixed 20 steps of 16 do not leave most of the data unseen; E (``--min-epochs``) is the least number of passes.

Pure functions over lists of floats (stdlib only).
"""
from __future__ import annotations

import math

#: Methods that learn from comparisons (one action per comparison) and from critiques (one action per critique).
COMPARISON_METHODS = ("dpo", "ppo_bt")
CRITIQUE_METHODS = ("ilf", "dense_ppo", "distill")

CLAIM_RULE = ("language_feedback_wins(task, N): c* = the critique-based method (ilf, dense_ppo, distill) with the "
              "highest mean held-out gold, b* = the comparison-based method (dpo, ppo_bt) with the highest; "
              "d = mean over prompts of gold(c*) - gold(b*) (paired per prompt; over seeds each prompt's gold is "
              "first averaged over the seeds), se = its standard error; true when d > 0 and d >= 2 se")


def mean_se(xs: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample sd / sqrt(p)); se 0 for a single value. xs: (p,)."""
    if not xs:
        raise ValueError("mean_se: no values")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var / len(xs))


def paired_diff(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean and standard error of a[i] - b[i]. a, b: (p,), the same prompts in the same order."""
    if len(a) != len(b):
        raise ValueError(f"paired_diff: {len(a)} vs {len(b)} prompts (not paired)")
    return mean_se([x - y for x, y in zip(a, b)])


def pool_seeds(per_seed: list[list[float]]) -> list[float]:
    """Per-prompt mean over seeds. per_seed: (s, p), the same prompts in every seed -> (p,)."""
    if not per_seed or len({len(x) for x in per_seed}) != 1:
        raise ValueError("pool_seeds: expected one equally long per-prompt list per seed")
    return [sum(col) / len(col) for col in zip(*per_seed)]


def method_table(per_prompt: dict[str, list[float]], base: str = "sft") -> dict[str, dict]:
    """Per method: gold ± se and the paired difference to ``base`` ± se. per_prompt: method -> (p,)."""
    out = {}
    for m, g in per_prompt.items():
        gold, se = mean_se(g)
        row = {"gold": gold, "gold_se": se}
        if m != base and base in per_prompt:
            row["diff_vs_sft"], row["diff_vs_sft_se"] = paired_diff(g, per_prompt[base])
        out[m] = row
    return out


def language_feedback_wins(per_prompt: dict[str, list[float]], critique=CRITIQUE_METHODS,
                           comparison=COMPARISON_METHODS, k: float = 2.0) -> dict:
    """The claim of :data:`CLAIM_RULE` for one (task, N). per_prompt: method -> (p,) gold per prompt.

    Uses the methods of each family that are present; returns ``{"value": bool, "best_critique", "best_comparison",
    "diff", "diff_se"}``, or ``value: None`` with a reason when a family has no method.
    """
    crit = [m for m in critique if m in per_prompt]
    comp = [m for m in comparison if m in per_prompt]
    if not crit or not comp:
        return {"value": None, "reason": "needs at least one critique-based and one comparison-based method"}
    best_c = max(crit, key=lambda m: mean_se(per_prompt[m])[0])
    best_b = max(comp, key=lambda m: mean_se(per_prompt[m])[0])
    d, se = paired_diff(per_prompt[best_c], per_prompt[best_b])
    return {"value": bool(d > 0 and d >= k * se), "best_critique": best_c, "best_comparison": best_b,
            "diff": d, "diff_se": se}


def scaled_steps(min_steps: int, examples: int, batch_size: int, epochs: float) -> int:
    """Optimizer steps of a stage that learns from ``examples`` annotation records in batches of ``batch_size``:
    max(min_steps, ceil(epochs · examples / batch_size)), so every record is seen at least ``epochs`` times however
    large N grows, and small N keep the stage's step budget. The 1e-9 keeps an exact multiple from rounding up."""
    if min_steps < 1 or batch_size < 1 or epochs < 0 or examples < 0:
        raise ValueError(f"scaled_steps: expected min_steps, batch_size >= 1 and epochs, examples >= 0; got "
                         f"{min_steps}, {batch_size}, {epochs}, {examples}")
    return max(min_steps, math.ceil(epochs * examples / batch_size - 1e-9))


def seed_mean(values: list) -> dict:
    """Mean of one metric over seeds (None values, e.g. a seed with no gold-ordered pair, left out) and the values
    per seed. values: (s,) -> {"mean": float or None, "per_seed": values}."""
    xs = [v for v in values if v is not None]
    return {"mean": sum(xs) / len(xs) if xs else None, "per_seed": list(values)}
