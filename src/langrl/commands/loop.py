"""``langrl loop``: iterated RLHF with active elicitation and drifting preferences (see :mod:`langrl.loop.runner`)."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config


def main(argv: list[str]) -> int:
    from langrl.loop.config import LoopConfig

    cfg, flags = parse_config(LoopConfig, argv, prog="langrl loop", summary=(
        "Rounds of: sample from the current policy -> choose what to ask (random, disagreement, expected "
        "information gain, coverage) -> judgements (a simulated annotator that may drift, or people through the "
        "annotation app) -> refit the reward model (recency weights, window, drift monitor) -> iterated DPO -> "
        "evaluate. Resumable (--resume); every round in rounds.jsonl; claims in metrics.json."))
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
