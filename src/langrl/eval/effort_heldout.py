"""Held-out gold checks of the reward models ``scripts/lf-effort`` trains from annotations (issue 18, under issue
16's rule: every reward model reports its held-out accuracy against the gold ordering).

The held-out set is the SFT policy's T = 1 answers to the evaluation prompts: never annotated for training, never
trained on, and the distribution PPO starts from. :func:`heldout_records` turns them into two feedback files that
``langrl rm eval --gold-task`` reads (the prompt row's columns ride along, so the task's hidden gold orders them):

- ``comparisons``: the first two answers to each prompt, labelled by the seed's annotator (``comparison_accuracy``
  is then against that annotator, ``gold_comparison_accuracy`` against the gold; gold ties are left out);
- ``spans``: every answer with the task's noiseless span labels and missing items (``task.label_spans``), for the
  span model's per-category ``gold_precision/recall/f1``, at the segment (sentence) level.

:data:`RM_EVALS` says which model of which method is scored on which file against which gold; :func:`rm_accuracy`
keeps the metrics the report shows. The completeness model learns "fewer missing items is better", so besides the
overall gold it is scored against the gold score closest to that (:data:`COMPLETENESS_GOLD`: factqa's
``completeness``; arithmetic has none, and its ``steps`` = right steps / max(steps written, steps needed) falls
with every missing step).
"""
from __future__ import annotations

#: The gold score each task's completeness model is also ordered by (``rm eval --gold-task TASK:SCORE``).
COMPLETENESS_GOLD = {"factqa": "completeness", "arithmetic": "steps"}

#: method -> [(name, model directory under the method's folder, held-out file, gold score or None = overall)]
RM_EVALS = {
    "ppo_bt": [("bt", "rm", "comparisons", None)],
    "dense_ppo": [("spans", "rm-spans", "spans", None), ("completeness", "rm-completeness", "comparisons", None),
                  ("completeness_axis", "rm-completeness", "comparisons", "completeness")],
}

_PAIR_KEYS = ("gold_comparison_accuracy", "n_gold_comparisons", "comparison_accuracy", "annotator_gold_agreement")


def heldout_records(task, rows: list[dict], responses: list[str], n: int, annotator=None) -> dict[str, list[dict]]:
    """Held-out feedback records of the responses to ``rows``.

    rows: (p,) the task's prompt rows; responses: (p · n,) ordered [row 0] × n, [row 1] × n, ...; ``annotator``
    (``task.annotator(seed)``) labels the comparison of answers 0 and 1 of each row (none when n < 2 or no
    annotator). Returns ``{"comparisons": [...], "spans": [...]}`` in the feedback formats of ``langrl.feedback``,
    every record carrying its row's columns other than the prompt. A blank answer (the policy can end at once) is
    left out: feedback records need a non-empty response, so a comparison with a blank side and a blank answer's span
    record are not written (:func:`blank_answers` counts them for the report).
    """
    if len(responses) != len(rows) * n:
        raise ValueError(f"heldout_records: {len(responses)} responses for {len(rows)} rows x {n}")
    comps, spans = [], []
    for i, row in enumerate(rows):
        cols = {k: v for k, v in row.items() if k != "prompt"}
        ys = responses[i * n:(i + 1) * n]
        if n >= 2 and annotator is not None and ys[0].strip() and ys[1].strip():
            comps.append({**annotator.compare(row, ys[0], ys[1]), **cols})
        for y in ys:
            if not y.strip():
                continue
            marked, missing = task.label_spans(row, y)
            spans.append({"prompt": row["prompt"], "response": y, "spans": marked, "missing": missing, **cols})
    return {"comparisons": comps, "spans": spans}


def blank_answers(responses: list[str]) -> int:
    """How many of ``responses`` are blank (left out of :func:`heldout_records`' files)."""
    return sum(1 for y in responses if not y.strip())


def rm_eval_specs(method: str, task_name: str) -> list[dict]:
    """The ``rm eval`` runs of ``method``'s reward models: name, model subfolder, held-out file, ``--gold-task``."""
    out = []
    for name, model, data, score in RM_EVALS.get(method, []):
        gold = task_name if score is None else f"{task_name}:{COMPLETENESS_GOLD[task_name]}"
        out.append({"name": name, "model": model, "data": data, "gold_task": gold})
    return out


def rm_accuracy(summary: dict, gold_task: str, categories: tuple[str, ...] = ()) -> dict:
    """The report's metrics from one ``rm eval --gold-task GOLD_TASK --json`` summary: for comparisons the gold (and
    annotator) pairwise accuracy and counts; for a span model, per category, the gold precision, recall, F1 and the
    threshold-free ROC AUC, and the macro F1 (None where ``rm eval`` had nothing to measure, e.g. every held-out pair tied in gold)."""
    keep = list(_PAIR_KEYS) if summary.get("n_comparisons") else []
    if "n_gold_span_records" in summary:
        keep += ["gold_span_macro_f1", "n_gold_span_records", "n_segments"]
        keep += [f"gold_{m}/{c}" for c in categories for m in ("precision", "recall", "f1", "auc")]
    return {"gold_task": gold_task, **{k: summary.get(k) for k in keep}}
