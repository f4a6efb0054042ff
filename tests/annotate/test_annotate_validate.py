"""Checking judgements and item files: the stored form of each kind, and a clear message for every mistake."""
from __future__ import annotations

import pytest

from langrl.annotate.validate import FeedbackError, check_envelope, check_feedback, read_items, unit_key
from langrl.errors import InputError

FOUR = ["a", "b", "c", "d"]


def test_comparison_is_stored_in_item_indices():
    # shown pair (3, 1); preferred 0 = the first shown, response 3
    assert check_feedback("comparison", {"indices": [3, 1], "preferred": 0}, FOUR) == ([3, 1], {"chosen": 3,
                                                                                              "rejected": 1})
    assert check_feedback("comparison", {"indices": [3, 1], "preferred": 1}, FOUR)[1] == {"chosen": 1, "rejected": 3}
    assert check_feedback("comparison", {"preferred": "tie"}, ["x", "y"]) == ([0, 1], {"preferred": "tie",
                                                                                       "pair": [0, 1]})
    assert unit_key([3, 1]) == "1,3"  # the same pair shown either way round is one unit


def test_ranking_tiers_are_mapped_through_the_shown_order():
    # shown order [2, 0, 1, 3]; tiers in shown positions [[1], [0, 3], [2]] -> item indices [[0], [2, 3], [1]]
    got = check_feedback("ranking", {"indices": [2, 0, 1, 3], "ranking": [[1], [0, 3], [2]]}, FOUR)
    assert got == ([2, 0, 1, 3], {"ranking": [[0], [2, 3], [1]]})


def test_spans_are_sorted_and_counted_in_code_points():
    text = "Hi 👋 there"  # 10 code points; "there" is 5..10
    _, fields = check_feedback("spans", {"spans": [{"start": 5, "end": 10, "category": "untruthful"},
                                                   {"start": 0, "end": 2, "category": "irrelevant"}],
                                         "missing": ["  a note "], "corrected": ""}, [text])
    assert fields == {"response": 0, "missing": ["a note"], "corrected": None,
                      "spans": [{"start": 0, "end": 2, "category": "irrelevant"},
                                {"start": 5, "end": 10, "category": "untruthful"}]}
    assert text[5:10] == "there"
    # different categories may overlap; the same category may not
    check_feedback("spans", {"spans": [{"start": 0, "end": 4, "category": "irrelevant"},
                                       {"start": 2, "end": 6, "category": "untruthful"}]}, [text])
    with pytest.raises(FeedbackError, match=r"spans of category 'irrelevant' overlap: \[0, 4\) and \[2, 6\)"):
        check_feedback("spans", {"spans": [{"start": 0, "end": 4, "category": "irrelevant"},
                                           {"start": 2, "end": 6, "category": "irrelevant"}]}, [text])


@pytest.mark.parametrize("kind, payload, responses, message", [
    ("comparison", {"preferred": True}, ["x", "y"], "field 'preferred'"),
    ("comparison", {"preferred": 0}, FOUR, "field 'indices': expected 2 response indices (the item has 4"),
    ("comparison", {"preferred": 0, "indices": [0, 4]}, FOUR, "expected distinct indices in 0..3"),
    ("ranking", {"ranking": [[0, 1, 2]]}, FOUR, "expected every index 0..3 exactly once"),
    ("ranking", {"ranking": [[0, 1], []]}, ["x", "y"], "a list of non-empty lists"),
    ("ranking", {"ranking": [[0]]}, ["x"], "at least 2 responses"),
    ("rating", {"rating": 1.0}, ["x"], "field 'rating': expected 1 or -1"),
    ("rating", {"rating": True}, ["x"], "field 'rating': expected 1 or -1"),
    ("spans", {"spans": [{"start": 2, "end": 2, "category": "irrelevant"}]}, ["abc"],
     "field 'spans[0]': expected 0 <= start < end <= 3"),
    ("spans", {"spans": [{"start": 0, "end": 1}]}, ["abc"], "field 'spans[0]': expected {\"start\", \"end\""),
    ("spans", {"missing": ["ok", 3]}, ["abc"], "field 'missing[1]': expected a string"),
    ("spans", {"corrected": 5}, ["abc"], "field 'corrected': expected a string"),
    ("critique", {"critique": ""}, ["abc"], "field 'critique': expected a non-empty string"),
    ("critique", {"critique": "ok", "refinement": "x" * 20_001}, ["abc"], "expected at most 20000 characters"),
])
def test_bad_judgements_name_the_field(kind, payload, responses, message):
    with pytest.raises(FeedbackError) as e:
        check_feedback(kind, payload, responses)
    assert message in str(e.value)


def test_envelope():
    assert check_envelope({"item_id": 7, "kind": "rating", "client_id": "c", "rating": 1, "time_spent_s": 2}) == \
        ("7", "rating", "c", 2.0)
    with pytest.raises(FeedbackError, match="expected one of"):
        check_envelope({"item_id": "a", "kind": "rating", "client_id": "c"}, kinds=("comparison",))
    with pytest.raises(FeedbackError, match=r"unknown field\(s\) \['ratin'\]"):
        check_envelope({"item_id": "a", "kind": "rating", "client_id": "c", "ratin": 1})
    with pytest.raises(FeedbackError, match="field 'time_spent_s'"):
        check_envelope({"item_id": "a", "kind": "rating", "client_id": "c", "time_spent_s": float("nan")})


def test_read_items(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "p", "responses": ["a", "b"]}\n\n{"id": "x", "prompt": "q", "responses": ["c"]}\n')
    assert read_items(str(path)) == [{"id": "1", "prompt": "p", "responses": ["a", "b"]},
                                     {"id": "x", "prompt": "q", "responses": ["c"]}]  # id defaults to the line


@pytest.mark.parametrize("lines, message", [
    (['{"prompt": "p", "responses": []}'], ":1: field 'responses': expected a list of 1..26 response strings"),
    (['{"prompt": "p", "responses": ["a", " "]}'], ":1: field 'responses[1]': expected a non-empty string"),
    (['{"responses": ["a"]}'], ":1: field 'prompt': expected a string, got NoneType"),
    (['{"prompt": "p", "responses": ["a"]}', "{oops"], ":2: expected a JSON object, got invalid JSON"),
    (['["p"]'], ":1: expected a JSON object like"),
    (['{"id": "a", "prompt": "p", "responses": ["a"]}', '{"id": "a", "prompt": "q", "responses": ["b"]}'],
     ":2: field 'id': duplicate id 'a' (first on line 1)"),
    ([""], ": expected at least one item, found none"),
])
def test_bad_item_lines_are_named(tmp_path, lines, message):
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        read_items(str(path))
    assert str(e.value) == f"{path}{message}" or str(e.value).startswith(f"{path}{message}")
