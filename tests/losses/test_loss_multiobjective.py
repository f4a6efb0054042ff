"""Reward-vector advantages (langrl.losses.multiobjective): hand-worked GRPO/GDPO numbers, RLOO linearity, zero weights."""
import pytest
import torch

from langrl.losses.multiobjective import (aggregate_advantages, gdpo_advantages, objective_advantages,
                                          per_objective_advantages, weighted_sum)

# one prompt, n = 3 samples, k = 2 objectives; weights w = (0.5, 2)
S = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 6.0]])
W = torch.tensor([0.5, 2.0])


def test_weighted_sum_hand_worked_and_nan_skipped():
    # 0.5*1 + 2*0 = 0.5; 0.5*2 + 0 = 1; 0.5*3 + 2*6 = 13.5
    assert torch.allclose(weighted_sum(S, W), torch.tensor([0.5, 1.0, 13.5]))
    with_nan = torch.tensor([[1.0, float("nan")]])
    assert weighted_sum(with_nan, W).item() == 0.5  # the NaN objective is skipped (nansum), as the composite's total


def test_per_objective_group_advantages_hand_worked():
    # objective 1: [1, 2, 3], mean 2, unbiased std 1 → A_1 = [-1, 0, 1]
    # objective 2: [0, 0, 6], mean 2, deviations [-2, -2, 4], var (4 + 4 + 16) / 2 = 12, std 3.4641
    #   → A_2 = [-0.57735, -0.57735, 1.15470]
    cols = objective_advantages(S, 3)
    assert torch.allclose(cols, torch.tensor([[-1.0, -0.57735], [0.0, -0.57735], [1.0, 1.15470]]), atol=1e-4)
    # A = 0.5 A_1 + 2 A_2 = [-0.5 - 1.15470, -1.15470, 0.5 + 2.30940]
    adv, cols2 = per_objective_advantages(S, W, 3)
    assert torch.allclose(adv, torch.tensor([-1.65470, -1.15470, 2.80940]), atol=1e-4)
    assert torch.equal(cols, cols2)


def test_sum_then_normalize_lets_the_large_objective_swamp_the_small_one():
    # r = [0.5, 1, 13.5]: mean 5, deviations [-4.5, -4, 8.5], var (20.25 + 16 + 72.25) / 2 = 54.25, std 7.3655
    #   → [-0.61096, -0.54307, 1.15403]: samples 1 and 2 (objective 1 differs by 1 between them) look alike
    adv, cols = aggregate_advantages(S, W, 3, aggregation="sum", estimator="grpo")
    assert cols is None
    assert torch.allclose(adv, torch.tensor([-0.61096, -0.54307, 1.15403]), atol=1e-4)


def test_gdpo_hand_worked():
    # A_sum = [-1.65470, -1.15470, 2.80940] (above): mean 0, var (2.73803 + 1.33333 + 7.89273) / 2 = 5.98205,
    # std 2.44582 → A = [-0.67654, -0.47212, 1.14866]
    adv, _ = gdpo_advantages(S, W, 3)
    assert torch.allclose(adv, torch.tensor([-0.67654, -0.47212, 1.14866]), atol=1e-4)
    assert torch.allclose(aggregate_advantages(S, W, 3, aggregation="normalize_then_sum", estimator="grpo")[0], adv)
    # without the batch normalisation GDPO is the per-objective GRPO sum
    assert torch.equal(gdpo_advantages(S, W, 3, batch_norm=False)[0], per_objective_advantages(S, W, 3)[0])


def test_rloo_per_objective_equals_rloo_of_the_sum():
    # the leave-one-out baseline is linear: Σ_k w_k LOO(r_k) = LOO(Σ_k w_k r_k)
    g = torch.Generator().manual_seed(0)
    s, w = torch.randn(12, 3, generator=g), torch.tensor([0.2, 1.0, 3.0])
    per, _ = aggregate_advantages(s, w, 4, aggregation="per_objective", estimator="rloo")
    summed, _ = aggregate_advantages(s, w, 4, aggregation="sum", estimator="rloo")
    assert torch.allclose(per, summed, atol=1e-6)


@pytest.mark.parametrize("aggregation", ["per_objective", "normalize_then_sum"])
def test_a_zero_weight_objective_changes_nothing_bit_for_bit(aggregation):
    g = torch.Generator().manual_seed(1)
    s = torch.randn(8, 2, generator=g)
    two, _ = aggregate_advantages(s, torch.tensor([1.0, 0.0]), 4, aggregation=aggregation, estimator="grpo")
    one, _ = aggregate_advantages(s[:, :1], torch.tensor([1.0]), 4, aggregation=aggregation, estimator="grpo")
    assert torch.equal(two, one)


def test_one_objective_per_objective_is_plain_grpo_bit_for_bit():
    from langrl.losses import group_normalized_advantages

    s = torch.randn(8, 1, generator=torch.Generator().manual_seed(2))
    adv, _ = aggregate_advantages(s, torch.tensor([1.0]), 4, aggregation="per_objective", estimator="grpo")
    assert torch.equal(adv, group_normalized_advantages(s[:, 0], 4))


def test_shapes_and_names_are_checked():
    with pytest.raises(ValueError, match="weights"):
        weighted_sum(S, torch.tensor([1.0]))
    with pytest.raises(ValueError, match="aggregation"):
        aggregate_advantages(S, W, 3, aggregation="max", estimator="grpo")
    with pytest.raises(ValueError, match="normalize_then_sum"):
        aggregate_advantages(S, W, 3, aggregation="normalize_then_sum", estimator="rloo")
    with pytest.raises(ValueError, match="estimator"):
        objective_advantages(S, 3, "ppo")
