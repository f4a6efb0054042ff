"""lf-effort's measurement gaps (issue 18): the reward models' held-out gold checks (``langrl.eval.effort_heldout``
through ``langrl rm eval``'s gold machinery, on hand-made arithmetic answers and a hand-made reward model), the
steps that scale with N (``scaled_steps`` and the script's wiring at N = 512), and ``seed_mean``."""
import argparse
import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from langrl.eval.effort import scaled_steps, seed_mean
from langrl.eval.effort_heldout import heldout_records, rm_accuracy, rm_eval_specs
from langrl.feedback import read_feedback
from langrl.io import atomic_write_jsonl
from langrl.models.rm.eval import TaskGold, evaluate
from langrl.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lf-effort"
ROW_A = {"prompt": "Q: Tom has 14 apples. He wins 10 more and buys 4 more. How many apples does he have now?\nA:",
         "answer": "28", "reference": "14 + 10 = 24. 24 + 4 = 28. #### 28",
         "meta": {"start": 14, "ops": [{"op": "+", "b": 10, "phrase": "wins 10 more"},
                                       {"op": "+", "b": 4, "phrase": "buys 4 more"}]}}
ROW_B = {"prompt": "Q: Ann has 7 pens. She loses 3. How many pens does she have now?\nA:", "answer": "4",
         "reference": "7 - 3 = 4. #### 4", "meta": {"start": 7, "ops": [{"op": "-", "b": 3, "phrase": "loses 3"}]}}
# two answers per row: A0 right (gold 1), A1 a wrong first step and answer (gold 0); B0 wrong (gold 0), B1 right (1)
A0, A1 = " 14 + 10 = 24. 24 + 4 = 28. #### 28", " 14 + 10 = 25. 25 + 4 = 29. #### 29"
B0, B1 = " 7 - 3 = 5. #### 5", " 7 - 3 = 4. #### 4"
CATS = ["wrong_step", "wrong_answer"]


class HandRM:
    """A reward model by hand: fixed scores, and sentences as segments with P(wrong_step) 0.9 on the first sentence
    and P(wrong_answer) 0.9 on the last (0.1 elsewhere)."""

    categories = CATS
    meta: dict = {}
    scores = {A0: 1.0, A1: 0.0, B0: 1.0, B1: 0.0}  # A in the gold order, B reversed

    def score_heads(self, prompts, responses, batch_size=32):
        return torch.tensor([[self.scores[r]] for r in responses])

    def segment_probs(self, prompts, responses, batch_size=32):
        out = []
        for r in responses:
            segs = [m.span() for m in re.finditer(r"[^.]+(\.|$)", r)]
            probs = [[0.9 if i == 0 else 0.1, 0.9 if i == len(segs) - 1 else 0.1] for i in range(len(segs))]
            out.append({"segments": segs, "probs": probs})
        return out


def _records(tmp_path, n=2):
    task = get_task("arithmetic")
    recs = heldout_records(task, [ROW_A, ROW_B], [A0, A1, B0, B1] if n == 2 else [A0, B0], n,
                           task.annotator(0))
    paths = {}
    for name, rows in recs.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        atomic_write_jsonl(paths[name], rows)
    return recs, paths


def test_heldout_records_carry_the_gold_spans_and_the_rows(tmp_path):
    recs, _ = _records(tmp_path)
    assert len(recs["comparisons"]) == 2 and len(recs["spans"]) == 4
    assert {recs["comparisons"][0]["chosen"], recs["comparisons"][0]["rejected"]} == {A0, A1}
    assert all(r["meta"] == ROW_A["meta"] and r["answer"] == "28" for r in recs["spans"][:2])
    # A1's wrong first step "14 + 10 = 25" (characters 1-13) and wrong answer line "#### 29" (28-35)
    a1 = recs["spans"][1]
    assert [(A1[s["start"]:s["end"]], s["category"]) for s in a1["spans"]] == [("14 + 10 = 25", "wrong_step"),
                                                                               ("#### 29", "wrong_answer")]
    assert recs["spans"][0]["spans"] == [] and recs["spans"][3]["spans"] == []
    one, _ = _records(tmp_path, n=1)  # one answer per prompt: no comparison
    assert one["comparisons"] == [] and len(one["spans"]) == 2
    with pytest.raises(ValueError, match="3 responses for 2 rows x 2"):
        heldout_records(get_task("arithmetic"), [ROW_A, ROW_B], [A0, A1, B0], 2)


