"""``langrl distill``: critique-conditioned self-distillation (the policy with the critique in context teaches the
policy without it)."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.train.ilf.distill import DistillConfig, run_distill


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(DistillConfig, argv, prog="langrl distill",
                              summary="Critique-conditioned self-distillation: the policy reading a critique of its "
                                      "answer is the teacher of the policy without it; L = a SFT + b distillation.")
    return finish(run_distill(cfg, quiet=flags["json"]), flags["json"], "distill")
