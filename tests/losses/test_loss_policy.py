"""Policy losses: hand-worked PPO/value/DPO/IPO/KTO numbers, micro-batch invariance, reductions between variants."""
import math

import pytest
import torch

from langrl.losses import (
    dpo_loss,
    entropy_from_logits,
    entropy_from_logprobs,
    grpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    pl_dpo_loss,
    ppo_policy_loss,
    reinforce_loss,
    rpo_loss,
    value_loss,
)

E, LN2 = math.e, math.log(2)


def _ppo_case():
    # log-ratios 1, 1, ln 0.5, ln 0.5 (ratios e, e, 0.5, 0.5) with advantages +1, -1, +1, -1; token 4 masked out
    old = torch.zeros(1, 5)
    logprobs = torch.tensor([[1.0, 1.0, -LN2, -LN2, 50.0]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1e6]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    return logprobs, old, adv, mask


def test_ppo_policy_loss_hand_worked():
    logprobs, old, adv, mask = _ppo_case()
    loss, parts = ppo_policy_loss(logprobs, old, adv, mask, clip_eps=0.2)
    # token 0: max(-e*1, -1.2*1) = -1.2 (clipped)      token 1: max(e, 1.2) = e = 2.71828 (unclipped)
    # token 2: max(-0.5, -0.8) = -0.5 (unclipped)     token 3: max(0.5, 0.8) = 0.8 (clipped)
    # loss = (-1.2 + 2.71828 - 0.5 + 0.8) / 4 = 1.81828 / 4 = 0.45457
    assert loss.item() == pytest.approx((-1.2 + E - 0.5 + 0.8) / 4, abs=1e-6)
    assert parts["clipfrac"].item() == 0.5
    assert parts["ratio_mean"].item() == pytest.approx((2 * E + 1) / 4, abs=1e-6)
    # k3(old || new) = (r - 1) - log r: e - 2 = 0.71828 (tokens 0, 1), -0.5 + ln 2 = 0.19315 (tokens 2, 3)
    assert parts["approx_kl"].item() == pytest.approx((E - 2 + LN2 - 0.5) / 2, abs=1e-6)
    loss.backward()
    # clipped tokens get no gradient; token 1: d(-A r)/d logp = r = e, token 2: -r = -0.5; each / 4 tokens
    assert torch.allclose(logprobs.grad, torch.tensor([[0.0, E / 4, -0.5 / 4, 0.0, 0.0]]))


def test_sequence_advantages_broadcast_over_tokens():
    logprobs, old, _, mask = _ppo_case()
    seq_adv = torch.tensor([0.7])
    a, _ = ppo_policy_loss(logprobs, old, seq_adv, mask)
    b, _ = ppo_policy_loss(logprobs, old, seq_adv[:, None].expand(1, 5), mask)
    assert a.item() == pytest.approx(b.item())
    with pytest.raises(ValueError, match="advantages"):
        ppo_policy_loss(logprobs, old, torch.ones(2), mask)
    with pytest.raises(ValueError, match="mask"):
        ppo_policy_loss(logprobs, old, seq_adv, mask[:, :4])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logprobs = (-torch.rand(4, 6, generator=g)).requires_grad_(True)
    old = logprobs.detach() + 0.3 * torch.randn(4, 6, generator=g)
    ref = logprobs.detach() + 0.3 * torch.randn(4, 6, generator=g)
    adv = torch.randn(4, 6, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 1]])
    return logprobs, old, ref, adv, mask


