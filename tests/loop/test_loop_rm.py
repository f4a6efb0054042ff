"""The loop's linear reward model helpers and its claims, with hand-worked numbers."""
from __future__ import annotations

import pytest
import torch

from langrl.loop import claims
from langrl.loop import rm as lrm


def test_round_weights_by_hand():
    rounds = torch.tensor([1.0, 2.0, 3.0, 4.0])
    # at round 4 with half-life 2: ages 3, 2, 1, 0 -> 2^-1.5, 2^-1, 2^-0.5, 1 = 0.353553, 0.5, 0.707107, 1
    w = lrm.round_weights(rounds, 4, half_life=2)
    assert w.tolist() == pytest.approx([0.353553, 0.5, 0.707107, 1.0], abs=1e-6)
    assert lrm.round_weights(rounds, 4, window=2).tolist() == [0, 0, 1, 1]  # the last 2 rounds
    assert lrm.round_weights(rounds, 4, window=1).tolist() == [0, 0, 0, 1]
    assert lrm.round_weights(rounds, 4, reset=3).tolist() == [0, 0, 1, 1]
    assert lrm.round_weights(rounds, 4).tolist() == [1, 1, 1, 1]


def test_order_agrees_and_gold_accuracy_by_hand():
    theta = torch.tensor([1.0, 0.0], dtype=torch.float64)
    lists = torch.tensor([[[2., 0], [1, 0]], [[0., 0], [1, 0]]], dtype=torch.float64)  # right, wrong
    assert lrm.order_agrees(theta, lists) == [True, False]
    xa = torch.tensor([[2., 0], [0, 0], [1, 0]], dtype=torch.float64)
    xb = torch.tensor([[1., 0], [1, 0], [1, 5]], dtype=torch.float64)
    # pair 1: r 2 > 1, gold .9 > .1 right; pair 2: r 0 < 1, gold .9 > .1 wrong; pair 3: gold tie -> left out: 1/2
    assert lrm.gold_accuracy(theta, xa, xb, [.9, .9, .5], [.1, .1, .5]) == 0.5


def _judged(theta, n, seed, rounds):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 3, generator=g, dtype=torch.float64)
    better = (x[:, 0] @ theta) >= (x[:, 1] @ theta)
    lists = torch.where(better[:, None, None], x, x.flip(1))
    return lists, torch.full((n,), float(rounds))


def test_drift_monitor_fires_on_reversed_preferences_only():
    theta = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    old = [_judged(theta, 30, s, r) for s, r in ((0, 1), (1, 2), (2, 3))]
    same = _judged(theta, 30, 3, 4)
    flipped = _judged(-theta, 30, 3, 4)
    for new, alarm in ((same, False), (flipped, True)):
        lists = torch.cat([o[0] for o in old] + [new[0]])
        rounds = torch.cat([o[1] for o in old] + [new[1]])
        res = lrm.drift_monitor(lists, rounds, 4, prior_var=10.0, threshold=0.2, dim=3)
        assert res["alarm"] is alarm and res["acc_old"] > 0.8 and (res["acc_new"] < 0.2) is alarm
        if alarm:
            assert (res["n_new"], res["n_old"]) == (30, 90)  # round 4 against rounds 1-3 (cross-validated)
    # after a reset at 3, round 3 is the older side: round 4 against it
    res = lrm.drift_monitor(lists, rounds, 4, prior_var=10.0, threshold=0.2, dim=3, reset=3)
    assert (res["n_new"], res["n_old"], res["splits"]) == (30, 30, 1) and res["alarm"]


def test_active_saves_labels_by_hand():
    # random ends at 0.80 with 100 labels; eig reaches 0.80 at 60 labels = 60% -> true; at 70 it would be false
    curves = {"random": [(20, .6), (60, .7), (100, .8)], "eig": [(20, .65), (60, .81), (100, .85)],
              "coverage": [(20, .5), (60, .6), (100, .7)]}
    r = claims.active_saves_labels(curves)
    assert r["value"] is True and r["best"] == "eig" and r["labels_needed"] == {"eig": 60, "coverage": None}
    curves["eig"] = [(20, .65), (70, .81)]
    assert claims.active_saves_labels(curves)["value"] is False
    assert claims.active_saves_labels({"eig": [(20, .6)]})["value"] is None


def test_loop_improves_by_hand():
    # differences 0.1, 0.3, 0.2: mean 0.2, sample std 0.1, se 0.1 / sqrt(3) = 0.057735; 0.2 >= 2 * 0.057735
    r = claims.loop_improves([0.5, 0.4, 0.6], [0.6, 0.7, 0.8])
    assert r["paired_difference"] == pytest.approx(0.2) and r["paired_se"] == pytest.approx(0.057735, abs=1e-6)
    assert r["value"] is True
    # differences 0.3, -0.1, 0.1: mean 0.1, se 0.2 / sqrt(3) = 0.11547 -> below twice the se
    assert claims.loop_improves([0.5, 0.5, 0.5], [0.8, 0.4, 0.6])["value"] is False


def test_tracks_drift_decision():
    def rm(r, acc, uni, alarm):
        return {"round": r, "rm_accuracy": acc, "rm_accuracy_uniform": uni, "drift": {"alarm": alarm}}
    rounds = [rm(1, .7, .7, False), rm(2, .3, .3, False), rm(3, .6, .4, True), rm(4, .7, .45, False)]
    r = claims.tracks_drift(rounds, 2)
    assert r["value"] is True and r["rounds_to_alarm"] == 1 and r["false_alarms"] == [] and r["later_alarms"] == []
    assert claims.tracks_drift(rounds, None)["value"] is None
    rounds[2]["drift"]["alarm"] = False
    assert claims.tracks_drift(rounds, 2)["value"] is False  # never noticed


def test_drift_monitor_refits_from_the_changed_round_and_scores_old_rounds_by_cross_validation():
    theta = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    parts = [_judged(theta, 20, s, r) for s, r in ((0, 1), (1, 2), (2, 3))] + [_judged(-theta, 20, 3, 4)]
    lists, rounds = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    res = lrm.drift_monitor(lists, rounds, 4, prior_var=10.0, threshold=0.2, dim=3)
    # candidates from round 4 (new: round 4's 20, old: rounds 1-3's 60 in 5 folds) and from round 3 (40 vs 40)
    assert res["splits"] == 2 and res["alarm"] and res["change"] == 4
    assert (res["n_new"], res["n_old"]) == (20, 60) and res["acc_old"] > 0.8 and res["acc_new"] < 0.2
    # already the second round is checked: round 1's judgements, cross-validated, against round 2's
    res = lrm.drift_monitor(lists[:40], rounds[:40], 2, prior_var=10.0, threshold=0.2, dim=3)
    assert (res["splits"], res["n_new"], res["n_old"], res["alarm"]) == (1, 20, 20, False)
    # only round 4 is live after a reset at 4: nothing older to compare with, no check
    res = lrm.drift_monitor(lists, rounds, 4, prior_var=10.0, threshold=0.2, dim=3, reset=4)
    assert res["change"] is None and res["alarm"] is False
