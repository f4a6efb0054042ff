"""The fine-grained RLHF paper's released QA-Feedback data, read as it is published.

``data/qa_feedback_dev_excerpt.json`` holds 5 real examples of ``tasks/qa_feedback/data/dev_feedback.json`` in
allenai/FineGrainedRLHF (commit a1469d4, Apache-2.0; examples 7, 210, 243, 478 and 489, counting from 1), chosen for
the cases the format has: ``missing-info`` citing ``"sentence_id": 0`` (the passage title: the annotation interface
shows the title as sentence #0), several sentence ids in one item, a Wrong-Grounding explanation citing a passage
sentence, Redundant and Incoherent spans, all-tie and partly-tied preferences, and an empty corrected prediction.
Before, the first example stopped the whole file: ``passage 2 has sentences 1..9, got 0``.
"""
from __future__ import annotations

import json
from pathlib import Path

from langrl.feedback import read_feedback

EXCERPT = Path(__file__).parent / "data" / "qa_feedback_dev_excerpt.json"


def test_the_released_records_read_in_full():
    fb = read_feedback(EXCERPT)
    # 5 examples -> 5 span records (prediction 1) + 5 x 6 pairwise comparisons
    assert fb.by_kind() == {"comparison": 30, "spans": 5} and fb.skipped == []
    spans = fb.of_kind("spans")
    # error spans per example: 4 + 3 + 1 + 1 + 2 = 11; missing-info items: 2 + 0 + 1 + 0 + 1 = 4
    assert [len(r.spans) for r in spans] == [4, 3, 1, 1, 2] and sum(len(r.missing) for r in spans) == 4
    assert [s.category for s in spans[1].spans] == ["wrong-grounding", "redundant", "incoherent"]
    # ties: example 3's labels are all 0 (6 ties), example 4's are [0, 1, 1, 1, 1, 0] (2 ties): 8 of 30
    assert sum(r.tie for r in fb.of_kind("comparison")) == 8
    assert spans[3].corrected is None  # "corrected-prediction": "" is no correction
    tiers = [r.tiers for r in read_feedback(EXCERPT, kind="ranking").records]
    # labels for 1v2 1v3 1v4 2v3 2v4 3v4 (1: first preferred, 2: second, 0: none), worked by hand:
    # [1,1,1,1,1,1]: 1>2>3>4; [2,2,2,2,1,1]: 3>2>4>1; all 0: one tier; [0,1,1,1,1,0]: 1=2 > 3=4; [2,1,1,1,1,1]: 2>1>3>4
    assert tiers == [[[0], [1], [2], [3]], [[2], [1], [3], [0]], [[0, 1, 2, 3]], [[0, 1], [2, 3]],
                     [[1], [0], [2], [3]]]


def test_sentence_id_0_is_the_passage_title():
    ex = json.loads(EXCERPT.read_text())
    spans = read_feedback(EXCERPT, kind="spans").records
    # example 3 ("Who played hook in once upon a time?"): {"passage_id": 1, "sentence_id": [0]} -> the title
    assert ex[2]["feedback"]["missing-info"][0]["sentence_id"] == [0]
    assert spans[2].missing == ["Once Upon a Time (TV series)"]
    # example 1: {"passage_id": 2, "sentence_id": [0, 2]} -> title, then sentence 2, whitespace collapsed
    assert spans[0].missing[0] == "Gone with the Wind (musical) " + " ".join(ex[0]["passages"][1][2].split())
    assert spans[0].extra["missing_info"][0]["error type"] == "Missing-Major-Auxiliary"  # the raw items are kept


def test_wrong_grounding_cites_its_evidence():
    ex = json.loads(EXCERPT.read_text())
    span = read_feedback(EXCERPT, kind="spans").records[0].spans[3]
    # example 1's fourth error: Wrong-Grounding with explanation '{"passage_id":2,"sentence_id":[4]}'
    assert span.category == "wrong-grounding" and span.extra["explanation"] == '{"passage_id":2,"sentence_id":[4]}'
    assert span.extra["evidence"] == " ".join(ex[0]["passages"][1][4].split())


def test_a_really_invalid_example_is_skipped_and_reported(tmp_path):
    ex = json.loads(EXCERPT.read_text())
    ex[1]["feedback"]["missing-info"] = [{"error type": "Missing-Answer", "passage_id": 1, "sentence_id": [99]}]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(ex, indent=4))
    line = path.read_text().splitlines().index("    {", 2) + 1  # the second example's opening brace
    n = len(ex[1]["passages"][0]) - 1
    fb = read_feedback(path, on_error="skip")
    assert fb.by_kind() == {"comparison": 24, "spans": 4}  # the other 4 examples, whole
    report = fb.report()
    assert report.startswith(f"{path}:{line}: field 'feedback.missing-info[0].sentence_id': passage 1 has sentences "
                             f"1..{n}, got 99; expected 0 (its title) to {n}\n")
    assert "skipped 1 bad line(s)" in report
