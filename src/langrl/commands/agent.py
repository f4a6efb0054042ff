"""``langrl agent sft|train|eval``: language agents in text environments (the built-in game or TextWorld).

    langrl agent sft   --env textworld --games 64 --seed 0 --policy tiny --out runs/tw-sft
    langrl agent train --env textworld --games 64 --seed 0 --policy runs/tw-sft --algo grpo --out runs/tw-rl
    langrl agent eval  --env textworld --games 50 --seed 1000 --policy runs/tw-rl --json
"""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.errors import InputError

USAGE = ("usage: langrl agent {sft,train,eval} [--key value ...] [--json]\n\n"
         "  sft    fine-tune a policy on the walkthroughs of generated games (warm start)\n"
         "  train  multi-turn RL (PPO, GRPO, RLOO, REINFORCE) in the environment\n"
         "  eval   success rate, normalised score and steps of a policy and of a random-admissible baseline\n\n"
         "`langrl agent SUB --help` lists every option.")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "sft":
        from langrl.train.agent.config import AgentSFTConfig
        from langrl.train.agent.sft import run_agent_sft

        cfg, flags = parse_config(AgentSFTConfig, rest, prog="langrl agent sft",
                                  summary="Fine-tune a policy on the walkthroughs of the training games.")
        return finish(run_agent_sft(cfg, quiet=flags["json"]), flags["json"], "agent sft")
    if sub == "train":
        from langrl.train.agent.loop import run_agent_train
        from langrl.train.agent.config import AgentTrainConfig

        cfg, flags = parse_config(AgentTrainConfig, rest, prog="langrl agent train",
                                  summary="Multi-turn RL in a text environment (environment tokens masked out).")
        return finish(run_agent_train(cfg, quiet=flags["json"]), flags["json"], "agent train")
    if sub == "eval":
        from langrl.train.agent.config import AgentEvalConfig
        from langrl.train.agent.eval import run_agent_eval

        cfg, flags = parse_config(AgentEvalConfig, rest, prog="langrl agent eval",
                                  summary="Evaluate a policy and a random-admissible baseline on the same games.")
        return finish(_flat(run_agent_eval(cfg, quiet=flags["json"])) if not flags["json"] else
                      run_agent_eval(cfg, quiet=True), flags["json"], "agent eval")
    raise InputError(f"langrl agent: unknown subcommand {sub!r}; expected sft, train or eval")


def _flat(summary: dict) -> dict:
    """Nested results as ``policy/success_rate`` rows for the human-readable table."""
    out = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            out.update({f"{k}/{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out
