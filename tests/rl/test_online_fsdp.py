"""``--strategy fsdp`` (FSDP2 ``fully_shard``): 2 gloo processes with the weights, gradients and AdamW state sharded
give the same run as one process with whole copies (the harness of ``test_online_distributed.py``), the checkpoint
is an ordinary HF directory gathered on save, and a sharded run resumes exactly."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from online_helpers import rows

ROOT = Path(__file__).resolve().parents[2]
IGNORED = {"step", "tokens_per_s", "time/sample", "time/score", "time/logprobs", "time/update", "time/step"}
ENV = {"PYTHONPATH": str(ROOT / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}


def _common(algo, toy_model_dir, prompts_file, steps=3):
    return ["rl", "--algo", algo, "--policy", str(toy_model_dir), "--prompts", str(prompts_file),
            "--reward", "regex:pattern=a", "--reward", "length:weight=0.1", "--max-steps", str(steps),
            "--prompts-per-step", "4", "--samples-per-prompt", "2", "--rollout-prompts", "2",
            "--minibatch-size", "4", "--micro-batch-size", "2", "--epochs", "2", "--max-new-tokens", "6",
            "--learning-rate", "1e-2"]


def _run(args, port=None):
    launch = [sys.executable, "-m", "langrl.cli"] if port is None else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
        "-m", "langrl.cli"]
    proc = subprocess.run([*launch, *args], env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _same(a, b):
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for k in x:
            if k not in IGNORED and x[k] != "":
                assert float(y[k]) == pytest.approx(float(x[k]), rel=1e-4, abs=1e-6), (k, x["step"])


def _weights(out):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(out).state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("algo,port", [("ppo", 29581), ("grpo", 29582)])
def test_two_process_fsdp_matches_one_process(algo, port, toy_model_dir, prompts_file, tmp_path):
    common = _common(algo, toy_model_dir, prompts_file)
    _run([*common, "--out", str(tmp_path / "one")])
    _run([*common, "--strategy", "fsdp", "--out", str(tmp_path / "two")], port=port)
    _same(tmp_path / "one", tmp_path / "two")
    assert float(rows(tmp_path / "one")[-1]["kl"]) != 0  # the policy moved: the updates were compared
    wa, wb = _weights(tmp_path / "one"), _weights(tmp_path / "two")  # gathered on save into a plain HF dir
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    if algo == "ppo":  # the value head was sharded too, and gathered into the same file
        va = torch.load(tmp_path / "one" / "langrl_value.pt", weights_only=True)
        vb = torch.load(tmp_path / "two" / "langrl_value.pt", weights_only=True)
        assert all(torch.allclose(va[k], vb[k], atol=1e-5) for k in va)


@pytest.mark.slow
def test_sharded_run_resumes_exactly(toy_model_dir, prompts_file, tmp_path):
    common = [*_common("ppo", toy_model_dir, prompts_file, steps=4), "--strategy", "fsdp"]
    _run([*common, "--out", str(tmp_path / "straight")], port=29583)
    _run([*common, "--stop-at", "2", "--out", str(tmp_path / "half")], port=29584)
    _run([*common, "--resume", str(tmp_path / "half"), "--out", str(tmp_path / "half")], port=29585)
    _same(tmp_path / "straight", tmp_path / "half")


def test_fsdp_needs_several_processes_and_refuses_what_it_does_not_shard(toy_model_dir, prompts_file, tmp_path):
    from online_helpers import letter_reward, rl_cfg

    from langrl.errors import InputError
    from langrl.train.rl.loop import run_rl

    with pytest.raises(InputError, match="torchrun"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "a", strategy="fsdp"), quiet=True,
                   reward=letter_reward())
    with pytest.raises(InputError, match="lora_r"):
        run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "b", strategy="fsdp", lora_r=4), quiet=True,
                   reward=letter_reward())
