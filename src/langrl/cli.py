"""The ``langrl`` command: a table of subcommands, each a module with ``main(argv) -> int``.

Errors in user input (:class:`~langrl.errors.InputError`) print one line and exit with code 2, with no traceback unless
``--debug`` is given. Modules are imported only when their command runs, so ``langrl --help`` is instant.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from langrl.errors import InputError

# name -> (module with main(argv), one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("langrl.commands.demo", "the whole pipeline on the embedded default model (--quick for a small budget)"),
    "sft": ("langrl.commands.sft", "supervised fine-tuning on prompt/completion, text or chat JSONL, or task:NAME"),
    "sample": ("langrl.commands.sample", "sample completions from a model (JSON lines with --json)"),
    "model": ("langrl.commands.model", "build, inspect or convert a model spec (tiny, smollm2, minilm, HF dir, .gguf)"),
    "reward": ("langrl.commands.reward", "list reward functions; score a JSONL file with them"),
    "rm": ("langrl.commands.rm", "train, evaluate and score reward models from feedback"),
    "rl": ("langrl.commands.rl", "online RL: PPO, NLPO, GRPO, RLOO, REINFORCE with a KL trust region"),
    "pareto": ("langrl.commands.pareto", "multi-objective fronts: one RL policy per weight vector, rewarded soups, "
                                         "hypervolume"),
    "dpo": ("langrl.commands.dpo", "offline RL: DPO, IPO, cDPO, Plackett-Luce DPO, KTO; implicit rewards"),
    "eval": ("langrl.commands.eval", "evaluate a policy on a task: gold, proxy, KL, length, diversity"),
    "agent": ("langrl.commands.agent", "language agents: SFT, RL and evaluation in text environments (TextWorld)"),
    "annotate": ("langrl.annotate.cli", "the feedback-collection web app: serve, load, export, stats"),
    "critique": ("langrl.commands.critique", "natural-language critiques: simulate them, read them into span labels"),
    "distill": ("langrl.commands.distill", "self-distillation: the policy reading a critique teaches the policy without"),
    "ilf": ("langrl.commands.ilf", "imitation learning from language feedback: refine with the critique, select, SFT"),
    "loop": ("langrl.commands.loop", "iterated RLHF: ask actively, refit the RM, DPO/GRPO/RLOO/PPO, evaluate; drift; "
             "elicit-weights: a person's weights over a pareto front"),
}


def _available() -> dict[str, tuple[str, str]]:
    """Commands whose module is installed (an issue not yet landed simply has no command)."""
    out = {}
    for name, (mod, doc) in COMMANDS.items():
        if importlib.util.find_spec(mod) is not None:
            out[name] = (mod, doc)
    return out


def usage() -> str:
    from langrl import __version__

    lines = [f"langrl {__version__}: reinforcement learning from feedback for language models and agents", "",
             "usage: langrl COMMAND [--config FILE.yaml] [--key value ...] [--json] [--debug]", "", "commands:"]
    for name, (_, doc) in _available().items():
        lines.append(f"  {name:<10} {doc}")
    lines += ["", "`langrl COMMAND --help` lists every option with its doc and default."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from langrl import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    commands = _available()
    if name not in commands:
        print(f"error: unknown command {name!r}; commands: {', '.join(commands)}", file=sys.stderr)
        return 2
    debug = "--debug" in rest
    try:
        module = importlib.import_module(commands[name][0])
        return int(module.main(rest) or 0)
    except InputError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
