"""``langrl loop --warmup-rounds``: the cold start asked at random by every strategy (the main one and its shadows ask
the same questions), active selection after it; and a loop written before a setting existed still resumes."""
from __future__ import annotations

import json

from langrl.cli import main
from langrl.config import parse_config
from langrl.loop import runner
from langrl.loop.config import LoopConfig


def loop_args(out, *extra) -> list[str]:
    return ["--out", str(out), "--policy", "tiny", "--rounds", "2", "--prompts-per-round", "4",
            "--labels-per-round", "3", "--features", "bow", "--eval-prompts", "2", "--rm-eval-prompts", "3",
            "--max-new-tokens", "12", "--policy-update", "none", "--strategy", "eig", "--compare", "random",
            *map(str, extra)]


def run(args) -> dict:
    cfg, _ = parse_config(LoopConfig, args)
    return runner.run_loop(cfg, quiet=True)


def asked(out, r) -> dict:
    return json.loads((out / "rounds" / f"r{r:02d}" / "asked.json").read_text())


def keys(qs) -> list[str]:
    return [q["key"] for q in qs]


def test_warmup_rounds_ask_every_strategy_the_same_random_questions(tmp_path):
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    run(loop_args(cold))
    run(loop_args(warm, "--warmup-rounds", "1"))
    a1 = asked(warm, 1)
    assert keys(a1["main"]) == keys(a1["shadow"]["random"])  # round 1: eig asks random's questions
    assert keys(asked(cold, 1)["main"]) != keys(a1["main"])  # without the warm-up, eig chose its own
    assert keys(asked(cold, 1)["shadow"]["random"]) == keys(a1["shadow"]["random"])
    a2 = asked(warm, 2)
    assert keys(a2["main"]) != keys(a2["shadow"]["random"])  # round 2: eig on the posterior of round 1's answers
    assert not set(keys(a2["main"])) & set(keys(a1["main"]))  # and never a question asked before


def test_bad_warmup_exits_2_and_an_older_loop_resumes(tmp_path, capsys):
    assert main(["loop", "--out", str(tmp_path / "x"), "--warmup-rounds", "-1"]) == 2
    assert "field 'warmup_rounds'" in capsys.readouterr().err
    out = tmp_path / "old"
    run(loop_args(out, "--rounds", "1"))
    meta = json.loads((out / "loop.json").read_text())
    del meta["config"]["warmup_rounds"]  # as written before the setting existed
    (out / "loop.json").write_text(json.dumps(meta))
    assert run(loop_args(out, "--resume"))["rounds_done"] == 2  # its default (0) is what that loop ran with
    assert main(["loop", *loop_args(out, "--resume", "--warmup-rounds", "1")]) == 2
    assert "warmup_rounds was 0" in capsys.readouterr().err
