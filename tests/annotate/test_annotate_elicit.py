"""Selection math of active elicitation (langrl.annotate.elicit), with hand-worked numbers."""
from __future__ import annotations

import math

import pytest
import torch

from langrl.annotate import elicit as el

# one pair (a, b) with 1-d features x_a = 1, x_b = 0: r(a) - r(b) = theta
PAIR = torch.tensor([[[1.0], [0.0]]])


def test_information_gain_of_a_two_point_posterior_by_hand():
    # theta = +1 or -1 with probability 1/2 each: P(a > b) = sigma(1) = 0.731059 or sigma(-1) = 0.268941.
    # H[mean p] = H_b(0.5) = ln 2 = 0.693147; E H[p] = H_b(0.731059) = 0.731059*0.313262 + 0.268941*1.313262 = 0.582203
    # I = 0.693147 - 0.582203 = 0.110944 nats
    p = torch.tensor([[[math.exp(1) / (1 + math.exp(1)), 1 / (1 + math.exp(1))]],
                      [[1 / (1 + math.exp(1)), math.exp(1) / (1 + math.exp(1))]]], dtype=torch.float64)  # (S=2, c=1, K=2)
    assert el.eig_from_samples(p).item() == pytest.approx(0.110944, abs=1e-6)
    # the same through Plackett-Luce lists of 2 with the two members as samples
    assert el.eig_lists(PAIR, torch.tensor([[1.0], [-1.0]], dtype=torch.float64)).item() == pytest.approx(0.110944,
                                                                                                        abs=1e-6)


def test_laplace_posterior_of_two_items_by_hand():
    # one judgement a > b, prior theta ~ N(0, 1). MAP: d/dtheta [log sigma(theta) - theta^2/2] = 1 - sigma(theta) - theta
    # = 0 -> theta* = 0.40106 (sigma(0.40106) = 0.59894; 1 - 0.59894 = 0.40106). Precision = 1 + sigma(1 - sigma)
    # = 1 + 0.59894 * 0.40106 = 1.24021 -> variance 1 / 1.24021 = 0.80631
    mean, cov = el.laplace_posterior(PAIR)
    assert mean.item() == pytest.approx(0.40106, abs=1e-4)
    assert cov.item() == pytest.approx(0.80631, abs=1e-4)
    # a weight of 2 is the same judgement made twice
    mean2, _ = el.laplace_posterior(PAIR, torch.tensor([2.0]))
    mean_twice, _ = el.laplace_posterior(PAIR.repeat(2, 1, 1))
    assert mean2.item() == pytest.approx(mean_twice.item(), abs=1e-9)


def test_gaussian_pair_gain_matches_sampling_and_vanishes_without_uncertainty():
    mean, cov = el.laplace_posterior(PAIR)
    quad = el.pair_eig(PAIR, mean, cov).item()
    mc = el.eig_lists(PAIR, el.sample_posterior(mean, cov, 200_000, seed=0)).item()
    assert quad == pytest.approx(mc, abs=2e-3)
    assert 0.05 < quad < math.log(2)
    # no posterior variance -> nothing to learn; at mu = 0 the gain grows with the variance
    assert el.eig_pair_gaussian(torch.tensor([0.7]), torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-12)
    gains = el.eig_pair_gaussian(torch.zeros(3), torch.tensor([0.1, 1.0, 10.0]))
    assert gains[0] < gains[1] < gains[2] < math.log(2)


def test_plackett_luce_order_probabilities():
    s = torch.tensor([[0.3, -1.0, 2.0, 0.5]], dtype=torch.float64)
    p = el.plackett_luce_order_probs(s)
    assert p.shape == (1, 24) and p.sum().item() == pytest.approx(1.0)
    # order (2, 0, 3, 1): e^2/(e^2+e^.3+e^.5+e^-1) * e^.3/(e^.3+e^.5+e^-1) * e^.5/(e^.5+e^-1)
    e = math.exp
    hand = e(2) / (e(2) + e(.3) + e(.5) + e(-1)) * e(.3) / (e(.3) + e(.5) + e(-1)) * e(.5) / (e(.5) + e(-1))
    import itertools
    assert p[0, list(itertools.permutations(range(4))).index((2, 0, 3, 1))].item() == pytest.approx(hand)
    # two items: sigma of the difference
    assert el.plackett_luce_order_probs(torch.tensor([1.0, 0.0]))[0].item() == pytest.approx(1 / (1 + e(-1)))


