"""Equal annotator effort (issue 18): the paired statistics and the claim ``language_feedback_wins``
(``langrl.eval.effort``), and ``scripts/lf-effort`` end to end on a tiny budget, with its bad-input exits."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from langrl.eval.effort import language_feedback_wins, mean_se, method_table, paired_diff, pool_seeds

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lf-effort"

# gold per prompt (4 prompts); means: sft 0.5, dpo 0.625, ppo_bt 0.375, ilf 0.875, distill 0.375
GOLD = {"sft": [0.0, 0.5, 1.0, 0.5], "dpo": [0.5, 0.5, 1.0, 0.5], "ppo_bt": [0.0, 0.0, 1.0, 0.5],
        "ilf": [1.0, 1.0, 1.0, 0.5], "distill": [0.0, 0.5, 0.5, 0.5]}


def test_mean_se_and_paired_diff_by_hand():
    # [1, 2, 3, 4]: mean 2.5; sample var (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; se = sqrt(5/3 / 4) = 0.645497
    m, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and se == pytest.approx(math.sqrt(5 / 12))
    assert mean_se([0.7]) == (0.7, 0.0)
    # dpo - sft = [0.5, 0, 0, 0]: mean 0.125; var (0.375^2 + 3 * 0.125^2) / 3 = 0.1875 / 3 = 0.0625; se = sqrt(0.0625/4)
    d, dse = paired_diff(GOLD["dpo"], GOLD["sft"])
    assert d == pytest.approx(0.125) and dse == pytest.approx(0.125)
    with pytest.raises(ValueError):
        paired_diff([1.0], [1.0, 2.0])


def test_method_table_and_pool_seeds():
    t = method_table(GOLD)
    assert t["sft"] == {"gold": 0.5, "gold_se": pytest.approx(math.sqrt(1 / 6 / 4))} and "diff_vs_sft" not in t["sft"]
    assert t["dpo"]["diff_vs_sft"] == pytest.approx(0.125) and t["dpo"]["diff_vs_sft_se"] == pytest.approx(0.125)
    # per prompt over 3 seeds: (0 + 1 + 0.5) / 3 = 0.5, (1 + 1 + 0) / 3 = 2/3
    assert pool_seeds([[0.0, 1.0], [1.0, 1.0], [0.5, 0.0]]) == pytest.approx([0.5, 2 / 3])
    with pytest.raises(ValueError):
        pool_seeds([[0.0], [1.0, 1.0]])


def test_language_feedback_wins_by_hand():
    # best critique-based: ilf (0.875 > distill 0.375); best comparison-based: dpo (0.625 > ppo_bt 0.375)
    # ilf - dpo = [0.5, 0.5, 0, 0]: d = 0.25; var = 4 * 0.25^2 / 3 = 1/12; se = sqrt(1/12 / 4) = 0.1443;
    # 2 se = 0.2887 > 0.25 -> not shown at 4 prompts
    c = language_feedback_wins(GOLD)
    assert (c["best_critique"], c["best_comparison"]) == ("ilf", "dpo")
    assert c["diff"] == pytest.approx(0.25) and c["diff_se"] == pytest.approx(math.sqrt(1 / 48))
    assert c["value"] is False
    # the same prompts twice (8): d = 0.25; var = 8 * 0.0625 / 7 = 0.0714; se = sqrt(0.0714 / 8) = 0.0945;
    # 2 se = 0.189 < 0.25 -> the claim holds
    c8 = language_feedback_wins({m: g * 2 for m, g in GOLD.items()})
    assert c8["value"] is True and c8["diff_se"] == pytest.approx(math.sqrt(0.5 / 7 / 8))
    # a comparison method ahead: d < 0 -> false whatever the se
    worse = dict(GOLD, ilf=[0.0, 0.0, 0.0, 0.0])
    c = language_feedback_wins(worse)
    assert c["best_critique"] == "distill" and c["diff"] < 0 and c["value"] is False
    # a family missing: no claim
    assert language_feedback_wins({"sft": GOLD["sft"], "dpo": GOLD["dpo"]})["value"] is None


def _run(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path)


@pytest.mark.parametrize("args, says", [
    (["--task", "reviews"], "--task"),
    (["--method", "kto"], "--method"),
    (["--n", "0"], "--n: expected a positive integer, got 0"),
    (["--n", "3"], "even N"),
    (["--eval-prompts", "0"], "--eval-prompts"),
    (["--min-epochs", "-1"], "--min-epochs: expected a number >= 0"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, args, says):
    p = _run([*args, "--out", str(tmp_path / "o")], tmp_path)
    assert p.returncode == 2 and says in p.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_lf_effort_end_to_end_on_a_tiny_budget(tmp_path):
    from safetensors.torch import load_file

    from langrl.models.specs import resolve_model_dir

    out = tmp_path / "o"
    args = ["--task", "factqa", "--seed", "0", "--n", "4", "--policy", "tiny", "--out", str(out), "--max-steps", "1",
            "--ppo-steps", "1", "--ppo-prompts", "2", "--rm-steps", "1", "--eval-prompts", "4", "--eval-n", "2"]
    p = _run(args, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert isinstance(m["language_feedback_wins"]["factqa"]["4"], bool) and "2 se" in m["rule"]
    pooled = [r for r in m["results"] if r["seed"] == "pooled"]
    assert len(pooled) == 1 and set(pooled[0]["methods"]) == {"sft", "dpo", "ppo_bt", "ilf", "dense_ppo", "distill"}
    assert "diff_vs_sft" in pooled[0]["methods"]["dpo"]
    # near-greedy beside T = 1, every method; its claim beside the T = 1 one
    assert set(pooled[0]["near_greedy"]) == set(pooled[0]["methods"])
    assert m["eval"]["near_greedy"]["temperature"] == 1e-4
    assert isinstance(m["language_feedback_wins_near_greedy"]["factqa"]["4"], bool)
    # the reward models against the held-out gold: the BT model's pairs, the span model's categories
    rms = pooled[0]["reward_models"]
    assert rms["ppo_bt"]["bt"]["gold_task"] == "factqa"
    assert "gold_comparison_accuracy" in rms["ppo_bt"]["bt"]  # None when the 4 held-out pairs are all gold ties
    assert "gold_f1/untruthful" in rms["dense_ppo"]["spans"]
    seed0 = next(r for r in m["results"] if r["seed"] == 0)
    # on some tiny builds all 4 comparisons are annotator ties: then DPO has no pair, trains 0 steps and says so
    comparisons = (out / "factqa" / "seed-0" / "data-N4" / "comparisons.jsonl").read_text().splitlines()
    decided = any(not json.loads(line).get("tie") for line in comparisons)
    dpo_dir = out / "factqa" / "seed-0" / "N4" / "dpo"
    assert seed0["steps"]["dpo"] == ({"dpo": 1} if decided else {"dpo": 0})
    assert decided or "tie" in json.loads((dpo_dir / "skipped.json").read_text())["reason"]
    assert seed0["steps"]["ppo_bt"] == {"ppo": 1, "rm": 1}
    # equal effort: 4 comparisons, 4 critiques (2 answers to each of 2 prompts) for the dense reward, 4 for ilf
    root = out / "factqa" / "seed-0"
    assert len((root / "data-N4" / "comparisons.jsonl").read_text().splitlines()) == 4
    assert len((root / "data-N4" / "critiques.jsonl").read_text().splitlines()) == 4
    report = (out / "report.md").read_text()
    assert re.search(r"\| 4 \| ilf \| 0 \| [0-9.]+ ± [0-9.]+ \| -?[0-9.]+ ± [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| "
                     r"-?[0-9.]+ ± [0-9.]+ \| [0-9.]+ \|", report)
    assert "the reward models against the held-out gold" in report
    assert "language_feedback_wins" in report
    assert (out / "effort.png").read_bytes()[:4] == b"\x89PNG"
    # the trained policies moved away from the starting weights
    start = load_file(str(Path(resolve_model_dir("tiny", quiet=True)) / "model.safetensors"))
    for method in ("dpo", "distill") if decided else ("distill",):
        w = load_file(str(root / "N4" / method / "model" / "model.safetensors"))
        assert any(not (w[k] == start[k]).all() for k in start if k in w), method
    # re-running continues: every stage is cached, nothing is retrained
    stamps = {p: p.stat().st_mtime for p in root.rglob("stage.json")}
    assert len(stamps) >= 8
    p = _run(args, tmp_path)
    assert p.returncode == 0 and {p: p.stat().st_mtime for p in root.rglob("stage.json")} == stamps


def test_a_second_run_with_other_budgets_exits_2_and_keeps_the_settings(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    saved = {"policy": "tiny", "max_steps": 1, "ppo_steps": 1, "ppo_prompts": 2, "rm_steps": 1, "rm_base": "minilm",
             "eval_prompts": 4, "eval_n": 1}  # written before --min-epochs existed: read as its default, 2
    (out / "settings.json").write_text(json.dumps(saved))
    p = _run(["--out", str(out), "--policy", "tiny", "--max-steps", "2", "--ppo-steps", "1", "--ppo-prompts", "2",
              "--rm-steps", "1", "--eval-prompts", "4", "--eval-n", "1"], tmp_path)
    assert p.returncode == 2 and "field 'max_steps': this OUT was run with 1, got 2" in p.stderr
    assert json.loads((out / "settings.json").read_text()) == saved and not (out / "factqa").exists()
    p = _run(["--out", str(out), "--policy", "tiny", "--max-steps", "1", "--ppo-steps", "1", "--ppo-prompts", "2",
              "--rm-steps", "1", "--eval-prompts", "4", "--eval-n", "1", "--min-epochs", "1"], tmp_path)
    assert p.returncode == 2 and "field 'min_epochs': this OUT was run with 2.0, got 1.0" in p.stderr


def _fake_out(out: Path, cells: dict) -> None:
    """An lf-effort OUT with only finished evaluations: cells[(seed, n)][method] = (T = 1 golds, near-greedy golds)."""
    for (seed, n), methods in cells.items():
        ev = out / "arithmetic" / f"seed-{seed}" / "eval"
        ev.mkdir(parents=True, exist_ok=True)
        for meth, (gold, greedy) in methods.items():
            name = "sft.json" if meth == "sft" else f"{meth}-N{n}.json"
            (ev / name).write_text(json.dumps({"policy": "p", "per_prompt": gold, "near_greedy": greedy}))


def test_report_only_pools_three_seeds_per_prompt_by_hand(tmp_path):
    from langrl.eval.effort_report import seeds_label

    out = tmp_path / "o"
    # 2 held-out prompts; (T = 1, near-greedy) gold per prompt of each seed; N = 8 has seed 0 only
    cells = {(0, 4): {"sft": ([0.0, 1.0], [1.0, 1.0]), "dpo": ([0.0, 0.0], [0.0, 1.0]),
                      "ilf": ([1.0, 1.0], [1.0, 1.0])},
             (1, 4): {"sft": ([1.0, 0.0], [1.0, 0.0]), "dpo": ([0.0, 1.0], [0.0, 0.0]),
                      "ilf": ([1.0, 0.0], [1.0, 1.0])},
             (2, 4): {"sft": ([0.5, 0.5], [1.0, 1.0]), "dpo": ([0.5, 0.0], [1.0, 0.0]),
                      "ilf": ([1.0, 0.5], [0.0, 1.0])}}
    cells[(0, 8)] = {"dpo": ([1.0, 1.0], [1.0, 1.0]), "ilf": ([0.0, 1.0], [0.0, 1.0])}
    _fake_out(out, cells)
    p = _run(["--report-only", "--out", str(out)], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    pooled = {r["n"]: r for r in m["results"] if r["seed"] == "pooled"}
    assert pooled[4]["seeds"] == [0, 1, 2] and pooled[8]["seeds"] == [0]
    t = pooled[4]["methods"]
    # each prompt's gold averaged over the 3 seeds first: sft [0.5, 0.5]; dpo [(0 + 0 + 0.5) / 3, (0 + 1 + 0) / 3]
    # = [1/6, 1/3], mean 0.25; ilf [(1 + 1 + 1) / 3, (1 + 0 + 0.5) / 3] = [1, 0.5], mean 0.75
    assert t["sft"]["gold"] == pytest.approx(0.5) and t["sft"]["gold_se"] == pytest.approx(0.0)
    assert t["dpo"]["gold"] == pytest.approx(0.25) and t["ilf"]["gold"] == pytest.approx(0.75)
    # ilf - sft = [0.5, 0]: d 0.25, sd sqrt(2 · 0.25^2 / 1), se = sd / sqrt(2) = 0.25
    assert t["ilf"]["diff_vs_sft"] == pytest.approx(0.25) and t["ilf"]["diff_vs_sft_se"] == pytest.approx(0.25)
    # claim: ilf - dpo = [5/6, 1/6]: d 0.5; var 2 · (1/3)^2 / 1 = 2/9; se sqrt(2/9 / 2) = 1/3; 2 se = 0.667 > 0.5
    c = m["language_feedback_wins"]["arithmetic"]
    assert c == {"4": False, "8": False}  # N = 8: ilf 0.5 < dpo 1.0 on seed 0
    assert pooled[4]["language_feedback_wins"]["diff"] == pytest.approx(0.5)
    assert pooled[4]["language_feedback_wins"]["diff_se"] == pytest.approx(1 / 3)
    # seed 0 alone: ilf - dpo = [1, 1], d 1, se 0 -> true on that seed
    seed0 = next(r for r in m["results"] if r["seed"] == 0 and r["n"] == 4)
    assert seed0["language_feedback_wins"]["value"] is True
    # near-greedy pooled the same way: sft [1, 2/3] mean 5/6; dpo [1/3, 1/3]; ilf [2/3, 1]
    g = pooled[4]["near_greedy"]
    assert g["sft"]["gold"] == pytest.approx(5 / 6) and g["dpo"]["gold"] == pytest.approx(1 / 3)
    assert g["ilf"]["gold"] == pytest.approx(5 / 6)
    # the report: pooled ± se, paired Δ, then each seed's gold at T = 1 and near-greedy, in seed order
    report = (out / "report.md").read_text()
    assert ("| 4 | ilf | 0,1,2 | 0.750 ± 0.250 | 0.250 ± 0.250 | 0.833 ± 0.167 | 0.000 ± 0.333 | "
            "1.000, 0.500, 0.750 | 1.000, 1.000, 0.500 |") in report
    # N = 8, seed 0 only (its SFT is the seed's one, [0, 1]): dpo - sft = [1, 0], 0.5 ± 0.5; near-greedy [0, 0]
    assert ("| 8 | dpo | 0 | 1.000 ± 0.000 | 0.500 ± 0.500 | 1.000 ± 0.000 | 0.000 ± 0.000 | 1.000 | 1.000 |"
            in report)
    assert "- N = 4, seeds 0,1,2 pooled, T = 1: language_feedback_wins = **False** (ilf − dpo = 0.500 ± 0.333)" in report
    assert "- N = 4, seed 0, T = 1: language_feedback_wins = **True** (ilf − dpo = 1.000 ± 0.000)" in report
    # the plot's title names the seeds and the N pooled over fewer of them
    assert seeds_label([pooled[4], pooled[8]]) == "seeds 0,1,2 (N = 8: 0)"
    assert seeds_label([pooled[4]]) == "seeds 0,1,2" and seeds_label([pooled[8]]) == "seed 0"
    assert (out / "effort.png").read_bytes()[:4] == b"\x89PNG"
