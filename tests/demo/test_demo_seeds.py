"""The seeds table (scripts/demo-seeds) from hand-made metrics.json contents."""
import subprocess
import sys
from pathlib import Path

from langrl.demo.seeds import seeds_table

ROOT = Path(__file__).resolve().parents[2]


def _metrics(gold, claim, secs):
    return {"runs": {"grpo": {"gold/gold": gold, "gold_se": 0.03, "near_greedy/gold/gold": 0.6,
                              "near_greedy/gold_se": 0.034, "kl": 0.125}},
            "claims": {"rl_beats_sft": {"value": claim}}, "stage_seconds": {"run-grpo": secs},
            "pipeline_seconds": secs + 10, "total_seconds": secs + 12}


def test_seeds_table_by_hand():
    md = seeds_table({1: _metrics(0.4, False, 20.4), 0: _metrics(0.35, True, 17.0)})
    lines = md.splitlines()
    assert "| run | seed 0 | seed 1 |" in lines  # seeds in order
    assert "| grpo | 0.350 ± 0.030 / 0.600 ± 0.034 / KL 0.12 | 0.400 ± 0.030 / 0.600 ± 0.034 / KL 0.12 |" in lines
    assert "| `rl_beats_sft` | **true** | false |" in lines
    assert "| run-grpo | 17 | 20 |" in lines and "| **all stages** | 27 | 30 |" in lines
    assert "| model weights (sha256) | – | – |" in lines  # metrics.json written before the fingerprint


def test_seeds_table_names_each_seeds_model_weights():
    a, b = _metrics(0.4, False, 20.4), _metrics(0.35, True, 17.0)
    a["config"] = {"model_weights": {"sha256": "ab" * 32, "files": ["model.safetensors"]}}
    b["config"] = {"model_weights": None}
    assert "| model weights (sha256) | `abababababab…` | – |" in seeds_table({0: a, 1: b}).splitlines()


def test_demo_seeds_script_documents_itself():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo-seeds"), "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "--seeds" in out.stdout
