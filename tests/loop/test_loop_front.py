"""``langrl loop --front``: each round also asks a simulated person a few EIG-chosen comparisons between a pareto
front's points and records their elicited weight vector; resumable (the same questions, never a pair twice); bad
input exits 2 before anything is written."""
from __future__ import annotations

import json

import pytest
import torch

from langrl.annotate import weights_elicit as we
from langrl.cli import main
from langrl.config import parse_config
from langrl.loop import runner
from langrl.loop.config import LoopConfig

POINTS = {"p-1-0": [1.0, 0.0], "p-hi": [0.9, 0.5], "p-lo": [0.5, 0.9], "p-0-1": [0.0, 1.0]}


@pytest.fixture
def front(tmp_path):
    path = tmp_path / "front.json"
    path.write_text(json.dumps({"axes": ["helpful", "harmless"], "points": POINTS}))
    return path


def loop_args(out, front, *extra) -> list[str]:
    return ["--out", str(out), "--policy", "tiny", "--rounds", "2", "--prompts-per-round", "2",
            "--labels-per-round", "2", "--features", "bow", "--eval-prompts", "2", "--rm-eval-prompts", "2",
            "--max-new-tokens", "8", "--policy-update", "none", "--compare", "none", "--front", str(front),
            "--front-weights", "0.2,0.8", "--front-questions", "2", *map(str, extra)]


def run(args) -> dict:
    cfg, _ = parse_config(LoopConfig, args)
    return runner.run_loop(cfg, quiet=True)


def test_each_round_asks_the_front_and_records_the_weights(tmp_path, front):
    out = tmp_path / "loop"
    metrics = run(loop_args(out, front))
    w1, w2 = (json.loads((out / "rounds" / f"r{r:02d}" / "weights.json").read_text()) for r in (1, 2))
    assert (w1["answers"], w2["answers"]) == (2, 4) and len(w1["asked"]) == len(w2["asked"]) == 2
    pairs = [frozenset((q["a"], q["b"])) for q in w1["asked"] + w2["asked"]]
    assert len(set(pairs)) == 4  # never the same pair twice across rounds
    # round 2's estimate is the 4-answer trace of one seeded simulated person (seed 0, the loop's), w = (0.2, 0.8)
    trace = we.simulate(torch.tensor(list(POINTS.values()), dtype=torch.float64),
                        torch.tensor([0.2, 0.8], dtype=torch.float64), questions=4, temperature=0.05, seed=0)
    assert list(w2["weights"].values()) == pytest.approx(trace[-1]["w"])
    # w = (0.2, 0.8): utilities p-1-0 0.2, p-hi 0.58, p-lo 0.82, p-0-1 0.8 -> the person's own best is p-lo
    assert w2["true_selected"] == "p-lo" and w2["regret"] >= 0
    row = metrics["rounds"][2]
    assert row["front_answers"] == 4 and row["front_selected"] == w2["selected"]
    # resumable: a lost weights.json is rebuilt identically
    saved = (out / "rounds" / "r02" / "weights.json").read_text()
    (out / "rounds" / "r02" / "weights.json").unlink()
    run(loop_args(out, front, "--resume"))
    assert (out / "rounds" / "r02" / "weights.json").read_text() == saved


@pytest.mark.parametrize("extra,expected", [
    (["--front-weights", "1,2,3"], "field 'front_weights'"),
    (["--front-weights", ""], "field 'front_weights'"),
    (["--front-questions", "0"], "field 'front_questions'")])
def test_bad_front_input_exits_2_before_anything_is_written(tmp_path, front, capsys, extra, expected):
    out = tmp_path / "x"
    assert main(["loop", *loop_args(out, front, *extra)]) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()
    assert main(["loop", *loop_args(out, tmp_path / "missing.json")]) == 2
    assert "field 'front'" in capsys.readouterr().err and not out.exists()
