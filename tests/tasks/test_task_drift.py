"""Simulated annotators whose preferences drift on a schedule (langrl.tasks.drift)."""
from __future__ import annotations

import math

import pytest

from langrl.errors import InputError
from langrl.tasks import get_task
from langrl.tasks.drift import DriftedTask, DriftingAnnotator, DriftSchedule, brevity, drifted_utility


class Table:
    """A stand-in task: the utility of a response is looked up in a table."""

    name = "table"
    rating_threshold = 0.5

    def __init__(self, table):
        self.table = table

    def utility(self, row, response):
        return self.table[response]


def test_schedules_by_hand():
    s = DriftSchedule("switch", at=3, angle=180)
    assert [s.theta(t) for t in (0, 2, 3, 9)] == [0.0, 0.0, math.pi, math.pi]
    assert not s.changed(2) and s.changed(3)
    r = DriftSchedule("rotate", angle=30, limit=90)
    # 30 degrees per round, capped at 90: rounds 1, 2, 5 -> 30, 60, 90 degrees
    assert [round(math.degrees(r.theta(t)), 9) for t in (0, 1, 2, 5)] == [0, 30, 60, 90]
    assert DriftSchedule().theta(7) == 0.0
    with pytest.raises(InputError, match="field 'drift'"):
        DriftSchedule("sometimes")
    with pytest.raises(InputError, match="field 'drift_round'"):
        DriftSchedule("switch", at=0)


def test_drifted_utility_by_hand():
    # theta = 60 degrees: cos = 0.5, sin = 0.866025; g = 0.8, h = 0.2 -> 0.4 + 0.173205 = 0.573205
    assert drifted_utility(0.8, 0.2, math.radians(60)) == pytest.approx(0.573205, abs=1e-6)
    assert drifted_utility(0.8, 0.2, 0.0) == 0.8
    assert drifted_utility(0.8, 0.2, math.pi) == pytest.approx(-0.8)
    assert brevity("a b c d") == pytest.approx(0.9)  # 1 - 4/40


def test_a_switch_reverses_the_annotators_choice():
    task = Table({"good": 0.9, "bad": 0.1})
    ann = DriftingAnnotator(task, 0, DriftSchedule("switch", at=2), flip=0.0, temperature=0.0, tie_margin=0.0)
    row = {"prompt": "p"}
    assert ann.at(1).compare(row, "good", "bad")["chosen"] == "good"
    assert ann.at(2).compare(row, "good", "bad")["chosen"] == "bad"
    assert ann.at(2).rank(row, ["good", "bad"])["ranking"] == [[1], [0]]


def test_rotation_toward_brevity_on_a_real_task():
    task = get_task("reviews")
    row = task.prompts("train", 1, 0)[0]
    short, long = " Great.", " It was great and warm, and the music was lovely, and I would see it again soon."
    d0, d90 = DriftedTask(task, 0.0), DriftedTask(task, math.pi / 2)
    assert d0.utility(row, long) == task.utility(row, long)
    assert d90.utility(row, short) == pytest.approx(brevity(short)) and d90.name == "reviews"
    with pytest.raises(InputError, match="field 'drift_target'"):
        DriftedTask(task, 0.0, "loudness")
    with pytest.raises(InputError, match="unknown noise knob"):
        DriftingAnnotator(task, 0, DriftSchedule(), volume=1)
