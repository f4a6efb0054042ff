"""The optional `time` field of feedback records, recency weights, the sliding window and the drift monitor."""
from __future__ import annotations

import json

import pytest

from langrl.errors import InputError
from langrl.feedback import read_feedback, write_feedback
from langrl.feedback.timing import (combined_weights, drift_check, drift_test, fisher_lower_p, format_time, parse_time, recency_weights,
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


def test_fisher_lower_p_by_hand():
    # 6 of 12 new right, 9 of 10 old: n 22, k 15; X ~ Hypergeometric(22, 15, 12), X >= 12 - 7 = 5;
    # P(X <= 6) = [C(15,5) C(7,7) + C(15,6) C(7,6)] / C(22,12) = (3003 + 5005 * 7) / 646646 = 38038 / 646646 = 1/17
    assert fisher_lower_p(6, 12, 9, 10) == pytest.approx(1 / 17, abs=1e-12)
    # 0 of 2 against 2 of 2: C(2,0) C(2,2) / C(4,2) = 1/6; all right on both sides: p = 1
    assert fisher_lower_p(0, 2, 2, 2) == pytest.approx(1 / 6)
    assert fisher_lower_p(5, 5, 7, 7) == 1.0
    with pytest.raises(ValueError):
        fisher_lower_p(6, 5, 1, 2)


def test_drift_test_small_counts_do_not_fire():
    # the false alarm of the old monitor on seed 2 (round 3): 9 of 10 older, 6 of 12 new; gap 0.4 > 0.25, and the
    # unpooled z = 0.4 / sqrt(.5 * .5 / 12 + .9 * .1 / 10) = 2.32 passed z 2; Fisher's p = 1/17 = 0.0588 is above
    # alpha 0.05: no alarm. At alpha 0.1 it fires; with a threshold of 0.45 the drop is too small to act on.
    new, old = [True] * 6 + [False] * 6, [True] * 9 + [False]
    r = drift_test([(new, old, 3)], alpha=0.05, threshold=0.25)
    assert not r["alarm"] and r["gap"] == pytest.approx(0.4) and r["p"] == pytest.approx(1 / 17)
    assert (r["splits"], r["change"], r["n_new"], r["n_old"]) == (1, 3, 12, 10)
    assert drift_test([(new, old, 3)], alpha=0.1, threshold=0.25)["alarm"]
    assert not drift_test([(new, old, 3)], alpha=0.1, threshold=0.45)["alarm"]
    # a side with no judgements is no candidate
    assert drift_test([(new, [], 3)], alpha=0.05, threshold=0.25)["change"] is None


def test_drift_test_bonferroni_over_candidate_change_rounds():
    # candidates: from round 3 (new 7/20 vs old 9/10) and from round 4 (new 3/10 vs old 13/20).
    # From 3: n 30, k 16, X >= 20 - 14 = 6: P(X <= 7) = [C(16,6) + C(16,7) C(14,13)] / C(30,20)
    # = (8008 + 11440 * 14) / 30045015 = 168168 / 30045015 = 0.005597, the smaller p (from 4: 0.077).
    # Bonferroni over 2: 2 * 0.005597 = 0.011194 > alpha 0.01 -> no alarm; <= 0.02 -> alarm, refit from round 3
    splits = [([True] * 7 + [False] * 13, [True] * 9 + [False], 3),
              ([True] * 3 + [False] * 7, [True] * 13 + [False] * 7, 4)]
    r = drift_test(splits, alpha=0.01, threshold=0.25)
    assert r["p"] == pytest.approx(168168 / 30045015) and r["change"] == 3 and r["splits"] == 2
    assert (r["n_new"], r["n_old"], r["acc_new"]) == (20, 10, 0.35) and not r["alarm"]
    r = drift_test(splits, alpha=0.02, threshold=0.25)
    assert r["alarm"] and r["change"] == 3
    # the later candidate alone (p 0.077): no alarm at 0.02
    assert not drift_test(splits[1:], alpha=0.02, threshold=0.25)["alarm"]


def test_drift_test_false_alarms_stay_below_alpha_and_a_drop_is_caught():
    # two samples with the same accuracy .75 (36 older, 12 new judgements): over 4,000 seeded checks the test fires
    # in at most alpha = .05 of them (Fisher's test is conservative: 95 of 4,000 here); when the new judgements drop
    # to .25 it fires in most (355 of 400 here)
    import random

    rng = random.Random(0)

    def fires(p_new):
        old = [rng.random() < 0.75 for _ in range(36)]
        new = [rng.random() < p_new for _ in range(12)]
        return drift_test([(new, old, 2)], alpha=0.05, threshold=0.25)["alarm"]

    assert sum(fires(0.75) for _ in range(4000)) / 4000 <= 0.05
    assert sum(fires(0.25) for _ in range(400)) / 400 > 0.8
