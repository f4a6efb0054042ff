"""``langrl loop``: iterated RLHF with active elicitation and drifting preferences (see :mod:`langrl.loop.runner`);
``langrl loop elicit-weights``: a person's weight vector over a Pareto front (:mod:`langrl.loop.elicit_weights`)."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config


def elicit_weights(argv: list[str]) -> int:
    from langrl.loop.elicit_weights import ElicitWeightsConfig, run_elicit_weights

    cfg, flags = parse_config(ElicitWeightsConfig, argv, prog="langrl loop elicit-weights", summary=(
        "Elicit a person's weight vector over a langrl pareto front from a few 'which of these two do you prefer?' "
        "answers (a grid posterior on the simplex, Bradley-Terry answers, questions by expected information gain): "
        "--answers FILE (rerun after each answer; it prints the next question) or --simulate W1,W2 (a simulated "
        "person). Prints the elicited weight, the front point it selects, and the langrl sample --weights command "
        "that serves a conditioned policy at it."))
    res = run_elicit_weights(cfg)
    if flags["json"]:
        return finish(res, True, "langrl loop elicit-weights")
    summary = {"answers": res["answers"], "weights": ",".join(f"{a}={w:.3f}" for a, w in res["weights"].items()),
               "selected": res["selected"], **{f"selected/{a}": v for a, v in res["selected_scores"].items()}}
    if "true_weights" in res:
        summary.update(true_weights=",".join(f"{a}={w:.3f}" for a, w in res["true_weights"].items()),
                       error=res["error"], true_selected=res["true_selected"])
    q = res.get("next_question")
    if q:
        show = lambda s: ", ".join(f"{a} {v:.3g}" for a, v in s.items())  # noqa: E731
        summary["next question"] = (f"which do you prefer: {q['a']} ({show(q['a_scores'])}) or {q['b']} "
                                    f"({show(q['b_scores'])})? append one line to {cfg.answers or '--answers FILE'}: "
                                    f'{{"a": "{q["a"]}", "b": "{q["b"]}", "preferred": NAME}}')
    for key in ("serve", "conditioned", "selected_policy"):
        if key in res:
            summary[key] = res[key]
    return finish(summary, False, "langrl loop elicit-weights")


def main(argv: list[str]) -> int:
    if argv[:1] == ["elicit-weights"]:
        return elicit_weights(argv[1:])
    from langrl.loop.config import LoopConfig

    cfg, flags = parse_config(LoopConfig, argv, prog="langrl loop", summary=(
        "Rounds of: sample from the current policy -> choose what to ask (random, disagreement, expected "
        "information gain, predictive, coverage) -> judgements (a simulated annotator that may drift, or people "
        "through the annotation app) -> refit the reward model (recency weights, window, drift monitor) -> iterated "
        "DPO, or GRPO/RLOO/PPO on the reward model -> evaluate (-> with --front, a simulated person's weight vector "
        "over a pareto front). Resumable (--resume); every round in rounds.jsonl; claims in metrics.json. `langrl "
        "loop elicit-weights --help`: a person's weight vector over a pareto front."))
    from langrl.loop.runner import run_loop

    metrics = run_loop(cfg, quiet=flags["json"])
    last = metrics["rounds"][-1] if metrics["rounds"] else {}
    summary = {"out": metrics["out"], "rounds_done": metrics["rounds_done"], "labels": last.get("labels"),
               "rm_accuracy": last.get("rm_accuracy"), "policy_gold": last.get("policy_gold"), "kl": last.get("kl"),
               "seconds": metrics.get("seconds_this_run")}
    summary.update({f"claim:{k}": v["value"] for k, v in metrics["claims"].items()})
    if flags["json"]:
        summary["claims"] = metrics["claims"]
    return finish(summary, flags["json"], "langrl loop")
