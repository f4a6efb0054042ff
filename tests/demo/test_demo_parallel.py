"""`langrl demo --jobs 2` runs independent stages at once and gives the sequential run's numbers."""
import json
import subprocess
import sys

import pytest


def _demo(out, jobs):
    proc = subprocess.run([sys.executable, "-m", "langrl.cli", "demo", "--quick", "--task", "reviews", "--out",
                           str(out), "--jobs", str(jobs), "--json"], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "metrics.json").read_text()), proc.stderr


def _numbers(metrics):
    return {n: {k: v for k, v in r.items() if k != "seconds"} for n, r in metrics["runs"].items()}


@pytest.mark.slow
def test_parallel_demo_gives_the_sequential_numbers(tmp_path):
    # reviews: policy-reviews -> run-ppo-kl, run-ppo-no-kl (at once) -> control-reviews; each policy's evaluation
    # (eval-sft-reviews, eval-ppo-kl, ...) is queued behind them and starts as soon as its policy is trained and a
    # worker is free
    seq, _ = _demo(tmp_path / "seq", 1)
    par, log = _demo(tmp_path / "par", 2)
    assert "2 stages at once" in log and "2 of 2 workers busy" in log  # the two RL runs overlapped
    assert _numbers(par) == _numbers(seq)
    assert {k: c["value"] for k, c in par["claims"].items()} == {k: c["value"] for k, c in seq["claims"].items()}
    assert set(par["stage_seconds"]) == set(seq["stage_seconds"]) >= {"control-reviews", "run-ppo-kl", "eval-ppo-kl",
                                                                      "eval-sft-reviews", "eval-control-reviews"}
    # an evaluation started while a training stage (an RL run or the control) was still running, not after all of them
    lines = log.splitlines()
    first_eval = min(i for i, line in enumerate(lines) if line.startswith("[demo] eval-") and ": running" in line)
    last_train = max(i for i, line in enumerate(lines)
                     if line.startswith(("[demo] run-", "[demo] control-")) and ": done" in line)
    assert first_eval < last_train
