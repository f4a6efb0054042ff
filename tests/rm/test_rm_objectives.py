"""Attribute reward models (``rm train --objectives``): one head per objective, each record training its own head;
per-axis accuracy against the hh task's gold axes; ``rm:path=...,head=NAME`` as a reward vector for ``langrl rl``."""
from __future__ import annotations

import json
import math

import pytest
import torch

from langrl.cli import main
from langrl.errors import InputError
from langrl.losses import bradley_terry_loss, select_heads
from langrl.tasks import get_task
from langrl.tasks.hh import candidate_responses
from langrl.tasks.population import AxisAnnotator, pool_comparisons

from .conftest import train_args, write_jsonl

AXES = ["helpful", "harmless"]


def hh_feedback(split: str, n: int, seed: int = 0) -> list[dict]:
    """Per-objective comparisons of every pair of the hh response pool, by a noiseless-ish annotator per axis."""
    task = get_task("hh")
    ann = AxisAnnotator(task, AXES, seed=seed, flip=0.0, temperature=0.05)
    return pool_comparisons(ann, task.prompts(split, n, seed), candidate_responses)


@pytest.fixture(scope="module")
def hh_files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("hh_fb")
    return {"train": write_jsonl(d / "train.jsonl", hh_feedback("train", 40)),
            "eval": write_jsonl(d / "eval.jsonl", hh_feedback("eval", 12))}


def two_head_args(hh_files, out, base, *extra) -> list[str]:
    return ["rm", "train", *train_args(hh_files["train"], out, base, "--objectives", "helpful,harmless",
                                       "--eval-data", hh_files["eval"], "--gold-task", "hh", "--batch-size", "32",
                                       "--micro-batch-size", "32", "--max-length", "64", *extra), "--json"]


@pytest.fixture(scope="module")
def two_head_rm(hh_files, toy_model_dir, tmp_path_factory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("rm2") / "rm"
    rc = main(two_head_args(hh_files, out, toy_model_dir, "--max-steps", "40", "--learning-rate", "3e-3",
                            "--head-learning-rate", "1e-2"))
    assert rc == 0
    return str(out), json.loads((out / "langrl_metrics.json").read_text())


def test_select_heads_is_bradley_terry_per_head():
    # 2 pairs, 2 heads: pair 0 judged on head 0, pair 1 on head 1
    chosen = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    rejected = torch.tensor([[1.0, 5.0], [3.0, 0.0]])
    head = torch.tensor([0, 1])
    c, r = select_heads(chosen, head), select_heads(rejected, head)
    assert c.tolist() == [[2.0], [1.0]] and r.tolist() == [[1.0], [0.0]]
    loss, parts = bradley_terry_loss(c.squeeze(1), r.squeeze(1))
    # r_c - r_r = 2 - 1 = 1 on head 0 and 1 - 0 = 1 on head 1: loss = -log sigma(1) = log(1 + e^-1) = 0.31326
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6) and parts["accuracy"] == 1.0
    # the mean over heads would give pair 0 (2+0)/2 - (1+5)/2 = -2: a different loss
    mean_loss, _ = bradley_terry_loss(chosen.mean(1), rejected.mean(1))
    assert mean_loss.item() > 1.0
    with pytest.raises(ValueError, match="heads"):
        select_heads(chosen, torch.tensor([0, 2]))


def test_a_record_trains_only_its_objectives_head(toy_model_dir):
    from langrl.models.rm.data import records_to_items
    from langrl.models.rm.losses import batch_counts, micro_batch_loss
    from langrl.models.rm.model import build_reward_model
    from langrl.feedback.records import Comparison

    model = build_reward_model(str(toy_model_dir), n_heads=2, seed=0, quiet=True)
    items, _ = records_to_items([Comparison("Q: the movie? A:", "great", "bad")], loss="auto", encode=model.encode,
                                categories=[], rating_range=(-1.0, 1.0))
    items[0].head = 1
    loss, _ = micro_batch_loss(model, items, torch.ones(1, 1), **batch_counts(items))
    loss.backward()
    grad = model.score_head.weight.grad
    assert grad[0].abs().sum() == 0 and grad[1].abs().sum() > 0  # head 0 untouched, head 1 trained


def test_two_head_rm_orders_heldout_pairs_per_gold_axis(two_head_rm):
    path, summary = two_head_rm
    assert summary["finished"] and summary["n_heads"] == 2
    meta = json.loads(open(f"{path}/reward_config.json").read())
    assert meta["objectives"] == AXES and len(meta["score_mean"]) == 2
    # each head against its own gold axis on every held-out pair, well above chance (0.5)
    assert summary["eval_gold_objective_accuracy/helpful"] > 0.75
    assert summary["eval_gold_objective_accuracy/harmless"] > 0.75
    assert summary["eval_objective_accuracy/helpful"] > 0.7 and summary["eval_objective_accuracy/harmless"] > 0.7


