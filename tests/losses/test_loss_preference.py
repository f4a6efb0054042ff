"""Reward-model losses: hand-worked values, reductions between models, padding, bad input."""
import math

import pytest
import torch

from langrl.losses import (
    binary_loss,
    bradley_terry_loss,
    davidson_log_probs,
    davidson_loss,
    plackett_luce_loss,
    plackett_luce_tiers_loss,
    rao_kupper_log_probs,
    rao_kupper_loss,
    segment_classification_loss,
)

LN2, LN3 = math.log(2), math.log(3)


def t(*values):
    """t(1.0, 2.0) and t([1.0, 2.0]) -> shape (2,); t([..], [..]) -> (2, n)."""
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    return torch.tensor(values, dtype=torch.float64)


def test_binary_loss_hand_worked():
    # -log sigma(ln 3) = -log(3/4) = ln(4/3);  -log sigma(-ln 3) = -log(1/4) = ln 4;  mean = ln(16/3) / 2 = 0.83698
    loss, parts = binary_loss(t(LN3, LN3), t(1.0, -1.0))
    assert loss.item() == pytest.approx(math.log(16 / 3) / 2)
    assert parts["accuracy"].item() == pytest.approx(0.5)
    # graded: label 0 -> target 0.5 -> BCE(0) = ln 2; label 0.5 -> target 0.75 at logit ln 3:
    # -(0.75 log 0.75 + 0.25 log 0.25) = 0.21576 + 0.34657 = 0.56233
    loss, _ = binary_loss(t(0.0, LN3), t(0.0, 0.5))
    assert loss.item() == pytest.approx((LN2 + 0.562335) / 2, abs=1e-5)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        binary_loss(t(0.0), t(2.0))


def test_bradley_terry_hand_worked():
    # -log sigma(ln 3) = ln(4/3), -log sigma(0) = ln 2; mean = ln(8/3) / 2 = 0.49041
    loss, parts = bradley_terry_loss(t(LN3, 0.0), t(0.0, 0.0))
    assert loss.item() == pytest.approx(math.log(8 / 3) / 2)
    assert parts["accuracy"].item() == 0.5 and parts["margin"].item() == pytest.approx(LN3 / 2)
    # margin ln 3 on the first pair: -log sigma(ln3 - ln3) = ln 2, so both terms are ln 2
    loss, _ = bradley_terry_loss(t(LN3, 0.0), t(0.0, 0.0), margin=t(LN3, 0.0))
    assert loss.item() == pytest.approx(LN2)
    with pytest.raises(ValueError, match="rejected"):
        bradley_terry_loss(t(1.0, 2.0), t(1.0))


def _random_pairs(n=16):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def test_tie_models_are_distributions():
    a, b = _random_pairs()
    for log_probs, param in ((rao_kupper_log_probs, t(0.7)), (davidson_log_probs, t(-0.3))):
        win, lose, tie = log_probs(a, b, param)
        assert torch.allclose(win.exp() + lose.exp() + tie.exp(), torch.ones_like(a))
        assert (tie.exp() > 0).all()


def test_tie_models_hand_worked_equal_strengths():
    # Rao-Kupper, a = b = 0, theta = 2: P(a>b) = 1/(1+2) = 1/3, P(tie) = (4-1)*1/((1+2)(1+2)) = 1/3
    win, lose, tie = rao_kupper_log_probs(t(0.0), t(0.0), t(LN2))
    assert torch.allclose(torch.cat([win, lose, tie]).exp(), torch.full((3,), 1 / 3, dtype=torch.float64))
    loss, parts = rao_kupper_loss(t(0.0), t(0.0), torch.tensor([True]), t(LN2))
    assert loss.item() == pytest.approx(LN3) and parts["theta"].item() == pytest.approx(2.0)
    # Davidson, a = b = 0, nu = 1: Z = 1 + 1 + 1 = 3, so all three outcomes are 1/3
    loss, parts = davidson_loss(t(0.0), t(0.0), torch.tensor([True]), t(0.0))
    assert loss.item() == pytest.approx(LN3) and parts["tie_prob"].item() == pytest.approx(1 / 3)


def test_tie_models_reduce_to_bradley_terry_without_ties():
    a, b = _random_pairs()
    no_ties = torch.zeros_like(a, dtype=torch.bool)
    bt, _ = bradley_terry_loss(a, b)
    rk, _ = rao_kupper_loss(a, b, no_ties, t(0.0))  # theta = 1
    dv, _ = davidson_loss(a, b, no_ties, t(float("-inf")))  # nu = 0
    assert rk.item() == pytest.approx(bt.item()) and dv.item() == pytest.approx(bt.item())
    with pytest.raises(ValueError, match="log_theta"):
        rao_kupper_loss(a, b, no_ties, t(-0.1))


def test_tie_parameter_can_be_learned():
    log_nu = torch.nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
    # every pair tied with equal strengths: P(tie) = nu / (2 + nu) grows with nu, so d loss / d log_nu < 0
    loss, _ = davidson_loss(t(0.0, 0.0), t(0.0, 0.0), torch.tensor([True, True]), log_nu)
    loss.backward()
    assert log_nu.grad.item() < 0
    raw = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
    loss, _ = rao_kupper_loss(t(0.0), t(0.0), torch.tensor([True]), torch.nn.functional.softplus(raw))
    loss.backward()
    assert raw.grad.item() < 0 and torch.isfinite(raw.grad)


