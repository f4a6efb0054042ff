"""``langrl sft``: supervised fine-tuning (loss on completion tokens only)."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.train.sft import SFTConfig, run_sft


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(SFTConfig, argv, prog="langrl sft",
                              summary="Supervised fine-tuning on prompt/completion, text or chat JSONL, or task:NAME.")
    return finish(run_sft(cfg, quiet=flags["json"]), flags["json"], "sft")
