import math

import pytest
import torch

from langrl.errors import InputError
from langrl.train.dpo.objectives import OBJECTIVES

PAIR_TIERS = torch.tensor([[0, 1], [0, 1]])


def call(name, logps, ref, tiers=PAIR_TIERS, lengths=None, labels=None, kl_ref=0.0, **kw):
    obj = OBJECTIVES[name](**kw)  # the objective owns its settings (beta, label_smoothing, ...)
    lengths = torch.ones_like(logps) if lengths is None else lengths
    labels = torch.zeros(logps.shape[0], dtype=torch.long) if labels is None else labels
    return obj(logps, ref, tiers, lengths, labels, kl_ref)


def test_table_names_the_five_losses_with_their_shapes():
    assert {k: v.shape for k, v in OBJECTIVES.items()} == {
        "dpo": "pair", "cdpo": "pair", "ipo": "pair", "pl": "list", "kto": "single"}


def test_dpo_hand_worked():
    # chosen log-ratio 1 - 0 = 1, rejected -1 - 0 = -1; beta 0.5: logits 0.5 * (1 - (-1)) = 1
    loss, parts = call("dpo", torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), PAIR_TIERS[:1], beta=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))  # -log sigma(1) = 0.3133
    assert parts["chosen_rewards"].item() == pytest.approx(0.5) and parts["margin"].item() == pytest.approx(1.0)
    assert parts["accuracy"].item() == 1.0


def test_cdpo_label_smoothing_hand_worked():
    # logits 1 as above; eps 0.25: 0.75 * 0.3133 + 0.25 * (-log sigma(-1) = 1.3133) = 0.5633
    loss, _ = call("cdpo", torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), PAIR_TIERS[:1], beta=0.5,
                   label_smoothing=0.25)
    assert loss.item() == pytest.approx(0.75 * math.log(1 + math.exp(-1)) + 0.25 * math.log(1 + math.exp(1)))


def test_rpo_adds_length_normalised_nll_of_chosen():
    # chosen log-prob -4 over 2 tokens: NLL/len = 2; alpha 0.5 adds 1.0 to the DPO loss
    logps = torch.tensor([[-4.0, -6.0]])
    dpo, _ = call("dpo", logps, torch.zeros(1, 2), PAIR_TIERS[:1], beta=1.0)
    rpo, parts = call("dpo", logps, torch.zeros(1, 2), PAIR_TIERS[:1], lengths=torch.tensor([[2.0, 3.0]]), beta=1.0,
                      rpo_alpha=0.5)
    assert rpo.item() == pytest.approx(dpo.item() + 1.0) and parts["nll"].item() == pytest.approx(2.0)


def test_ipo_hand_worked_and_rewards_scaled_by_beta():
    # h = (1 - 0) - (-1 - 0) = 2; tau 0.25: (2 - 1/(2*0.25))^2 = (2 - 2)^2 = 0
    loss, parts = call("ipo", torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), PAIR_TIERS[:1], beta=0.25)
    assert loss.item() == pytest.approx(0.0)
    assert parts["chosen_rewards"].item() == pytest.approx(0.25)  # beta * log-ratio 1
    # length-averaged: lengths 2 and 1 -> h = 1/2 - (-1) = 1.5; (1.5 - 2)^2 = 0.25
    loss, _ = call("ipo", torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), PAIR_TIERS[:1],
                   lengths=torch.tensor([[2.0, 1.0]]), beta=0.25, ipo_length_average=True)
    assert loss.item() == pytest.approx(0.25)


def test_pl_with_pairs_equals_dpo():
    logps, ref = torch.randn(4, 2), torch.randn(4, 2)
    tiers = torch.tensor([[0, 1]] * 4)
    pl, pl_parts = call("pl", logps, ref, tiers, beta=0.3)
    dpo, dpo_parts = call("dpo", logps, ref, tiers, beta=0.3)
    assert pl.item() == pytest.approx(dpo.item(), rel=1e-6)
    assert pl_parts["accuracy"].item() == dpo_parts["accuracy"].item()


