"""The loop's log and claims: ``rounds.jsonl`` (one line per finished round) and ``metrics.json``.

Claims, each ``{"value": true | false | null, ...the numbers it was decided on}`` (null: not measurable in this run):

- ``active_saves_labels``: the best active strategy (the main one or a ``--compare`` shadow, all asking about the same
  candidates each round) reaches random's final reward-model accuracy against gold with at most 60% of random's labels.
- ``loop_improves``: the last round's policy beats round 1's on gold (both scored under the last round's preferences,
  on the same held-out prompts) by at least twice the paired standard error.
- ``tracks_drift``: after the preferences change, the loop's reward model (recency weights / window / retrain after
  the monitor's alarm) is more accurate on the new gold than a uniformly weighted one fitted on the same judgements,
  and the drift monitor fired (``rounds_to_alarm``: rounds from the change to the first alarm; 0 = that round;
  ``false_alarms``: alarms before the change; ``later_alarms``: alarms after the first one since the change, false
  ones too when the preferences switched once).
"""
from __future__ import annotations

import json
import math

from langrl.eval.effort import mean_se  # mean and s.e. (0 for one value)
from langrl.io import atomic_write_json, atomic_write_jsonl

LABEL_SHARE = 0.6


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The fewest labels at which ``curve`` ((labels, accuracy) per round) reaches ``target``; None if never."""
    return next((n for n, acc in curve if acc >= target - 1e-12), None)


def active_saves_labels(curves: dict[str, list[tuple[int, float]]], share: float = LABEL_SHARE) -> dict:
    """See the module docstring. ``curves``: strategy -> (labels, accuracy) after each round."""
    if "random" not in curves or not curves["random"]:
        return {"value": None, "why": "random is neither --strategy nor in --compare"}
    n_random, target = curves["random"][-1]
    needed = {s: labels_to_reach(c, target) for s, c in curves.items() if s != "random"}
    reached = {s: n for s, n in needed.items() if n is not None}
    if not needed:
        return {"value": None, "why": "no active strategy ran"}
    best = min(reached, key=reached.get) if reached else None
    return {"value": best is not None and reached[best] <= share * n_random, "random_final_accuracy": target,
            "random_labels": n_random, "labels_needed": needed, "best": best,
            "best_share": None if best is None else reached[best] / n_random, "threshold_share": share}


def loop_improves(first: list[float], last: list[float]) -> dict:
    """``last`` beats ``first`` (per-prompt gold, paired) by at least two paired standard errors."""
    diff, se = mean_se([b - a for a, b in zip(first, last)])
    return {"value": diff > 0 and diff >= 2 * se, "gold_first": mean_se(first)[0], "gold_last": mean_se(last)[0],
            "paired_difference": diff, "paired_se": se}


def tracks_drift(rounds: list[dict], changed_at: int | None) -> dict:
    """``rounds``: each round's rm.json (round 1 first); ``changed_at``: first round judged with new preferences."""
    if changed_at is None:
        return {"value": None, "why": "no preference drift in this run (--drift none)"}
    post = [r for r in rounds if r["round"] >= changed_at]
    if not post:
        return {"value": None, "why": f"the loop has not reached round {changed_at} yet"}
    alarms = [r["round"] for r in rounds if r["drift"] and r["drift"]["alarm"]]
    after = [a for a in alarms if a >= changed_at]
    last = post[-1]
    return {"value": last["rm_accuracy"] > last["rm_accuracy_uniform"] and bool(after),
            "changed_at": changed_at, "final_accuracy": last["rm_accuracy"],
            "final_accuracy_uniform": last["rm_accuracy_uniform"],
            "post_change_mean_accuracy": sum(r["rm_accuracy"] for r in post) / len(post),
            "post_change_mean_accuracy_uniform": sum(r["rm_accuracy_uniform"] for r in post) / len(post),
            "alarm_rounds": alarms, "rounds_to_alarm": after[0] - changed_at if after else None,
            "false_alarms": [a for a in alarms if a < changed_at], "later_alarms": after[1:]}


def write_metrics(loop) -> dict:
    """Gather every finished round of ``loop`` (a :class:`langrl.loop.runner.Loop`); write rounds.jsonl and
    metrics.json atomically; return metrics."""
    cfg = loop.cfg
    rows, rms, evals = [], [], {}
    for r in range(0, cfg.rounds + 1):
        ev_path = loop.rdir(r) / "eval.json"
        if not ev_path.is_file():
            break
        evals[r] = json.loads(ev_path.read_text())
        row = {"round": r, "policy_gold": evals[r]["gold"], "policy_gold_se": evals[r]["gold_se"],
               "policy_gold_current": sum(evals[r]["current_per_sample"]) / len(evals[r]["current_per_sample"]),
               "kl": evals[r]["kl"], "theta_deg": math.degrees(evals[r]["theta"])}
        if r:
            rm = {"round": r, **json.loads((loop.rdir(r) / "rm.json").read_text())}
            rms.append(rm)
            pol = json.loads((loop.rdir(r) / "policy.json").read_text())
            row.update(labels=rm["labels"], rm_accuracy=rm["rm_accuracy"],
                       rm_accuracy_uniform=rm["rm_accuracy_uniform"], dpo_pairs=pol.get("pairs", 0),
                       drift_alarm=bool(rm["drift"] and rm["drift"]["alarm"]),
                       drift_gap=rm["drift"]["gap"] if rm["drift"] else None, fitted_from_round=rm["reset"],
                       **{f"shadow/{s}/rm_accuracy": v["rm_accuracy"] for s, v in rm["shadow"].items()},
                       **{f"shadow/{s}/labels": v["labels"] for s, v in rm["shadow"].items()},
                       **{f"rl_{k}": pol[k] for k in ("final_reward", "final_kl") if k in pol})  # grpo/rloo
            wpath = loop.rdir(r) / "weights.json"
            if wpath.is_file():  # --front
                wj = json.loads(wpath.read_text())
                row.update(front_answers=wj["answers"], front_weights=wj["weights"], front_error=wj["error"],
                           front_selected=wj["selected"], front_regret=wj["regret"])
        rows.append(row)
    curves = {cfg.strategy: [(rm["labels"], rm["rm_accuracy"]) for rm in rms]}
    for s in cfg.shadows:
        curves.setdefault(s, [(rm["shadow"][s]["labels"], rm["shadow"][s]["rm_accuracy"]) for rm in rms])
    claims = {"active_saves_labels": active_saves_labels(curves)}
    done = max(evals) if evals else 0
    if done >= 2:
        now = loop.annotator.task_at(done)
        rows_eval = loop.eval_rows()
        first = [now.utility(row, y) for row, y in zip(rows_eval, evals[1]["responses"])]
        last = [now.utility(row, y) for row, y in zip(rows_eval, evals[done]["responses"])]
        claims["loop_improves"] = {**loop_improves(first, last), "first_round": 1, "last_round": done}
    else:
        claims["loop_improves"] = {"value": None, "why": "needs at least 2 finished rounds"}
    schedule = loop.annotator.schedule
    changed = next((r for r in range(1, cfg.rounds + 1) if schedule.changed(r)), None)
    claims["tracks_drift"] = tracks_drift(rms, changed)
    metrics = {"command": "loop", "out": str(loop.out), "rounds_done": done, "rounds": rows,
               "curves": {s: [{"labels": n, "rm_accuracy": a} for n, a in c] for s, c in curves.items()},
               "claims": claims}
    atomic_write_jsonl(loop.out / "rounds.jsonl", rows)
    atomic_write_json(loop.out / "metrics.json", metrics)
    return metrics
