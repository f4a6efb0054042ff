"""``langrl loop`` end to end on a toy policy: it moves the weights, logs every round, and resumes after a crash at
any step with nothing asked twice and no judgement lost."""
from __future__ import annotations

import json

import pytest
import torch

from langrl.cli import main
from langrl.config import parse_config
from langrl.errors import InputError
from langrl.loop import runner
from langrl.loop.config import LoopConfig


POLICY = "tiny"  # the embedded default model (already built): task-like text, so judgements are rarely ties


def loop_args(out, policy, *extra) -> list[str]:
    return ["--out", str(out), "--policy", str(policy), "--rounds", "3", "--prompts-per-round", "3",
            "--labels-per-round", "3", "--features", "bow", "--eval-prompts", "4", "--rm-eval-prompts", "3",
            "--dpo-steps", "2", "--max-new-tokens", "12", "--compare", "random", "--compare", "coverage",
            *map(str, extra)]


def run(args) -> dict:
    cfg, _ = parse_config(LoopConfig, args)
    return runner.run_loop(cfg, quiet=True)


def asked_keys(out, rounds=3) -> list[str]:
    return [q["key"] for r in range(1, rounds + 1)
            for q in json.loads((out / "rounds" / f"r{r:02d}" / "asked.json").read_text())["main"]]


def judgements(out, rounds=3) -> list[dict]:
    rows = []
    for r in range(1, rounds + 1):
        text = (out / "rounds" / f"r{r:02d}" / "judgements.jsonl").read_text()
        rows += [json.loads(line) for line in text.splitlines()]
    return rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted loop (its metrics, asked keys and judgements), the yardstick for the resumed ones."""
    out = tmp_path_factory.mktemp("loop") / "ref"
    metrics = run(loop_args(out, POLICY))
    return out, metrics


def test_loop_runs_logs_every_round_and_moves_the_weights(reference):
    out, metrics = reference
    assert metrics["rounds_done"] == 3 and [r["round"] for r in metrics["rounds"]] == [0, 1, 2, 3]
    assert len((out / "rounds.jsonl").read_text().splitlines()) == 4
    for row in metrics["rounds"][1:]:
        for key in ("labels", "rm_accuracy", "policy_gold", "kl", "shadow/random/rm_accuracy"):
            assert key in row
    assert [r["labels"] for r in metrics["rounds"][1:]] == [3, 6, 9]
    assert set(metrics["claims"]) == {"active_saves_labels", "loop_improves", "tracks_drift"}
    assert metrics["claims"]["tracks_drift"]["value"] is None  # no drift configured
    keys = asked_keys(out)
    assert len(keys) == len(set(keys)) == 9  # nothing asked twice
    recs = judgements(out)
    assert [r["question_id"] for r in recs] == [f"r{r:02d}-q{n:03d}" for r in (1, 2, 3) for n in range(3)]
    assert all(r["time"].startswith("2026-01-01T0") for r in recs)
    from transformers import AutoModelForCausalLM

    from langrl.models.specs import resolve_model_dir

    start = AutoModelForCausalLM.from_pretrained(resolve_model_dir(POLICY)).state_dict()
    final = json.loads((out / "rounds" / "r03" / "policy.json").read_text())["path"]
    after = AutoModelForCausalLM.from_pretrained(final).state_dict()
    assert any(not torch.equal(start[k], after[k]) for k in start)  # DPO moved the policy


class Crash(Exception):
    pass


SLOW = pytest.mark.slow  # every step is covered by the slow run; the fast suite keeps three


@pytest.mark.parametrize("step,at", [
    pytest.param("pool", 0, marks=SLOW), pytest.param("eval", 0, marks=SLOW), pytest.param("sample", 2, marks=SLOW),
    ("select", 2), ("collect", 2), pytest.param("collect-shadow", 2, marks=SLOW), pytest.param("rm", 2, marks=SLOW),
    ("policy", 2), pytest.param("eval", 2, marks=SLOW), pytest.param("eval", 3, marks=SLOW)])
def test_resume_after_a_crash_at_any_step(reference, tmp_path, monkeypatch, step, at):
    ref_out, ref_metrics = reference
    out = tmp_path / "loop"

    def hook(name, r):
        if (name, r) == (step, at):
            raise Crash(f"{name} {r}")

    monkeypatch.setattr(runner, "_HOOK", hook)
    with pytest.raises(Crash):
        run(loop_args(out, POLICY))
    monkeypatch.setattr(runner, "_HOOK", None)
    with pytest.raises(InputError, match="pass --resume"):
        run(loop_args(out, POLICY))
    metrics = run(loop_args(out, POLICY, "--resume"))
    assert asked_keys(out) == asked_keys(ref_out)  # the same questions, none twice
    assert judgements(out) == judgements(ref_out)  # every judgement, none lost or repeated
    assert metrics["rounds"] == ref_metrics["rounds"] and metrics["claims"] == ref_metrics["claims"]


def test_a_crash_inside_the_policy_step_leaves_nothing_half_done(reference, tmp_path, monkeypatch):
    ref_out, ref_metrics = reference
    out = tmp_path / "loop"
    real = runner.Loop.update_policy

    def dies_midway(self, r):
        if r == 2:
            (self.rdir(r) / "policy").mkdir(parents=True, exist_ok=True)
            (self.rdir(r) / "policy" / "model.safetensors").write_text("half a model")
            raise Crash("killed in DPO")
        return real(self, r)

    monkeypatch.setattr(runner.Loop, "update_policy", dies_midway)
    with pytest.raises(Crash):
        run(loop_args(out, POLICY))
    monkeypatch.setattr(runner.Loop, "update_policy", real)
    metrics = run(loop_args(out, POLICY, "--resume"))
    assert metrics["rounds"] == ref_metrics["rounds"]


def test_more_rounds_on_resume_and_settings_that_must_not_change(reference, tmp_path):
    out = tmp_path / "loop"
    run(loop_args(out, POLICY, "--rounds", "2"))
    with pytest.raises(InputError, match="field 'strategy': --resume: strategy was 'eig'"):
        run(loop_args(out, POLICY, "--rounds", "3", "--resume", "--strategy", "random"))
    metrics = run(loop_args(out, POLICY, "--rounds", "3", "--resume"))
    assert metrics["rounds"] == reference[1]["rounds"]


def test_cli_json_and_bad_input(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["loop", *loop_args(out, POLICY, "--rounds", "1", "--policy-update", "none"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rounds_done"] == 1 and summary["labels"] == 3 and "claims" in summary
    assert main(["loop", "--annotator", "app", "--out", str(tmp_path / "x")]) == 2
    assert "field 'db'" in capsys.readouterr().err
    assert main(["loop", "--compare", "none", "--compare", "random", "--out", str(tmp_path / "y")]) == 2
    assert main(["loop", "--drift", "switch", "--drift-round", "9", "--rounds", "3"]) == 2
    assert "field 'drift_round'" in capsys.readouterr().err
