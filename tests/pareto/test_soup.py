"""Rewarded soups: θ = Σ_k w_k θ_k, hand-worked; one-hot weights give the ingredient bit for bit; bad input refused."""
import pytest
import torch

from langrl.models.soup import interpolate_state_dicts


def test_interpolation_hand_worked():
    a = {"w": torch.tensor([0.0, 2.0]), "pos": torch.tensor([0, 1])}
    b = {"w": torch.tensor([4.0, 6.0]), "pos": torch.tensor([0, 1])}
    out = interpolate_state_dicts([a, b], [0.25, 0.75])
    # 0.25 * [0, 2] + 0.75 * [4, 6] = [0 + 3, 0.5 + 4.5] = [3, 5]
    assert torch.equal(out["w"], torch.tensor([3.0, 5.0]))
    assert torch.equal(out["pos"], a["pos"]) and out["w"].dtype == torch.float32


def test_one_hot_weights_give_the_ingredient_bit_for_bit(toy_lm):
    from copy import deepcopy

    other = deepcopy(toy_lm)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p))
    out = interpolate_state_dicts([toy_lm.state_dict(), other.state_dict()], [0.0, 1.0])
    assert all(torch.equal(out[k], v) for k, v in other.state_dict().items())


@pytest.mark.parametrize("weights, match", [([0.5], "one weight per"), ([0.7, 0.7], "summing to 1"),
                                            ([1.5, -0.5], "non-negative")])
def test_bad_weights_are_refused(weights, match):
    sd = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match=match):
        interpolate_state_dicts([sd, sd], weights)


def test_mismatched_state_dicts_are_refused():
    with pytest.raises(ValueError, match="different keys"):
        interpolate_state_dicts([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}], [0.5, 0.5])
    with pytest.raises(ValueError, match="shapes differ"):
        interpolate_state_dicts([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-float"):
        interpolate_state_dicts([{"p": torch.tensor([1])}, {"p": torch.tensor([2])}], [0.5, 0.5])