def test_a_list_of_four_tells_more_than_one_of_its_pairs():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 4, 3, generator=g, dtype=torch.float64)
    thetas = torch.randn(500, 3, generator=g, dtype=torch.float64)
    list_gain = el.eig_lists(feats, thetas).item()
    pair_gain = el.eig_lists(feats[:, :2], thetas).item()
    assert list_gain > pair_gain > 0  # the order of 4 determines the order of its first two


def test_ensemble_disagreement_by_hand():
    # members theta = 1 and -1: P(a > b) = 0.731059 and 0.268941, mean 0.5, variance 0.231059^2 = 0.053388
    d = el.ensemble_disagreement(PAIR, torch.tensor([[1.0], [-1.0]]))
    assert d.item() == pytest.approx(0.053388, abs=1e-5)
    assert el.ensemble_disagreement(PAIR, torch.tensor([[1.0], [1.0]])).item() == pytest.approx(0.0)


def test_coverage_is_greedy_k_centre_by_hand():
    # judged: the origin. Candidates' mean distance to it: c0 (1,0),(0,1) -> 1; c1 (3,0),(0,3) -> 3; c2 (3,0),(0,4)
    # -> 3.5: pick c2. Then c1's (3,0) is 0 from c2's (3,0) and (0,3) is 1 from (0,4): mean 0.5 < c0's 1: pick c0.
    feats = torch.tensor([[[1., 0], [0, 1]], [[3., 0], [0, 3]], [[3., 0], [0, 4]]])
    assert el.coverage_pick(feats, torch.tensor([[0., 0]]), 3) == [2, 0, 1]
    assert el.choose("coverage", feats, 2, seed=0, seen=torch.tensor([[0., 0]])) == [2, 0]


def test_choose_orders_by_gain_and_random_is_seeded():
    # pair 0 is nearly decided (big gap along a well-known direction), pair 1 sits on the fence
    mean = torch.tensor([3.0, 0.0], dtype=torch.float64)
    cov = torch.diag(torch.tensor([0.01, 2.0], dtype=torch.float64))
    feats = torch.tensor([[[1., 0], [0, 0]], [[0, 1.], [0, 0]]])
    assert el.choose("eig", feats, 2, seed=0, mean=mean, cov=cov) == [1, 0]
    assert el.choose("random", feats, 2, seed=5) == el.choose("random", feats, 2, seed=5)
    with pytest.raises(ValueError, match="unknown strategy"):
        el.choose("nope", feats, 1, seed=0)


def test_greedy_batch_does_not_ask_the_same_question_twice():
    # pairs 0 and 1 are the same uncertain direction, pair 2 another slightly less uncertain one: top-k would take
    # 0 and 1; after asking 0 the direction is known better (variance 2 -> 2 / (1 + 0.25 * 2) = 1.333 < 1.5), so 2
    mean = torch.zeros(2, dtype=torch.float64)
    cov = torch.diag(torch.tensor([2.0, 1.5], dtype=torch.float64))
    feats = torch.tensor([[[1., 0], [0, 0]], [[1., 0], [0, 0]], [[0, 1.], [0, 0]]])
    gains = el.pair_eig(feats, mean, cov)
    assert gains[0] == gains[1] > gains[2]
    assert el.greedy_pair_eig(feats, mean, cov, 2) == [0, 2]
    assert el.choose("eig", feats, 2, seed=0, mean=mean, cov=cov) == [0, 2]