def test_pl_ties_use_tier_form_and_padding_is_ignored():
    # strict lists: order form; same lists with one row padded -> same loss for the unpadded row
    logps = torch.tensor([[0.5, 0.1, -0.4], [0.2, -0.3, 0.0]])
    tiers = torch.tensor([[0, 1, 2], [0, 1, -1]])
    loss, _ = call("pl", logps, torch.zeros_like(logps), tiers, beta=1.0)
    first, _ = call("pl", logps[:1], torch.zeros(1, 3), tiers[:1], beta=1.0)
    second, _ = call("pl", logps[1:, :2], torch.zeros(1, 2), tiers[1:, :2], beta=1.0)
    assert loss.item() == pytest.approx((first.item() + second.item()) / 2, rel=1e-6)
    # a tie in the bottom tier: Breslow form; rewards r = (1, 0, 0), tiers (0, 1, 1):
    # -[1 - log(e + 2)] - 2 * [0 - log 2] = log(e + 2) - 1 + 2 log 2
    tied, parts = call("pl", torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1, 3), torch.tensor([[0, 1, 1]]), beta=1.0)
    assert tied.item() == pytest.approx(math.log(math.e + 2) - 1 + 2 * math.log(2), rel=1e-6)
    assert parts["accuracy"].item() == 1.0 and parts["margin"].item() == pytest.approx(1.0)


def test_kto_hand_worked_and_accuracy_against_z0():
    # r = (1, -1), labels (+1, -1), z0 = 0.5, beta 1: v_D = sigma(0.5), v_U = sigma(1.5)
    logps, ref = torch.tensor([[1.0], [-1.0]]), torch.zeros(2, 1)
    loss, parts = call("kto", logps, ref, torch.zeros(2, 1, dtype=torch.long), labels=torch.tensor([1, -1]),
                       kl_ref=torch.tensor(0.5), beta=1.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert loss.item() == pytest.approx(((1 - sig(0.5)) + (1 - sig(1.5))) / 2)
    assert parts["accuracy"].item() == 1.0 and parts["margin"].item() == pytest.approx(2.0)
    # a desirable response below z0 is a miss: r = 0.2 < z0 = 0.5
    _, parts = call("kto", torch.tensor([[0.2]]), torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.long),
                    labels=torch.tensor([1]), kl_ref=torch.tensor(0.5), beta=1.0)
    assert parts["accuracy"].item() == 0.0


def test_objectives_are_built_once_from_the_config_and_own_their_settings():
    from langrl.config import from_dict
    from langrl.train.dpo.loop import DPOConfig
    from langrl.train.dpo.objectives import CDPO, DPO, KTO

    cfg = from_dict(DPOConfig, {"loss": "cdpo", "data": "d.jsonl", "beta": 0.2, "label_smoothing": 0.1,
                                "ipo_length_average": True, "undesirable_weight": 2.0})
    assert CDPO.from_config(from_dict(DPOConfig, {"loss": "cdpo", "beta": 0.2})) == CDPO(beta=0.2, label_smoothing=0.1,
                                                                                        rpo_alpha=0.0)
    assert DPO.from_config(from_dict(DPOConfig, {"beta": 0.2})) == DPO(beta=0.2, rpo_alpha=0.0)
    assert KTO.from_config(from_dict(DPOConfig, {"loss": "kto", "beta": 0.2, "undesirable_weight": 2.0})) == KTO(
        beta=0.2, desirable_weight=1.0, undesirable_weight=2.0)
    with pytest.raises(InputError, match="field 'ipo_length_average' is not used by --loss cdpo"):
        CDPO.from_config(cfg)  # cfg sets IPO's and KTO's settings too


@pytest.mark.parametrize("loss,setting,value", [
    ("dpo", "desirable_weight", 2.0), ("kto", "ipo_length_average", True), ("ipo", "label_smoothing", 0.2),
    ("pl", "undesirable_weight", 0.5), ("dpo", "rating_threshold", 3.0)])
def test_a_setting_the_chosen_loss_ignores_is_refused_at_start_up(loss, setting, value):
    """Old code: the table passed only the loss's own kwargs and silently dropped the rest."""
    from langrl.config import parse_config
    from langrl.train.dpo.loop import DPOConfig

    flag = "--" + setting.replace("_", "-")
    with pytest.raises(InputError, match=f"field '{setting}' is not used by --loss {loss}"):
        parse_config(DPOConfig, ["--data", "d.jsonl", "--loss", loss, flag, str(value)])
    # at its default, or at the value where it does nothing (label smoothing 0 is plain DPO), it is fine
    parse_config(DPOConfig, ["--data", "d.jsonl", "--loss", "dpo", "--label-smoothing", "0"])
