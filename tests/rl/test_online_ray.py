"""``langrl rl --ray``: the rollout engine in a Ray actor, the learner in this process (one machine, one actor, one
learner). Skipped where Ray is absent (the ``langrl[ray]`` extra); on the development machine it runs in the
separate venv: ``.venv-vllm/bin/python -m pytest -p no:cacheprovider -n 0 tests/rl/test_online_ray.py``."""
import importlib.util

import pytest
import torch
from online_helpers import letter_reward, metric, rl_cfg, rows

from langrl.errors import InputError
from langrl.train.rl.loop import run_rl

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'langrl[ray]')")
TIMES = {"step", "tokens_per_s", "time/sample", "time/score", "time/logprobs", "time/update", "time/step"}
KW = dict(algo="ppo", max_steps=3, prompts_per_step=4, samples_per_prompt=2, max_new_tokens=6)


@pytest.mark.skipif(HAS_RAY, reason="checks the message shown when ray is missing")
def test_ray_without_ray_says_how_to_install_it(toy_model_dir, prompts_file, tmp_path):
    with pytest.raises(InputError, match="langrl\\[ray\\]"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "o", ray=True, max_steps=1), quiet=True,
                   reward=letter_reward())


def test_ray_with_sharding_passes_validation_but_still_needs_torchrun(toy_model_dir, prompts_file, tmp_path):
    """(It was refused before a sharded run could save without the engine's whole copy; see the 2-process test.)"""
    rl_cfg(toy_model_dir, prompts_file, tmp_path / "f", strategy="fsdp", ray=True).validate()
    with pytest.raises(InputError, match="torchrun"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "f", strategy="fsdp", ray=True), quiet=True,
                   reward=letter_reward())


@pytest.mark.slow
@needs_ray
def test_two_process_fsdp_with_a_ray_actor_per_rank_equals_the_in_process_sharded_run(toy_model_dir, prompts_file,
                                                                                      tmp_path):
    """Each rank gathers the shards and pushes the whole weights to its own actor, whose sampler with the same
    weights and seeds gives the in-process engine's rollouts: the same metrics and saved weights (saved through rank
    0's whole copy, as the actor's is on its own node)."""
    from test_online_fsdp import _common, _run, _same, _weights

    common = [*_common("ppo", toy_model_dir, prompts_file), "--strategy", "fsdp"]
    _run([*common, "--out", str(tmp_path / "local")], port=29591)
    _run([*common, "--ray", "--out", str(tmp_path / "ray")], port=29592)
    _same(tmp_path / "local", tmp_path / "ray")
    assert float(rows(tmp_path / "ray")[-1]["kl"]) != 0  # the weights moved, so the pushes were exercised
    a, b = _weights(tmp_path / "local"), _weights(tmp_path / "ray")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@needs_ray
def test_rollouts_from_a_ray_actor_equal_the_in_process_run(toy_model_dir, prompts_file, tmp_path):
    """The actor holds the same sampler, gets the learner's exact weights after every update and the same seeds, so
    the run is the in-process run bit for bit; with K = 1 it trains on stale batches as the in-process schedule."""
    from transformers import AutoModelForCausalLM

    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "local", **KW), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "ray", ray=True, **KW), quiet=True,
               reward=letter_reward())
    for x, y in zip(rows(tmp_path / "local"), rows(tmp_path / "ray"), strict=True):
        assert {k: v for k, v in x.items() if k not in TIMES} == {k: v for k, v in y.items() if k not in TIMES}
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "local").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "ray").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert float(rows(tmp_path / "ray")[-1]["kl"]) != 0  # the weights moved, so the pushes were exercised
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "local1", max_staleness=1, **KW), quiet=True,
               reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "ray1", ray=True, max_staleness=1, **KW), quiet=True,
               reward=letter_reward())
    assert metric(tmp_path / "ray1", "reward") == metric(tmp_path / "local1", "reward")
    assert metric(tmp_path / "ray1", "rollout/staleness") == [0.0, 1.0, 1.0]
