"""``langrl pareto``: a weight sweep from one SFT start, rewarded soups, the non-dominated set and its hypervolume."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.train.pareto.config import ParetoConfig

SUMMARY = ("Multi-objective RL fronts: from one SFT start (--policy), train one `langrl rl` policy per weight vector "
           "(--weights, repeat; or the simplex --grid) on the --reward objectives, evaluate every objective and every "
           "gold score on the same held-out prompts, interpolate the one-objective policies into rewarded soups "
           "(--soups), and write pareto.json (points, non-dominated sets, hypervolumes above --reference) and "
           "front.png. One stage per weight vector: re-running the same command continues where it stopped.")


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(ParetoConfig, argv, prog="langrl pareto", summary=SUMMARY)
    from langrl.train.pareto.run import run_pareto

    return finish(run_pareto(cfg, quiet=flags["json"]), flags["json"], "pareto")
