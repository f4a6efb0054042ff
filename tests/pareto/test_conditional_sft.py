"""The conditioned policy's offline stage (``langrl pareto --conditioned true --conditioned-sft true``): each w's best
candidate by w·r (hand-worked), the compute split with the sweep, and the stages end to end on the toy model."""
import json

import pytest
import torch

from langrl.cli import main as cli_main
from langrl.rewards.conditioning import best_per_weight, strip_prefix, weight_prefix
from langrl.rewards.weights import weight_grid
from langrl.train.pareto.conditional_sft import offline_iterations

from test_pareto_cli import args, prompts  # noqa: F401  (the fixture)


def test_best_per_weight_by_hand():
    # a forbidden request's candidates: comply (1, 0), refuse with the reason (0, 1), a bare refusal (0, 0.5)
    cands = [[1.0, 0.0], [0.0, 1.0], [0.0, 0.5]]
    # w = (1, 0): w·r = 1, 0, 0 → 0.  w = (0.5, 0.5): 0.5, 0.5, 0.25 → a tie of 0 and 1, Σr = 1 and 1 → index 0.
    # w = (0.25, 0.75): 0.25, 0.75, 0.375 → 1.  w = (0, 1): 0, 1, 0.5 → 1
    assert best_per_weight(cands, [[1, 0], [0.5, 0.5], [0.25, 0.75], [0, 1]]) == [0, 0, 1, 1]
    # an allowed request: comply (1, 1), refuse (0, 1). w = (0, 1) scores both 1: Σr = 2 vs 1 → comply
    assert best_per_weight([[0.0, 1.0], [1.0, 1.0]], [[0, 1]]) == [1]
    assert best_per_weight([[float("nan"), 0.0], [0.1, 0.0]], [[1, 0]]) == [1]  # a NaN score is never chosen
    with pytest.raises(ValueError, match="3 weights for 2"):
        best_per_weight(cands, [[1, 0, 0]])


def test_offline_iterations_by_hand():
    # sampling in whole iterations, an SFT step as half of one: ceil(64 · 8 / 32) + ceil(150 / 2) = 16 + 75;
    # ceil(4 · 2 / 16) + ceil(3 / 2) = 1 + 2
    assert offline_iterations(64, 8, 150, 32) == 91 and offline_iterations(4, 2, 3, 16) == 3


def test_conditional_sft_then_conditioned_rl_end_to_end(toy_model_dir, prompts, tmp_path, capsys):  # noqa: F811
    from transformers import AutoModelForCausalLM

    out = tmp_path / "csft"
    extra = ["--conditioned", "true", "--conditioned-sft", "true", "--cond-sft-prompts", "4", "--cond-sft-samples",
             "2", "--cond-sft-steps", "2", "--no-soups", "--max-steps", "4", "--json"]
    assert cli_main(args(toy_model_dir, prompts, out, *extra)) == 0, capsys.readouterr().err
    report = json.loads((out / "pareto.json").read_text())
    # the sweep: 2 vectors × 4 iterations = 8; offline: ceil(4 prompts · 2 samples / (4 · 4)) + ceil(2 steps / 2) = 2;
    # online 6
    assert report["compute"] == {"sweep_iterations": 8, "offline_iterations": 2, "online_iterations": 6,
                                 "sequences_per_iteration": 16}
    assert report["results"]["conditioned"]["steps"] == 6
    assert list(report["fronts"]["conditioned_sft"]["objectives"]["points"]) == ["csft-1-0", "csft-0-1"]
    assert list(report["fronts"]["conditioned"]["objectives"]["points"]) == ["cond-1-0", "cond-0-1"]
    # every (prompt, w of the grid of twentieths, pareto's default) is one record: its w's prefix, then the candidate
    # best_per_weight picks
    names = ["a", "e"]
    grid = weight_grid(2, 20)
    cands = [json.loads(x) for x in (out / "cond-sft" / "candidates.jsonl").read_text().splitlines()]
    recs = [json.loads(x) for x in (out / "cond-sft" / "records.jsonl").read_text().splitlines()]
    assert len(cands) == 4 * 2 and len(recs) == 4 * len(grid) == 84
    for i in range(4):
        mine = cands[2 * i: 2 * i + 2]
        best = best_per_weight([[c["rewards"][n] for n in names] for c in mine], grid)
        for g, c in enumerate(best):
            rec = recs[i * len(grid) + g]
            assert rec["prompt"] == weight_prefix(dict(zip(names, grid[g])), "byte") + mine[c]["prompt"]
            assert strip_prefix(rec["prompt"], fmt="byte")[0] == mine[c]["prompt"]
            assert rec["completion"] == mine[c]["response"]
    # the offline stage moved the weights, and the online stage started from it with the byte prefix (auto: the toy
    # tokenizer holds every byte)
    start = list(AutoModelForCausalLM.from_pretrained(toy_model_dir).parameters())
    sft = list(AutoModelForCausalLM.from_pretrained(out / "cond-sft" / "policy").parameters())
    assert any(not torch.equal(a, b) for a, b in zip(start, sft))
    cfg = (out / "conditioned" / "policy" / "langrl_config.yaml").read_text()
    assert f"policy: {out / 'cond-sft' / 'policy'}" in cfg and "condition_format: byte" in cfg
    assert "max_steps: 6" in cfg and "condition_steps: 20" in cfg


def test_an_offline_stage_larger_than_the_sweep_is_refused(toy_model_dir, prompts, tmp_path, capsys):  # noqa: F811
    code = cli_main(args(toy_model_dir, prompts, tmp_path / "big", "--conditioned", "true", "--conditioned-sft",
                         "true", "--cond-sft-steps", "50"))
    err = capsys.readouterr().err.strip()
    # the defaults' 64 prompts × 8 samples over 4 × 4 per iteration: ceil(512 / 16) + ceil(50 / 2) = 57 > 2 × 2 = 4
    assert code == 2 and "cond_sft_steps" in err and "costs 57 RL iterations" in err and "total is 4" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "big").exists() or not any((tmp_path / "big").iterdir())