def test_heads_as_rewards(two_head_rm):
    from langrl.rewards import build_reward

    path, _ = two_head_rm
    task = get_task("hh")
    row = next(r for r in task.prompts("eval", 40, 0) if r["meta"]["forbidden"])
    pool = candidate_responses(row)  # [comply, half, other, refusal with reason, bare refusal]
    prompts = [row["prompt"]] * len(pool)
    one = build_reward(f"rm:path={path},head=harmless")
    out = one(prompts, pool)
    assert out.names[:1] == ["harmless"]
    every = build_reward(f"rm:path={path}")(prompts, pool)
    assert every.names[:2] == ["rm/helpful", "rm/harmless"]
    assert torch.allclose(out.scores[:, 0], every.scores[:, 1])
    helpful = every.scores[:, 0]
    harmless = every.scores[:, 1]
    # on a forbidden request the axes disagree: complying is most helpful, the reasoned refusal most harmless
    assert helpful[0] > helpful[3] and harmless[3] > harmless[0]
    with pytest.raises(InputError, match="'kind' is not a head"):
        build_reward(f"rm:path={path},head=kind")


def test_head_rewards_feed_rl_aggregation_end_to_end(two_head_rm, toy_model_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    path, _ = two_head_rm
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": r["prompt"]} for r in get_task("hh").prompts("train", 8,
                                                                                                          1)])
    out = tmp_path / "rl"
    rc = main(["rl", "--policy", str(toy_model_dir), "--prompts", prompts, "--out", str(out), "--algo", "grpo",
               "--reward", f"rm:path={path},head=helpful", "--reward", f"rm:path={path},head=harmless",
               "--aggregation", "normalize_then_sum", "--weights", "helpful=0.7,harmless=0.3", "--max-steps", "2",
               "--prompts-per-step", "4", "--samples-per-prompt", "4", "--max-new-tokens", "8",
               "--learning-rate", "1e-2", "--seed", "0"])
    assert rc == 0
    header = open(out / "metrics.csv").readline().split(",")
    assert "reward/helpful" in header and "reward/harmless" in header
    start = AutoModelForCausalLM.from_pretrained(toy_model_dir).parameters()
    after = AutoModelForCausalLM.from_pretrained(out).parameters()
    assert any(not torch.equal(a, b) for a, b in zip(start, after))


@pytest.mark.parametrize("row,field,what", [
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, "objective", "missing"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "objective": "kind"}, "objective", "expected one of helpful"),
    ({"prompt": "p", "response": "a", "spans": [], "objective": "helpful"}, "spans", "span feedback")])
def test_bad_objective_records_exit_2_naming_file_line_field(row, field, what, toy_model_dir, tmp_path, capsys):
    good = {"prompt": "p", "chosen": "a", "rejected": "b", "objective": "helpful"}
    data = write_jsonl(tmp_path / "fb.jsonl", [good, good, row])
    rc = main(["rm", "train", *train_args(data, tmp_path / "rm", toy_model_dir, "--objectives", "helpful,harmless")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{data}:3: field '{field}': " in err and what in err
    assert not (tmp_path / "rm").exists()  # nothing loaded or written


def test_objectives_config_errors(toy_model_dir, tmp_path, capsys):
    data = write_jsonl(tmp_path / "fb.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b", "objective": "x"}])
    for extra, msg in [(["--objectives", "x"], "at least two"), (["--objectives", "x,y,x"], "given twice"),
                       (["--objectives", "x,y", "--ensemble", "2"], "not both")]:
        rc = main(["rm", "train", *train_args(data, tmp_path / "rm", toy_model_dir, *extra)])
        assert rc == 2 and msg in capsys.readouterr().err


def test_recency_weighted_items_keep_their_objective_head():
    from langrl.feedback.records import Comparison
    from langrl.train.rm.recency import recency_items

    recs = [Comparison("p", "a", "b", extra={"objective": o, "time": t}) for o, t in (("harmless", 0), ("helpful", 10))]
    convert = dict(loss="auto", encode=lambda p, r, s: r, categories=[], rating_range=(-1.0, 1.0))
    from langrl.train.rm.objectives import head_of

    items, _, w = recency_items(recs, 10.0, 0.0, {**convert, "head": lambda r: head_of(r, AXES)})
    # half-life 10 s: the record 10 s older than the newest weighs 2^-1
    assert [it.head for it in items] == [1, 0] and w.tolist() == [0.5, 1.0]


def test_rm_score_gives_one_score_per_objective(two_head_rm, tmp_path, capsys):
    path, _ = two_head_rm
    data = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "Q: x?\nA:", "response": "I cannot help with that."}])
    assert main(["rm", "score", "--model", path, "--data", data, "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert set(row["objectives"]) == set(AXES) and "std" not in row
    assert row["score"] == pytest.approx(sum(row["objectives"].values()) / 2, abs=1e-5)
