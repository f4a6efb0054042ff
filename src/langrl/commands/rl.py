"""``langrl rl``: online RL (PPO, NLPO, GRPO, RLOO, REINFORCE) with a KL trust region to the reference policy."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.train.rl.loop import RLConfig, run_rl

SUMMARY = ("Online RL: sample responses to --prompts, score them with --reward (repeat for several, with weights), "
           "shape per-token rewards with a KL penalty to the reference, and update the policy with --algo "
           "ppo|nlpo|grpo|rloo|reinforce. Documented starting points: configs/rl-ALGO.yaml.")


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(RLConfig, argv, prog="langrl rl", summary=SUMMARY)
    return finish(run_rl(cfg, quiet=flags["json"]), flags["json"], f"rl {cfg.algo}")
