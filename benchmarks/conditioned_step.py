"""The preference-conditioned policy's training iteration vs a plain multi-objective one (target: within 5%).

Both are ``langrl rl --algo grpo`` on ``task:hh`` with the two gold axes as objectives, from the same policy, prompts
and seed: the plain run at fixed weights (0.5, 0.5), the conditioned one (``--condition true``) drawing w per prompt
and writing its prefix before it: ``--format auto`` (the default: ``byte`` on ``tiny``, one control character, 1
more prompt token), ``short`` (``p\\n``, 2 more), ``compact`` (``[p,f] ``, 6 more) or ``names``
(``[w helpful=W harmless=W] ``, 24 more). The runs alternate (plain, conditioned, plain, ...) so a load change on a
shared machine hits both. Each iteration's ``time/step`` and ``response_length`` come from ``metrics.csv``; a side's
estimate is the fastest iteration after the first (other processes only ever add time), and also seconds per sampled
token, since the two policies' responses can differ in length.

Prints one JSON line: ``plain_s``, ``conditioned_s``, ``ratio`` = conditioned / plain (target <= 1.05), the same per
sampled token, each phase's fastest time (sampling, scoring, log-probs, update), which shows where a
difference comes from, the mean prompt tokens of each side (the prefix's cost), ``round_ratios`` (each round's own
fastest conditioned / fastest plain: the spread), the ratio of the median iterations and the 1-minute load average
before and after. ``--clock cpu`` (the default) times every phase in this process's CPU seconds (the loop's clock is
replaced by ``time.process_time``), which other processes on a shared machine do not inflate; ``--clock wall`` is
the wall clock, whose ratio moves by more than 5% from run to run on a loaded machine.

    python benchmarks/conditioned_step.py [--model tiny|DIR] [--format auto|byte|short|compact|names] [--prompts 8]
        [--n 4] [--tokens 40] [--iters 6] [--rounds 2] [--clock cpu|wall]
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

REWARDS = ["gold:task=hh,score=helpful,name=helpful", "gold:task=hh,score=harmless,name=harmless"]


PHASES = ("time/step", "time/sample", "time/score", "time/logprobs", "time/update")


class CpuClock:
    """The ``time`` module with ``time()`` answering this process's CPU seconds (``time.process_time``): put in the RL
    loop's place, every phase time it logs is the work this process did, which other processes on a shared machine
    do not inflate (one torch thread: CPU time is the compute)."""

    def time(self) -> float:
        return time.process_time()

    def __getattr__(self, name):
        return getattr(time, name)


def run(model: str, out: Path, condition: bool, a, steps: int) -> list[dict]:
    """metrics.csv's rows after the first iteration (phase times in CPU seconds with ``--clock cpu``)."""
    from langrl.config import from_dict
    from langrl.train.rl import loop
    from langrl.train.rl.loop import RLConfig, run_rl

    extra = {"condition": True, "condition_format": a.format} if condition else {"weights": "0.5,0.5"}
    cfg = from_dict(RLConfig, dict(algo="grpo", policy=model, prompts="task:hh", reward=REWARDS, out=str(out),
                                   max_steps=steps, prompts_per_step=a.prompts, samples_per_prompt=a.n,
                                   max_new_tokens=a.tokens, micro_batch_size=a.prompts * a.n, learning_rate=2e-5,
                                   kl_coef=0.02, log_samples=0, overwrite=True, **extra))
    if a.clock == "cpu":
        loop.time = CpuClock()
    try:
        run_rl(cfg, quiet=True)
    finally:
        loop.time = time
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))[1:]  # the first iteration warms up
    return [{k: float(r[k]) for k in PHASES + ("response_length",) if r.get(k) not in (None, "")} for r in rows]


def prompt_tokens(model: str, fmt: str | None, count: int = 64) -> float:
    """Mean tokens of ``task:hh``'s first ``count`` training prompts as the policy sees them (with w = (0.5, 0.5)'s
    prefix in ``fmt``; None: none)."""
    from transformers import AutoTokenizer

    from langrl.models.specs import resolve_model_dir
    from langrl.rewards.conditioning import condition_prompt
    from langrl.tasks import get_task

    tok = AutoTokenizer.from_pretrained(resolve_model_dir(model, quiet=True))
    prompts = [r["prompt"] for r in get_task("hh").prompts("train", count, 0)]
    if fmt:
        prompts = [condition_prompt(p, {"helpful": 0.5, "harmless": 0.5}, fmt) for p in prompts]
    return sum(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts) / len(prompts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--format", default="auto", choices=("auto", "byte", "short", "compact", "names"))
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                    help="cpu: the process's CPU seconds per phase (robust to other load); wall: wall-clock seconds")
    a = ap.parse_args()
    import torch

    from langrl.rewards.conditioning import saved_format

    torch.set_num_threads(1)
    import os

    load_before = os.getloadavg()[0]
    rows, rounds = {False: [], True: []}, []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            mine = {}
            for cond in (False, True):
                mine[cond] = run(a.model, Path(tmp) / f"{int(cond)}-{r}", cond, a, a.iters + 1)
                rows[cond] += mine[cond]
            rounds.append(round(min(x["time/step"] for x in mine[True]) / min(x["time/step"] for x in mine[False]), 3))
        # the format the conditioned runs chose (auto: byte where the tokenizer keeps it, else short)
        chosen = saved_format(str(Path(tmp) / "1-0"))
    best = {c: min(x["time/step"] for x in v) for c, v in rows.items()}
    per_tok = {c: min(x["time/step"] / max(x["response_length"] * a.prompts * a.n, 1.0) for x in v)
               for c, v in rows.items()}
    phases = {c: {k.split("/")[1]: round(min(x[k] for x in v if k in x), 4) for k in PHASES} for c, v in rows.items()}
    median = {c: sorted(x["time/step"] for x in v)[len(v) // 2] for c, v in rows.items()}
    print(json.dumps({"benchmark": "conditioned_step", "model": a.model, "format": a.format, "chosen": chosen,
                      "clock": a.clock,
                      "plain_s": round(best[False], 4), "conditioned_s": round(best[True], 4),
                      "ratio": round(best[True] / best[False], 3),
                      "plain_s_per_token": per_tok[False], "conditioned_s_per_token": per_tok[True],
                      "ratio_per_token": round(per_tok[True] / per_tok[False], 3),
                      "median_ratio": round(median[True] / median[False], 3),
                      "response_length": {str(c): round(sum(x["response_length"] for x in v) / len(v), 2)
                                          for c, v in (("plain", rows[False]), ("conditioned", rows[True]))},
                      "phases_plain": phases[False], "phases_conditioned": phases[True],
                      "prompt_tokens": {"plain": prompt_tokens(a.model, None),
                                        "conditioned": prompt_tokens(a.model, chosen)},
                      "round_ratios": rounds, "load_before": round(load_before, 2),
                      "load_after": round(os.getloadavg()[0], 2), "target_ratio": 1.05}))


if __name__ == "__main__":
    main()
