"""Held-out evaluation during online RL, and the per-iteration sample log.

The evaluator hook is any ``(prompt_rows, responses) -> {name: float}``; the loop calls it every ``eval_every``
iterations on held-out prompts (one response each, sampled with a fixed seed from the policy alone) and logs its values
as ``eval/NAME`` next to ``eval/reward`` (the training reward on those prompts, with frozen normalisation). For
``task:NAME`` prompts the default evaluator is the task's hidden gold scorer, so the proxy and the gold signal can be
watched side by side (reward-hacking shows as ``eval/reward`` rising while ``eval/gold`` falls).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from langrl import distributed as dist

Evaluator = Callable[[list[dict], list[str]], dict[str, float]]


def no_evaluator(rows: list[dict], responses: list[str]) -> dict[str, float]:
    return {}


def default_evaluator(prompts_spec: str) -> Evaluator:
    """The task's gold scores for ``task:NAME`` (the mean of each named column, from the evaluator ``langrl eval`` and
    the demo use: :func:`langrl.eval.evaluate.evaluate_responses`); nothing for a JSONL file."""
    if not prompts_spec.startswith("task:"):
        return no_evaluator
    from langrl.eval.evaluate import evaluate_responses
    from langrl.tasks import get_task

    task = get_task(prompts_spec[5:])

    def gold(rows: list[dict], responses: list[str]) -> dict[str, float]:
        scores = evaluate_responses(rows, responses, task=task)
        return {k.removeprefix("gold/"): v for k, v in scores.items() if k.startswith("gold/")}

    return gold


def with_watch(evaluator: Evaluator, watched) -> Evaluator:
    """``evaluator`` plus ``watch``: the mean total of the reward ``watched`` (a CompositeReward) on the held-out
    responses, the signal the reward-hacking watch follows when the task has no gold evaluator."""

    def both(rows: list[dict], responses: list[str]) -> dict[str, float]:
        from langrl.train.pg.collect import rows_to_columns

        from langrl.chat import prompt_text

        prompts, columns = rows_to_columns(rows)
        out = watched([prompt_text(p) for p in prompts], responses, **columns)
        return {**evaluator(rows, responses), "watch": float(out.column(watched.name).nanmean())}

    return both


@torch.no_grad()
def evaluate(policy, tokenizer, rows: list[dict], reward, evaluator: Evaluator, *, seed: int, **sampling) -> dict:
    """{"eval/reward": mean training reward, "eval/NAME": evaluator values} on ``rows`` (rank 0; {} elsewhere)."""
    if not dist.is_main_process():
        return {}
    from langrl.rollout import sample_prompts
    from langrl.train.pg.collect import rows_to_columns

    prompts, columns = rows_to_columns(rows)
    ro = sample_prompts(policy, tokenizer, prompts, n=1, seed=seed + 7919, columns=columns, **sampling)
    frozen = getattr(reward, "update_norm", None)
    if frozen is not None:
        reward.update_norm = False  # held-out prompts must not move the running normalisation
    try:
        out = reward(ro.prompts, ro.responses, **ro.columns)
    finally:
        if frozen is not None:
            reward.update_norm = frozen
    metrics = {"eval/reward": float(out.column(reward.name).nanmean())}
    metrics.update({f"eval/{k}": float(v) for k, v in evaluator(rows, ro.responses).items()})
    return metrics


def write_samples(path: Path, step: int, ro, scores: torch.Tensor, k: int, extra: dict | None = None) -> None:
    """Append the first ``k`` responses of the batch to ``samples.jsonl`` (step, prompt, response, score, and the
    keys of ``extra``, e.g. the batch's staleness)."""
    with open(path, "a", encoding="utf-8") as f:
        for i in range(min(k, ro.batch_size)):
            f.write(json.dumps({"step": step, "prompt": ro.prompts[i], "response": ro.responses[i],
                                "score": round(float(scores[i]), 6), "ended": bool(ro.ended[i]), **(extra or {})},
                               ensure_ascii=False) + "\n")


def truncate_samples(path: Path, step: int) -> None:
    """Drop sample-log lines written after ``step`` (a resumed run rewrites them)."""
    if not path.is_file():
        return
    from langrl.io import atomic_write_text

    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))  # a kill here loses no line