def test_rm_eval_gold_machinery_scores_a_hand_made_rm_on_the_heldout_records(tmp_path):
    _, paths = _records(tmp_path)
    comps = evaluate(HandRM(), read_feedback(str(paths["comparisons"])).records, gold=TaskGold("arithmetic"))
    acc = rm_accuracy(comps, "arithmetic", tuple(CATS))
    # gold pairs: A (A0 1 > A1 0), scored 1 > 0: right; B (B1 1 > B0 0), scored 0 < 1: wrong -> 1/2
    assert acc["gold_comparison_accuracy"] == 0.5 and acc["n_gold_comparisons"] == 2
    assert acc["gold_task"] == "arithmetic"
    # by arithmetic's steps the same: A0 1 > A1 0.5, B1 1 > B0 0 -> 1/2
    steps = evaluate(HandRM(), read_feedback(str(paths["comparisons"])).records, gold=TaskGold("arithmetic:steps"))
    assert rm_accuracy(steps, "arithmetic:steps")["gold_comparison_accuracy"] == 0.5
    spans = evaluate(HandRM(), read_feedback(str(paths["spans"])).records, gold=TaskGold("arithmetic"))
    acc = rm_accuracy(spans, "arithmetic", tuple(CATS))
    # segments 3 + 3 + 2 + 2 = 10; wrong_step predicted on the 4 first sentences, gold on A1's and B0's first: P 2/4,
    # R 2/2, F1 2 * 0.5 * 1 / 1.5 = 2/3; wrong_answer the same with the last sentences (A1's "#### 29", B0's "#### 5")
    assert acc["n_segments"] == 10 and acc["n_gold_span_records"] == 4
    for c in CATS:
        assert (acc[f"gold_precision/{c}"], acc[f"gold_recall/{c}"]) == (0.5, 1.0)
        assert acc[f"gold_f1/{c}"] == pytest.approx(2 / 3)
    assert acc["gold_span_macro_f1"] == pytest.approx(2 / 3) and "gold_comparison_accuracy" not in acc
    # comparisons all tied in gold (rm eval then has no gold_* accuracy): the key stays, as None
    tied = rm_accuracy({"n_comparisons": 2, "n_gold_comparisons": 0, "comparison_accuracy": 1.0}, "factqa")
    assert tied["gold_comparison_accuracy"] is None and tied["n_gold_comparisons"] == 0


def test_rm_eval_specs_name_the_gold_of_each_model():
    assert [(s["name"], s["model"], s["data"], s["gold_task"]) for s in rm_eval_specs("dense_ppo", "arithmetic")] == [
        ("spans", "rm-spans", "spans", "arithmetic"), ("completeness", "rm-completeness", "comparisons", "arithmetic"),
        ("completeness_axis", "rm-completeness", "comparisons", "arithmetic:steps")]
    assert rm_eval_specs("dense_ppo", "factqa")[2]["gold_task"] == "factqa:completeness"
    assert [s["model"] for s in rm_eval_specs("ppo_bt", "factqa")] == ["rm"] and rm_eval_specs("dpo", "factqa") == []


