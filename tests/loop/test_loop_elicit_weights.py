"""``langrl loop elicit-weights``: a person's weights over a pareto front, by --simulate or by replaying --answers
(the next question printed each time), the front point selected, the conditioned policy served at the weight; bad
input exits 2 naming the field."""
from __future__ import annotations

import json
import math
import shlex

import pytest

from langrl.cli import main

AXES = ["helpful", "harmless"]


def fake_pareto(root, conditioned: bool = True):
    """A pareto.json in the format `langrl pareto` writes (an 11-point concave sweep front in gold space), with the
    stage directories its serving needs (their policies are not loaded here)."""
    pts = {f"w-{i}": [round(math.cos(i * math.pi / 20), 4), round(math.sin(i * math.pi / 20), 4)] for i in range(11)}
    front = {"axes": AXES, "reference": [0, 0], "points": pts, "non_dominated": list(pts), "hypervolume": 0.5}
    fronts = {"sweep": {"objectives": front, "gold": front}}
    root.mkdir(parents=True)
    for name in pts:
        (root / name / "policy").mkdir(parents=True)
    if conditioned:
        fronts["conditioned"] = {"gold": front}
        (root / "conditioned" / "policy").mkdir(parents=True)
        (root / "conditioned" / "policy" / "langrl_config.yaml").write_text("condition_steps: 10\nprompts: task:hh\n")
    (root / "pareto.json").write_text(json.dumps({"command": "pareto", "objectives": AXES, "fronts": fronts}))
    return root / "pareto.json"


