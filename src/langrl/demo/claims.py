"""The lecture's claims, each computed from the demo's measured numbers — never asserted.

Every claim is ``{"value": true|false|null, "numbers": {...}, "rule": "..."}``: the rule says how the value follows from
the numbers; ``null`` means the runs it needs were not part of this demo (e.g. ``--task reviews``).
"""
from __future__ import annotations

import math


def _g(results: dict, run: str, key: str = "gold/gold"):
    v = results.get(run, {}).get(key)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _claim(value, numbers: dict, rule: str) -> dict:
    return {"value": value, "numbers": numbers, "rule": rule}


def paired_difference(results: dict, a: str, b: str) -> dict:
    """Mean per-prompt gold difference a - b on the shared held-out prompts and its standard error (paired: the
    prompt-to-prompt variation both methods share cancels). Empty when either run lacks per-prompt scores."""
    from langrl.eval.evaluate import mean_and_se

    ga, gb = results.get(a, {}).get("gold_per_sample"), results.get(b, {}).get("gold_per_sample")
    if not ga or not gb or len(ga) != len(gb) or len(ga) < 2:
        return {}
    mean, se = mean_and_se([x - y for x, y in zip(ga, gb)])
    return {"diff": mean, "diff_se": se, "n": len(ga)}


def rl_beats_sft(results: dict) -> dict:
    pairs = {"grpo": "sft-arithmetic", "ppo-kl": "sft-reviews", "ppo-holistic": "sft-factqa"}
    nums = {r: {"rl": _g(results, r), "sft": _g(results, s), **paired_difference(results, r, s)}
            for r, s in pairs.items() if r in results}
    if not nums:
        return _claim(None, {}, "needs at least one RL run")
    value = all(v["rl"] is not None and v["sft"] is not None and v["rl"] > v["sft"] for v in nums.values())
    return _claim(value, nums, "every RL run's gold score on held-out prompts exceeds its task's SFT policy's "
                               "(diff ± diff_se: the paired per-prompt difference and its standard error)")


def kl_prevents_hacking(results: dict) -> dict:
    if "ppo-kl" not in results or "ppo-no-kl" not in results:
        return _claim(None, {}, "needs the reviews runs")
    nums = {k: {"proxy": results[k].get("proxy"), "gold": _g(results, k), "kl": results[k].get("kl")}
            for k in ("ppo-kl", "ppo-no-kl")}
    a, b = nums["ppo-kl"], nums["ppo-no-kl"]
    ok = None not in (a["proxy"], b["proxy"], a["gold"], b["gold"])
    value = ok and b["proxy"] > a["proxy"] and b["gold"] < a["gold"]
    return _claim(value, nums, "the no-KL run reaches a higher proxy (VADER) AND a lower gold score than the KL run")


def fine_grained_beats_holistic(results: dict) -> dict:
    if "ppo-fine-grained" not in results or "ppo-holistic" not in results:
        return _claim(None, {}, "needs the factqa runs")
    keys = ("gold/factuality", "gold/completeness", "gold/relevance", "gold/gold", "kl")
    nums = {k: {key: results[k].get(key) for key in keys} for k in ("ppo-fine-grained", "ppo-holistic")}
    fg, ho = nums["ppo-fine-grained"], nums["ppo-holistic"]
    if None in (fg["gold/factuality"], ho["gold/factuality"], fg["gold/completeness"], ho["gold/completeness"]):
        return _claim(False, nums, "missing numbers")
    kl_fg, kl_ho = max(fg["kl"] or 0.0, 1e-6), max(ho["kl"] or 0.0, 1e-6)
    comparable = max(kl_fg, kl_ho) / min(kl_fg, kl_ho) <= 3.0 or max(kl_fg, kl_ho) < 1.0
    better = (fg["gold/factuality"] > ho["gold/factuality"] or fg["gold/completeness"] > ho["gold/completeness"])
    value = (fg["gold/factuality"] >= ho["gold/factuality"] and fg["gold/completeness"] >= ho["gold/completeness"]
             and better and comparable)
    nums["kl_ratio"] = max(kl_fg, kl_ho) / min(kl_fg, kl_ho)
    nums["gold_fine_minus_holistic"] = paired_difference(results, "ppo-fine-grained", "ppo-holistic")
    return _claim(value, nums, "fine-grained PPO's gold factuality and completeness are >= holistic PPO's, one of "
                               "them strictly, at comparable KL (ratio <= 3, or both under 1 nat)")


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated in (lower KL, higher gold)."""
    front = []
    for name, (kl, gold) in points.items():
        dominated = any((k2 <= kl and g2 >= gold) and (k2 < kl or g2 > gold)
                        for n2, (k2, g2) in points.items() if n2 != name)
        if not dominated:
            front.append(name)
    return front


def dpo_vs_ppo(results: dict) -> dict:
    names = [n for n in ("sft-factqa", "ppo-holistic", "ppo-fine-grained", "nlpo", "dpo", "pl-dpo")
             if n in results] + [n for n in results if n.startswith("best-of-")]
    points = {n: (max(0.0, results[n].get("kl") or 0.0), _g(results, n)) for n in names if _g(results, n) is not None}
    if "dpo" not in points or not any(p in points for p in ("ppo-holistic", "ppo-fine-grained")):
        return _claim(None, {}, "needs the factqa runs")
    front = pareto_front(points)
    ppo_on = [p for p in ("ppo-holistic", "ppo-fine-grained") if p in front]
    value = "dpo" in front and bool(ppo_on)
    return _claim(value, {"points": {k: {"kl": v[0], "gold": v[1]} for k, v in points.items()}, "front": front},
                  "DPO and at least one PPO run are both on the gold-vs-KL Pareto front of the factqa methods")


def overoptimization_visible(results: dict) -> dict:
    curve = [r for r in results.get("ppo-no-kl", {}).get("curve", []) if "eval/gold" in r]
    if len(curve) < 3:
        return _claim(None if "ppo-no-kl" not in results else False, {"points": len(curve)},
                      "needs >= 3 held-out evaluations of the no-KL run")
    golds = [r["eval/gold"] for r in curve]
    peak = max(range(len(golds)), key=golds.__getitem__)
    final = golds[-1]
    value = 0 < peak < len(golds) - 1 and golds[peak] - final > 0.02
    kl_key = next((k for k in ("kl", "kl_mean", "kl/mean") if k in curve[0]), None)
    return _claim(value, {"steps": [int(r["step"]) for r in curve], "gold": golds,
                          "sqrt_kl": [math.sqrt(max(0.0, r.get(kl_key, 0.0))) for r in curve] if kl_key else None,
                          "peak_step": int(curve[peak]["step"]), "peak_gold": golds[peak], "final_gold": final},
                  "along the no-KL run, held-out gold rises to a peak after the start, then falls by > 0.02 by the end")


def compute_claims(results: dict) -> dict:
    return {"rl_beats_sft": rl_beats_sft(results), "kl_prevents_hacking": kl_prevents_hacking(results),
            "fine_grained_beats_holistic": fine_grained_beats_holistic(results), "dpo_vs_ppo": dpo_vs_ppo(results),
            "overoptimization_visible": overoptimization_visible(results)}
