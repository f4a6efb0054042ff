"""``langrl reward list|score``: in-process and as a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from langrl.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")
RECORDS = [
    {"prompt": "Translate: le chat", "response": "the cat sat on the mat", "reference": "the cat is on the mat",
     "answer": "7"},
    {"prompt": "Add 3 + 4", "response": "The answer is 7.", "reference": "seven", "answer": "7"},
]


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_reward_list_shows_every_builtin_with_params(capsys):
    assert main(["reward", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("bleu", "rouge", "bertscore", "python-tests", "json-schema", "classifier"):
        assert f"\n{name} " in "\n" + out
    assert "type='rougeL'" in out and "path (str, required)" in out and "weight=" in out
    assert main(["reward", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    rouge = next(r for r in listed["rewards"] if r["name"] == "rouge")
    assert rouge["params"]["type"] == {"default": "rougeL", "required": False, "type": "str"}


def test_reward_score_json(data, capsys):
    argv = ["reward", "score", "--reward", "bleu", "--reward", "math:weight=10", "--data", str(data), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objectives"] == ["bleu", "math", "total"]
    bleu0 = sacrebleu.sentence_bleu(RECORDS[0]["response"], [RECORDS[0]["reference"]]).score
    bleu1 = sacrebleu.sentence_bleu(RECORDS[1]["response"], [RECORDS[1]["reference"]]).score
    # record 0: no number → math 0, total = bleu0 ; record 1: 7 == 7 → math 1, total = bleu1 + 10
    assert out["scores"][0] == pytest.approx([bleu0, 0.0, bleu0], abs=1e-4)
    assert out["scores"][1] == pytest.approx([bleu1, 1.0, bleu1 + 10], abs=1e-4)
    assert out["mean"]["math"] == 0.5
    assert out["mean"]["total"] == pytest.approx((bleu0 + bleu1 + 10) / 2, abs=1e-3)


def test_reward_score_errors_name_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"response": "x", "answer": "1"}) + "\n" + json.dumps({"response": "y"}) + "\n")
    assert main(["reward", "score", "--reward", "math", "--data", str(bad)]) == 2
    assert f"{bad}:2: field 'answer': column missing here but present on line 1" in capsys.readouterr().err
    bad.write_text(json.dumps({"response": "x", "answer": "1"}) + "\n" + json.dumps({"response": "y", "answer": "z"}))
    assert main(["reward", "score", "--reward", "math", "--data", str(bad)]) == 2
    assert f"{bad}:2: reward 'math' failed on sample 1" in capsys.readouterr().err
    assert main(["reward", "score", "--reward", "nope", "--data", str(bad)]) == 2
    assert "unknown reward 'nope'" in capsys.readouterr().err
    assert main(["reward", "score", "--data", str(bad)]) == 2
    assert "at least one --reward" in capsys.readouterr().err


def test_reward_score_subprocess(data):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "langrl.cli", "reward", "score", "--reward", "length:unit=words",
                           "--reward", "exact:column=answer", "--data", str(data), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # lengths 6 and 4 words; exact match against "7" fails both: total = length
    assert out["objectives"] == ["length", "exact", "total"]
    assert out["scores"] == [[6.0, 0.0, 6.0], [4.0, 0.0, 4.0]] and out["mean"] == {"length": 5.0, "exact": 0.0,
                                                                                    "total": 5.0}
