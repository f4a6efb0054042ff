"""Step 1 of RLHF, simulated: sample responses from the SFT policy and collect every kind of feedback on them.

For each prompt, ``k`` responses are sampled; the task's simulated annotator (gold utility + configured noise) gives
one ranking of the k (the listwise judgement), k − 1 comparisons of random pairs (the same number of pairwise
judgements as a chain over the list), one rating, one span annotation and one critique per response. A
"completeness" comparison per pair of responses is derived from the span annotation's ``missing`` notes (fewer missing
items preferred), which is how the fine-grained RLHF paper's sequence-level completeness reward model is trained.

Every record also carries its prompt row's task columns (``meta``, ``answer`` ...) as extra fields, so the task's
hidden gold evaluator can score the same records later (``langrl rm eval --gold-task factqa``); no loss reads them.
"""
from __future__ import annotations

import random
from pathlib import Path

from langrl.io import atomic_write_jsonl

NOISE = {"flip": 0.05, "temperature": 0.05}


def collect_feedback(policy_dir: str, task, rows: list[dict], *, k: int, seed: int, out: Path,
                     max_new_tokens: int = 64) -> dict:
    """Write ``comparisons.jsonl``, ``rankings.jsonl``, ``ratings.jsonl``, ``spans.jsonl``, ``critiques.jsonl`` and
    ``completeness.jsonl`` under ``out``; return counts."""
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample

    model, tok = load_causal_lm(policy_dir, quiet=True)
    annotator = task.annotator(seed, **NOISE)
    rng = random.Random(seed)
    kinds: dict[str, list[dict]] = {n: [] for n in ("comparisons", "rankings", "ratings", "spans", "critiques",
                                                    "completeness")}
    for start in range(0, len(rows), 32):
        chunk = rows[start:start + 32]
        ro = sample(model, tok, [r["prompt"] for r in chunk], n=k, max_new_tokens=max_new_tokens,
                    seed=seed * 7919 + start)
        for i, row in enumerate(chunk):
            responses = [r if r.strip() else " ..." for r in ro.responses[i * k:(i + 1) * k]]  # empty: still judged
            before = {name: len(recs) for name, recs in kinds.items()}
            kinds["rankings"].append(annotator.rank(row, responses))
            order = list(range(k))
            rng.shuffle(order)
            for a, b in zip(order, order[1:]):
                kinds["comparisons"].append(annotator.compare(row, responses[a], responses[b]))
            span_recs = [annotator.spans(row, r) for r in responses]
            kinds["spans"] += span_recs
            kinds["ratings"] += [annotator.rate(row, r) for r in responses]
            kinds["critiques"] += [annotator.critique(row, r) for r in responses]
            for a in range(k):
                for b in range(a + 1, k):
                    ma, mb = len(span_recs[a].get("missing", [])), len(span_recs[b].get("missing", []))
                    if ma != mb:
                        win, lose = (a, b) if ma < mb else (b, a)
                        kinds["completeness"].append({"prompt": row["prompt"], "chosen": responses[win],
                                                      "rejected": responses[lose]})
            cols = {c: v for c, v in row.items() if c != "prompt"}  # the gold evaluator's inputs
            for name, recs in kinds.items():
                for rec in recs[before[name]:]:
                    rec.update((c, v) for c, v in cols.items() if c not in rec)
    out.mkdir(parents=True, exist_ok=True)
    for name, recs in kinds.items():
        atomic_write_jsonl(out / f"{name}.jsonl", recs)
    return {name: len(recs) for name, recs in kinds.items()}
