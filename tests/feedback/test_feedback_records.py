"""Each feedback kind reads, validates and round-trips (dict -> record -> dict; file -> records -> file -> records)."""
from __future__ import annotations

import json

import pytest

from langrl.feedback import (Comparison, Critique, Ranking, Rating, Span, SpanFeedback, default_labels, detect_kind,
                             format_ranking, parse_ranking_string, read_feedback, read_rows, record_from_dict,
                             write_feedback)

RESPONSE = "Paris is the capital of Germany. It has 2 million people."
#           0         1         2         3         4         5
#           0123456789012345678901234567890123456789012345678901234567
# "Germany" = RESPONSE[24:31]; "It has 2 million people." = RESPONSE[33:57]

CANONICAL = {
    "rating": {"prompt": "Capital of France?", "response": "Paris.", "rating": 1},
    "comparison": {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon.", "margin": 2.0},
    "tie": {"prompt": "Capital of France?", "responses": ["Paris.", "It is Paris."], "tie": True},
    "ranking": {"prompt": "p", "responses": ["a", "b", "c", "d"], "ranking": [[1], [2, 3], [0]]},
    "human ranking": {"prompt": "p", "responses": ["a", "b", "c", "d"], "ranking": "B > C = D > A",
                      "labels": ["A", "B", "C", "D"]},
    "spans": {"prompt": "Capital of France?", "response": RESPONSE,
              "spans": [{"start": 24, "end": 31, "category": "untruthful"},
                        {"start": 33, "end": 57, "category": "irrelevant", "note": "not asked"}],
              "missing": ["that Paris is in France"], "corrected": "Paris is the capital of France."},
    "critique": {"prompt": "2+2?", "response": "5", "critique": "Wrong sum.", "refinement": "4"},
}
KIND_OF = {"rating": "rating", "comparison": "comparison", "tie": "comparison", "ranking": "ranking",
           "human ranking": "ranking", "spans": "spans", "critique": "critique"}


@pytest.mark.parametrize("name", list(CANONICAL))
def test_canonical_dict_round_trips_and_kind_is_detected(name):
    d = CANONICAL[name]
    rec = record_from_dict(d)
    assert rec.kind == KIND_OF[name] == detect_kind(d)
    assert rec.to_dict() == d
    assert list(rec.to_dict()) == list(d)  # canonical field order


def test_records_hold_the_parsed_values():
    r = record_from_dict(CANONICAL["human ranking"])
    assert r == Ranking("p", ["a", "b", "c", "d"], [[1], [2, 3], [0]], labels=["A", "B", "C", "D"])
    s = record_from_dict(CANONICAL["spans"])
    assert [sp.text(s.response) for sp in s.spans] == ["Germany", "It has 2 million people."]
    assert s.spans[1] == Span(33, 57, "irrelevant", extra={"note": "not asked"})
    t = record_from_dict(CANONICAL["tie"])
    assert (t.tie, t.chosen, t.rejected, t.margin) == (True, "Paris.", "It is Paris.", None)


def test_rating_score_for_booleans_and_grades():
    assert [Rating("p", "r", v).score for v in (True, False, -1, 4.5)] == [1.0, -1.0, -1.0, 4.5]


def test_every_kind_round_trips_through_a_file_with_extra_fields(tmp_path):
    rows = [dict(d, id=f"r{i}", annotator="ann-3", meta={"batch": i}) for i, d in enumerate(CANONICAL.values())]
    rows.append({"prompt": [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}],
                 "response": "hello", "rating": False})
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = read_feedback(src)
    out = tmp_path / "out.jsonl"
    assert write_feedback(out, first) == len(rows)
    second = read_feedback(out)
    assert second.records == first.records
    # the written lines are the input lines exactly (extras after the record's own fields)
    assert [json.loads(x) for x in out.read_text().splitlines()] == rows
    assert first[0].extra == {"id": "r0", "annotator": "ann-3", "meta": {"batch": 0}}
    assert first.by_kind() == {"rating": 2, "comparison": 2, "ranking": 2, "spans": 1, "critique": 1}