LOSSES = {
    "ppo": lambda lp, old, ref, adv, m, nz: ppo_policy_loss(lp, old, adv, m, 0.2, normalizer=nz),
    "grpo": lambda lp, old, ref, adv, m, nz: grpo_loss(lp, old, ref, adv[:, 0], m, 0.2, 0.05, normalizer=nz),
    "reinforce": lambda lp, old, ref, adv, m, nz: reinforce_loss(lp, adv, m, normalizer=nz),
    "value": lambda lp, old, ref, adv, m, nz: value_loss(lp, old, adv, m, clip_eps=0.2, normalizer=nz),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_micro_batches_with_global_normalizer_equal_the_big_batch(name):
    fn = LOSSES[name]
    logprobs, old, ref, adv, mask = _batch()
    big, _ = fn(logprobs, old, ref, adv, mask, None)
    big_grad, = torch.autograd.grad(big, logprobs)
    n_tokens = int(mask.sum())  # the global token count, as a trainer (or an all-reduce over 2 ranks) provides
    total = sum(fn(logprobs[i:i + 2], old[i:i + 2], ref[i:i + 2], adv[i:i + 2], mask[i:i + 2], n_tokens)[0]
                for i in (0, 2))
    grad, = torch.autograd.grad(total, logprobs)
    assert total.item() == pytest.approx(big.item(), abs=1e-6)
    assert torch.allclose(grad, big_grad, atol=1e-7)


def test_value_loss_hand_worked():
    values = torch.tensor([[2.0, 0.8]])
    old, returns, mask = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.ones(1, 2)
    # token 0: (2-0)^2 = 4; clip: 1 + clamp(1, -.5, .5) = 1.5 -> 2.25; max 4 -> 0.5*4 = 2.0
    # token 1: (0.8-1)^2 = 0.04; clip: 0 + 0.5 = 0.5 -> 0.25; max 0.25 -> 0.125 (clip active)
    loss, parts = value_loss(values, old, returns, mask, clip_eps=0.5)
    assert loss.item() == pytest.approx((2.0 + 0.125) / 2)
    assert parts["value_clipfrac"].item() == 0.5
    plain, _ = value_loss(values, old, returns, mask)  # 0.5 * (4 + 0.04) / 2 = 1.01
    assert plain.item() == pytest.approx(1.01)


def test_value_clipfrac_ignores_round_off_inside_the_clip_range():
    """V − V_old = 0.426 is inside ε = 0.5, so nothing is clipped; but V_old + (V − V_old) is V − 3e-8 in float32,
    which makes the "clipped" error larger by round-off: only the clip range may decide (old code: clipfrac 1)."""
    old, values, returns = torch.tensor([[0.005236700177192688]]), torch.tensor([[0.4274778664112091]]), \
        torch.tensor([[0.7376289367675781]])
    v_clip = old + (values - old).clamp(-0.5, 0.5)
    assert ((v_clip - returns) ** 2 > (values - returns) ** 2).all()  # the round-off this test is about
    _, parts = value_loss(values, old, returns, torch.ones(1, 1), clip_eps=0.5)
    assert parts["value_clipfrac"].item() == 0.0


def test_entropy_from_logits():
    logits = torch.zeros(1, 2, 4)
    logits[0, 1, 2:] = float("-inf")  # position 1: two tokens masked out of the vocabulary
    logits.requires_grad_(True)
    ent = entropy_from_logits(logits)
    assert torch.allclose(ent, torch.tensor([[math.log(4), LN2]]))  # uniform over 4, then over 2
    ent.sum().backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="logits"):
        entropy_from_logits(torch.zeros(2, 4))


def test_entropy_from_logprobs_is_the_one_entropy():
    # p = [1/2, 1/4, 1/4, 0]: H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2; the -inf (truncated) token contributes 0, no NaN
    lp = torch.log(torch.tensor([[0.5, 0.25, 0.25, 0.0]]))
    assert entropy_from_logprobs(lp).item() == pytest.approx(1.5 * LN2)
    logits = torch.tensor([[[1.0, -2.0, 0.5, float("-inf")]]])
    assert torch.equal(entropy_from_logits(logits), entropy_from_logprobs(torch.log_softmax(logits, -1)))


