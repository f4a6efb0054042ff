"""Reward-hacking alarm and length drift: hand-made evaluation histories."""
import pytest

from langrl.train.rl.hacking import HackingWatch, hacking_alarm, length_drift


def test_alarm_needs_proxy_up_and_held_out_down_across_the_window():
    # window 2: compare the last value with the one two evaluations earlier
    assert hacking_alarm([.1, .2, .3], [.5, .5, .4], window=2)          # proxy .1 -> .3 up, held .5 -> .4 down by .1
    assert not hacking_alarm([.1, .2, .3], [.5, .5, .46], window=2)     # held fell only .04 <= min_drop .05
    assert not hacking_alarm([.3, .2, .2], [.5, .5, .4], window=2)      # proxy fell too: no hacking, just worse
    assert not hacking_alarm([.1, .3], [.5, .4], window=2)              # fewer than window + 1 evaluations
    with pytest.raises(ValueError):
        hacking_alarm([.1], [.1, .2])


def test_length_drift():
    assert length_drift([20.0, 18.0, 10.0]) == pytest.approx(-0.5)  # 10 / 20 - 1
    assert length_drift([]) == 0.0


def test_watch_warns_once_per_episode_and_marks_metrics():
    w = HackingWatch("eval/gold", window=1)
    rows = [{"eval/reward": .2, "eval/gold": .6, "response_length": 20.0},
            {"eval/reward": .5, "eval/gold": .5, "response_length": 19.0},   # proxy up, gold down .1: warn
            {"eval/reward": .7, "eval/gold": .3, "response_length": 12.0},   # still hacking; length 12/20 - 1 = -40%
            {"eval/reward": .6, "eval/gold": .35, "response_length": 12.0},  # cleared (proxy fell)
            {"eval/reward": .9, "eval/gold": .1, "response_length": 12.0}]   # a new episode: warn again
    said = [w.update(i, r) for i, r in enumerate(rows)]
    assert [len(s) for s in said] == [0, 1, 1, 0, 1]
    assert "reward hacking" in said[1][0] and "length drifted -40%" in said[2][0] and "reward hacking" in said[4][0]
    assert [r["eval/hacking"] for r in rows] == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert rows[2]["length_drift"] == pytest.approx(-0.4)
