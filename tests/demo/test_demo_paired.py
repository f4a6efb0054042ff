"""scripts/demo-paired: a demo's per-run table of paired differences, from hand-made eval stages."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _eval(out: Path, name: str, task: str, gold: list[float], greedy: list[float], kl: float):
    d = out / f"eval-{name}"
    d.mkdir(parents=True)
    res = {"gold/gold": sum(gold) / len(gold), "gold_per_sample": gold, "near_greedy/gold_per_sample": greedy,
           "kl": kl, "gold/factuality": 0.5, "gold/completeness": 0.25, "gold/relevance": 1.0}
    (d / "done.json").write_text(json.dumps({"settings": {"task": task}, "result": res}))


def test_paired_table_by_hand(tmp_path):
    # ppo - sft per prompt: 1, 0, 1, 0 -> +0.500, sd sqrt(4 * 0.25 / 3) = 0.577, s.e. 0.577 / 2 = 0.289
    _eval(tmp_path, "sft-factqa", "factqa", [0, 1, 0, 0], [1, 1, 1, 1], 0.0)
    _eval(tmp_path, "ppo-holistic", "factqa", [1, 1, 1, 0], [1, 1, 1, 1], 0.25)
    _eval(tmp_path, "control-factqa", "factqa", [0, 1, 0, 0], [1, 1, 1, 1], 0.5)
    _eval(tmp_path, "grpo", "arithmetic", [1, 1, 1, 1], [1, 1, 1, 1], 0.1)  # another task: not in the table
    _eval(tmp_path, "best-of-4", None, [1, 1, 0, 0], [], 1.2)  # best-of-n: factqa's, its settings name no task
    metrics = {"config": {"model_weights": {"sha256": "ab" * 32, "files": ["model.safetensors"]}},
               "runs": {"sft-factqa": {}, "ppo-holistic": {}, "control-factqa": {}, "grpo": {}, "best-of-4": {}},
               "stage_seconds": {"policy-factqa": 100.0, "run-ppo-holistic": 50.4, "control-factqa": 20.0}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo-paired"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "model weights: " + "ab" * 32
    assert "| sft-factqa | 0.250 (–) | – | – | 0.00 | 0.500 / 0.250 / 1.000 | 100 |" in lines
    # the same +0.500 ± 0.289 against the control, whose golds equal SFT's; near-greedy all equal: 0 ± 0
    assert "| ppo-holistic | 0.750 (+0.500 ± 0.289) | +0.000 ± 0.000 | +0.500 ± 0.289 | 0.25 | " \
           "0.500 / 0.250 / 1.000 | 50 |" in lines
    assert "| control-factqa | 0.250 (+0.000 ± 0.000) | +0.000 ± 0.000 | – | 0.50 | 0.500 / 0.250 / 1.000 | 20 |" \
        in lines
    assert not any(line.startswith("| grpo") for line in lines)
    # best-of-4 - sft: 1, 0, 0, 0 -> +0.250, sd sqrt((0.5625 + 3 * 0.0625) / 3) = 0.5, s.e. 0.25; no near-greedy pass
    assert "| best-of-4 | 0.500 (+0.250 ± 0.250) | – | +0.250 ± 0.250 | 1.20 | 0.500 / 0.250 / 1.000 | – |" in lines
