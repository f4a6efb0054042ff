"""``langrl ilf``: imitation learning from language feedback (critique -> refinements -> select -> fine-tune)."""
from __future__ import annotations

from langrl.commands._common import finish
from langrl.config import parse_config
from langrl.train.ilf.loop import ILFConfig, run_ilf


def main(argv: list[str]) -> int:
    cfg, flags = parse_config(ILFConfig, argv, prog="langrl ilf",
                              summary="Imitation learning from language feedback (Scheurer et al. 2023): the policy "
                                      "refines its answers given critiques, a scorer without the gold selects one "
                                      "refinement each, the policy is fine-tuned on them; several rounds.")
    summary = run_ilf(cfg, quiet=flags["json"])
    if not flags["json"]:
        summary = {k: v for k, v in summary.items() if k != "rounds"} | {
            f"round{r['round']}_{k}": r[k] for r in summary["rounds"] for k in ("fixed_named", "fixed_named_first",
                                                                              "gold_answers", "gold_selected")}
    return finish(summary, flags["json"], "ilf")
