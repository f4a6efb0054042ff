"""Reward-model training: every loss path moves the weights; forced losses; resume and accumulation are exact."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from langrl.config import parse_config
from langrl.errors import InputError
from langrl.feedback import read_feedback
from langrl.models.rm.eval import evaluate
from langrl.models.rm.model import RewardEnsemble, build_reward_model, load_reward_model
from langrl.train.rm.loop import RMConfig, run_rm_train

from .conftest import train_args


def train(*args) -> dict:
    cfg, _ = parse_config(RMConfig, list(args))
    return run_rm_train(cfg, quiet=True)


def params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind,items,tie,cats", [
    ("rating", 6, None, []), ("comparison", 6, None, []), ("tie", 6, "davidson", []), ("ranking", 3, None, []),
    ("tiers", 3, None, []), ("spans", 3, None, ["irrelevant", "negative"]), ("critique", 3, None, []),
    ("mixed", 21, "davidson", ["irrelevant", "negative"])])
def test_each_loss_path_trains_and_moves_weights(kind, items, tie, cats, fb_files, toy_model_dir, tmp_path):
    out = tmp_path / kind
    summary = train(*train_args(fb_files[kind], out, toy_model_dir))
    assert summary["finished"] and summary["train_items"] == items
    assert summary["ties_modelled"] == tie and summary["categories"] == cats
    assert torch.isfinite(torch.tensor(summary["final_loss"]))
    before = params(build_reward_model(str(toy_model_dir), categories=cats, tie_model=tie, seed=0))
    after = params(load_reward_model(out))
    assert before.keys() == after.keys()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert "score_head.weight" in moved or kind == "spans"
    assert "token_head.weight" in moved or not cats
    assert any(k.startswith("backbone.") for k in moved)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3"] and float(rows[0]["loss"]) > 0
    meta = json.loads((out / "reward_config.json").read_text())
    assert len(meta["score_mean"]) == 1 and meta["score_std"][0] > 0


def test_forced_losses_convert_or_refuse(fb_files, toy_model_dir, tmp_path):
    # bt: a ranking of 3 in 3 tiers gives 3 pairs; 3 rankings -> 9 comparison items
    assert train(*train_args(fb_files["ranking"], tmp_path / "bt", toy_model_dir, "--loss", "bt"))["train_items"] == 9
    # bt on tied tiers: B = D > C > A gives 5 pairs + 1 tie pair, so the tie model is switched on
    s = train(*train_args(fb_files["tiers"], tmp_path / "bt2", toy_model_dir, "--loss", "bt"))
    assert s["train_items"] == 18 and s["ties_modelled"] == "davidson"
    # pl: comparisons become rankings of two
    assert train(*train_args(fb_files["comparison"], tmp_path / "pl", toy_model_dir, "--loss", "pl"))["finished"]
    with pytest.raises(InputError, match="no training records usable with --loss binary"):
        train(*train_args(fb_files["comparison"], tmp_path / "bin", toy_model_dir, "--loss", "binary"))


def test_resume_is_exact(fb_files, toy_model_dir, tmp_path):
    base = train_args(fb_files["mixed"], tmp_path / "x", toy_model_dir, "--max-steps", "4", "--ensemble", "2")
    straight = tmp_path / "straight"
    train(*base, "--out", str(straight))
    split = tmp_path / "split"
    first = train(*base, "--out", str(split), "--stop-at", "2")
    assert not first["finished"] and first["steps"] == 2
    second = train(*base, "--out", str(split), "--resume", str(split))
    assert second["finished"] and second["steps"] == 4
    a, b = params(load_reward_model(straight)), params(load_reward_model(split))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_a = list(csv.DictReader(open(straight / "metrics.csv")))
    rows_b = list(csv.DictReader(open(split / "metrics.csv")))
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]


def test_gradient_accumulation_matches_one_big_batch(fb_files, toy_model_dir, tmp_path):
    common = ["--max-steps", "1", "--grad-clip", "0"]
    train(*train_args(fb_files["mixed"], tmp_path / "big", toy_model_dir, *common))
    train(*train_args(fb_files["mixed"], tmp_path / "acc", toy_model_dir, *common, "--micro-batch-size", "1"))
    a, b = params(load_reward_model(tmp_path / "big")), params(load_reward_model(tmp_path / "acc"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_ensemble_of_models(fb_files, toy_model_dir, tmp_path):
    out = tmp_path / "ens"
    s = train(*train_args(fb_files["comparison"], out, toy_model_dir, "--ensemble", "2", "--ensemble-mode", "models"))
    assert s["finished"] and s["members"] == ["member_0", "member_1"]
    model = load_reward_model(out)
    assert isinstance(model, RewardEnsemble) and model.n_heads == 2
    _, std = model.score(["Q: a"], ["The cat sat on the mat."])
    assert std[0] > 0
    res = evaluate(model, read_feedback(fb_files["comparison"]).records)
    assert res["n_pairs"] == 6 and res["ensemble_std"] > 0


def test_config_refuses_bad_combinations():
    with pytest.raises(InputError, match="not both"):
        parse_config(RMConfig, ["--data", "x", "--epochs", "1", "--max-steps", "3"])
    with pytest.raises(InputError, match="--data"):
        parse_config(RMConfig, [])
    with pytest.raises(InputError, match="multiple of micro_batch_size"):
        parse_config(RMConfig, ["--data", "x", "--batch-size", "5", "--micro-batch-size", "2"])


@pytest.mark.slow
def test_two_process_data_parallel_matches_one_process(fb_files, toy_model_dir, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    common = train_args(fb_files["mixed"], tmp_path / "x", toy_model_dir, "--batch-size", "8",
                        "--micro-batch-size", "2", "--max-steps", "3")
    env = {"PYTHONPATH": str(root / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    one = subprocess.run([sys.executable, "-m", "langrl.cli", "rm", "train", *common, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29547", "-m", "langrl.cli", "rm", "train", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    loss = [[float(r["loss"]) for r in csv.DictReader(open(tmp_path / d / "metrics.csv"))] for d in ("one", "two")]
    assert loss[1] == pytest.approx(loss[0], rel=1e-4)  # one global batch of 8 records, split 2 ranks x 2 micro x 2


def test_split_records_holds_out_whole_prompts():
    from langrl.train.rm.loop import split_records

    prompts = [p for p in "abcde" for _ in range(2)]  # 10 records, 2 per prompt (pairs sharing responses)
    tr, ev = split_records(10, 0.2, 0, prompts)
    # round(10 x 0.2) = 2 records out: exactly one prompt's two records, none of them left in training
    assert len(ev) == 2 and prompts[ev[0]] == prompts[ev[1]]
    assert {prompts[i] for i in ev}.isdisjoint(prompts[i] for i in tr) and sorted(tr + ev) == list(range(10))
    # 0.3 -> 3 records out: the first prompt does not reach 3, so a second whole prompt goes too (4 held out)
    tr, ev = split_records(10, 0.3, 0, prompts)
    assert len(ev) == 4 and {prompts[i] for i in ev}.isdisjoint(prompts[i] for i in tr)
    # without groups: the old record split (the first round(n x frac) of the seeded shuffle)
    tr, ev = split_records(10, 0.3, 0)
    assert len(ev) == 3 and sorted(tr + ev) == list(range(10))
