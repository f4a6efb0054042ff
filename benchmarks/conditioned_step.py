"""The preference-conditioned policy's training iteration vs a plain multi-objective one (target: within 5%).

Both are ``langrl rl --algo grpo`` on ``task:hh`` with the two gold axes as objectives, from the same policy, prompts
and seed: the plain run at fixed weights (0.5, 0.5), the conditioned one (``--condition true``) drawing w per prompt
and writing its prefix before it: ``--format compact`` (the default: ``[p,f] ``, 6 more prompt tokens on ``tiny``) or
``names`` (``[w helpful=W harmless=W] ``, 24 more). The runs alternate
(plain, conditioned, plain, ...) so a load change on a shared machine hits both. Each iteration's ``time/step`` and
``response_length`` come from ``metrics.csv``; a side's estimate is the fastest iteration after the first (other
processes only ever add time), and also seconds per sampled token, since the two policies' responses can differ in
length.

Prints one JSON line: ``plain_s``, ``conditioned_s``, ``ratio`` = conditioned / plain (target <= 1.05), the same per
sampled token, and each phase's fastest wall time (sampling, scoring, log-probs, update), which shows where a
difference comes from. On a shared machine the ratio moves by several percent from run to run: repeat it.

    python benchmarks/conditioned_step.py [--model tiny|DIR] [--format compact|names] [--prompts 8] [--n 4]
        [--tokens 40] [--iters 6] [--rounds 2]
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

REWARDS = ["gold:task=hh,score=helpful,name=helpful", "gold:task=hh,score=harmless,name=harmless"]


PHASES = ("time/step", "time/sample", "time/score", "time/logprobs", "time/update")


def run(model: str, out: Path, condition: bool, a, steps: int) -> list[dict]:
    """metrics.csv's rows after the first iteration."""
    from langrl.config import from_dict
    from langrl.train.rl.loop import RLConfig, run_rl

    extra = {"condition": True, "condition_format": a.format} if condition else {"weights": "0.5,0.5"}
    cfg = from_dict(RLConfig, dict(algo="grpo", policy=model, prompts="task:hh", reward=REWARDS, out=str(out),
                                   max_steps=steps, prompts_per_step=a.prompts, samples_per_prompt=a.n,
                                   max_new_tokens=a.tokens, micro_batch_size=a.prompts * a.n, learning_rate=2e-5,
                                   kl_coef=0.02, log_samples=0, overwrite=True, **extra))
    run_rl(cfg, quiet=True)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))[1:]  # the first iteration warms up
    return [{k: float(r[k]) for k in PHASES + ("response_length",) if r.get(k) not in (None, "")} for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--format", default="compact", choices=("compact", "names"))
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for cond in (False, True):
                rows[cond] += run(a.model, Path(tmp) / f"{int(cond)}-{r}", cond, a, a.iters + 1)
    best = {c: min(x["time/step"] for x in v) for c, v in rows.items()}
    per_tok = {c: min(x["time/step"] / max(x["response_length"] * a.prompts * a.n, 1.0) for x in v)
               for c, v in rows.items()}
    phases = {c: {k.split("/")[1]: round(min(x[k] for x in v if k in x), 4) for k in PHASES} for c, v in rows.items()}
    print(json.dumps({"benchmark": "conditioned_step", "model": a.model, "format": a.format,
                      "plain_s": round(best[False], 4), "conditioned_s": round(best[True], 4),
                      "ratio": round(best[True] / best[False], 3),
                      "plain_s_per_token": per_tok[False], "conditioned_s_per_token": per_tok[True],
                      "ratio_per_token": round(per_tok[True] / per_tok[False], 3),
                      "response_length": {str(c): round(sum(x["response_length"] for x in v) / len(v), 2)
                                          for c, v in (("plain", rows[False]), ("conditioned", rows[True]))},
                      "phases_plain": phases[False], "phases_conditioned": phases[True], "target_ratio": 1.05}))


if __name__ == "__main__":
    main()
