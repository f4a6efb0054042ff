"""``langrl rm train|eval|score``: reward models from feedback.

    langrl rm train --data prefs.jsonl --data ratings.jsonl --base minilm --out runs/rm
    langrl rm eval  --model runs/rm --data heldout.jsonl --json
    langrl rm eval  --model runs/demo/rm-holistic/model --data runs/demo/feedback/comparisons.jsonl --gold-task factqa
    langrl rm score --model runs/rm --data responses.jsonl --json     # one JSON line per record
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

from langrl.commands._common import finish
from langrl.config import arg, parse_config
from langrl.errors import InputError

USAGE = """usage: langrl rm {train,eval,score} [--key value ...] [--json]

  train   train a reward model (or an ensemble) on any mix of ratings, comparisons, rankings, spans, critiques
  eval    pairwise accuracy, Kendall tau, rating accuracy/AUC, per-category span F1, calibration (ECE) on feedback;
          with --gold-task, the same against a built-in task's hidden gold ordering
  score   score prompt/response records: one score (or one value per category) per record

`langrl rm SUBCOMMAND --help` lists every option."""


@dataclass
class RMEvalConfig:
    model: str = arg("runs/rm", "reward-model directory written by `langrl rm train`")
    data: str = arg("", "feedback file to evaluate on (any kinds)")
    kind: str | None = arg(None, "read every record as this kind")
    fmt: str = arg("auto", "input format: auto, langrl, trl, hh, qa-feedback")
    on_error: str = arg("fail", "bad records: fail (stop at the first) or skip (each reported with path:line, a count, "
                                "and a rejects file)", choices=("fail", "skip"))
    batch_size: int = arg(32, "sequences per forward pass")
    gold_task: str | None = arg(None, "built-in task (TASK or TASK:SCORE, e.g. factqa:completeness) whose hidden "
                                      "gold evaluator also orders the responses (gold_* metrics); the records must "
                                      "carry the task's meta, as the demo's feedback does")

    def validate(self) -> None:
        if not self.data:
            raise InputError("rm eval: --data FILE is required", field="data")
        if self.gold_task:
            from langrl.tasks import get_task

            get_task(self.gold_task.partition(":")[0])


@dataclass
class RMScoreConfig:
    model: str = arg("runs/rm", "reward-model directory written by `langrl rm train`")
    data: str = arg("", "JSONL with prompt and response (or responses, or chosen/rejected) per line")
    out: str | None = arg(None, "also write the scores as JSONL here")
    normalize: bool = arg(True, "standardise every head with its training mean/std (0 = an average training response)")
    batch_size: int = arg(32, "sequences per forward pass")

    def validate(self) -> None:
        if not self.data:
            raise InputError("rm score: --data FILE is required", field="data")


def _responses(rec: dict, path: str, line: int) -> tuple[object, list[str], str]:
    """(prompt, responses, shape) of one score record; shape is response, responses or pair."""
    prompt = rec.get("prompt", "")
    if not isinstance(prompt, (str, list)):
        raise InputError("expected a string or a list of chat messages", path=path, line=line, field="prompt")
    if "response" in rec:
        keys, shape = ["response"], "response"
    elif "responses" in rec:
        if not isinstance(rec["responses"], list) or not rec["responses"]:
            raise InputError("expected a non-empty list of strings", path=path, line=line, field="responses")
        return prompt, [_text(r, path, line, f"responses[{i}]") for i, r in enumerate(rec["responses"])], "responses"
    elif "chosen" in rec or "rejected" in rec:
        keys, shape = ["chosen", "rejected"], "pair"
    else:
        raise InputError("expected a field response, responses, or chosen and rejected", path=path, line=line)
    return prompt, [_text(rec.get(k), path, line, k) for k in keys], shape


def _text(value, path: str, line: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("expected a non-empty string", path=path, line=line, field=field)
    return value


def score_rows(model, rows: list[tuple[int, dict]], path: str, normalize: bool, batch_size: int) -> list[dict]:
    """One output dict per input row: ``score`` (and ``std``), or ``scores``; per-category values for span models,
    per-objective ``objectives`` for attribute models."""
    parsed = [(line, *_responses(rec, path, line)) for line, rec in rows]
    prompts = [p for _, p, rs, _ in parsed for _ in rs]
    responses = [r for _, _, rs, _ in parsed for r in rs]
    sequence = model.meta.get("sequence_head", True) if hasattr(model, "meta") else True
    heads = model.score_heads(prompts, responses, batch_size, normalize) if sequence else None
    segs = model.segment_probs(prompts, responses, batch_size) if model.categories else None
    objectives = getattr(model, "meta", {}).get("objectives") or []
    out, k = [], 0
    for line, _, rs, shape in parsed:
        vals = []
        for j in range(len(rs)):
            v: dict = {}
            if heads is not None:
                v["score"] = heads[k + j].mean().item()
                if objectives:  # attribute heads: one score per objective (the mean above weighs them equally)
                    v["objectives"] = dict(zip(objectives, heads[k + j].tolist()))
                elif heads.shape[1] > 1:
                    v["std"] = heads[k + j].std(unbiased=False).item()
            if segs is not None:
                v.update(category_values(segs[k + j], model.categories, rs[j]))
            vals.append(v)
        k += len(rs)
        row = {"line": line}
        if shape == "response":
            row.update(vals[0])
        elif shape == "pair":
            for side, v in zip(("chosen", "rejected"), vals):
                row.update({f"{side}_{key}": val for key, val in v.items()})
        else:
            row["scores"] = vals
        out.append(row)
    return out


def category_values(seg: dict, categories: list[str], response: str) -> dict:
    """Per category the summed segment rewards sum_j (1 - 2 P_j(c)) (each segment's expected +1/-1 reward, as in
    Wu et al. 2023), and the segments with their probabilities."""
    per = {c: sum(1 - 2 * p[i] for p in seg["probs"]) for i, c in enumerate(categories)}
    segments = [{"start": s, "end": e, "text": response[s:e], **{c: p[i] for i, c in enumerate(categories)}}
                for (s, e), p in zip(seg["segments"], seg["probs"])]
    return {"categories": per, "segments": segments}


def _train(argv: list[str]) -> int:
    from langrl.train.rm.loop import RMConfig, run_rm_train

    cfg, flags = parse_config(RMConfig, argv, prog="langrl rm train",
                              summary="Train a reward model on ratings, comparisons (ties, margins), rankings (tiers), "
                                      "span feedback and critiques; each record uses its own loss.")
    return finish(run_rm_train(cfg, quiet=flags["json"]), flags["json"], "rm train")


def _eval(argv: list[str]) -> int:
    from langrl.feedback import read_feedback
    from langrl.models.rm.eval import evaluate
    from langrl.models.rm.model import check_reward_model_dir, load_reward_model

    cfg, flags = parse_config(RMEvalConfig, argv, prog="langrl rm eval",
                              summary="Evaluate a reward model on held-out feedback of any kind.")
    check_reward_model_dir(cfg.model)  # a wrong --model fails at once; bad data fails before the weights load
    from langrl.jsonl import input_flag

    with input_flag("--data"):
        fb = read_feedback(cfg.data, kind=cfg.kind, fmt=cfg.fmt, on_error=cfg.on_error)
    if fb.skipped:
        print(fb.report(), file=sys.stderr)
    gold = None
    if cfg.gold_task:
        from langrl.models.rm.eval import TaskGold

        gold = TaskGold(cfg.gold_task)
        if not any(gold.row(r) is not None for r in fb.records):
            raise InputError(f"--gold-task {cfg.gold_task}: no record of {cfg.data} carries the task's 'meta' field "
                             "(write the prompt rows' columns into the feedback, as `langrl demo` does)",
                             path=cfg.data, field="gold_task")
    model = load_reward_model(cfg.model)
    res = evaluate(model, fb.records, cfg.batch_size, gold=gold)
    res = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in res.items()}
    return finish({"command": "rm eval", "model": cfg.model, "data": cfg.data, **res}, flags["json"], "rm eval")


def _score(argv: list[str]) -> int:
    from langrl.io import atomic_write_jsonl
    from langrl.models.rm.model import check_reward_model_dir, load_reward_model
    from langrl.train.data import read_jsonl

    cfg, flags = parse_config(RMScoreConfig, argv, prog="langrl rm score",
                              summary="Score prompt/response records with a reward model (or ensemble).")
    check_reward_model_dir(cfg.model)
    from langrl.jsonl import input_flag

    with input_flag("--data"):
        rows = read_jsonl(cfg.data)
    model = load_reward_model(cfg.model)
    out = score_rows(model, rows, cfg.data, cfg.normalize, cfg.batch_size)
    if cfg.out:
        atomic_write_jsonl(cfg.out, out)
    if flags["json"]:
        for row in out:
            print(json.dumps(row))
        return 0
    flat = [r["score"] for r in out if "score" in r]
    summary = {"command": "rm score", "records": len(out), "out": cfg.out}
    if flat:
        mean = sum(flat) / len(flat)
        summary.update(score_mean=mean, score_std=(sum((x - mean) ** 2 for x in flat) / len(flat)) ** 0.5)
    return finish(summary, False, "rm score")


SUBCOMMANDS = {"train": _train, "eval": _eval, "score": _score}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        raise InputError(f"rm: unknown subcommand {argv[0]!r}; expected one of {', '.join(SUBCOMMANDS)}")
    return sub(argv[1:])
