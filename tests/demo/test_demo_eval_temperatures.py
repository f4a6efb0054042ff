"""The demo evaluates every policy at the training temperature and near-greedy, and the report shows both."""
from langrl.demo.config import DemoConfig

import pytest


def test_evaluate_both_keeps_per_prompt_scores_of_both_passes(toy_lm, toy_tokenizer):
    from langrl.demo.evaluate import evaluate_both
    from langrl.tasks import get_task

    task = get_task("arithmetic")
    rows = task.prompts("eval", 5, 0)
    m, responses = evaluate_both(toy_lm, toy_tokenizer, rows, task=task, proxy=None, ref_model=toy_lm,
                                 max_new_tokens=6, seed=0)
    assert len(responses) == 5 and m["temperature"] == 1.0 and m["near_greedy/temperature"] == 1e-4
    assert len(m["gold_per_sample"]) == 5 and len(m["near_greedy/gold_per_sample"]) == 5  # same prompts, paired
    assert "gold/gold" in m and "near_greedy/gold/gold" in m and "near_greedy/gold_se" in m
    assert "kl" in m and "near_greedy/kl" not in m  # KL is the sampled distribution's


def test_report_shows_sampled_and_near_greedy_gold_with_paired_differences(tmp_path):
    from langrl.demo.config import QUICK
    from langrl.demo.report import write_report

    # near-greedy per-prompt gold: rl 1,1,1,0 vs sft 0,1,0,0 -> differences 1,0,1,0: mean +0.5,
    # sample sd = sqrt(4 * .25 / 3) = 0.5774, s.e. = 0.5774 / 2 = 0.289
    res = {"sft-arithmetic": {"gold/gold": .25, "gold_per_sample": [0, 1, 0, 0], "near_greedy/gold/gold": .25,
                              "near_greedy/gold_per_sample": [0, 1, 0, 0], "kl": 0.0, "n": 4},
           "grpo": {"gold/gold": .5, "gold_per_sample": [1, 1, 0, 0], "near_greedy/gold/gold": .75,
                    "near_greedy/gold_per_sample": [1, 1, 1, 0], "kl": 0.3, "n": 4}}
    runs = {"sft-arithmetic": {"task": "arithmetic"}, "grpo": {"task": "arithmetic"}}
    cfg = DemoConfig(task="arithmetic", quick=True)
    metrics = write_report(tmp_path, cfg, QUICK, runs, res, {"eval": 1.0}, total_seconds=1.0)
    md = (tmp_path / "report.md").read_text()
    assert "gold (near-greedy)" in md and "gold vs SFT (near-greedy)" in md
    assert "Reproduce: `langrl demo --task arithmetic --quick`." in md  # the command of these numbers
    row = next(line for line in md.splitlines() if line.startswith("| grpo |"))
    assert "0.750" in row and "+0.500 ± 0.289" in row
    assert metrics["runs"]["grpo"]["near_greedy/gold/gold"] == pytest.approx(.75)
    assert "near_greedy/gold_per_sample" not in metrics["runs"]["grpo"]  # per-prompt scores stay in eval/done.json


def test_report_records_the_sft_steps_used(tmp_path):
    from langrl.demo.config import QUICK
    from langrl.demo.report import write_report

    res = {"sft-reviews": {"gold/gold": .5, "n": 2}}
    cfg = DemoConfig(task="reviews", quick=True)
    sft = {"reviews": {"command": "sft", "steps": 125, "best_step": 50, "best_eval_loss": 0.615, "stopped_early": True,
                       "seconds": 56.0, "final_loss": 0.5}}
    metrics = write_report(tmp_path, cfg, QUICK, {"sft-reviews": {"task": "reviews"}}, res, {}, total_seconds=1.0,
                           sft=sft)
    assert metrics["sft"]["reviews"] == {"batch_size": 16, "steps": 125, "best_step": 50, "best_eval_loss": 0.615,
                                         "stopped_early": True, "seconds": 56.0}  # no batch_size in sft: the demo's 16
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| reviews |"))
    assert row == "| reviews | 16 | 125 | 50 | 0.615 | True | 56.000 |"


def test_report_names_the_model_weights_it_started_from(tmp_path):
    import hashlib

    from langrl.demo.config import QUICK
    from langrl.demo.report import write_report

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"w")
    res = {"sft-reviews": {"gold/gold": .5, "n": 2}}
    cfg = DemoConfig(task="reviews", quick=True, model=str(model))
    metrics = write_report(tmp_path / "out", cfg, QUICK, {"sft-reviews": {"task": "reviews"}}, res, {},
                           total_seconds=1.0)
    sha = hashlib.sha256(b"model.safetensors\0w").hexdigest()
    assert metrics["config"]["model_weights"] == {"sha256": sha, "files": ["model.safetensors"]}
    assert f"sha256 `{sha[:16]}…` (model.safetensors" in (tmp_path / "out" / "report.md").read_text()
    cfg = DemoConfig(task="reviews", quick=True, model=str(tmp_path / "gone"))  # not on this machine: said so
    metrics = write_report(tmp_path / "out2", cfg, QUICK, {"sft-reviews": {"task": "reviews"}}, res, {},
                           total_seconds=1.0)
    assert metrics["config"]["model_weights"] is None
    assert "Model weights: not found on this machine" in (tmp_path / "out2" / "report.md").read_text()


def test_report_says_where_factqa_rl_beats_sft_when_it_does_not_here(tmp_path):
    from langrl.demo.config import QUICK
    from langrl.demo.report import write_report

    # PPO equals SFT on every prompt: paired difference 0 ± 0, so factqa's RL does not beat its start
    same = {"gold/gold": .5, "gold_per_sample": [1, 0], "near_greedy/gold/gold": .5,
            "near_greedy/gold_per_sample": [1, 0], "n": 2}
    res = {"sft-factqa": {**same, "kl": 0.0}, "ppo-holistic": {**same, "kl": 0.2}}
    runs = {"sft-factqa": {"task": "factqa"}, "ppo-holistic": {"task": "factqa"}}
    metrics = write_report(tmp_path / "a", DemoConfig(task="factqa", quick=True, seed=3), QUICK, runs, res, {},
                           total_seconds=1.0)
    assert metrics["claims"]["rl_beats_sft"]["value"] is False
    md = (tmp_path / "a" / "report.md").read_text()
    assert "*Where `rl_beats_sft` holds for factqa:*" in md
    assert "`langrl demo --config configs/demo-factqa-long.yaml --seed 3`" in md
    # the long preset's own report does not send the reader to itself
    cfg = DemoConfig(task="factqa", quick=True, factqa_sft_schedule="wsd", factqa_sft_batch_size=64)
    write_report(tmp_path / "b", cfg, QUICK, runs, res, {}, total_seconds=1.0)
    assert "Where `rl_beats_sft` holds" not in (tmp_path / "b" / "report.md").read_text()
