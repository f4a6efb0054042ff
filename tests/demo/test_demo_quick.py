"""`langrl demo --quick` end to end on the real tiny model: every stage runs, metrics.json validates, report exists."""
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "src" / "langrl" / "demo" / "metrics_schema.json"


@pytest.mark.slow
def test_demo_quick_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "langrl.cli", "demo", "--quick", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    jsonschema.validate(metrics, json.loads(SCHEMA.read_text()))
    from langrl.models.specs import weights_fingerprint  # the built tiny the stages started from, in the report too
    assert metrics["config"]["model_weights"] == weights_fingerprint("tiny") is not None
    assert metrics["config"]["model_weights"]["sha256"][:16] in (out / "report.md").read_text()
    expected = {"sft-factqa", "sft-reviews", "sft-arithmetic", "ppo-holistic", "ppo-fine-grained", "nlpo", "dpo",
                "pl-dpo", "ppo-kl", "ppo-no-kl", "grpo", "best-of-4"}
    assert expected <= set(metrics["runs"])
    assert all(c["value"] is not None for c in metrics["claims"].values())  # every claim computed
    # every policy is evaluated sampled (T = 1) and near-greedy (T = 1e-4) on the same prompts
    assert all(metrics["runs"][r].get("near_greedy/gold/gold") is not None for r in expected - {"best-of-4"})
    # each SFT start trained until its held-out loss stopped falling (or its cap), the steps it used recorded
    assert set(metrics["sft"]) == {"factqa", "reviews", "arithmetic"}
    assert all(1 <= s["best_step"] <= s["steps"] for s in metrics["sft"].values())
    assert "## SFT starts" in (out / "report.md").read_text()
    for name in ("report.md", "report.html", "gold_vs_kl.png", "error_rates.png"):
        assert (out / name).stat().st_size > 0
    assert summary["out"] == str(out)
    # every online run watched its held-out gold (its warnings, possibly none, are listed); offline runs are not
    assert all(isinstance(metrics["runs"][r]["warnings"], list) for r in ("ppo-holistic", "nlpo", "ppo-no-kl", "grpo"))
    assert "warnings" not in metrics["runs"]["dpo"]
    assert "## Reward-hacking watch" in (out / "report.md").read_text()
    assert set(metrics["reward_models"]) == {"holistic", "listwise", "spans", "completeness"}
    # every reward model is also measured against the task's hidden gold ordering (or gold span labels)
    rms = metrics["reward_models"]
    assert all("n_gold_pairs" in rms[n] for n in ("holistic", "listwise", "completeness"))
    assert "n_gold_span_records" in rms["spans"] and "gold_span_macro_f1" in rms["spans"]
    assert "ordered by the task's hidden gold" in (out / "report.md").read_text()
    # scripts/rm-heldout re-draws a stage's held-out split: it reproduces the stage's own measurements
    root = Path(__file__).resolve().parents[2]
    again = subprocess.run([sys.executable, str(root / "scripts" / "rm-heldout"), str(out / "rm-spans"), "--json"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    re_measured = json.loads(again.stdout)
    stage = json.loads((out / "rm-spans" / "done.json").read_text())["result"]
    assert re_measured["gold_span_macro_f1"] == pytest.approx(stage["eval_gold_span_macro_f1"])
    auc = re_measured["gold_auc/untruthful"]  # NaN when the held-out split has no gold-untruthful segment
    assert auc != auc or 0.0 <= auc <= 1.0
    # the holistic proxy reads the passage with the MiniLM encoder (scripts/rm-levers); the others keep the policy's
    bases = {n: json.loads((out / f"rm-{n}" / "done.json").read_text())["settings"]["base"] for n in rms}
    assert bases["holistic"] == "minilm" and bases["listwise"].endswith("policy-factqa/model")
    # factqa's PPO-holistic and NLPO score each response against its prompt's other samples (scripts/ppo-levers)
    online = [json.loads((out / f"run-{n}" / "done.json").read_text())["settings"] for n in ("ppo-holistic", "nlpo")]
    assert all(s["reward_baseline"] == "loo" and s["samples_per_prompt"] >= 2 for s in online)
    # the RL runs moved away from their SFT starting points
    assert all((metrics["runs"][r]["kl"] or 0) > 0 for r in ("ppo-holistic", "ppo-no-kl", "grpo", "dpo"))
    # a second invocation is served from the stage cache
    again = subprocess.run([sys.executable, "-m", "langrl.cli", "demo", "--quick", "--out", str(out), "--json"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "cached" in again.stderr
