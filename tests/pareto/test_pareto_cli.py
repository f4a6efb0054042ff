"""``langrl pareto`` end to end on the toy model: stages train and evaluate, soups interpolate, pareto.json and
front.png are written, a re-run resumes from the finished stages, bad input is one clear line (exit 2)."""
import json
from pathlib import Path

import pytest
import torch

from langrl.cli import main as cli_main

TOY = ["the cat", "the movie", "Q: 3 + 4", "a b c", "nitrogen", "the mat", "i loved", "hated it"]


@pytest.fixture()
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in TOY))
    return path


def args(model, prompts, out, *extra):
    return ["pareto", "--policy", str(model), "--prompts", str(prompts), "--eval-prompts", str(prompts),
            "--reward", "regex:pattern=a,name=a", "--reward", "regex:pattern=e,name=e", "--grid", "1",
            "--max-steps", "2", "--prompts-per-step", "4", "--max-new-tokens", "6", "--eval-num", "8",
            "--learning-rate", "0.05", "--rl-option", "micro_batch_size=16", "--out", str(out), *extra]


def test_pareto_end_to_end_and_resume(toy_model_dir, prompts, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "front"
    assert cli_main(args(toy_model_dir, prompts, out, "--json")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((out / "pareto.json").read_text())
    assert (out / "front.png").stat().st_size > 1000
    # the grid of 1 step over 2 objectives is (1, 0) and (0, 1); their soups at the same weights are those policies
    assert list(report["fronts"]["sweep"]["objectives"]["points"]) == ["w-1-0", "w-0-1"]
    assert set(report["results"]) == {"w-1-0", "w-0-1", "soup-1-0", "soup-0-1"}
    for name in ("w-1-0", "w-0-1"):
        assert report["results"][name]["objectives"] == report["results"][f"soup-{name[2:]}"]["objectives"]
    front = report["fronts"]["sweep"]["objectives"]
    assert front["reference"] == [0.0, 0.0] and summary["reference"] == "0,0"
    from langrl.eval.front import hypervolume

    assert front["hypervolume"] == pytest.approx(hypervolume(list(front["points"].values()), [0, 0]))
    assert summary["hypervolume/sweep/objectives"] == pytest.approx(front["hypervolume"], abs=1e-6)
    # every stage moved the weights away from the start
    start = list(AutoModelForCausalLM.from_pretrained(toy_model_dir).parameters())
    for name in ("w-1-0", "w-0-1"):
        trained = list(AutoModelForCausalLM.from_pretrained(out / name / "policy").parameters())
        assert any(not torch.equal(a, b) for a, b in zip(start, trained))
    # a re-run finds every stage done: nothing retrains (done.json untouched)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")}
    assert cli_main(args(toy_model_dir, prompts, out)) == 0
    assert "cached" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")} == stamps


def test_soups_train_the_missing_one_objective_policies(toy_model_dir, prompts, tmp_path):
    out = tmp_path / "mid"
    assert cli_main([a for a in args(toy_model_dir, prompts, out, "--weights", "0.5,0.5") if a not in ()]) == 0
    report = json.loads((out / "pareto.json").read_text())
    assert list(report["fronts"]["sweep"]["objectives"]["points"]) == ["w-0.5-0.5"]
    assert {"w-1-0", "w-0-1", "soup-0.5-0.5"} <= set(report["results"])  # ingredients trained for the soup


@pytest.mark.parametrize("extra, expected", [
    (["--weights", "1,0,0"], "3 weight(s) for 2 objective(s)"),
    (["--weights", "a=1,b=0"], "objective 'b' does not exist"),
    (["--weights", "1,-1"], "non-negative"),
    (["--reference", "0"], "expected 2 values"),
    (["--rl-option", "lora_r"], "KEY=VALUE"),
    (["--rl-option", "max_steps=3"], "pareto field"),
    (["--rl-option", "kl_estimatr=k1"], "unknown key"),
])
def test_bad_input_is_one_clear_line(extra, expected, toy_model_dir, prompts, tmp_path, capsys):
    code = cli_main(args(toy_model_dir, prompts, tmp_path / "bad", *extra))
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad" / "pareto.json").exists()


def test_one_objective_is_refused(toy_model_dir, prompts, tmp_path, capsys):
    code = cli_main(["pareto", "--policy", str(toy_model_dir), "--prompts", str(prompts), "--reward", "length",
                     "--out", str(tmp_path / "one")])
    assert code == 2 and "at least two reward specs" in capsys.readouterr().err


def test_conditioned_policy_front(toy_model_dir, prompts, tmp_path):
    out = tmp_path / "cond"
    assert cli_main(args(toy_model_dir, prompts, out, "--conditioned", "true", "--no-soups")) == 0
    report = json.loads((out / "pareto.json").read_text())
    assert list(report["fronts"]["conditioned"]["objectives"]["points"]) == ["cond-1-0", "cond-0-1"]
    assert report["results"]["conditioned"]["steps"] == 4  # max_steps 2 × 2 weight vectors: the sweep's compute
    assert "soups" not in report["fronts"]
    cfg = (out / "conditioned" / "policy" / "langrl_config.yaml").read_text()
    assert "condition: true" in cfg and "max_steps: 4" in cfg


def test_claims_on_the_hh_task_with_a_population(toy_model_dir, tmp_path, capsys):
    from langrl.train.pareto.claims import satisfaction

    out = tmp_path / "hh"
    code = cli_main(["pareto", "--policy", str(toy_model_dir), "--prompts", "task:hh",
                     "--reward", "gold:task=hh,score=helpful,name=helpful",
                     "--reward", "gold:task=hh,score=harmless,name=harmless", "--weights", "1,0", "--weights", "0,1",
                     "--population", "many:0.75:helpful=1,harmless=0", "--population", "few:0.25:helpful=0,harmless=1",
                     "--conditioned", "true", "--max-steps", "1", "--prompts-per-step", "2", "--samples-per-prompt",
                     "2", "--max-new-tokens", "4", "--eval-num", "6", "--rl-option", "micro_batch_size=8",
                     "--out", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "pareto.json").read_text())
    claims = report["claims"]
    assert set(claims) == {"tradeoff_exists", "soups_cover_front", "conditioned_matches_sweep",
                           "averaging_fails_minorities"}
    assert all(isinstance(c["value"], bool) for c in claims.values())
    # w̄ = 0.75 (1, 0) + 0.25 (0, 1) = (0.75, 0.25) joined the sweep; each type's satisfaction is w_g · its gold means
    pop = claims["averaging_fails_minorities"]
    assert pop["averaged_weights"] == {"helpful": 0.75, "harmless": 0.25} and pop["majority"] == "many"
    few = pop["groups"]["few"]
    assert few["own_policy"] == pytest.approx(report["results"]["w-0-1"]["gold"]["harmless"])
    assert few["averaged_policy"] == pytest.approx(satisfaction(report["results"]["w-0.75-0.25"]["gold"],
                                                                {"helpful": 0, "harmless": 1}))
    assert "conditioned_policy" in few
    # each loss is tested against its paired standard error over the 6 held-out prompts' gold scores
    from langrl.train.pareto.claims import paired_difference, satisfaction_per_prompt

    per = {n: report["results"][n]["gold_per_prompt"] for n in ("w-0-1", "w-0.75-0.25")}
    assert len(per["w-0-1"]["harmless"]) == 6 and "se" in pop["rule"]
    w = {"helpful": 0.0, "harmless": 1.0}
    loss, se = paired_difference(satisfaction_per_prompt(per["w-0-1"], w),
                                 satisfaction_per_prompt(per["w-0.75-0.25"], w))
    assert few["loss"] == pytest.approx(loss) and few["se"] == pytest.approx(se)
    sweep, soups = report["fronts"]["sweep"]["gold"], report["fronts"]["soups"]["gold"]
    if sweep["hypervolume"] > 0:
        assert claims["soups_cover_front"]["ratio"] == pytest.approx(soups["hypervolume"] / sweep["hypervolume"])


def test_resume_continues_a_stopped_sweep(toy_model_dir, prompts, tmp_path, capsys):
    import shutil

    out = tmp_path / "stopped"
    assert cli_main(args(toy_model_dir, prompts, out, "--no-soups")) == 0
    first = (out / "w-1-0" / "done.json").stat().st_mtime_ns
    shutil.rmtree(out / "w-0-1")  # as if the run had been killed during its second stage
    (out / "pareto.json").unlink()
    assert cli_main(args(toy_model_dir, prompts, tmp_path / "ignored", "--no-soups", "--resume", str(out))) == 0
    assert (out / "w-1-0" / "done.json").stat().st_mtime_ns == first  # the finished stage was kept
    assert (out / "w-0-1" / "done.json").is_file() and (out / "pareto.json").is_file()
    assert not (tmp_path / "ignored").exists()
    assert cli_main(args(toy_model_dir, prompts, out, "--resume", str(tmp_path))) == 2
    assert "field 'resume'" in capsys.readouterr().err
