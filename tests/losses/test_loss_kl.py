"""KL estimators, controllers and KL-shaped rewards."""
import math

import pytest
import torch

from langrl.losses import (
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_update,
    kl_k1,
    kl_k2,
    kl_k3,
    kl_penalized_rewards,
)

LN2 = math.log(2)


def test_estimators_hand_worked():
    logp, ref = torch.tensor([0.0]), torch.tensor([math.log(0.5)])  # log r = ref - logp = -ln 2, r = 1/2
    assert kl_k1(logp, ref).item() == pytest.approx(LN2)  # -log r = ln 2 = 0.693147
    assert kl_k2(logp, ref).item() == pytest.approx(0.5 * LN2**2)  # (ln 2)^2 / 2 = 0.240227
    assert kl_k3(logp, ref).item() == pytest.approx(0.5 - 1 + LN2)  # (1/2 - 1) + ln 2 = 0.193147
    assert kl_k3(ref, ref).item() == 0.0
    with pytest.raises(ValueError, match="ref_logp"):
        kl_k1(torch.zeros(2, 3), torch.zeros(2, 4))


def test_sample_averages_approach_true_kl():
    q = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)  # the policy (samples come from it)
    p = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)  # the reference
    # KL[q||p] = 0.5 ln(1.25) + 0.3 ln(0.75) + 0.2 ln 1 = 0.111572 - 0.086305 = 0.025267
    true_kl = (q * (q / p).log()).sum().item()
    assert true_kl == pytest.approx(0.025267, abs=1e-6)
    x = torch.multinomial(q, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    logp, ref = q.log()[x], p.log()[x]
    # k1 and k3 are unbiased: standard error ~ 0.23 / sqrt(2e5) = 5e-4, so 3e-3 is > 5 standard errors
    assert kl_k1(logp, ref).mean().item() == pytest.approx(true_kl, abs=3e-3)
    assert kl_k3(logp, ref).mean().item() == pytest.approx(true_kl, abs=3e-3)
    # k2 is biased: E[k2] = 0.5 (0.5 ln(1.25)^2 + 0.3 ln(0.75)^2) = 0.024869, close because q and p are close
    assert kl_k2(logp, ref).mean().item() == pytest.approx(0.024869, abs=3e-3)
    # k3 has lower variance than k1 here, the reason to prefer it
    assert kl_k3(logp, ref).var() < kl_k1(logp, ref).var()


def test_adaptive_kl_update_hand_worked():
    # KL 12 vs target 6: e = clip(12/6 - 1, -0.2, 0.2) = 0.2; beta = 0.1 * (1 + 0.2 * 256 / 10000) = 0.100512
    assert adaptive_kl_update(0.1, 12.0, 6.0, 10000, 256) == pytest.approx(0.100512)
    # KL 5.4 vs 6: e = -0.1; beta = 0.1 * (1 - 0.1 * 1000 / 10000) = 0.099
    assert adaptive_kl_update(0.1, 5.4, 6.0, 10000, 1000) == pytest.approx(0.099)
    with pytest.raises(ValueError, match="target"):
        adaptive_kl_update(0.1, 1.0, 0.0, 10000, 1)


def test_controllers_update_and_resume():
    fixed = FixedKLController(0.05)
    fixed.update(100.0, 64)
    assert fixed.value == 0.05
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(torch.tensor(12.0), 256)
    assert ctl.value == pytest.approx(0.100512)
    resumed = AdaptiveKLController(1.0, target=1.0, horizon=1.0)
    resumed.load_state_dict(ctl.state_dict())
    ctl.update(12.0, 256)
    resumed.update(12.0, 256)
    assert resumed.value == ctl.value == pytest.approx(0.100512 * 1.00512)


def test_kl_penalized_rewards_hand_worked():
    scores = torch.tensor([1.0, 2.0])
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # row 1: last policy token at index 1; index 2 is padding
    rewards, parts = kl_penalized_rewards(scores, kl, mask, beta=0.5)
    # row 0: -0.5 * [0.1, 0.2, 0.3] + [0, 0, 1] = [-0.05, -0.1, 0.85]
    # row 1: -0.5 * [0.5, 0.0, (masked)] + [0, 2, 0] = [-0.25, 2.0, 0.0]
    assert torch.allclose(rewards, torch.tensor([[-0.05, -0.1, 0.85], [-0.25, 2.0, 0.0]]))
    # per-sequence KL sums 0.6 and 0.5 -> mean 0.55; kl_term -0.275; task 1.5; totals 0.7, 1.75 -> 1.225
    assert parts["kl"].item() == pytest.approx(0.55)
    assert parts["kl_term"].item() == pytest.approx(-0.275)
    assert parts["task_term"].item() == pytest.approx(1.5)
    assert parts["total"].item() == pytest.approx(1.225)


def test_kl_penalized_rewards_dense_and_multi_turn_mask():
    mask = torch.tensor([[1, 1, 0, 0, 1, 0]])  # turn 1, two environment tokens, turn 2, padding
    dense = torch.tensor([[0.0, 0.5, 0.0, 0.0, 0.0, 0.0]])  # a segment reward placed at the end of turn 1
    rewards, parts = kl_penalized_rewards(torch.tensor([3.0]), torch.zeros(1, 6), mask, 0.1, dense_rewards=dense)
    assert rewards.tolist() == [[0.0, 0.5, 0.0, 0.0, 3.0, 0.0]]  # the score lands on index 4, the last policy token
    assert parts["task_term"].item() == pytest.approx(3.5)
    with pytest.raises(ValueError, match="masked-out"):
        kl_penalized_rewards(torch.tensor([3.0]), torch.zeros(1, 6), mask, 0.1, dense_rewards=dense.roll(1))
    with pytest.raises(ValueError, match="at least one policy token"):
        kl_penalized_rewards(torch.tensor([3.0]), torch.zeros(1, 6), torch.zeros(1, 6), 0.1)
    with pytest.raises(ValueError, match="scores"):
        kl_penalized_rewards(torch.tensor([3.0, 1.0]), torch.zeros(1, 6), mask, 0.1)
