"""``langrl loop --policy-update ppo``: PPO through ``langrl rl``'s loop on each round's reward model, with a value head
carried from round to round (``rl --value-init``); a crash inside the PPO step resumes to exactly the uninterrupted
run's policy and value head, asking nobody again; bad values exit 2 naming the field."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from langrl.cli import main
from langrl.config import parse_config
from langrl.loop import runner
from langrl.loop.config import LoopConfig
from langrl.train.pg.setup import VALUE_FILE


def loop_args(out, *extra) -> list[str]:
    return ["--out", str(out), "--rounds", "2", "--prompts-per-round", "3", "--labels-per-round", "3",
            "--features", "bow", "--eval-prompts", "4", "--rm-eval-prompts", "3", "--max-new-tokens", "12",
            "--compare", "none", "--policy-update", "ppo", "--rl-steps", "2", "--rl-samples-per-prompt", "2",
            *map(str, extra)]


def run(args) -> dict:
    cfg, _ = parse_config(LoopConfig, args)
    return runner.run_loop(cfg, quiet=True)


def state(path) -> dict:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)).state_dict()


def value(path) -> dict:
    return torch.load(path / VALUE_FILE, weights_only=True)


def equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def ppo_loop(tmp_path_factory):
    """An uninterrupted 2-round PPO loop, and the value function each round's critic started from."""
    import langrl.train.pg.setup as pg_setup

    out = tmp_path_factory.mktemp("loop-ppo") / "ppo"
    real, starts = pg_setup.load_models, []

    def recording(*a, **kw):
        models = real(*a, **kw)
        starts.append({k: v.clone() for k, v in models[3].state_dict().items()})  # the critic as the run begins
        return models

    mp = pytest.MonkeyPatch()
    mp.setattr(pg_setup, "load_models", recording)
    try:
        metrics = run(loop_args(out))
    finally:
        mp.undo()
    return out, metrics, starts


def test_ppo_step_moves_the_policy_and_carries_the_value_head(ppo_loop):
    from langrl.models.specs import resolve_model_dir

    out, metrics, starts = ppo_loop
    assert metrics["rounds_done"] == 2 and len(starts) == 2
    r1, r2 = (out / "rounds" / f"r{r:02d}" for r in (1, 2))
    pol1, pol2 = (json.loads((d / "policy.json").read_text()) for d in (r1, r2))
    assert pol1["algo"] == pol2["algo"] == "ppo" and pol1["value_init"] is None
    assert pol2["value_init"] == str(r1 / "policy" / VALUE_FILE)
    prev = state(resolve_model_dir("tiny"))
    for d in (r1, r2):
        after = state(d / "policy")
        assert any(not torch.equal(prev[k], after[k]) for k in prev)  # each round's PPO step moved the policy
        prev = after
        assert not (d / "policy" / "langrl_state.pt").exists()
    assert all(not v.any() for v in starts[0].values())  # round 1: the zero-initialised head
    assert equal(starts[1], value(r1 / "policy"))  # round 2 starts from round 1's trained head ...
    assert any(v.any() for v in starts[1].values())  # ... which learned something (it is not still zero)
    assert not equal(value(r2 / "policy"), value(r1 / "policy"))  # and round 2 trained it further
    assert "rl_final_kl" in metrics["rounds"][2]


class Crash(Exception):
    pass


def test_a_crash_inside_the_ppo_step_resumes_exactly(ppo_loop, tmp_path, monkeypatch):
    ref_out, ref_metrics, _ = ppo_loop
    out = tmp_path / "loop"
    import langrl.train.rl.loop as rl_loop

    real, calls = rl_loop.run_rl, []

    def dies_after_one_iteration(cfg, **kw):
        calls.append(cfg.out)
        if cfg.out.endswith("r02/policy") and len(calls) == 2:  # round 2: one PPO iteration written, then killed
            real(dataclasses.replace(cfg, max_steps=1), **kw)
            raise Crash("killed in PPO")
        return real(cfg, **kw)

    monkeypatch.setattr(rl_loop, "run_rl", dies_after_one_iteration)
    with pytest.raises(Crash):
        run(loop_args(out))
    r2 = out / "rounds" / "r02"
    assert not (r2 / "policy.json").exists() and (r2 / "policy" / VALUE_FILE).exists()  # half a PPO step on disk
    asked, judged = (r2 / "asked.json").read_text(), (r2 / "judgements.jsonl").read_text()
    metrics = run(loop_args(out, "--resume"))
    assert len(calls) == 3  # the round's PPO step ran again from the round's start ...
    assert (r2 / "asked.json").read_text() == asked and (r2 / "judgements.jsonl").read_text() == judged  # no re-ask
    assert metrics["rounds"] == ref_metrics["rounds"] and metrics["claims"] == ref_metrics["claims"]
    ref2 = ref_out / "rounds" / "r02" / "policy"
    assert equal(state(r2 / "policy"), state(ref2))  # the resumed policy equals the uninterrupted one
    assert equal(value(r2 / "policy"), value(ref2))  # and so does its value head


@pytest.mark.parametrize("args,expected", [
    (["loop", "--policy-update", "ppo", "--rl-samples-per-prompt", "0"], "field 'rl_samples_per_prompt'"),
    (["loop", "--policy-update", "ppo", "--rl-steps", "0"], "field 'rl_steps'"),
    (["rl", "--algo", "grpo", "--value-init", "v.pt"], "field 'value_init': expected empty with --algo grpo"),
    (["rl", "--algo", "ppo", "--value-init", "missing.pt"], "field 'value_init': expected a saved value function")])
def test_bad_ppo_values_exit_2_naming_the_field(tmp_path, capsys, args, expected):
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
