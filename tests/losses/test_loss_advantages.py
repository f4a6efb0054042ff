"""Advantage and return estimators: hand-worked values, masked holes, invariants."""
import pytest
import torch

from langrl.losses import (
    discounted_returns,
    ema_baseline_update,
    gae,
    group_normalized_advantages,
    leave_one_out_advantages,
)


def test_gae_hand_worked_three_steps():
    r, v, m = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]]), torch.ones(1, 3)
    adv, ret = gae(r, v, m, gamma=0.9, lam=0.8)  # gamma * lam = 0.72
    # delta_2 = 1 + 0.9*0 - 0.7 = 0.3;       A_2 = 0.3
    # delta_1 = 0 + 0.9*0.7 - 0.6 = 0.03;    A_1 = 0.03 + 0.72*0.3 = 0.246
    # delta_0 = 0 + 0.9*0.6 - 0.5 = 0.04;    A_0 = 0.04 + 0.72*0.246 = 0.21712
    # returns = A + V = [0.71712, 0.846, 1.0]
    assert torch.allclose(adv, torch.tensor([[0.21712, 0.246, 0.3]]))
    assert torch.allclose(ret, torch.tensor([[0.71712, 0.846, 1.0]]))


def test_gae_with_mask_hole_equals_compacted_sequence():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(1, 6, generator=g), torch.randn(1, 6, generator=g)
    mask = torch.tensor([[1, 1, 0, 0, 1, 0]])  # turn 1, two environment tokens, turn 2, padding
    keep = mask[0].bool()
    adv, ret = gae(r, v, mask, gamma=0.95, lam=0.9)
    adv_c, ret_c = gae(r[:, keep], v[:, keep], torch.ones(1, 3), gamma=0.95, lam=0.9)
    assert torch.allclose(adv[:, keep], adv_c) and torch.allclose(ret[:, keep], ret_c)
    assert (adv[:, ~keep] == 0).all() and (ret[:, ~keep] == 0).all()


def test_gae_lambda_one_returns_are_discounted_returns():
    # with lam = 1 the value terms telescope: returns_t = sum_l gamma^l r_{t+l}, whatever the values
    g = torch.Generator().manual_seed(1)
    r, v = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0]])
    _, ret = gae(r, v, mask, gamma=0.9, lam=1.0)
    assert torch.allclose(ret, discounted_returns(r, 0.9, mask), atol=1e-6)


def test_gae_does_not_track_gradients():
    v = torch.zeros(1, 2, requires_grad=True)
    adv, ret = gae(torch.ones(1, 2), v, torch.ones(1, 2), 1.0, 1.0)
    assert not adv.requires_grad and not ret.requires_grad
    with pytest.raises(ValueError, match="mask"):
        gae(torch.ones(1, 2), v, torch.ones(1, 3), 1.0, 1.0)


def test_discounted_returns_hand_worked():
    # G_2 = 2; G_1 = 0 + 0.5*2 = 1; G_0 = 1 + 0.5*1 = 1.5
    assert discounted_returns(torch.tensor([[1.0, 0.0, 2.0]]), 0.5).tolist() == [[1.5, 1.0, 2.0]]
    # the masked-out middle reward (5) is ignored and position 2 is position 0's successor: G_0 = 1 + 0.5*2 = 2
    out = discounted_returns(torch.tensor([[1.0, 5.0, 2.0]]), 0.5, mask=torch.tensor([[1, 0, 1]]))
    assert out.tolist() == [[2.0, 0.0, 2.0]]


def test_group_normalized_advantages_hand_worked():
    scores = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 0.0])  # 2 prompts x 3 samples
    # group 0: mean 2, unbiased std sqrt(((-1)^2 + 0 + 1^2) / 2) = 1 -> [-1, 0, 1] / (1 + 1e-6)
    # group 1: all equal -> 0 / (0 + eps) = 0 (no signal, no NaN)
    adv = group_normalized_advantages(scores, n=3)
    assert torch.allclose(adv, torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]), atol=1e-5)
    unscaled = group_normalized_advantages(torch.tensor([1.0, 3.0]), n=2, scale=False)
    assert unscaled.tolist() == [-1.0, 1.0]  # Dr. GRPO: mean-centred only
    with pytest.raises(ValueError, match="multiple of n"):
        group_normalized_advantages(scores, n=4)
    with pytest.raises(ValueError, match="at least 2"):
        group_normalized_advantages(scores, n=1)


def test_leave_one_out_hand_worked():
    # r_0 - (2+3)/2 = -1.5;  r_1 - (1+3)/2 = 0;  r_2 - (1+2)/2 = 1.5;  second group [4, 8]: -4, 4
    adv = leave_one_out_advantages(torch.tensor([1.0, 2.0, 3.0, 4.0, 8.0, 6.0]), n=3)
    assert torch.allclose(adv[:3], torch.tensor([-1.5, 0.0, 1.5]))
    assert torch.allclose(adv[3:], torch.tensor([-3.0, 3.0, 0.0]))  # 4 - 7, 8 - 5, 6 - 6
    # RLOO = n/(n-1) times the mean-centred advantage
    scores = torch.randn(8, generator=torch.Generator().manual_seed(2))
    centred = group_normalized_advantages(scores, n=4, scale=False)
    assert torch.allclose(leave_one_out_advantages(scores, n=4), centred * 4 / 3, atol=1e-6)


def test_ema_baseline_update():
    assert ema_baseline_update(None, 3.0, 0.9) == 3.0  # first value initialises the baseline
    assert ema_baseline_update(1.0, 3.0, 0.9) == pytest.approx(1.2)  # 0.9*1 + 0.1*3
    b = ema_baseline_update(torch.tensor(1.0), torch.tensor(3.0, requires_grad=True), 0.5)
    assert b.item() == pytest.approx(2.0) and not b.requires_grad
    with pytest.raises(ValueError, match="decay"):
        ema_baseline_update(1.0, 3.0, 1.5)
