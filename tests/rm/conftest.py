"""Tiny feedback files of every kind (texts the toy tokenizer knows) and a small trained toy reward model."""
from __future__ import annotations

import json

import pytest

GOOD = ["The movie was great and i loved it.", "I loved it. The movie was great.", "Great movie, i loved it."]
BAD = ["The movie was bad and i hated it.", "I hated it. The movie was bad.", "Bad movie, i hated it."]
MID = ["The cat sat on the mat.", "A b c d e f g h."]
PROMPTS = ["Q: the movie? A:", "Q: 3 + 4 = ? A:", "Q: tell me A:"]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def feedback_rows() -> dict[str, list[dict]]:
    """A few records of each kind; 'good' texts beat 'mid' beat 'bad'."""
    rows: dict[str, list[dict]] = {k: [] for k in ("rating", "comparison", "tie", "ranking", "tiers", "spans",
                                                   "critique")}
    for i, p in enumerate(PROMPTS):
        g, b, m = GOOD[i % 3], BAD[i % 3], MID[i % 2]
        rows["rating"] += [{"prompt": p, "response": g, "rating": True}, {"prompt": p, "response": b, "rating": False}]
        rows["comparison"] += [{"prompt": p, "chosen": g, "rejected": b}, {"prompt": p, "chosen": m, "rejected": b,
                                                                           "margin": 0.5}]
        rows["tie"] += [{"prompt": p, "chosen": g, "rejected": b}, {"prompt": p, "responses": [g, GOOD[(i + 1) % 3]],
                                                                    "tie": True}]
        rows["ranking"].append({"prompt": p, "responses": [b, g, m], "ranking": [[1], [2], [0]]})
        rows["tiers"].append({"prompt": p, "responses": [b, g, m, GOOD[(i + 1) % 3]], "ranking": "B = D > C > A",
                              "labels": ["A", "B", "C", "D"]})
        text = m + " " + b
        rows["spans"].append({"prompt": p, "response": text, "spans": [
            {"start": len(m) + 1, "end": len(text), "category": "negative"},
            {"start": 0, "end": len(m), "category": "irrelevant"}], "missing": []})
        rows["critique"].append({"prompt": p, "response": b, "critique": "too negative", "refinement": g})
    return rows


@pytest.fixture(scope="session")
def fb_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("feedback")
    rows = feedback_rows()
    files = {k: write_jsonl(d / f"{k}.jsonl", v) for k, v in rows.items()}
    files["mixed"] = write_jsonl(d / "mixed.jsonl", [r for k in ("rating", "tie", "tiers", "spans", "critique")
                                                      for r in rows[k]])
    files["score"] = write_jsonl(d / "score.jsonl", [{"prompt": PROMPTS[0], "response": GOOD[0]},
                                                     {"prompt": PROMPTS[0], "chosen": GOOD[1], "rejected": BAD[1]},
                                                     {"prompt": PROMPTS[1], "responses": [BAD[0], MID[0], GOOD[2]]}])
    return files


@pytest.fixture(scope="session")
def trained_rm(tmp_path_factory, toy_model_dir, fb_files) -> str:
    """A toy reward model trained on every kind at once, with 2 ensemble heads."""
    from langrl.config import parse_config
    from langrl.train.rm.loop import RMConfig, run_rm_train

    out = tmp_path_factory.mktemp("rm") / "mixed"
    cfg, _ = parse_config(RMConfig, train_args(fb_files["mixed"], out, toy_model_dir, "--ensemble", "2",
                                               "--max-steps", "6"))
    run_rm_train(cfg, quiet=True)
    return str(out)


def train_args(data, out, base, *extra) -> list[str]:
    """A fast ``rm train`` command line on a toy model."""
    args = ["--base", str(base), "--out", str(out), "--max-steps", "3", "--batch-size", "4", "--micro-batch-size",
            "4", "--eval-fraction", "0", "--learning-rate", "1e-3", "--warmup-steps", "1", "--max-length", "48"]
    for d in [data] if isinstance(data, str) else data:
        args += ["--data", d]
    return args + list(extra)
