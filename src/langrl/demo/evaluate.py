"""The demo's evaluation stage: every policy (and best-of-n) on held-out prompts, plus each run's training curve.

Every policy is evaluated twice on the same held-out prompts: sampled at the training temperature (``TRAIN_TEMPERATURE``,
the distribution RL optimised and paid KL for: ``gold/...``, ``kl``, ``gold_per_sample``) and near-greedy
(T = 1e-4: ``near_greedy/gold/...``, ``near_greedy/gold_per_sample``). The per-prompt scores of both stay in the
stage's result, so any two methods can be compared pairwise on the same prompts (:func:`langrl.demo.claims.paired_difference`).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from langrl.demo.config import Budget, DemoConfig
from langrl.demo.stages import Stages

TRAIN_TEMPERATURE = 1.0
"""The sampling temperature every demo run trains at (``RLConfig.temperature``'s default)."""


def proxy_for(task: str, rm_paths: dict[str, str]):
    """The proxy reward a task's policies were trained on (factqa: the holistic reward model)."""
    from langrl.rewards import build_reward

    if task == "factqa":
        return build_reward(f"rm:path={rm_paths['holistic']}") if rm_paths else None
    return build_reward({"reviews": "vader", "arithmetic": "math"}[task])


def training_curve(run_dir: Path) -> list[dict]:
    """Rows of the run's metrics.csv that carry a held-out evaluation (eval/gold ...) as floats."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {k: float(v) for k, v in r.items() if v not in ("", None)}
            rows.append(row)
    return rows


def training_warnings(run_dir: Path) -> list[str]:
    """The reward-hacking and length-drift warnings the run raised while training (its ``warnings.jsonl``)."""
    from langrl.train.rl.hacking import read_warnings

    return read_warnings(run_dir / "warnings.jsonl")


def best_of_n(sft_dir: str, rows: list[dict], task, proxy, n: int, seed: int, max_new_tokens: int) -> dict:
    """Sample n responses per prompt from the SFT policy, keep the one the proxy scores highest, evaluate it."""
    from langrl.eval.evaluate import best_of_n_kl, evaluate_responses
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample

    model, tok = load_causal_lm(sft_dir, quiet=True)
    chosen = []
    for start in range(0, len(rows), 16):
        chunk = rows[start:start + 16]
        ro = sample(model, tok, [r["prompt"] for r in chunk], n=n, max_new_tokens=max_new_tokens, seed=seed + start)
        cols = {k: [r.get(k) for r in chunk for _ in range(n)] for k in chunk[0] if k != "prompt"}
        scores = proxy(ro.prompts, ro.responses, **cols)
        s = scores.scores[:, -1].view(len(chunk), n)
        best = s.argmax(-1).tolist()
        chosen += [ro.responses[i * n + j] for i, j in enumerate(best)]
    metrics = evaluate_responses(rows, chosen, task=task, proxy=proxy, per_sample=True)
    metrics["kl"] = best_of_n_kl(n)
    metrics["n"] = len(chosen)
    return metrics


def evaluate_both(model, tok, rows, *, task, proxy, ref_model, max_new_tokens: int, seed: int) -> tuple[dict, list]:
    """(metrics, sampled responses): the sampled pass at the training temperature (with KL to ``ref_model``) and
    the near-greedy pass on the same rows, its metrics under ``near_greedy/``."""
    from langrl.eval.evaluate import NEAR_GREEDY, evaluate_policy

    common = dict(task=task, proxy=proxy, max_new_tokens=max_new_tokens, seed=seed, per_sample=True)
    metrics, responses = evaluate_policy(model, tok, rows, ref_model=ref_model, temperature=TRAIN_TEMPERATURE,
                                         **common)
    greedy, _ = evaluate_policy(model, tok, rows, temperature=NEAR_GREEDY, **common)
    metrics.update({f"near_greedy/{k}": v for k, v in greedy.items() if k != "n"})
    return metrics, responses


EVAL_VERSION = 7
"""Bump when what an evaluation stage measures changes. 2: per-sample gold, s.e.; 3: warnings; 4: gold_per_sample;
5: near-greedy; 6: KL as Σ k3 (never negative); 7: one stage per policy (``eval-NAME``), run as soon as it is trained."""


def source_stage(name: str, info: dict) -> str:
    """The stage that trained run ``name``: ``policy-TASK`` (SFT), ``control-TASK`` (the control), else ``run-NAME``."""
    return {"sft": f"policy-{info['task']}", "sft-control": f"control-{info['task']}"}.get(info["method"],
                                                                                         f"run-{name}")


def declare_evals(stages: Stages, cfg: DemoConfig, b: Budget, runs: dict[str, dict], sft: dict[str, str],
                  rm_paths: dict[str, str]) -> list[str]:
    """Declare one evaluation stage per policy (``eval-NAME``) and one for best-of-n (factqa), each reading only the
    policy, its SFT start (the KL reference) and the proxy's reward model: with ``--jobs`` > 1 each starts as soon as
    its policy is trained, beside the stages still training, instead of one evaluation after everything. Every
    policy of a task answers the same held-out prompts (``task.prompts("eval", n, seed + 2)``) with the same sampling
    seed (``seed + 3``), so any two are compared pairwise. Returns the names of the stages declared."""
    from langrl.demo.config import MAX_NEW

    rm_inputs = ("rm-holistic",) if rm_paths else ()
    names = []
    for name, info in runs.items():
        task_name = info["task"]
        settings = {"path": info["path"], "task": task_name, "method": info["method"], "sft": sft[task_name],
                    "eval_prompts": b.eval_prompts, "seed": cfg.seed, "version": EVAL_VERSION}

        def run(d: Path, name=name, info=info, task_name=task_name) -> dict:
            from langrl.models.specs import load_causal_lm
            from langrl.tasks import get_task
            from langrl.train.pg.algorithms import ALGORITHMS

            task = get_task(task_name)
            rows = task.prompts("eval", b.eval_prompts, cfg.seed + 2)
            ref = load_causal_lm(sft[task_name], quiet=True)[0]
            model, tok = load_causal_lm(info["path"], quiet=True)
            metrics, responses = evaluate_both(model, tok, rows, task=task, proxy=proxy_for(task_name, rm_paths),
                                               ref_model=ref, max_new_tokens=MAX_NEW[task_name], seed=cfg.seed + 3)
            metrics["curve"] = training_curve(Path(info["path"]))
            if info.get("method") in ALGORITHMS:  # an online run: it watched a held-out signal while training
                metrics["warnings"] = training_warnings(Path(info["path"]))
            metrics["examples"] = [{"prompt": r["prompt"], "response": s} for r, s in zip(rows[:3], responses[:3])]
            return _finite(metrics)

        source = source_stage(name, info)
        inputs = tuple(dict.fromkeys((source, f"policy-{task_name}") + (rm_inputs if task_name == "factqa" else ())))
        stages.run(f"eval-{name}", settings, run, inputs=inputs)
        names.append(f"eval-{name}")
    if "factqa" in sft and rm_paths:
        settings = {"sft": sft["factqa"], "n": b.best_of_n, "eval_prompts": b.eval_prompts, "seed": cfg.seed,
                    "version": EVAL_VERSION}

        def run_best(d: Path) -> dict:
            from langrl.tasks import get_task

            task = get_task("factqa")
            rows = task.prompts("eval", b.eval_prompts, cfg.seed + 2)
            return _finite(best_of_n(sft["factqa"], rows, task, proxy_for("factqa", rm_paths), b.best_of_n,
                                     cfg.seed + 4, MAX_NEW["factqa"]))

        stages.run(f"eval-best-of-{b.best_of_n}", settings, run_best, inputs=("policy-factqa",) + rm_inputs)
        names.append(f"eval-best-of-{b.best_of_n}")
    return names


def collect_evals(stages: Stages, names: list[str]) -> dict:
    """{policy name: metrics} of the finished evaluation stages among ``names`` (call after :meth:`Stages.wait`;
    one whose policy refused its input has no result and is left out)."""
    return {n[len("eval-"):]: stages.results[n] for n in names if n in stages.results}


def _finite(obj):
    """JSON-safe: NaN/inf become None."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
