"""``langrl dpo``: offline RL from preferences (DPO, IPO, cDPO, Plackett-Luce DPO, KTO); ``langrl dpo reward``: the
implicit reward β log π/π_ref of a trained policy and its pairwise accuracy."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config


def main(argv: list[str]) -> int:
    if argv and argv[0] == "reward":
        from langrl.train.dpo.implicit_reward import ImplicitRewardConfig, implicit_rewards

        cfg, flags = parse_config(ImplicitRewardConfig, argv[1:], prog="langrl dpo reward",
                                  summary="Implicit reward β log π(y|x)/π_ref(y|x) of every response in a feedback "
                                          "file, and the pairwise accuracy (DPO recovers a reward from the policy).")
        summary = implicit_rewards(cfg, quiet=flags["json"])
        if not flags["json"]:
            summary = {k: v for k, v in summary.items() if k != "rewards"}  # per-response values: --json or --out
        return finish(summary, flags["json"], "dpo reward")
    from langrl.train.dpo.loop import DPOConfig, run_dpo

    cfg, flags = parse_config(DPOConfig, argv, prog="langrl dpo",
                              summary="Offline RL from feedback: --loss dpo|ipo|cdpo|pl|kto on a feedback file. "
                                      "`langrl dpo reward --help` for implicit rewards.")
    return finish(run_dpo(cfg, quiet=flags["json"]), flags["json"], f"dpo ({cfg.loss})")
