"""Foreign formats (TRL, Anthropic HH, QA-Feedback of fine-grained RLHF) read as records, on hand-made fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from langrl.errors import InputError
from langrl.feedback import (Comparison, Ranking, Rating, SpanFeedback, detect_format, preferences_to_tiers,
                             read_feedback, read_rows, write_feedback)

DATA = Path(__file__).parent / "data"
QA = DATA / "qa_feedback_tiny.json"  # hand-made, in the shape of allenai/FineGrainedRLHF tasks/qa_feedback/data


def _jsonl(tmp_path, rows, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------------------------------------ TRL
def test_trl_standard_conversational_implicit_and_unpaired(tmp_path):
    user = {"role": "user", "content": "What color is the sky?"}
    rows = [
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "margin": 1.5, "source": "x"},
        {"prompt": [user], "chosen": [{"role": "assistant", "content": "Blue."}],
         "rejected": [{"role": "assistant", "content": "Green."}]},
        {"chosen": [user, {"role": "assistant", "content": "Blue."}],
         "rejected": [user, {"role": "assistant", "content": "Green."}]},
        {"prompt": "The sky is", "completion": " blue.", "label": True},
        {"prompt": [user], "completion": [{"role": "assistant", "content": "Green."}], "label": False},
    ]
    assert [detect_format(r) for r in rows] == ["langrl", "trl", "trl", "trl", "trl"]
    fb = read_feedback(_jsonl(tmp_path, rows), fmt="trl")
    assert fb.records == [
        Comparison("The sky is", " blue.", " green.", margin=1.5, extra={"source": "x"}),
        Comparison([user], "Blue.", "Green."),
        Comparison([user], "Blue.", "Green."),
        Rating("The sky is", " blue.", True),
        Rating([user], "Green.", False),
    ]
    assert read_feedback(_jsonl(tmp_path, rows)).records == fb.records  # fmt="auto" tells each row's format
    write_feedback(tmp_path / "out.jsonl", fb)
    assert read_feedback(tmp_path / "out.jsonl").records == fb.records


@pytest.mark.parametrize("row,field,words", [
    ({"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}],
      "rejected": "c"}, "chosen", "one assistant message, got 2"),
    ({"prompt": "p", "completion": "c", "label": 1}, "label", "true or false"),
    ({"prompt": "p", "completion": "", "label": True}, "completion", "non-empty"),
    ({"chosen": [{"role": "user", "content": "a"}], "rejected": [{"role": "user", "content": "b"}]},
     "prompt", "share no leading messages"),
])
def test_trl_errors_name_the_trl_column(tmp_path, row, field, words):
    with pytest.raises(InputError, match=rf"in.jsonl:1: field '{field}': .*{words}"):
        read_feedback(_jsonl(tmp_path, [row]), fmt="trl")


def test_trl_unpaired_row_is_not_a_comparison(tmp_path):
    path = _jsonl(tmp_path, [{"prompt": "p", "completion": "c", "label": True}])
    with pytest.raises(InputError, match="in.jsonl:1: holds rating feedback, expected comparison feedback"):
        read_feedback(path, fmt="trl", kind="comparison")


# ------------------------------------------------------------------------------------------------------------- HH
HH_PROMPT = "\n\nHuman: Hi, can you help?\n\nAssistant: Sure.\n\nHuman: What is 2+2?\n\nAssistant:"


def test_hh_dialogues_split_into_shared_prompt_and_final_replies(tmp_path):
    row = {"chosen": HH_PROMPT + " It is 4.", "rejected": HH_PROMPT + " It is 5, obviously."}
    assert detect_format(row) == "hh"
    (rec,) = read_feedback(_jsonl(tmp_path, [row])).records
    assert rec == Comparison(HH_PROMPT, " It is 4.", " It is 5, obviously.")
    assert rec.prompt + rec.chosen == row["chosen"] and rec.prompt + rec.rejected == row["rejected"]


@pytest.mark.parametrize("row,field,words", [
    ({"chosen": HH_PROMPT + " 4", "rejected": HH_PROMPT.replace("Sure", "OK") + " 5"}, "rejected", "same dialogue"),
    ({"chosen": "\n\nHuman: hi", "rejected": HH_PROMPT + " 5"}, "chosen", "last turn is '\\\\n\\\\nAssistant:'"),
    ({"chosen": HH_PROMPT + " 4\n\nHuman: ok?", "rejected": HH_PROMPT + " 5"}, "chosen", "last turn is"),
    ({"chosen": HH_PROMPT + " ", "rejected": HH_PROMPT + " 5"}, "chosen", "non-empty"),
    ({"prompt": "p", "chosen": HH_PROMPT + " 4", "rejected": HH_PROMPT + " 5"}, "prompt", "without a prompt"),
])
def test_hh_errors(tmp_path, row, field, words):
    with pytest.raises(InputError, match=rf"in.jsonl:1: field '{field}': .*{words}"):
        read_feedback(_jsonl(tmp_path, [row]), fmt="hh")


# ---------------------------------------------------------------------------------------------------- QA-Feedback
def test_qa_feedback_gives_span_feedback_and_six_comparisons_per_example():
    fb = read_feedback(QA)  # fmt="auto" recognises the QA-Feedback fields
    assert fb.by_kind() == {"comparison": 12, "spans": 2}
    spans, *pairs = fb.records[:7]
    assert isinstance(spans, SpanFeedback) and spans.prompt == "When was the Eiffel Tower built?"
    assert [(s.text(spans.response), s.category, s.extra) for s in spans.spans] == [
        ("It is painted red.", "wrong-grounding", {"explanation": "passage 1, sentence 1"}),
        ("It was designed by a famous architect.", "irrelevant", {})]  # empty explanation dropped
    # missing-info {passage_id: 2, sentence_id: [2]} is passages[1][2] (ids are 1-based, passages[k][0] is the title)
    assert spans.missing == ["It was the entrance arch to the 1889 World's Fair."]
    assert spans.extra["missing_info"][0]["error type"] == "Missing-Major-Auxiliary"
    assert spans.corrected.startswith("The Eiffel Tower was built from 1887 to 1889 as")
    assert spans.extra["gold"] and len(spans.extra["passages"]) == 2
    # preference [2, 1, 0, 1, 1, 2] over pairs 1v2 1v3 1v4 2v3 2v4 3v4 (1: first wins, 2: second wins, 0: tie)
    got = [(p.extra["pair"], p.tie, p.chosen[:12], p.rejected[:12]) for p in pairs]
    pred = {k: json.loads(QA.read_text())[0][f"prediction {k}"][:12] for k in (1, 2, 3, 4)}
    assert got == [([0, 1], False, pred[2], pred[1]), ([0, 2], False, pred[1], pred[3]),
                   ([0, 3], True, pred[1], pred[4]), ([1, 2], False, pred[2], pred[3]),
                   ([1, 3], False, pred[2], pred[4]), ([2, 3], False, pred[4], pred[3])]
    second = fb.records[7]
    assert isinstance(second, SpanFeedback) and second.spans == [] and second.corrected is None  # "" -> no correction


def test_qa_feedback_as_rankings_and_as_spans_only():
    ranks = read_feedback(QA, fmt="qa-feedback", kind="ranking").records
    # example 1: 2 > 1, 1 > 3, 1 = 4, 2 > 3, 2 > 4, 4 > 3  ->  2 > 1 = 4 > 3  ->  [[1], [0, 3], [2]]
    # example 2: 1 beats all, 2 = 3, 2 > 4, 3 > 4          ->  1 > 2 = 3 > 4  ->  [[0], [1, 2], [3]]
    assert [r.tiers for r in ranks] == [[[1], [0, 3], [2]], [[0], [1, 2], [3]]]
    assert all(isinstance(r, Ranking) and len(r.responses) == 4 for r in ranks)
    only_spans = read_feedback(QA, fmt="qa-feedback", kind="spans")
    assert only_spans.by_kind() == {"spans": 2}


def test_preferences_to_tiers_rejects_labels_that_fit_no_ranking():
    # the first dev example of QA-Feedback: 1 = 2, 2 = 4 but 4 > 1 (an intransitive tie)
    prefs = [(0, 1, 0), (0, 2, 1), (0, 3, 2), (1, 2, 1), (1, 3, 0), (2, 3, 2)]
    assert preferences_to_tiers(prefs, 4) is None
    assert preferences_to_tiers([(0, 1, 2), (0, 2, 0), (1, 2, 1)], 3) == [[1], [0, 2]]
    assert preferences_to_tiers([(0, 1, 1), (0, 2, 2), (1, 2, 1)], 3) is None  # a cycle 1 > 2 > 3 > 1


def test_qa_feedback_errors_name_the_element_line_and_source_field(tmp_path):
    examples = json.loads(QA.read_text())
    bad_pref = dict(examples[0], preference=[0, 1, 2, 1, 0, 2])
    bad_span = json.loads(json.dumps(examples[1]))
    bad_span["feedback"]["errors"] = [{"error type": "Irrelevant", "start": 5, "end": 500}]
    bad_missing = json.loads(json.dumps(examples[0]))
    bad_missing["feedback"]["missing-info"][0]["sentence_id"] = [9]
    path = tmp_path / "qa.json"
    path.write_text(json.dumps([bad_pref, bad_span, bad_missing, examples[1]], indent=1))
    starts = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line == " {"]
    with pytest.raises(InputError, match=rf"qa.json:{starts[1]}: field 'feedback.errors\[0\]': span 5..500 is outside"):
        read_feedback(path)
    with pytest.raises(InputError, match=rf"qa.json:{starts[0]}: field 'preference': .*fit no ranking"):
        read_feedback(path, kind="ranking")
    fb = read_feedback(path, on_error="skip")
    assert [line for line, _ in fb.skipped] == starts[1:3]
    assert "field 'feedback.missing-info[0].sentence_id': passage 2 has sentences 1..2, got 9" in fb.skipped[1][1]
    assert fb.by_kind() == {"comparison": 12, "spans": 2}
    assert [json.loads(x)["question"] for x in (tmp_path / "qa.rejects.jsonl").read_text().splitlines()] == [
        examples[1]["question"], examples[0]["question"]]


def test_qa_feedback_records_round_trip_through_langrl_jsonl(tmp_path):
    fb = read_feedback(QA)
    write_feedback(tmp_path / "fb.jsonl", fb)
    again = read_feedback(tmp_path / "fb.jsonl", fmt="langrl")
    assert again.records == fb.records


def test_qa_feedback_rows_in_memory():
    fb = read_rows(json.loads(QA.read_text()), fmt="qa-feedback", kind="comparison", source="qa")
    assert len(fb) == 12 and all(r.kind == "comparison" for r in fb)
    with pytest.raises(InputError, match="qa:1: QA-Feedback holds span feedback and preferences, not rating"):
        read_rows(json.loads(QA.read_text()), fmt="qa-feedback", kind="rating", source="qa")