def test_plackett_luce_hand_worked_with_padding():
    s = torch.log(t([1.0, 2.0, 3.0], [1.0, 2.0, 1000.0]))  # strengths alpha; item 2 of row 1 is not in its list
    order = torch.tensor([[2, 0, 1], [1, 0, -1]])
    # row 0: P = 3/6 * 1/(1+2) * 1 = 1/6 -> ln 6;  row 1: P = 2/(1+2) -> ln 1.5;  mean = ln 9 / 2 = ln 3
    s.requires_grad_(True)
    loss, parts = plackett_luce_loss(s, order)
    assert loss.item() == pytest.approx(LN3)
    assert parts["top1_accuracy"].item() == 1.0
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad[1, 2] == 0


def test_plackett_luce_of_two_is_bradley_terry():
    a, b = _random_pairs()
    scores = torch.stack([a, b], dim=1)
    flip = torch.arange(16) % 2 == 1  # half the rows rank item 1 first
    order = torch.where(flip[:, None], torch.tensor([1, 0]), torch.tensor([0, 1]))
    pl, _ = plackett_luce_loss(scores, order)
    bt, _ = bradley_terry_loss(torch.where(flip, b, a), torch.where(flip, a, b))
    assert pl.item() == pytest.approx(bt.item(), abs=1e-12)


def test_plackett_luce_bad_order_raises():
    s = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="padding"):
        plackett_luce_loss(s, torch.tensor([[0, -1, 1]]))
    with pytest.raises(ValueError, match="twice"):
        plackett_luce_loss(s, torch.tensor([[1, 1, -1]]))
    with pytest.raises(ValueError, match="out of range"):
        plackett_luce_loss(s, torch.tensor([[0, 3, 1]]))
    with pytest.raises(ValueError, match="order"):
        plackett_luce_loss(s, torch.tensor([[0, 1]]))


def test_tiers_hand_worked_breslow():
    # alpha = 1, 2, 3; item 2 alone in tier 0, items 0 and 1 tied in tier 1:
    # tier 0: 3 / (1+2+3) = 1/2;  tier 1 (Breslow, both against {0, 1}): 1/3 * 2/3 = 2/9;  P = 1/9 -> loss ln 9
    s = torch.log(t([[1.0, 2.0, 3.0]]))
    loss, parts = plackett_luce_tiers_loss(s, torch.tensor([[1, 1, 0]]))
    assert loss.item() == pytest.approx(math.log(9))
    assert parts["top1_accuracy"].item() == 1.0
    with pytest.raises(ValueError, match="tiers"):
        plackett_luce_tiers_loss(s, torch.tensor([[1, -2, 0]]))


def test_tiers_without_ties_equal_plackett_luce():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(5, 4, generator=g, dtype=torch.float64)
    order = torch.stack([torch.randperm(4, generator=g) for _ in range(5)])
    order[3, 3], order[4, 2:] = -1, -1  # shorter lists
    tiers = torch.full_like(order, -1)
    for row in range(5):
        for rank, item in enumerate(order[row].tolist()):
            if item >= 0:
                tiers[row, item] = rank
    pl, _ = plackett_luce_loss(scores, order)
    pt, _ = plackett_luce_tiers_loss(scores, tiers)
    assert pt.item() == pytest.approx(pl.item(), abs=1e-12)


def test_tied_worst_tier_pulls_scores_together():
    s = t(0.0, 2.0).requires_grad_(True)
    loss, _ = plackett_luce_tiers_loss(s[None], torch.tensor([[0, 0]]))
    loss.backward()
    assert s.grad[0] < 0 < s.grad[1]  # gradient descent raises the low score and lowers the high one


def test_segment_classification_hand_worked():
    ig = -100.0
    logits = t([[-2.0, 9.0], [9.0, 9.0], [0.0, LN3]])[None]
    labels = t([[0.0, ig], [ig, ig], [1.0, 0.0]])[None]
    # labelled entries: (0, cat0) target 0 at -2: log(1 + e^-2) = 0.126928 (right)
    #                   (2, cat0) target 1 at 0: ln 2 (wrong);  (2, cat1) target 0 at ln 3: -log(1/4) = ln 4 (wrong)
    # mean = (0.126928 + 0.693147 + 1.386294) / 3 = 0.735456
    loss, parts = segment_classification_loss(logits, labels, category_names=["toxic", "false"])
    assert loss.item() == pytest.approx(0.735456, abs=1e-6)
    assert parts["accuracy"].item() == pytest.approx(1 / 3)
    assert parts["accuracy/toxic"].item() == 0.5 and parts["accuracy/false"].item() == 0.0
    unlabelled = labels.clone()
    unlabelled[..., 1] = ig
    _, parts = segment_classification_loss(logits, unlabelled)
    assert "accuracy/0" in parts and "accuracy/1" not in parts
    with pytest.raises(ValueError, match="labels"):
        segment_classification_loss(logits, torch.full_like(labels, 0.5))
    with pytest.raises(ValueError, match="category_names"):
        segment_classification_loss(logits, labels, category_names=["one"])