def test_predictive_variance_weighs_the_targets_by_hand():
    # candidates (= targets) delta = e1, e1, e2; mean 0 so c = sigma'(0) = 0.25; cov = I.
    # gain(j) = c * sum_t (delta_t' S delta_j)^2 / (1 + c delta_j' S delta_j): e1 -> 0.25 * 2 / 1.25 = 0.4,
    # e2 -> 0.25 * 1 / 1.25 = 0.2: pick 0. Then S = I - 0.25 e1 e1' / 1.25 = diag(0.8, 1):
    # e1 -> 0.25 * (0.8^2 + 0.8^2) / (1 + 0.25 * 0.8) = 0.266667 > e2 -> 0.2: pick 1 (two targets lie along e1),
    # where eig, blind to the targets, takes e2 (variance 1 > 0.8)
    feats = torch.tensor([[[1., 0], [0, 0]], [[1., 0], [0, 0]], [[0, 1.], [0, 0]]])
    mean, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    assert el.greedy_pair_predictive(feats, mean, cov, 2) == [0, 1]
    assert el.choose("predictive", feats, 2, seed=0, mean=mean, cov=cov) == [0, 1]
    assert el.choose("eig", feats, 2, seed=0, mean=mean, cov=cov) == [0, 2]
    # lists of 4 are scored by the sum over their pairs
    lists = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0))
    assert sorted(el.choose("predictive", lists, 3, seed=0, mean=mean, cov=cov)) == [0, 1, 2]


def test_plackett_luce_fisher_of_a_pair_by_hand():
    # a pair x_a = 1, x_b = 0 at theta = 0.5: z = 0.5, sigma(0.5) = 0.622459, information sigma (1 - sigma)
    # = 0.622459 * 0.377541 = 0.235004, whichever order is observed
    info = el.plackett_luce_fisher(PAIR[0].double(), torch.tensor([0.5], dtype=torch.float64))
    assert info.item() == pytest.approx(0.235004, abs=1e-6)
    # a list of 3 at theta = 0, 1-d features 0, 1, 2: every order has probability 1/6; stage 1 is uniform over all
    # three, variance ((0-1)^2 + 0 + (2-1)^2) / 3 = 2/3; stage 2 is uniform over the two left, variance (gap/2)^2:
    # left {1, 2} or {0, 2} or {0, 1} (each in 2 of the 6 orders) -> 1/4, 1, 1/4, mean 1/2; total 2/3 + 1/2 = 7/6
    x3 = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    assert el.plackett_luce_fisher(x3, torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(7 / 6, abs=1e-9)


def test_greedy_list_batch_does_not_ask_one_direction_twice():
    # lists 0 and 1 are the same four responses along e1 (prior variance 2), list 2 the same along e2 (variance 1.5):
    # top-k by information gain takes 0 and 1; after list 0 the precision along e1 grows by its Fisher information
    # at theta = 0 (0.3125 + ... > 0.2: 4 values 0, .5, 1, 1.5 have variance 0.3125 at stage 1 alone), so the
    # variance along e1 drops below 1 / (1/2 + 0.3125) = 1.23 < 1.5 and list 2 is asked next
    steps = torch.tensor([0.0, 0.5, 1.0, 1.5])
    along = [torch.stack([steps, torch.zeros(4)], 1), torch.stack([torch.zeros(4), steps], 1)]
    feats = torch.stack([along[0], along[0], along[1]]).double()  # (3, 4, 2)
    mean = torch.zeros(2, dtype=torch.float64)
    cov = torch.diag(torch.tensor([2.0, 1.5], dtype=torch.float64))
    gains = el.eig_lists(feats, el.sample_posterior(mean, cov, 256, 0))
    assert gains[0] == gains[1] > gains[2]  # what a top-k would ask: 0 and 1
    assert el.greedy_list_eig(feats, mean, cov, 2, seed=0) == [0, 2]
    assert el.choose("eig", feats, 2, seed=0, mean=mean, cov=cov) == [0, 2]