def test_human_ranking_string_is_normalised_to_canonical_spacing(tmp_path):
    d = dict(CANONICAL["human ranking"], ranking=" B>C =D>  A")
    rec = record_from_dict(d)
    assert rec.tiers == [[1], [2, 3], [0]]
    assert rec.to_dict()["ranking"] == "B > C = D > A"
    write_feedback(tmp_path / "r.jsonl", [rec])
    assert read_feedback(tmp_path / "r.jsonl").records == [rec]


def test_tier_order_inside_a_tier_is_kept():
    rec = record_from_dict(dict(CANONICAL["human ranking"], ranking="B > D = C > A"))
    assert rec.tiers == [[1], [3, 2], [0]] and rec.to_dict()["ranking"] == "B > D = C > A"


def test_flat_ranking_list_is_a_strict_order():
    rec = record_from_dict({"prompt": "p", "responses": ["a", "b", "c"], "ranking": [2, 0, 1]})
    assert rec.tiers == [[2], [0], [1]]
    assert rec.to_dict()["ranking"] == [[2], [0], [1]]


def test_tie_given_as_chosen_rejected_is_written_in_responses_form():
    rec = record_from_dict({"prompt": "p", "chosen": "a", "rejected": "b", "tie": True})
    assert rec.tie and rec.to_dict() == {"prompt": "p", "responses": ["a", "b"], "tie": True}


def test_kind_is_written_when_extra_fields_would_make_the_kind_ambiguous(tmp_path):
    rec = Rating("p", "r", 1, extra={"critique": "from another tool"})
    d = rec.to_dict()
    assert d["kind"] == "rating" and list(d)[0] == "kind"
    assert record_from_dict(d) == rec
    write_feedback(tmp_path / "k.jsonl", [rec])
    assert read_feedback(tmp_path / "k.jsonl").records == [rec]


def test_explicit_kind_field_and_argument():
    d = {"kind": "critique", "prompt": "p", "response": "r", "critique": "c", "rating": 3}
    rec = record_from_dict(d)
    assert isinstance(rec, Critique) and rec.extra == {"rating": 3}
    assert isinstance(record_from_dict(CANONICAL["rating"], kind="rating"), Rating)


def test_spans_of_different_categories_may_overlap_and_empty_spans_are_fine():
    rec = record_from_dict({"prompt": "p", "response": "abcdef", "spans": [
        {"start": 0, "end": 4, "category": "irrelevant"}, {"start": 2, "end": 6, "category": "untruthful"}]})
    assert len(rec.spans) == 2
    ok = record_from_dict({"prompt": "p", "response": "fine answer", "spans": []})
    assert ok == SpanFeedback("p", "fine answer")
    # spans touching end-to-start (0..3 then 3..6) do not overlap
    assert len(record_from_dict({"prompt": "p", "response": "abcdef", "spans": [
        {"start": 0, "end": 3, "category": "x"}, {"start": 3, "end": 6, "category": "x"}]}).spans) == 2


def test_parse_and_format_ranking_string():
    labels = ["A", "B", "C", "D"]
    assert parse_ranking_string("B > C = D > A", labels) == [[1], [2, 3], [0]]
    assert format_ranking([[1], [2, 3], [0]], labels) == "B > C = D > A"
    assert format_ranking([[1], [2, 3], [0]]) == "B > C = D > A"  # default labels A, B, C, D
    assert parse_ranking_string("good = fine > bad", ["bad", "fine", "good"]) == [[2, 1], [0]]
    assert default_labels(3) == ["A", "B", "C"] and default_labels(27)[26] == "26"


def test_read_rows_reads_in_memory_rows_like_a_file():
    fb = read_rows([CANONICAL["comparison"], CANONICAL["critique"]])
    assert [r.kind for r in fb] == ["comparison", "critique"] and len(fb) == 2
    assert isinstance(fb[0], Comparison) and fb[0].margin == 2.0
