"""Data parallelism: ``torchrun --nproc_per_node 2`` (gloo) gives the same run as one process with the same global
batch.

The sampling calls are seeded by (seed, step, call), minibatches are stratified by call, every statistic (whitening,
KL, baseline, logging) is reduced over ranks and every loss is divided by the global token count, so the two runs
match up to float round-off in the all-reduce.
"""
import subprocess
import sys
from pathlib import Path

import pytest
from online_helpers import rows

ROOT = Path(__file__).resolve().parents[2]
IGNORED = {"step", "tokens_per_s", "time/sample", "time/score", "time/logprobs", "time/update", "time/step"}


@pytest.mark.slow
@pytest.mark.parametrize("algo,port", [("ppo", 29571), ("grpo", 29572)])
def test_two_process_data_parallel_matches_one_process(algo, port, toy_model_dir, prompts_file, tmp_path):
    common = ["rl", "--algo", algo, "--policy", str(toy_model_dir), "--prompts", str(prompts_file),
              "--reward", "regex:pattern=a", "--reward", "length:weight=0.1", "--max-steps", "3",
              "--prompts-per-step", "4", "--samples-per-prompt", "2", "--rollout-prompts", "2",
              "--minibatch-size", "4", "--micro-batch-size", "2", "--epochs", "2", "--max-new-tokens", "6",
              "--learning-rate", "1e-2"]
    env = {"PYTHONPATH": str(ROOT / "src"), "LANGRL_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    one = subprocess.run([sys.executable, "-m", "langrl.cli", *common, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(port), "-m", "langrl.cli", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for k in x:
            if k not in IGNORED and x[k] != "":
                assert float(y[k]) == pytest.approx(float(x[k]), rel=1e-4, abs=1e-6), (k, x["step"])
    assert float(a[-1]["kl"]) != 0  # the policy really moved, so the updates were compared too