def test_grpo_is_ppo_plus_k3_penalty():
    logprobs, old, ref, adv, mask = _batch()
    seq_adv = adv[:, 0]
    ppo, _ = ppo_policy_loss(logprobs, old, seq_adv, mask)
    no_kl, _ = grpo_loss(logprobs, old, None, seq_adv, mask, kl_coef=0.0)
    assert no_kl.item() == pytest.approx(ppo.item())
    with_kl, parts = grpo_loss(logprobs, old, ref, seq_adv, mask, kl_coef=0.1)
    assert with_kl.item() == pytest.approx(ppo.item() + 0.1 * parts["kl"].item(), abs=1e-6)
    # hand: one token, logp = 0, ref = ln 0.5 -> k3 = 0.5 - 1 + ln 2 = 0.19315; advantage 0 -> loss = 0.1 * k3
    one = torch.zeros(1, 1)
    loss, _ = grpo_loss(one, one, torch.full((1, 1), -LN2), torch.zeros(1), torch.ones(1, 1), kl_coef=0.1)
    assert loss.item() == pytest.approx(0.1 * (LN2 - 0.5))
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(logprobs, old, None, seq_adv, mask, kl_coef=0.1)


def test_reinforce_hand_worked():
    # -(2 * -1 + 2 * -2) / 2 tokens = 3; gradient -A / 2 = -1 per token
    logprobs = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss, _ = reinforce_loss(logprobs, torch.tensor([2.0]), torch.ones(1, 2))
    assert loss.item() == pytest.approx(3.0)
    loss.backward()
    assert logprobs.grad.tolist() == [[-1.0, -1.0]]


# offline: pc, pr = policy chosen/rejected, rc, rr = reference chosen/rejected (summed log-probs)
PC, PR, RC, RR = (torch.tensor([v]) for v in (-1.0, -3.0, -2.0, -2.0))


def test_dpo_hand_worked():
    # log-ratios: chosen -1 - (-2) = 1, rejected -3 - (-2) = -1; beta * h = 0.5 * 2 = 1
    # loss = -log sigma(1) = log(1 + e^-1) = 0.313262
    loss, parts = dpo_loss(PC, PR, RC, RR, beta=0.5)
    assert loss.item() == pytest.approx(0.313262, abs=1e-6)
    assert parts["chosen_rewards"].item() == 0.5 and parts["rejected_rewards"].item() == -0.5
    assert parts["accuracy"].item() == 1.0 and parts["margin"].item() == 1.0
    # cDPO eps = 0.1: 0.9 * 0.313262 + 0.1 * (-log sigma(-1) = 1.313262) = 0.413262
    smooth, _ = dpo_loss(PC, PR, RC, RR, beta=0.5, label_smoothing=0.1)
    assert smooth.item() == pytest.approx(0.413262, abs=1e-6)
    # reference-free: zeros for the reference -> beta * (pc - pr) = 0.5 * 2 = 1, the same here
    free, _ = dpo_loss(PC, PR, torch.zeros(1), torch.zeros(1), beta=0.5)
    assert free.item() == pytest.approx(0.313262, abs=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(PC, PR, RC, RR, beta=0.5, label_smoothing=0.5)
    with pytest.raises(ValueError, match="ref_rejected_logps"):
        dpo_loss(PC, PR, RC, torch.zeros(2), beta=0.5)


def test_rpo_adds_length_normalised_nll():
    # nll = -(-1) / 4 tokens = 0.25; loss = 0.313262 + 1.0 * 0.25
    loss, parts = rpo_loss(PC, PR, RC, RR, chosen_lengths=torch.tensor([4]), beta=0.5, alpha=1.0)
    assert loss.item() == pytest.approx(0.563262, abs=1e-6)
    assert parts["nll"].item() == 0.25 and parts["dpo_loss"].item() == pytest.approx(0.313262, abs=1e-6)


def test_ipo_hand_worked():
    # h = 1 - (-1) = 2; tau = 0.5 -> 1/(2 tau) = 1; (2 - 1)^2 = 1
    loss, parts = ipo_loss(PC, PR, RC, RR, tau=0.5)
    assert loss.item() == pytest.approx(1.0) and parts["margin"].item() == 2.0
    # length-averaged: chosen 1/2 = 0.5, rejected -1/1 = -1, h = 1.5 -> (1.5 - 1)^2 = 0.25
    loss, _ = ipo_loss(PC, PR, RC, RR, tau=0.5, chosen_lengths=torch.tensor([2]), rejected_lengths=torch.tensor([1]))
    assert loss.item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="both"):
        ipo_loss(PC, PR, RC, RR, tau=0.5, chosen_lengths=torch.tensor([2]))


