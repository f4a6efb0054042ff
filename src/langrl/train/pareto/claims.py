"""The claims ``langrl pareto`` computes from its fronts, each with the numbers it rests on (``pareto.json``).

- ``tradeoff_exists``: two non-dominated policies of the sweep where each is better on one axis by more than
  ``margin`` (the axes conflict along the front, not a single best policy).
- ``soups_cover_front``: the soups' hypervolume ≥ ``ratio`` × the sweep's (interpolation reaches the front).
- ``conditioned_matches_sweep``: the conditioned policy's hypervolume ≥ ``ratio`` × the sweep's (the issue's 0.9).
- ``averaging_fails_minorities`` (with a population): every minority group gains more than ``margin`` in its own
  satisfaction w_g·axes from its own policy (the sweep's at w_g) over the averaged one (the sweep's at w̄ = Σ_g p_g
  w_g), while the majority loses at most ``margin`` to the averaged one.
"""
from __future__ import annotations


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


def population_claim(groups: dict, results: dict, label, margin: float = 0.02) -> dict:
    """``groups``: name → {"share", "weights"}; ``results``: stage name → its evaluation; ``label``: weights → the
    stage name suffix. The majority is the largest share."""
    names = list(next(iter(groups.values()))["weights"])
    mean_w = {k: sum(g["share"] * g["weights"][k] for g in groups.values()) for k in names}
    avg = results[f"w-{label(mean_w)}"]["gold"]
    majority = max(groups, key=lambda g: groups[g]["share"])
    table = {}
    for g, spec in groups.items():
        own = results[f"w-{label(spec['weights'])}"]["gold"]
        table[g] = {"share": spec["share"], "weights": spec["weights"],
                    "averaged_policy": satisfaction(avg, spec["weights"]), "own_policy": satisfaction(own, spec["weights"])}
        cond = results.get(f"cond-{label(spec['weights'])}")
        if cond is not None:
            table[g]["conditioned_policy"] = satisfaction(cond["gold"], spec["weights"])
    minorities = [g for g in groups if g != majority]
    ok = all(table[g]["own_policy"] - table[g]["averaged_policy"] > margin for g in minorities) and \
        table[majority]["averaged_policy"] >= table[majority]["own_policy"] - margin
    return {"value": ok, "averaged_weights": mean_w, "majority": majority, "groups": table, "margin": margin}