def elicit(capsys, *args) -> dict:
    assert main(["loop", "elicit-weights", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulated_person_weights_selected_point_and_the_serving_command(tmp_path, capsys):
    path = fake_pareto(tmp_path / "p")
    res = elicit(capsys, "--front", path, "--simulate", "0.3,0.7", "--questions", "8", "--out", tmp_path / "w.json")
    assert res["answers"] == 8 and len(res["errors"]) == 9 and res["error"] <= 0.1
    assert res["weights"]["helpful"] == pytest.approx(0.3, abs=0.1)
    # the selected point maximises w . p; a person at (0.3, 0.7) prefers w-7 (angle 63 deg, near atan(0.7/0.3) = 67)
    assert res["true_selected"] == "w-7" and res["selected"] in {"w-6", "w-7", "w-8"}
    assert res["selected_policy"] == str(tmp_path / "p" / res["selected"] / "policy")
    # served at the conditioned run's nearest training weight (grid of 10 steps)
    w = [float(part.split("=")[1]) for part in res["served_weights"].split(",")]
    assert all(abs(x * 10 - round(x * 10)) < 1e-9 for x in w) and abs(w[0] - res["weights"]["helpful"]) <= 0.05 + 1e-9
    assert res["serve"] == (f"langrl sample --model {tmp_path / 'p' / 'conditioned' / 'policy'} --weights "
                            f"{res['served_weights']} --prompts task:hh")
    assert json.loads((tmp_path / "w.json").read_text())["weights"] == res["weights"]  # --out written
    # random questions run too, and the front without a conditioned policy says so
    res = elicit(capsys, "--front", fake_pareto(tmp_path / "q", conditioned=False), "--simulate", "1,1",
                 "--strategy", "random", "--questions", "3")
    assert res["true_weights"] == {"helpful": 0.5, "harmless": 0.5} and "serve" not in res
    assert "no conditioned policy" in res["conditioned"]


def test_answers_are_replayed_and_the_next_question_printed(tmp_path, capsys):
    path, answers = fake_pareto(tmp_path / "p"), tmp_path / "answers.jsonl"
    first = elicit(capsys, "--front", path, "--answers", answers)  # no file yet: the first question
    assert first["answers"] == 0 and first["weights"]["helpful"] == pytest.approx(0.5)
    q = first["next_question"]
    assert {q["a"], q["b"]} == {"w-0", "w-10"}  # the ends of the front split the uniform prior best
    answers.write_text(json.dumps({"a": q["a"], "b": q["b"], "preferred": "w-0"}) + "\n")  # all helpful
    second = elicit(capsys, "--front", path, "--answers", answers)
    assert second["answers"] == 1 and second["weights"]["helpful"] > 0.5
    assert {second["next_question"]["a"], second["next_question"]["b"]} != {"w-0", "w-10"}  # never asked twice
    # the human-readable output asks the question
    assert main(["loop", "elicit-weights", "--front", str(path), "--answers", str(answers)]) == 0
    assert "which do you prefer" in capsys.readouterr().out
    answers.write_text(answers.read_text() + json.dumps({"a": "w-1", "b": "w-2", "preferred": "w-3"}) + "\n")
    assert main(["loop", "elicit-weights", "--front", str(path), "--answers", str(answers)]) == 2
    assert f"{answers}:2: field 'preferred'" in capsys.readouterr().err


@pytest.mark.parametrize("args,expected", [
    ([], "field 'front'"),
    (["--simulate", "1,2,3"], "field 'simulate'"),
    (["--simulate", "a,b"], "field 'simulate'"),
    (["--simulate", "1,1", "--answers", "x.jsonl"], "field 'simulate'"),
    (["--kind", "soups"], "field 'kind'"),
    (["--temperature", "0"], "field 'temperature'"),
    (["--grid-steps", "0"], "field 'grid_steps'")])
def test_bad_input_exits_2_naming_the_field(tmp_path, capsys, args, expected):
    front = [] if not args else ["--front", str(fake_pareto(tmp_path / "p"))]
    assert main(["loop", "elicit-weights", *front, *args]) == 2
    assert expected in capsys.readouterr().err


def test_plain_front_file_and_too_few_points(tmp_path, capsys):
    f = tmp_path / "front.json"
    f.write_text(json.dumps({"axes": AXES, "points": {"a": [1, 0], "b": [0, 1], "c": [0.6, 0.6]}}))
    res = elicit(capsys, "--front", f, "--simulate", "0.5,0.5", "--questions", "3")
    assert res["answers"] == 3 and res["selected"] == "c" and "serve" not in res  # 3 pairs: all asked
    f.write_text(json.dumps({"axes": AXES, "points": {"a": [1, 0]}}))
    assert main(["loop", "elicit-weights", "--front", str(f), "--simulate", "1,0"]) == 2
    assert "at least 2 points" in capsys.readouterr().err


def test_on_a_real_pareto_run_the_served_command_samples(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["pareto", "--policy", "tiny", "--prompts", "task:hh", "--reward", "gold:task=hh,score=helpful,"
                 "name=helpful", "--reward", "gold:task=hh,score=harmless,name=harmless", "--weights", "1,0",
                 "--weights", "0,1", "--conditioned", "true", "--no-soups", "--max-steps", "1", "--prompts-per-step",
                 "2", "--samples-per-prompt", "2", "--max-new-tokens", "4", "--eval-num", "6", "--rl-option",
                 "micro_batch_size=8", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    res = elicit(capsys, "--front", out / "pareto.json", "--simulate", "0.3,0.7", "--questions", "2")
    assert res["serve"].startswith(f"langrl sample --model {out / 'conditioned' / 'policy'} --weights helpful=")
    argv = shlex.split(res["serve"])[1:] + ["--num-prompts", "2", "--max-new-tokens", "4", "--json"]
    assert main(argv) == 0  # the printed command serves the conditioned policy at the elicited weight
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    from langrl.rewards.conditioning import parse_condition_weights, weight_prefix

    # the prefix of the served weights, in the format the conditioned policy was trained with (pareto's auto: byte on
    # tiny, whose tokenizer holds every byte)
    prefix = weight_prefix(parse_condition_weights(res["served_weights"]), "byte")
    assert len(lines) == 2 and all(x["prompt"].startswith(prefix + "Q: ") for x in lines)