def test_pl_dpo_of_two_is_dpo():
    g = torch.Generator().manual_seed(3)
    pol, ref = -torch.rand(8, 2, generator=g, dtype=torch.float64), -torch.rand(8, 2, generator=g, dtype=torch.float64)
    order = torch.tensor([[0, 1]] * 4 + [[1, 0]] * 4)
    best, worst = order[:, 0:1], order[:, 1:2]
    pl, pl_parts = pl_dpo_loss(pol, ref, order, beta=0.3)
    d, d_parts = dpo_loss(pol.gather(1, best)[:, 0], pol.gather(1, worst)[:, 0],
                          ref.gather(1, best)[:, 0], ref.gather(1, worst)[:, 0], beta=0.3)
    assert pl.item() == pytest.approx(d.item(), abs=1e-12)
    for key in ("chosen_rewards", "rejected_rewards", "accuracy", "margin"):
        assert pl_parts[key].item() == pytest.approx(d_parts[key].item(), abs=1e-12)


def test_pl_dpo_handles_padded_lists():
    pol = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -2.0, float("nan")]])  # row 1's third slot is padding
    ref = torch.zeros(2, 3)
    order = torch.tensor([[0, 1, 2], [0, 1, -1]])
    loss, parts = pl_dpo_loss(pol, ref, order, beta=1.0)
    # row 0: alpha = e^-1, e^-2, e^-3;  row 1 = DPO with beta*h = 1
    # row 0: -[-1 - log(e^-1 + e^-2 + e^-3)] - [-2 - log(e^-2 + e^-3)] = 0.407606 + 0.313262 = 0.720868
    assert loss.item() == pytest.approx((0.720868 + 0.313262) / 2, abs=1e-5)
    assert parts["rejected_rewards"].item() == pytest.approx((-3.0 - 2.0) / 2)


def test_kto_hand_worked():
    pol, ref, labels = torch.tensor([-1.0, -1.0]), torch.tensor([-2.0, 0.0]), torch.tensor([1, -1])
    # r = [1, -1], z0 = 0.5, beta = 1
    # desirable:   1 - sigma(1 - 0.5) = 1 - 0.622459 = 0.377541
    # undesirable: 1.5 * (1 - sigma(0.5 - (-1))) = 1.5 * (1 - 0.817574) = 0.273639;  mean = 0.325590
    loss, parts = kto_loss(pol, ref, labels, torch.tensor(0.5), beta=1.0, undesirable_weight=1.5)
    assert loss.item() == pytest.approx(0.325590, abs=1e-6)
    assert parts["chosen_rewards"].item() == 1.0 and parts["rejected_rewards"].item() == -1.0
    same, _ = kto_loss(pol, ref, labels.bool() & (labels > 0), torch.tensor(0.5), 1.0, undesirable_weight=1.5)
    assert same.item() == pytest.approx(loss.item())
    with pytest.raises(ValueError, match="labels"):
        kto_loss(pol, ref, torch.tensor([1, 0]), torch.tensor(0.5), 1.0)
    with pytest.raises(ValueError, match="kl_ref"):
        kto_loss(pol, ref, labels, torch.zeros(2), 1.0)


def test_kto_reference_point_is_clamped_and_detached():
    pol = torch.tensor([-1.0, -2.0], requires_grad=True)
    assert kto_reference_point(pol, torch.tensor([-1.5, -1.5])).item() == 0.0  # mean(0.5, -0.5) = 0
    assert kto_reference_point(pol, torch.tensor([-2.0, -2.5])).item() == pytest.approx(0.75)  # mean(1, 0.5)
    z0 = kto_reference_point(pol * 1.0, torch.tensor([-3.0, -3.0]))  # mean(2, 1) = 1.5
    assert z0.item() == pytest.approx(1.5) and not z0.requires_grad
    assert kto_reference_point(pol, torch.tensor([0.0, 0.0])).item() == 0.0  # mean -1.5 clamped at 0
