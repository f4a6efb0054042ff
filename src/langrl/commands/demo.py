"""``langrl demo``: the whole lecture as one command (see :mod:`langrl.demo.pipeline`)."""
from __future__ import annotations

import sys

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.demo.config import DemoConfig


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(DemoConfig, argv, prog="langrl demo", summary=(
        "The whole pipeline on built-in tasks with a hidden gold evaluator: SFT, simulated feedback of every kind, "
        "reward models, PPO/NLPO/GRPO/DPO/PL-DPO/best-of-n, evaluation, and a report whose claims are computed."))
    if cfg.task == "multiobjective":  # its own section on the hh task, with its own budget (langrl.demo.multiobjective)
        from langrl.demo.multiobjective import run_multiobjective as run_demo
    else:
        from langrl.demo.pipeline import run_demo

    metrics = run_demo(cfg, log=lambda m: print(m, file=sys.stderr))
    summary = {"out": cfg.out, "seconds": metrics["total_seconds"], "pipeline_seconds": metrics["pipeline_seconds"]}
    summary.update({f"claim:{k}": v["value"] for k, v in metrics["claims"].items()})
    summary.update({f"gold:{k}": v.get("gold/gold") for k, v in metrics["runs"].items()})
    return finish(summary, flags["json"], "langrl demo")
