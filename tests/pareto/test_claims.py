"""The population claim's statistics, hand-worked (``langrl.train.pareto.claims``)."""
import math

import pytest

from langrl.train.pareto.claims import paired_difference, population_claim, satisfaction_per_prompt

GROUPS = {"many": {"share": 0.75, "weights": {"helpful": 1.0, "harmless": 0.0}},
          "few": {"share": 0.25, "weights": {"helpful": 0.0, "harmless": 1.0}}}


def label(w):
    return "-".join(f"{v:g}" for v in w.values())


def stage(helpful, harmless):
    return {"gold": {"helpful": sum(helpful) / len(helpful), "harmless": sum(harmless) / len(harmless)},
            "gold_per_prompt": {"helpful": helpful, "harmless": harmless}}


def test_paired_difference_hand_worked():
    # d = [1, 0, 0, 1]: mean 0.5; sample variance 4 · 0.25 / 3 = 1/3; se = √(1/3 / 4) = √(1/12) = 0.288675
    mean, se = paired_difference([1, 0, 1, 1], [0, 0, 1, 0])
    assert mean == pytest.approx(0.5) and se == pytest.approx(math.sqrt(1 / 12))
    assert paired_difference([0.3, 0.3], [0.1, 0.1]) == pytest.approx((0.2, 0.0))
    with pytest.raises(ValueError):
        paired_difference([1.0], [0.0])


def test_satisfaction_per_prompt_normalises_the_weights():
    # w = (3, 1) → (0.75, 0.25): prompt 0: 0.75·1 + 0.25·0 = 0.75; prompt 1: 0.75·0.2 + 0.25·1 = 0.4
    got = satisfaction_per_prompt({"helpful": [1.0, 0.2], "harmless": [0.0, 1.0]}, {"helpful": 3, "harmless": 1})
    assert got == pytest.approx([0.75, 0.4])


def test_the_claim_tests_each_loss_against_its_standard_error():
    results = {"w-1-0": stage([1, 1, 1, 1], [0, 0, 0, 0]), "w-0-1": stage([0, 0, 0, 0], [1, 1, 1, 1]),
               "w-0.75-0.25": stage([1, 0, 1, 1], [0, 0, 0, 1])}
    c = population_claim(GROUPS, results, label)
    many, few = c["groups"]["many"], c["groups"]["few"]
    # many: d = [0, 1, 0, 0], loss 0.25, var (3·0.0625 + 0.5625)/3 = 0.25, se = √(0.25/4) = 0.25: 0.25 ≤ 2·0.25
    assert many["loss"] == pytest.approx(0.25) and many["se"] == pytest.approx(0.25)
    # few: d = [1, 1, 1, 0], loss 0.75, se 0.25: 0.75 > 2·0.25 = 0.5
    assert few["loss"] == pytest.approx(0.75) and few["se"] == pytest.approx(0.25)
    assert c["value"] is True and c["majority"] == "many" and c["averaged_weights"] == {"helpful": 0.75,
                                                                                       "harmless": 0.25}
    assert c["fixed_margin"] == {"margin": 0.02, "value": False}  # the majority's 0.25 > 0.02
    # a minority loss within noise: few's own harmless [1, 0, 1, 1]: d = [1, 0, 1, 0], loss 0.5, se √(1/12) = 0.289,
    # 0.5 ≤ 2·0.289 = 0.577, so the claim is false
    results["w-0-1"] = stage([0, 0, 0, 0], [1, 0, 1, 1])
    c = population_claim(GROUPS, results, label)
    assert c["groups"]["few"]["se"] == pytest.approx(math.sqrt(1 / 12)) and c["value"] is False
    assert population_claim(GROUPS, results, label, z=1.0)["value"] is True  # 0.5 > 0.289 and 0.25 ≤ 0.25


def test_without_per_prompt_scores_the_fixed_margin_decides():
    results = {n: {"gold": s["gold"]} for n, s in {
        "w-1-0": stage([1, 1], [0, 0]), "w-0-1": stage([0, 0], [1, 1]), "w-0.75-0.25": stage([1, 1], [0, 1])}.items()}
    c = population_claim(GROUPS, results, label)
    # many loses 0 (≤ 0.02), few loses 1 − 0.5 = 0.5 (> 0.02)
    assert c["value"] is True and "fixed margin" in c["rule"] and "se" not in c["groups"]["few"]


def test_point_labels_join_the_weights_of_policies_at_one_position():
    from langrl.train.pareto.plot import point_labels

    pts = {"cond-1-0": [0.9, 0.6], "cond-0.75-0.25": [0.9, 0.6], "cond-0.5-0.5": [0.8, 0.8], "cond-0-1": [0.6, 0.99]}
    assert point_labels(pts) == [((0.9, 0.6), "1-0, 0.75-0.25"), ((0.8, 0.8), "0.5-0.5"), ((0.6, 0.99), "0-1")]
    assert point_labels({}) == []
