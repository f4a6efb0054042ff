"""Bounded-staleness asynchronous RL (``--max-staleness K``): K = 0 is the synchronous loop bit for bit, the
staleness and the importance correction are logged, and a killed asynchronous run resumes exactly."""
import json

import pytest
import torch
from online_helpers import letter_reward, metric, rl_cfg, rows

from langrl.errors import InputError
from langrl.train.rl.loop import run_rl

TIMES = {"step", "tokens_per_s", "time/sample", "time/score", "time/logprobs", "time/update", "time/step"}
KW = dict(algo="ppo", max_steps=4, prompts_per_step=4, samples_per_prompt=2, max_new_tokens=6)


def _weights(out):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(out).state_dict()


def _same(a, b, skip=()):
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for k in x:
            if k not in TIMES and k not in skip:
                assert x[k] == y[k], (k, x["step"])  # the csv text: bit for bit


def test_staleness_zero_and_the_native_engine_are_the_synchronous_loop_bit_for_bit(toy_model_dir, prompts_file,
                                                                                   tmp_path):
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "default", **KW), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "k0", rollout_engine="native", max_staleness=0,
                      **KW), quiet=True, reward=letter_reward())
    _same(tmp_path / "default", tmp_path / "k0")
    assert "rollout/staleness" not in rows(tmp_path / "k0")[0]  # the synchronous loop logs what it always did
    wa, wb = _weights(tmp_path / "default"), _weights(tmp_path / "k0")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_async_run_with_frozen_weights_samples_what_the_synchronous_run_samples(toy_model_dir, prompts_file,
                                                                                tmp_path):
    """With learning rate 0 every weight version is the initial one, so K = 1 must draw exactly the synchronous
    batches (same seeds, same rows) and the importance weights are 1 up to float round-off."""
    kw = dict(KW, learning_rate=0.0)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "sync", **kw), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "async", max_staleness=1, **kw), quiet=True,
               reward=letter_reward())
    assert metric(tmp_path / "async", "reward") == metric(tmp_path / "sync", "reward")
    assert metric(tmp_path / "async", "response_length") == metric(tmp_path / "sync", "response_length")
    assert metric(tmp_path / "async", "rollout/staleness") == [0.0, 1.0, 1.0, 1.0]  # batch s drew weights max(0,s-1)
    assert metric(tmp_path / "async", "rollout/is_weight") == pytest.approx([1.0] * 4, abs=1e-4)
    assert max(metric(tmp_path / "async", "rollout/logprob_diff")) < 1e-4  # engine copy and trainer agree


def test_async_run_trains_on_stale_batches_with_the_importance_correction(toy_model_dir, prompts_file, tmp_path):
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "sync", **KW), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "async", max_staleness=2, **KW), quiet=True,
               reward=letter_reward())
    sync, lagged = metric(tmp_path / "sync", "reward"), metric(tmp_path / "async", "reward")
    assert lagged[0] == pytest.approx(sync[0])  # batch 0 is drawn with the initial weights either way
    assert lagged[1:] != sync[1:]  # later batches come from older weights (lr 1e-2 moves the policy)
    assert metric(tmp_path / "async", "rollout/staleness") == [0.0, 1.0, 2.0, 2.0]
    diffs = metric(tmp_path / "async", "rollout/logprob_diff")
    assert diffs[0] < 1e-4 and max(diffs[2:]) > 1e-3  # stale batches really differ from the trainer's policy
    samples = [json.loads(s) for s in (tmp_path / "async" / "samples.jsonl").read_text().splitlines()]
    assert [s["staleness"] for s in samples] == [0, 1, 2, 2]


@pytest.mark.parametrize("algo", ["ppo", "grpo"])
def test_killed_async_run_resumes_exactly(algo, toy_model_dir, prompts_file, tmp_path):
    kw = dict(KW, algo=algo, max_steps=5, max_staleness=2)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "straight", **kw), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "half", stop_at=2, **kw), quiet=True,
               reward=letter_reward())
    assert sorted(p.name for p in (tmp_path / "half").glob("langrl_rollouts.*")) == ["langrl_rollouts.0.pt"]
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "half", resume=str(tmp_path / "half"), **kw),
               quiet=True, reward=letter_reward())
    _same(tmp_path / "straight", tmp_path / "half")
    wa, wb = _weights(tmp_path / "straight"), _weights(tmp_path / "half")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_async_refusals(toy_model_dir, prompts_file, tmp_path):
    with pytest.raises(InputError, match="max_staleness"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "n", algo="nlpo", max_staleness=1), quiet=True,
                   reward=letter_reward())
    with pytest.raises(InputError, match="max_staleness"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "m", max_staleness=-1), quiet=True,
                   reward=letter_reward())
