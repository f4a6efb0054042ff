"""``langrl reward list|score``: the reward functions, and scoring a JSONL file with them.

``langrl reward list`` prints every registered reward with its parameters (and defaults) and doc.
``langrl reward score --reward SPEC [--reward SPEC ...] --data FILE`` scores a JSONL file of ``prompt``/``response``
records (every other key is a column the rewards may use: ``reference``, ``answer``, ``tests`` ...). With ``--json``
it prints one object ``{"objectives": [...], "scores": [[...] per record], "mean": {name: value}}``; the objectives
are each reward's columns plus the weighted ``total`` (a score with no value is ``null``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from langrl.config import arg, parse_config
from langrl.errors import InputError

USAGE = """usage: langrl reward list [--json]
       langrl reward score --reward SPEC [--reward SPEC ...] --data FILE.jsonl [--json]

  list    every reward with its parameters, defaults and doc
  score   score the 'response' of each JSONL record (with its 'prompt' and other columns) with the given rewards
SPEC: name:key=value,key=value (e.g. rouge:type=rougeL,weight=0.5); see `langrl reward list`.
`langrl reward score --help` lists every option."""


@dataclass
class RewardListConfig:
    pass


@dataclass
class RewardScoreConfig:
    reward: list[str] = arg([], "reward spec name:key=value,... (repeat the flag for several; see `langrl reward list`)")
    data: str = arg("", "JSONL file: 'response' (and 'prompt') per line, plus any columns the rewards need")
    nan: str = arg("error", "non-finite scores: error, or skip (counted, and left out of the total)",
                   choices=("error", "skip"))
    batch_size: int = arg(64, "records scored per reward call")

    def validate(self):
        if not self.reward:
            raise InputError("reward score: give at least one --reward SPEC (see `langrl reward list`)")
        if not self.data:
            raise InputError("reward score: --data FILE.jsonl is required")
        if self.batch_size < 1:
            raise InputError("reward score: field 'batch_size': expected >= 1")


def _plain(doc: str) -> str:
    return doc.replace("``", "")


def list_rewards(as_json: bool) -> int:
    from langrl.rewards.registry import COMMON_KEYS, reward_entries

    entries = reward_entries()
    if as_json:
        out = [{"name": e.name, "doc": _plain(e.doc),
                "params": {p.name: {"default": None if p.required else p.default, "required": p.required,
                                    "type": p.type.__name__} for p in e.params.values()}}
               for e in entries.values()]
        print(json.dumps({"rewards": out, "common": COMMON_KEYS}, default=str))
        return 0
    for e in entries.values():
        print(f"{e.name:<13} {_plain(e.doc)}")
        if e.params:
            print(f"{'':<13}   {', '.join(p.show() for p in e.params.values())}")
    print("\nevery spec also takes: " + "; ".join(f"{k}= {v}" for k, v in COMMON_KEYS.items()))
    print("spec syntax: name:key=value,key=value (quote a value containing ',' with \" or ')")
    return 0


def _read(path: str) -> tuple[list[int], list[str], list[str], dict[str, list]]:
    """(line numbers, prompts, responses, columns) of a JSONL file; every record must have the same columns, a
    non-empty ``response`` and non-empty ``reference``/``references`` when it has them."""
    from langrl.jsonl import check_references, read_jsonl, text_field

    rows = read_jsonl(path)
    first_line, first = rows[0]
    keys = [k for k in first if k not in ("prompt", "response")]
    lines, prompts, responses, columns = [], [], [], {k: [] for k in keys}
    for line, rec in rows:
        text_field(rec, "response", path, line)
        if "prompt" in rec:
            text_field(rec, "prompt", path, line, empty_ok=True)
        check_references(rec, path, line)
        extra = [k for k in rec if k not in ("prompt", "response") and k not in columns]
        missing = [k for k in keys if k not in rec]
        if extra or missing:
            k = (extra or missing)[0]
            what = "not on" if extra else "missing here but present on"
            raise InputError(f"column {what} line {first_line}; every record needs the same columns",
                             path=path, line=line, field=k)
        lines.append(line)
        prompts.append(rec.get("prompt", ""))
        responses.append(rec["response"])
        for k in keys:
            columns[k].append(rec[k])
    return lines, prompts, responses, columns


def score(cfg: RewardScoreConfig) -> dict:
    """Score ``cfg.data`` with ``cfg.reward``; returns ``{"objectives", "scores", "mean", "time_s"}``."""
    import torch

    from langrl.rewards.protocol import RewardError
    from langrl.rewards.registry import build_rewards

    from langrl.jsonl import input_flag

    with input_flag("--data"):
        lines, prompts, responses, columns = _read(cfg.data)  # bad data fails before any reward model loads
    composite = build_rewards(cfg.reward, nan=cfg.nan)
    chunks, names = [], None
    for start in range(0, len(responses), cfg.batch_size):
        sl = slice(start, start + cfg.batch_size)
        try:
            out = composite(prompts[sl], responses[sl], **{k: v[sl] for k, v in columns.items()})
        except RewardError as e:
            line = lines[start + e.index] if e.index is not None else None
            raise InputError(str(e), path=cfg.data, line=line) from e
        names = out.names
        chunks.append(out.scores)
    scores = torch.cat(chunks)  # (records, k + 1)
    finite = torch.isfinite(scores)
    mean = {}
    for j, n in enumerate(names):
        col = scores[finite[:, j], j]
        mean[n] = round(col.double().mean().item(), 6) if col.numel() else None
    rows = [[None if not math.isfinite(v) else round(v, 6) for v in row] for row in scores.tolist()]
    return {"objectives": names, "scores": rows, "mean": mean,
            "time_s": {k: round(v, 4) for k, v in composite.timings.items()}}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ("list", "score"):
        print(USAGE)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    action, rest = argv[0], argv[1:]
    if action == "list":
        _, flags = parse_config(RewardListConfig, rest, prog="langrl reward list")
        return list_rewards(flags["json"])
    cfg, flags = parse_config(RewardScoreConfig, rest, prog="langrl reward score",
                              summary="Score a JSONL file of prompt/response records with reward functions.")
    result = score(cfg)
    if flags["json"]:
        print(json.dumps({k: result[k] for k in ("objectives", "scores", "mean")}))
        return 0
    from langrl.commands._common import finish

    summary = {"records": len(result["scores"]), "rewards": ", ".join(cfg.reward)}
    summary.update({f"mean {k}": v for k, v in result["mean"].items()})
    summary.update({f"seconds {k}": v for k, v in result["time_s"].items()})
    return finish(summary, False, "langrl reward score")