def test_scaled_steps_and_seed_mean_by_hand():
    assert scaled_steps(20, 128, 16, 2.0) == 20  # ceil(2 * 128 / 16) = 16 < 20: the budget
    assert scaled_steps(20, 512, 16, 2.0) == 64  # 2 * 512 / 16 = 64 exactly (no rounding up to 65)
    assert scaled_steps(20, 300, 16, 2.0) == 38  # 600 / 16 = 37.5 -> 38
    assert scaled_steps(30, 0, 16, 2.0) == 30 and scaled_steps(20, 512, 16, 0.0) == 20
    with pytest.raises(ValueError):
        scaled_steps(0, 10, 16, 1.0)
    assert seed_mean([0.5, None, 0.7]) == {"mean": pytest.approx(0.6), "per_seed": [0.5, None, 0.7]}
    assert seed_mean([None])["mean"] is None


def _script():
    loader = importlib.machinery.SourceFileLoader("lf_effort_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("lf_effort_script", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("n, ties, pairs, want", [
    # N = 512, 312 decided comparisons, 250 completeness pairs (at most N/2: 2 answers to each of N/2 prompts):
    # ceil(2 * 312 / 16) = 39, 2 * 512 / 16 = 64, ceil(2 * 250 / 16) = ceil(31.25) = 32
    (512, 200, 250, {"dpo": 39, "rm": 64, "ilf": 64, "distill": 64, "rm_spans": 64, "rm_completeness": 32}),
    # N = 128: 2 * 128 / 16 = 16 < 20 (and < 30): the budgets, as the README's table ran
    (128, 60, 64, {"dpo": 20, "rm": 30, "ilf": 20, "distill": 20, "rm_spans": 30, "rm_completeness": 30}),
])
def test_the_steps_of_every_stage_scale_with_n(tmp_path, n, ties, pairs, want):
    mod, calls = _script(), []

    def fake_langrl(args, stage):
        calls.append(args)
        return {"policy": "P", "completeness_pairs": pairs}

    mod.langrl = fake_langrl
    a = mod.parse_args(["--task", "arithmetic", "--n", str(n), "--rm-steps", "30"])
    root = tmp_path / "arithmetic" / "seed-0"
    (root / f"data-N{n}").mkdir(parents=True)
    (root / f"data-N{n}" / "stage.json").write_text(json.dumps({"comparisons": n, "ties": ties, "critiques": n}))
    got = {}
    for method in ("dpo", "ppo_bt", "ilf", "distill", "dense_ppo"):
        mod.train(method, "arithmetic", 0, n, "P", root, a)
        got.update(json.loads((root / f"N{n}" / method / "steps.json").read_text()))
    assert {k: v for k, v in got.items() if k != "ppo"} == want and got["ppo"] == 20  # PPO stays at --ppo-steps
    used = [int(c[c.index("--max-steps") + 1]) for c in calls if "--max-steps" in c]
    assert used == [want["dpo"], want["rm"], 20, want["ilf"], want["distill"], want["rm_spans"],
                    want["rm_completeness"], 20]
    assert isinstance(a, argparse.Namespace) and a.min_epochs == 2.0


def test_blank_answers_are_left_out_of_the_heldout_files_and_counted(tmp_path):
    """A policy can answer nothing; feedback records need a non-empty response, so row B's comparison (B1 blank)
    and B1's span record are not written, row A's are, and the files read back (before this, `rm eval` refused
    the file: "field 'rejected': expected a non-empty string")."""
    from langrl.eval.effort_heldout import blank_answers

    task = get_task("arithmetic")
    responses = [A0, A1, B0, "  "]
    recs = heldout_records(task, [ROW_A, ROW_B], responses, 2, task.annotator(0))
    assert len(recs["comparisons"]) == 1 and {recs["comparisons"][0]["chosen"], recs["comparisons"][0]["rejected"]} \
        == {A0, A1}
    assert [r["response"] for r in recs["spans"]] == [A0, A1, B0]
    assert blank_answers(responses) == 1
    for name, rows in recs.items():
        atomic_write_jsonl(tmp_path / f"{name}.jsonl", rows)
        assert len(read_feedback(str(tmp_path / f"{name}.jsonl"))) == len(rows)
