"""``langrl rl``: the documented configs parse, a tiny CLI run works, bad input is one clear line (exit 2)."""
import json
from pathlib import Path

import pytest
import yaml
from online_helpers import rows

from langrl.cli import main as cli_main
from langrl.config import parse_config
from langrl.train.rl.loop import RLConfig, resolve_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("rl-*.yaml"))


def test_there_is_a_documented_config_per_algorithm():
    assert [p.stem for p in CONFIGS] == ["rl-grpo", "rl-nlpo", "rl-ppo", "rl-reinforce", "rl-rloo"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_parse_and_validate(path):
    cfg, _ = parse_config(RLConfig, ["--config", str(path)], prog="langrl rl")
    assert cfg.algo == path.stem[3:] and cfg.reward
    text = path.read_text()
    assert text.count("#") >= 6  # documented: comments explain the choices
    resolve_config(cfg).validate()


def test_cli_run_with_a_config_and_overrides(toy_model_dir, prompts_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli_main(["rl", "--config", str(ROOT / "configs" / "rl-grpo.yaml"), "--policy", str(toy_model_dir),
                     "--prompts", str(prompts_file), "--reward", "regex:pattern=a", "--reward", "length:weight=0.1",
                     "--max-steps", "2", "--prompts-per-step", "4", "--max-new-tokens", "6", "--eval-every", "0",
                     "--micro-batch-size", "16", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["command"] == "rl" and summary["algo"] == "grpo" and summary["steps"] == 2
    header = rows(out)[0]
    assert {"reward", "reward/regex", "reward/length"} <= set(header)  # per-objective logging
    saved = yaml.safe_load((out / "langrl_config.yaml").read_text())
    assert saved["kl_in"] == "loss" and saved["kl_estimator"] == "k3" and saved["reward"][0] == "regex:pattern=a"


@pytest.mark.parametrize("args,expected", [
    (["--algo", "dqn"], "field 'algo': expected one of ppo, nlpo, grpo, rloo, reinforce"),
    (["--reward", "nosuchreward"], "unknown reward 'nosuchreward'"),
    ([], "no reward given; pass --reward SPEC"),
    (["--reward", "regex:pattern=a", "--prompts", "missing.jsonl"], "data file not found: missing.jsonl"),
    (["--reward", "regex:pattern=a", "--algo", "grpo", "--samples-per-prompt", "1"], "must be >= 2"),
    (["--reward", "regex:pattern=a", "--kl-estimator", "k4"], "field 'kl_estimator': expected one of k1, k2, k3"),
    (["--reward", "regex:pattern=a", "--eval-every", "2", "--prompts", "PROMPTS"], "eval_every needs held-out"),
])
def test_bad_input_is_one_clear_line(args, expected, toy_model_dir, prompts_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [str(prompts_file) if a == "PROMPTS" else a for a in args]
    code = cli_main(["rl", "--policy", str(toy_model_dir), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_prompt_file_errors_name_path_line_and_field(toy_model_dir, tmp_path, capsys):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    code = cli_main(["rl", "--policy", str(toy_model_dir), "--prompts", str(bad), "--reward", "regex:pattern=a",
                     "--out", str(tmp_path / "o")])
    assert code == 2 and "p.jsonl:2: field 'prompt': expected a string" in capsys.readouterr().err
