"""Verifiable rewards: numeric answers, regex, JSON schema, Python tests."""
from __future__ import annotations

import json
import math

import pytest

from langrl.errors import InputError
from langrl.rewards.verifiable import (JSONSchemaReward, MathReward, PythonTestsReward, RegexReward, extract_answer,
                                       fenced_block, parse_number)


@pytest.mark.parametrize("text,value", [
    ("Natalia sold 48/2 = 24 clips in May.\n#### 72", 72.0),
    ("so the total is \\boxed{1,234}.", 1234.0),
    ("The answer is $5.", 5.0),
    ("She has 5 apples", 5.0),
    ("It costs $1,234.50 in total.", 1234.5),
    ("x = 5.0", 5.0),
    ("the result is -3", -3.0),
    ("\\boxed{\\frac{3}{4}}", 0.75),
    ("\\boxed{x = 12}", 12.0),
    ("about 3/4 of them", 0.75),
    ("50% of people", 50.0),
    ("first 3, then 7, finally 10.", 10.0),
    ("#### 1,000,000", 1e6),
    ("no numbers here", None),
    ("H2O is water", None),
])
def test_extract_answer(text, value):
    assert extract_answer(text) == value


def test_math_reward_compares_with_the_answer_column():
    r = MathReward()
    responses = ["... so she earned \\boxed{10}.", "The answer is 10.0", "#### 1,234", "I think 11", "no idea"]
    answers = ["Weng earns 12/60 = $0.2 per minute.\n#### 10", 10, "1234", "10", "10"]
    out = r(None, responses, answer=answers)
    assert out.scores[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert out.info["reasons"] == [None, None, None, "wrong answer 11 (expected 10)", "no number found"]
    assert MathReward(atol=0.01)(None, ["3.333"], answer=["10/3"]).scores.item() == 1.0  # |3.333 - 3.3333| < 0.01
    with pytest.raises(InputError, match="reward 'math' needs a column 'answer'"):
        r(None, ["1"], reference=["1"])


def test_math_reward_integers_match_exactly():
    r = MathReward()
    # |1450001 - 1450000| = 1 <= atol + rtol * |b| = 1e-9 + 1e-6 * 1450000 = 1.45: the old relative tolerance passed it
    out = r(None, ["#### 1450001", "#### 1,450,000", "#### 1450000.0", "#### 1449999"], answer=["1,450,000"] * 4)
    assert out.scores[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert out.info["reasons"][0] == "wrong answer 1450001 (expected 1450000)"
    # an int column value is an integer reference too, and so is a float that is a whole number
    assert r(None, ["#### 1450001", "#### 7"], answer=[1450000, 7.0]).scores[:, 0].tolist() == [0.0, 1.0]
    # beyond float precision: 2**53 + 1 and 2**53 are the same float, but not the same integer
    assert r(None, [f"#### {2 ** 53 + 1}"], answer=[str(2 ** 53)]).scores.item() == 0.0
    # a non-integer reference keeps the relative tolerance: |2.5000001 - 2.5| = 1e-7 <= 1e-9 + 1e-6 * 2.5 = 2.5e-6
    assert r(None, ["#### 2.5000001", "#### 2.51"], answer=["2.5", "2.5"]).scores[:, 0].tolist() == [1.0, 0.0]


def test_math_reward_bad_answer_names_reward_and_sample():
    from langrl.rewards.protocol import RewardError

    with pytest.raises(RewardError, match=r"reward 'math' failed on sample 1: ValueError: no number"):
        MathReward()(None, ["1", "2"], answer=["1", "two"])


def test_parse_number_ignores_trailing_period_and_units():
    assert parse_number("5.") == 5.0 and parse_number("5 km.") == 5.0 and parse_number("-0.5kg") == -0.5


def test_regex_modes():
    out = RegexReward(r"\d{1,3}", mode="fullmatch")(None, ["123", " 42 \n", "1234", "abc"])
    assert out.scores[:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]  # the response is stripped first
    assert RegexReward(r"answer:", mode="search")(None, ["my answer: 4", "4"]).scores[:, 0].tolist() == [1.0, 0.0]
    assert RegexReward(r"answer", mode="match", ignorecase=True)(None, ["Answer 4"]).scores.item() == 1.0
    with pytest.raises(InputError, match="invalid pattern"):
        RegexReward("(unclosed")


def test_json_schema_reward(tmp_path):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name"]}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    r = JSONSchemaReward(schema=str(path))
    out = r(None, ['{"name": "Ann", "age": 3}', 'Here:\n```json\n{"name": "Bo"}\n```', '{"age": 3}',
                   '{"name": "Ann", "age": "x"}', "not json"])
    assert out.scores[:, 0].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    reasons = out.info["reasons"]
    assert reasons[:2] == [None, None] and "'name' is a required property" in reasons[2]
    assert reasons[3].startswith("schema: age:") and reasons[4].startswith("invalid JSON")
    assert JSONSchemaReward()(None, ["[1, 2]", "{"]).scores[:, 0].tolist() == [1.0, 0.0]  # validity only
    with pytest.raises(InputError, match="schema file not found"):
        JSONSchemaReward(schema=str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"type": 5}')
    with pytest.raises(InputError, match="not a valid JSON schema"):
        JSONSchemaReward(schema=str(tmp_path / "bad.json"))


def test_fenced_block():
    assert fenced_block("a\n```python\nx = 1\n```\nb", ("python",)) == "x = 1\n"
    assert fenced_block("```js\nno\n```\n```\nyes\n```", ("python",)) == "yes\n"
    assert fenced_block("plain", ("python",)) is None


def test_python_tests_reward_fraction_and_reasons():
    r = PythonTestsReward(timeout=2.0, workers=2)
    responses = ["Sure:\n```python\ndef sq(x):\n    return x * x\n```", "def sq(x):\n    return x + x",
                 "def sq(x) return x", "while True: pass", "def sq(x):\n    return x * x"]
    tests = [["assert sq(2) == 4", "assert sq(3) == 9"]] * 4 + [[]]
    out = r(["p"] * 5, responses, tests=tests)
    s = out.scores[:, 0].tolist()
    # sample 1: 2+2 == 4 passes, 3+3 != 9 fails → 1/2; sample 4 has no tests → no score (NaN)
    assert s[:4] == [1.0, 0.5, 0.0, 0.0] and math.isnan(s[4])
    assert out.info["reasons"][:4] == [None, "failed", "syntax_error", "timeout"]
    assert out.info["isolation"] == "bwrap+seccomp+audit"


def test_python_tests_with_prompt_and_setup_columns():
    r = PythonTestsReward(with_prompt=True, extract=False)
    out = r(["def double(x):\n"], ["    return 2 * K * x\n"], tests=["assert double(3) == 6"], setup=["K = 1"])
    assert out.scores.item() == 1.0
    with pytest.raises(InputError, match="tests must be a list of strings"):
        r(["p"], ["x"], tests=[[1]])
