"""The optional `time` field of feedback records, recency weights, the sliding window and the drift monitor."""
from __future__ import annotations

import json

import pytest

from langrl.errors import InputError
from langrl.feedback import read_feedback, write_feedback
from langrl.feedback.timing import (combined_weights, drift_check, format_time, parse_time, recency_weights,
                                    record_time, record_times, window_weights)


def test_time_field_is_read_in_both_forms_and_round_trips(tmp_path):
    path = tmp_path / "fb.jsonl"
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", "time": "2026-12-01T14:00:00Z"},
            {"prompt": "p", "response": "a", "rating": 1, "time": 1796133600},
            {"prompt": "p", "response": "a", "rating": 1, "time": "2026-12-01T14:00:00"}]  # no offset: UTC
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fb = read_feedback(path)
    # 2026-12-01T14:00:00Z = 1796133600 epoch seconds
    assert [record_time(r) for r in fb] == [1796133600.0] * 3
    write_feedback(tmp_path / "out.jsonl", fb.records)
    assert [json.loads(l)["time"] for l in (tmp_path / "out.jsonl").read_text().splitlines()] == \
        ["2026-12-01T14:00:00Z", 1796133600, "2026-12-01T14:00:00"]
    assert parse_time(format_time(1796133600.0)) == 1796133600.0


@pytest.mark.parametrize("value", ["yesterday", True, -5, [1], "2026-13-01T00:00:00"])
def test_bad_time_names_path_line_and_field(tmp_path, value):
    path = tmp_path / "fb.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n"
                    + json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "time": value}) + "\n")
    with pytest.raises(InputError, match=r"fb\.jsonl:2: field 'time': expected"):
        read_feedback(path)
    fb = read_feedback(path, on_error="skip")
    assert len(fb) == 1 and fb.skipped[0][0] == 2


def test_record_times_needs_every_record_to_have_one(tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "time": 5}) + "\n"
                    + json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(InputError, match=r"x:2: field 'time': missing"):
        record_times(read_feedback(path).records, path="x")


def test_recency_and_window_weights_by_hand():
    # ages 20, 10, 0 with half-life 10: 2^-2, 2^-1, 2^0
    assert recency_weights([0, 10, 20], 10) == [0.25, 0.5, 1.0]
    assert recency_weights([0, 10], 10, now=30) == [0.125, 0.25]
    assert window_weights([0, 10, 20], 10) == [0.0, 1.0, 1.0]  # age 10 is inside a window of 10
    assert combined_weights([0, 10, 20], half_life=10, window=10) == [0.0, 0.5, 1.0]
    assert combined_weights([0, 10], ) == [1.0, 1.0]
    with pytest.raises(ValueError):
        recency_weights([1], 0)


def test_drift_check_fires_only_past_the_threshold():
    # newest 4 (times 6..9): 1 of 4 right = 0.25; older 6: 5 of 6 right = 0.8333; gap 0.5833
    correct = [True, True, True, True, True, False, False, True, False, False]
    times = list(range(10))
    r = drift_check(correct, times, newest=4, threshold=0.5)
    assert r["alarm"] and r["acc_new"] == 0.25 and r["acc_old"] == pytest.approx(5 / 6)
    assert r["gap"] == pytest.approx(0.583333, abs=1e-6)
    assert not drift_check(correct, times, newest=4, threshold=0.6)["alarm"]
    # no older judgements: no alarm
    assert not drift_check(correct[:3], times[:3], newest=4, threshold=0.0)["alarm"]


def test_drift_check_with_a_standard_error_bar():
    # new 7/13 = 0.538462, old 10/12 = 0.833333, gap 0.294872;
    # se = sqrt(0.538462*0.461538/13 + 0.833333*0.166667/12) = sqrt(0.019117 + 0.011574) = 0.175189; z = 1.683168
    correct = [True] * 10 + [False] * 2 + [True] * 7 + [False] * 6
    times = [1] * 12 + [2] * 13
    r = drift_check(correct, times, newest=13, threshold=0.25)
    assert r["alarm"] and r["z"] == pytest.approx(1.683168, abs=1e-5)
    assert not drift_check(correct, times, newest=13, threshold=0.25, z=2.0)["alarm"]
    assert drift_check(correct, times, newest=13, threshold=0.25, z=1.5)["alarm"]
