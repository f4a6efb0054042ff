"""The claims ``langrl pareto`` computes from its fronts, each with the numbers it rests on (``pareto.json``).

- ``tradeoff_exists``: two non-dominated policies of the sweep where each is better on one axis by more than
  ``margin`` (the axes conflict along the front, not a single best policy).
- ``soups_cover_front``: the soups' hypervolume ≥ ``ratio`` × the sweep's (interpolation reaches the front).
- ``conditioned_matches_sweep``: the conditioned policy's hypervolume ≥ ``ratio`` × the sweep's (the issue's 0.9).
- ``averaging_fails_minorities`` (with a population): the averaged policy (the sweep's at w̄ = Σ_g p_g w_g) costs
  every minority group more than its evaluation noise in its own satisfaction w_g·axes, against its own policy (the
  sweep's at w_g), while the majority's cost is within it (:func:`population_claim`, :func:`paired_difference`).
"""
from __future__ import annotations

from langrl.eval.effort import mean_se


def tradeoff(front: dict, margin: float = 0.02) -> dict:
    pts = [front["points"][n] for n in front["non_dominated"]]
    best = 0.0
    for a in pts:
        for b in pts:
            gains = [x - y for x, y in zip(a, b)]
            best = max(best, min(max(gains), -min(gains)))  # a beats b on one axis and b beats a on another
    return {"value": best > margin, "largest_mutual_gap": best, "margin": margin,
            "non_dominated": front["non_dominated"]}


def hv_ratio(front: dict, sweep: dict, ratio: float) -> dict:
    r = front["hypervolume"] / sweep["hypervolume"] if sweep["hypervolume"] > 0 else float("nan")
    return {"value": bool(r >= ratio), "hypervolume": front["hypervolume"], "sweep_hypervolume": sweep["hypervolume"],
            "ratio": r, "threshold": ratio}


def satisfaction(gold: dict, weights: dict[str, float]) -> float:
    """A group's satisfaction with a policy: Σ_k w_k · mean gold axis k (weights normalised to sum 1)."""
    total = sum(weights.values())
    return sum(w / total * gold[k] for k, w in weights.items())


def satisfaction_per_prompt(gold: dict[str, list[float]], weights: dict[str, float]) -> list[float]:
    """A group's satisfaction with each held-out response: u_i = Σ_k w_k gold_k[i] / Σ_k w_k, from the per-prompt
    gold lists (one value per prompt, in the evaluation's order)."""
    total = sum(weights.values())
    n = len(gold[next(iter(weights))])
    return [sum(w / total * gold[k][i] for k, w in weights.items()) for i in range(n)]


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean and standard error of d_i = a_i − b_i over n ≥ 2 paired items (the same held-out prompts, one sample
    each): (mean d, sd(d) / √n) with the n − 1 sample standard deviation (:func:`langrl.eval.effort.mean_se`)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired_difference: expected two equal lists of at least 2 values, got {len(a)}, {len(b)}")
    return mean_se([x - y for x, y in zip(a, b)])


def population_claim(groups: dict, results: dict, label, z: float = 2.0, margin: float = 0.02) -> dict:
    """``averaging_fails_minorities`` from the sweep's evaluations. ``groups``: name → {"share", "weights"};
    ``results``: stage name → its evaluation (``gold`` means, ``gold_per_prompt`` lists); ``label``: weights → the
    stage name suffix. The majority is the largest share.

    Per group g, its loss under the averaged policy is L_g = mean_i (u_g(own_i) − u_g(avg_i)) over the held-out
    prompts, with the standard error se_g of that paired mean (:func:`paired_difference`: the same prompts, so the
    prompt-to-prompt spread cancels). The claim holds when every minority's loss exceeds z·se_g (averaging costs it
    more than the evaluation can attribute to chance) and the majority's is at most z·se_g (the evaluation cannot
    tell the averaged policy from its own). z = 2 is a two-sided ~95% normal test on each group; the noise is the
    evaluation's (one sample per prompt, the policies fixed), not the spread over training seeds. A fixed margin has
    no such meaning: with 128 prompts se_g is 0.01–0.05, so 0.02 is within noise for some groups and several SE for
    others; it is kept as a diagnostic (``fixed_margin``: minorities gain > margin, the majority loses ≤ margin).
    Stages evaluated before per-prompt scores were kept have no se: then the fixed margin decides (``rule``)."""
    names = list(next(iter(groups.values()))["weights"])
    mean_w = {k: sum(g["share"] * g["weights"][k] for g in groups.values()) for k in names}
    avg_stage = results[f"w-{label(mean_w)}"]
    avg = avg_stage["gold"]
    majority = max(groups, key=lambda g: groups[g]["share"])
    table = {}
    for g, spec in groups.items():
        own_stage = results[f"w-{label(spec['weights'])}"]
        own, w = own_stage["gold"], spec["weights"]
        table[g] = {"share": spec["share"], "weights": w,
                    "averaged_policy": satisfaction(avg, w), "own_policy": satisfaction(own, w)}
        table[g]["loss"] = table[g]["own_policy"] - table[g]["averaged_policy"]
        if "gold_per_prompt" in own_stage and "gold_per_prompt" in avg_stage:
            _, table[g]["se"] = paired_difference(satisfaction_per_prompt(own_stage["gold_per_prompt"], w),
                                                  satisfaction_per_prompt(avg_stage["gold_per_prompt"], w))
        cond = results.get(f"cond-{label(spec['weights'])}")
        if cond is not None:
            table[g]["conditioned_policy"] = satisfaction(cond["gold"], spec["weights"])
    minorities = [g for g in groups if g != majority]
    fixed = all(table[g]["loss"] > margin for g in minorities) and table[majority]["loss"] <= margin
    if all("se" in t for t in table.values()):
        ok = all(table[g]["loss"] > z * table[g]["se"] for g in minorities) and \
            table[majority]["loss"] <= z * table[majority]["se"]
        rule = f"minority loss > {z:g} se, majority loss <= {z:g} se"
    else:
        ok, rule = fixed, f"fixed margin {margin:g} (no per-prompt scores)"
    return {"value": ok, "rule": rule, "z": z, "averaged_weights": mean_w, "majority": majority, "groups": table,
            "fixed_margin": {"margin": margin, "value": fixed}}
