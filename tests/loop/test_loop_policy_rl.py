"""``langrl loop --policy-update grpo|rloo``: the round's reward model (reward.json, a ``loop-rm`` reward) trains the
policy through ``langrl rl``'s loop; it moves the weights, a crash inside the RL step resumes exactly, bad values
exit 2 naming the field; and ``loop-rm`` scores by hand-worked numbers."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from langrl.cli import main
from langrl.config import parse_config
from langrl.errors import InputError
from langrl.loop import runner
from langrl.loop.config import LoopConfig


def loop_args(out, update="grpo", *extra) -> list[str]:
    return ["--out", str(out), "--rounds", "2", "--prompts-per-round", "3", "--labels-per-round", "3",
            "--features", "bow", "--eval-prompts", "4", "--rm-eval-prompts", "3", "--max-new-tokens", "12",
            "--compare", "none", "--policy-update", update, "--rl-steps", "2", "--rl-samples-per-prompt", "2",
            *map(str, extra)]


def run(args) -> dict:
    cfg, _ = parse_config(LoopConfig, args)
    return runner.run_loop(cfg, quiet=True)


def state(path) -> dict:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)).state_dict()


@pytest.fixture(scope="module")
def grpo_loop(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop-rl") / "grpo"
    return out, run(loop_args(out))


@pytest.mark.parametrize("update", ["grpo", "rloo"])
def test_rl_policy_step_moves_the_weights_on_the_rounds_reward_model(grpo_loop, tmp_path, update):
    from langrl.models.specs import resolve_model_dir

    out, metrics = grpo_loop if update == "grpo" else (tmp_path / update, run(loop_args(tmp_path / update, update)))
    assert metrics["rounds_done"] == 2
    start = state(resolve_model_dir("tiny"))
    prev = start
    for r in (1, 2):
        d = out / "rounds" / f"r{r:02d}"
        pol = json.loads((d / "policy.json").read_text())
        assert pol["algo"] == update and pol["steps"] == 2 and pol["path"] == str(d / "policy")
        assert not (d / "policy" / "langrl_state.pt").exists()
        rec = json.loads((d / "reward.json").read_text())
        assert rec["round"] == r and rec["labels"] == 3 * r and len(rec["theta"]) == 257
        after = state(d / "policy")
        assert any(not torch.equal(prev[k], after[k]) for k in prev)  # each round's RL step moved the policy
        prev = after
        assert "rl_final_reward" in metrics["rounds"][r] and "rl_final_kl" in metrics["rounds"][r]
    assert not (out / "rounds" / "r02" / "dpo.jsonl").exists()  # no DPO ran


class Crash(Exception):
    pass


def test_a_crash_inside_the_rl_step_resumes_exactly(grpo_loop, tmp_path, monkeypatch):
    ref_out, ref_metrics = grpo_loop
    out = tmp_path / "loop"
    import langrl.train.rl.loop as rl_loop

    real = rl_loop.run_rl
    calls = []

    def dies_after_one_iteration(cfg, **kw):
        calls.append(cfg.out)
        if cfg.out.endswith("r02/policy") and len(calls) == 2:  # round 2: one iteration written, then killed
            real(dataclasses.replace(cfg, max_steps=1), **kw)
            raise Crash("killed in GRPO")
        return real(cfg, **kw)

    monkeypatch.setattr(rl_loop, "run_rl", dies_after_one_iteration)
    with pytest.raises(Crash):
        run(loop_args(out))
    assert not (out / "rounds" / "r02" / "policy.json").exists() and (out / "rounds" / "r02" / "reward.json").exists()
    asked = (out / "rounds" / "r02" / "asked.json").read_text()
    judged = (out / "rounds" / "r02" / "judgements.jsonl").read_text()
    metrics = run(loop_args(out, "grpo", "--resume"))
    assert len(calls) == 3  # the round's RL step ran again from the round's start ...
    assert (out / "rounds" / "r02" / "asked.json").read_text() == asked  # ... asking nobody again
    assert (out / "rounds" / "r02" / "judgements.jsonl").read_text() == judged
    assert metrics["rounds"] == ref_metrics["rounds"] and metrics["claims"] == ref_metrics["claims"]
    a, b = state(out / "rounds" / "r02" / "policy"), state(ref_out / "rounds" / "r02" / "policy")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the resumed policy equals the uninterrupted one


@pytest.mark.parametrize("extra,expected", [
    (["--policy-update", "sac"], "field 'policy_update': expected one of dpo, grpo, rloo, ppo, none"),
    (["--policy-update", "grpo", "--rl-samples-per-prompt", "1"], "field 'rl_samples_per_prompt'"),
    (["--policy-update", "rloo", "--rl-steps", "0"], "field 'rl_steps'"),
    (["--policy-update", "grpo", "--rl-kl-coef", "-1"], "field 'rl_kl_coef'")])
def test_bad_policy_update_values_exit_2_naming_the_field(tmp_path, capsys, extra, expected):
    assert main(["loop", "--out", str(tmp_path / "x"), *extra]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_loop_rm_reward_by_hand_and_from_a_loop_dir(grpo_loop, tmp_path):
    from langrl.rewards import build_rewards

    # theta puts 4 on the length feature only (index 256 of the bow features: log(1 + words) / 4), so the raw score
    # is log(1 + words): "a b c" -> log 4 = 1.3863, "a" -> log 2 = 0.6931; standardised with mean 1, std 0.5:
    # (1.3863 - 1) / 0.5 = 0.7726 and (0.6931 - 1) / 0.5 = -0.6137
    theta = [0.0] * 256 + [4.0]
    path = tmp_path / "reward.json"
    path.write_text(json.dumps({"features": "bow", "theta": theta, "mean": 1.0, "std": 0.5}))
    out = build_rewards([f"loop-rm:path={path}"])(["p", "p"], ["a b c", "a"])
    assert out.column("loop-rm").tolist() == pytest.approx([(math.log(4) - 1) / 0.5, (math.log(2) - 1) / 0.5],
                                                            abs=1e-6)
    raw = build_rewards([f"loop-rm:path={path},standardize=false"])(["p"], ["a b c"])
    assert raw.column("loop-rm").tolist() == pytest.approx([math.log(4)], abs=1e-6)
    # a loop directory gives its latest round's model
    from langrl.loop.reward import LoopReward

    assert LoopReward(str(grpo_loop[0])).file == grpo_loop[0] / "rounds" / "r02" / "reward.json"
    with pytest.raises(InputError, match="loop-rm: path"):
        LoopReward(str(tmp_path / "nothing"))


def test_langrl_rl_trains_on_a_saved_loop_reward_model(grpo_loop, tmp_path, capsys):
    rows = tmp_path / "prompts.jsonl"
    rows.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["Review: the film", "Review: a book"]))
    assert main(["rl", "--policy", "tiny", "--prompts", str(rows), "--reward", f"loop-rm:path={grpo_loop[0]}",
                 "--algo", "grpo", "--max-steps", "1", "--prompts-per-step", "2", "--samples-per-prompt", "2",
                 "--max-new-tokens", "8", "--out", str(tmp_path / "rl"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 1 and (tmp_path / "rl" / "model.safetensors").exists()
