"""Every rejected record names path:line: field and what was expected; skipping writes bad lines to a rejects file."""
from __future__ import annotations

import json

import pytest

from langrl.errors import InputError
from langrl.feedback import Comparison, Rating, read_feedback, record_from_dict, write_feedback

GOOD = json.dumps({"prompt": "p", "response": "r", "rating": 1})

# (name, the bad line as raw text or a dict, field named in the error or None, words the message must hold)
CASES = [
    ("unknown kind", {"prompt": "p", "response": "r"}, None, "unknown feedback kind"),
    ("ambiguous kind", {"prompt": "p", "response": "r", "rating": 1, "critique": "c"}, None, "ambiguous"),
    ("unknown kind field", {"kind": "vote", "prompt": "p"}, "kind", "expected one of rating, comparison"),
    ("missing field", {"prompt": "p", "chosen": "a"}, "rejected", "missing"),
    ("missing prompt", {"response": "r", "rating": 1}, "prompt", "missing"),
    ("wrong rating type", {"prompt": "p", "response": "r", "rating": "good"}, "rating", "true/false or a number"),
    ("NaN rating", '{"prompt": "p", "response": "r", "rating": NaN}', "rating", "finite"),
    ("empty response", {"prompt": "p", "response": "  ", "rating": 1}, "response", "non-empty string"),
    ("response not a string", {"prompt": "p", "response": ["r"], "rating": 1}, "response", "expected a string"),
    ("prompt wrong type", {"prompt": 5, "response": "r", "rating": 1}, "prompt", "list of {role, content}"),
    ("message without content", {"prompt": [{"role": "user"}], "response": "r", "rating": 1},
     "prompt[0].content", "missing"),
    ("NaN margin", '{"prompt": "p", "chosen": "a", "rejected": "b", "margin": NaN}', "margin", "finite"),
    ("inf margin", '{"prompt": "p", "chosen": "a", "rejected": "b", "margin": Infinity}', "margin", "finite"),
    ("negative margin", {"prompt": "p", "chosen": "a", "rejected": "b", "margin": -1}, "margin", ">= 0"),
    ("margin on a tie", {"prompt": "p", "responses": ["a", "b"], "tie": True, "margin": 1}, "margin", "tie"),
    ("pair without tie", {"prompt": "p", "responses": ["a", "b"], "tie": False}, "tie", "expected true"),
    ("tie of three", {"prompt": "p", "responses": ["a", "b", "c"], "tie": True}, "responses", "exactly 2"),
    ("repeated index", {"prompt": "p", "responses": ["a", "b", "c"], "ranking": [[0], [0, 1]]},
     "ranking[1][0]", "repeated"),
    ("index out of range", {"prompt": "p", "responses": ["a", "b", "c"], "ranking": [[0], [3], [1, 2]]},
     "ranking[1][0]", "0..2"),
    ("index not an integer", {"prompt": "p", "responses": ["a", "b"], "ranking": [[0], [True]]},
     "ranking[1][0]", "integer"),
    ("ranking not covering", {"prompt": "p", "responses": ["a", "b", "c"], "ranking": [[0], [1]]},
     "ranking", "index 2 not ranked"),
    ("empty tier", {"prompt": "p", "responses": ["a", "b"], "ranking": [[0, 1], []]}, "ranking[1]", "non-empty"),
    ("one response", {"prompt": "p", "responses": ["a"], "ranking": [[0]]}, "responses", "at least 2"),
    ("unknown label", {"prompt": "p", "responses": ["a", "b"], "ranking": "A > E", "labels": ["A", "B"]},
     "ranking", "not one of the labels A, B"),
    ("label left out", {"prompt": "p", "responses": ["a", "b", "c"], "ranking": "A > B", "labels": ["A", "B", "C"]},
     "ranking", "label C not ranked"),
    ("label twice", {"prompt": "p", "responses": ["a", "b"], "ranking": "A > A = B", "labels": ["A", "B"]},
     "ranking", "twice"),
    ("label count", {"prompt": "p", "responses": ["a", "b", "c"], "ranking": "A > B", "labels": ["A", "B"]},
     "labels", "expected 3 labels"),
    ("string without labels", {"prompt": "p", "responses": ["a", "b"], "ranking": "A > B"}, "labels", "missing"),
    ("span outside", {"prompt": "p", "response": "short", "spans": [{"start": 2, "end": 9, "category": "x"}]},
     "spans[0]", "outside the response (length 5)"),
    ("span start >= end", {"prompt": "p", "response": "short", "spans": [{"start": 3, "end": 3, "category": "x"}]},
     "spans[0]", "start < end"),
    ("negative start", {"prompt": "p", "response": "short", "spans": [{"start": -1, "end": 3, "category": "x"}]},
     "spans[0]", "outside"),
    ("overlapping spans", {"prompt": "p", "response": "abcdefgh", "spans": [
        {"start": 0, "end": 4, "category": "irrelevant"}, {"start": 6, "end": 8, "category": "irrelevant"},
        {"start": 3, "end": 5, "category": "irrelevant"}]}, "spans[2]", "overlaps spans[0]"),
    ("category not a string", {"prompt": "p", "response": "abc", "spans": [{"start": 0, "end": 1, "category": 3}]},
     "spans[0].category", "non-empty string"),
    ("span offset float", {"prompt": "p", "response": "abc", "spans": [{"start": 0.0, "end": 1, "category": "x"}]},
     "spans[0].start", "integer"),
    ("missing not a list", {"prompt": "p", "response": "abc", "missing": "dates"}, "missing", "list of strings"),
    ("empty corrected", {"prompt": "p", "response": "abc", "corrected": ""}, "corrected", "non-empty"),
    ("empty critique", {"prompt": "p", "response": "r", "critique": ""}, "critique", "non-empty"),
    ("unparsable JSON", '{"prompt": "p", "response": ', None, "invalid JSON"),
    ("not an object", "[1, 2]", None, "expected a JSON object"),
]


