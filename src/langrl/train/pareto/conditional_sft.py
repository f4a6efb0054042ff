"""The offline stage of the preference-conditioned policy (Rewards-in-Context, Yang et al. 2024, their §3.1
"offline training"): conditional SFT on the start policy's own samples, before the online conditioned RL.

1. ``prompts`` training prompts, ``samples`` responses each from the start policy (temperature ``temperature``);
2. every response scored by every objective (the rewards of the run: r_c ∈ R^k for candidate c);
3. for every w of the conditioning grid and every prompt, the candidate c*(w) = argmax_c w·r_c
   (:func:`langrl.rewards.conditioning.best_per_weight`) becomes an SFT record: the prompt with w's prefix
   (:mod:`langrl.rewards.conditioning`, the same prefix the online stage and ``langrl sample --weights`` write), then
   c*(w);
4. ``langrl sft`` on those records from the start policy, loss on the response only.

Departure from RiC: RiC writes each response's own reward *values* in the prompt and maps the user's w to desired
values at inference (their preference-to-reward mapping, §3.3). Here the prefix holds w itself (so the online
stage's reward w·r, ``langrl sample --weights`` and the prefix agree without a mapping), and the offline stage writes,
for each w, the response of the prompt's candidates that the desired rewards of w would select: the maximiser of w·r.
A candidate set that lacks the response a w asks for gives that w the best one it has (RiC's online augmentation,
sampling again at the front's prefixes, is the online RL stage here).

Compute (stated in ``langrl pareto``'s ``pareto.json``), in RL iterations of B = ``prompts_per_step ×
samples_per_prompt`` sequences: sampling ``prompts × samples`` responses counts as prompts·samples / B whole iterations
(an iteration samples B responses *and* scores, re-scores and updates on them, so this over-counts), and an SFT step on
B sequences as half an iteration: its forward + backward is the update of an RL iteration, which also samples B
responses and recomputes their log-probabilities under the policy and the reference (on ``tiny``, ``hh``, 40 tokens:
an SFT step ~0.3 s of CPU against ~1.1 s per GRPO iteration, README). The online stage gets the rest of the sweep's
iterations.
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def offline_iterations(prompts: int, samples: int, sft_steps: int, per_iteration: int) -> int:
    """The offline stage's cost in RL iterations of ``per_iteration`` sequences: ceil(prompts·samples / per_iteration)
    for the sampling plus ceil(sft_steps / 2) for the SFT (each step on ``per_iteration`` sequences). 64 prompts × 8
    samples, 150 steps, 32 per iteration: ceil(512 / 32) + ceil(150 / 2) = 16 + 75 = 91."""
    return math.ceil(prompts * samples / per_iteration) + math.ceil(sft_steps / 2)


def build_records(model, tok, rows: list[dict], reward, vectors: list[dict[str, float]], *, samples: int, seed: int,
                  temperature: float, max_new_tokens: int, fmt: str) -> tuple[list[dict], list[dict], dict]:
    """(SFT records {"prompt": prefix + prompt, "completion": c*(w)}: one per (prompt, w); the candidates
    {"prompt", "response", "rewards"}: ``samples`` per prompt; statistics)."""
    import torch

    from langrl.rewards.conditioning import best_per_weight, condition_prompt
    from langrl.rollout import sample_prompts
    from langrl.train.pg.collect import rows_to_columns

    prompts, columns = rows_to_columns(rows)
    with torch.no_grad():
        ro = sample_prompts(model, tok, prompts, n=samples, seed=seed + 104729, columns=columns,
                            max_new_tokens=max_new_tokens, temperature=temperature)
    out = reward(ro.prompts, ro.responses, **ro.columns)  # the columns repeated n times, the prompts unprefixed
    names = reward.objective_names
    cols = [out.column(n).tolist() for n in names]  # k lists of (b·n,)
    grid = [[w[n] for n in names] for w in vectors]
    records, candidates, distinct = [], [], 0
    for i, prompt in enumerate(prompts):
        cand = [[cols[k][i * samples + c] for k in range(len(names))] for c in range(samples)]  # (n, k)
        candidates += [{"prompt": prompt, "response": ro.responses[i * samples + c], "rewards": dict(zip(names, r))}
                       for c, r in enumerate(cand)]
        best = best_per_weight(cand, grid)
        distinct += len(set(best))
        records += [{"prompt": condition_prompt(prompt, vectors[g], fmt), "completion": ro.responses[i * samples + c]}
                    for g, c in enumerate(best)]
    means = {n: sum(col) / len(col) for n, col in zip(names, cols)}
    return records, candidates, {"records": len(records), "sampled": len(ro.responses), "sample_means": means,
                                 "distinct_choices_per_prompt": distinct / len(prompts)}


def run_conditional_sft(*, policy: str, rows: list[dict], reward, vectors: list[dict[str, float]], out: Path,
                        samples: int, steps: int, batch_size: int, learning_rate: float, seed: int,
                        temperature: float, max_new_tokens: int, fmt: str) -> dict:
    """Build the records from ``policy``'s samples, write ``out/candidates.jsonl`` (every sample with its rewards) and
    ``out/records.jsonl`` (the SFT records), SFT into ``out/policy``; the summary (records, SFT loss, seconds)."""
    from langrl.config import from_dict
    from langrl.io import atomic_write_text
    from langrl.models.specs import load_causal_lm
    from langrl.train.sft import SFTConfig, run_sft

    model, tok = load_causal_lm(policy, quiet=True)
    records, candidates, stats = build_records(model, tok, rows, reward, vectors, samples=samples, seed=seed,
                                   temperature=temperature, max_new_tokens=max_new_tokens, fmt=fmt)
    del model
    out.mkdir(parents=True, exist_ok=True)
    data = out / "records.jsonl"
    atomic_write_text(out / "candidates.jsonl", "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in candidates))
    atomic_write_text(data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    cfg = from_dict(SFTConfig, {"model": policy, "data": str(data), "out": str(out / "policy"), "max_steps": steps,
                                "batch_size": batch_size, "micro_batch_size": batch_size,
                                "learning_rate": learning_rate, "eval_fraction": 0.0, "eval_every": 0, "seed": seed,
                                "warmup_steps": min(10, steps // 10), "overwrite": True}, where="pareto: cond_sft")
    summary = run_sft(cfg, quiet=True)
    return {**stats, "steps": steps, "final_loss": summary.get("final_loss"),
            "seconds": summary.get("seconds")}