@pytest.mark.parametrize("name,bad,field,words", CASES, ids=[c[0] for c in CASES])
def test_bad_line_fails_with_path_line_field(tmp_path, name, bad, field, words):
    path = tmp_path / "fb.jsonl"
    raw = bad if isinstance(bad, str) else json.dumps(bad)
    path.write_text(GOOD + "\n\n" + raw + "\n" + GOOD + "\n")  # the blank line 2 is skipped silently; bad is line 3
    with pytest.raises(InputError) as err:
        read_feedback(path)
    prefix = f"{path}:3: " + (f"field '{field}': " if field else "")
    assert str(err.value).startswith(prefix), str(err.value)
    assert words in str(err.value)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 3, field)


def test_forced_kind_reports_the_missing_field(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(InputError, match=r"fb.jsonl:1: field 'response': missing"):
        read_feedback(path, kind="rating")


def test_skip_mode_keeps_good_lines_and_writes_rejects(tmp_path):
    path = tmp_path / "fb.jsonl"
    bad1 = '{"prompt": "p", "response": "r", "rating": NaN}'
    bad2 = "not json at all"
    bad3 = '{"prompt": "p", "response": "r", "rating": Infinity}'
    path.write_text("\n".join([GOOD, bad1, "", bad2, GOOD, "   ", bad3]) + "\n")
    fb = read_feedback(path, on_error="skip")
    assert len(fb) == 2 and fb.by_kind() == {"rating": 2}
    assert [line for line, _ in fb.skipped] == [2, 4, 7]
    assert fb.skipped[0][1] == "field 'rating': expected a finite number, got NaN"
    rejects = tmp_path / "fb.rejects.jsonl"
    assert fb.rejects_path == str(rejects)
    assert rejects.read_text().splitlines() == [bad1, bad2, bad3]
    summary = fb.summary()
    assert "2 records (rating 2)" in summary and "skipped 3 bad line(s)" in summary and str(rejects) in summary
    assert "2x field 'rating': expected a finite number (first at line 2)" in summary
    assert "1x invalid JSON (first at line 4)" in summary


def test_skip_mode_with_an_explicit_rejects_path_and_no_rejects(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(GOOD + "\n")
    fb = read_feedback(path, on_error="skip", rejects_path=tmp_path / "bad.jsonl")
    assert fb.skipped == [] and fb.rejects_path is None and not (tmp_path / "bad.jsonl").exists()
    assert fb.summary() == f"{path}: 1 records (rating 1)"


def test_bad_options_and_missing_file(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(GOOD + "\n")
    with pytest.raises(InputError, match="field 'fmt': expected one of auto, langrl"):
        read_feedback(path, fmt="csv")
    with pytest.raises(InputError, match="field 'on_error'"):
        read_feedback(path, on_error="ignore")
    with pytest.raises(InputError, match="field 'kind'"):
        read_feedback(path, kind="vote")
    with pytest.raises(InputError, match="no such file"):
        read_feedback(tmp_path / "nope.jsonl")


def test_json_list_file_reports_the_line_each_record_starts_on(tmp_path):
    path = tmp_path / "fb.json"
    path.write_text('[\n  {"prompt": "p", "response": "r", "rating": 1},\n  {\n    "prompt": "p",\n'
                    '    "response": "",\n    "rating": 1\n  }\n]\n')
    with pytest.raises(InputError, match=r"fb.json:3: field 'response': expected a non-empty string"):
        read_feedback(path)
    fb = read_feedback(path, on_error="skip")
    assert len(fb) == 1 and fb.skipped[0][0] == 3
    assert json.loads((tmp_path / "fb.rejects.jsonl").read_text()) == {"prompt": "p", "response": "", "rating": 1}


def test_broken_json_list_always_fails(tmp_path):
    path = tmp_path / "fb.json"
    path.write_text('[\n  {"prompt": "p", "response": "r", "rating": 1}\n  {"prompt": "q"}\n]\n')
    with pytest.raises(InputError, match=r"fb.json:3: invalid JSON \(expected ',' or '\]'"):
        read_feedback(path, on_error="skip")


def test_write_refuses_a_record_that_would_not_read_back(tmp_path):
    good, bad = Rating("p", "r", 1), Rating("p", "r", float("nan"))
    with pytest.raises(InputError, match=r"out.jsonl:2: field 'rating': expected a finite number"):
        write_feedback(tmp_path / "out.jsonl", [good, bad])
    assert not (tmp_path / "out.jsonl").exists()


def test_record_from_dict_names_the_place_it_is_given():
    with pytest.raises(InputError, match=r"^app:7: field 'chosen': missing"):
        record_from_dict({"prompt": "p", "rejected": "b"}, path="app", line=7)


def test_write_refuses_a_margin_on_a_tie(tmp_path):
    with pytest.raises(InputError, match=r"out.jsonl:1: field 'margin': expected no margin on a tie"):
        write_feedback(tmp_path / "out.jsonl", [Comparison("p", "a", "b", margin=1.0, tie=True)])


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"prompt": "\xff\xfe"}\n')
    with pytest.raises(InputError, match="fb.jsonl:2: expected UTF-8 text"):  # the line of the bad bytes
        read_feedback(path)


def test_empty_json_list_and_empty_file(tmp_path):
    (tmp_path / "a.json").write_text("[ ]\n")
    (tmp_path / "b.jsonl").write_text("\n\n")
    assert len(read_feedback(tmp_path / "a.json")) == 0 and len(read_feedback(tmp_path / "b.jsonl")) == 0
