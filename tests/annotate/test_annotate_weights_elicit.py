"""Eliciting a weight vector over a front (langrl.annotate.weights_elicit): hand-worked posterior and information
gain on 2 objectives, recovery of several simulated people's weights, and EIG asking better than random."""
from __future__ import annotations

import math
import statistics

import pytest
import torch

from langrl.annotate import weights_elicit as we

F64 = torch.float64


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def quarter_circle(n: int = 11) -> torch.Tensor:
    """(n, 2) a concave 2-objective front: (cos a, sin a) for a in 0..pi/2."""
    a = torch.linspace(0, math.pi / 2, n, dtype=F64)
    return torch.stack([a.cos(), a.sin()], 1)


def octant() -> torch.Tensor:
    """(15, 3) a concave 3-objective front: the unit vectors (a, b, c) / |(a, b, c)| with a + b + c = 4."""
    pts = [t([a, b, 4 - a - b]) for a in range(5) for b in range(5 - a)]
    return torch.stack([p / p.norm() for p in pts])


def test_posterior_mean_and_information_gain_by_hand():
    grid = we.simplex_grid(2, 2)  # w in (1, 0), (0.5, 0.5), (0, 1)
    assert grid.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    # one answer, a = (1, 0) preferred to b = (0, 1), T = 1: w . (a - b) = w1 - w2 = 1, 0, -1, so the likelihoods are
    # sigma(1) = 0.7311, sigma(0) = 0.5, sigma(-1) = 0.2689 (sum 1.5) and the posterior 0.4874, 0.3333, 0.1793;
    # E[w1] = 0.4874 * 1 + 0.3333 * 0.5 + 0.1793 * 0 = 0.6540, E[w2] = 0.3460
    lp = we.log_posterior(grid, t([[1.0, -1.0]]), temperature=1.0)
    assert lp.exp().tolist() == pytest.approx([0.4874, 0.3333, 0.1793], abs=1e-4)
    assert we.posterior_mean(grid, lp).tolist() == pytest.approx([0.6540, 0.3460], abs=1e-4)
    # EIG of "a or b?" under the uniform prior: the predictive P(a > b) = (0.7311 + 0.5 + 0.2689) / 3 = 0.5, so
    # H = ln 2 = 0.6931; H(0.7311) = H(0.2689) = 0.7311 * 0.3133 + 0.2689 * 1.3133 = 0.5822, so
    # E_w H = (0.5822 + 0.6931 + 0.5822) / 3 = 0.6192 and EIG = 0.6931 - 0.6192 = 0.0740 nats
    prior = we.log_posterior(grid, t([]).reshape(0, 2), temperature=1.0)
    assert we.expected_information_gain(grid, prior, t([[1, 0]]), t([[0, 1]]), 1.0).item() == pytest.approx(0.0740,
                                                                                                               abs=1e-4)
    # the closer pair (1, 0) vs (0.5, 0.5): z = 0.5, 0, -0.5, sigma(0.5) = 0.6225, H(0.6225) = 0.6225 * 0.4740 +
    # 0.3775 * 0.9742 = 0.6628, EIG = 0.6931 - (2 * 0.6628 + 0.6931) / 3 = 0.0202 < 0.0740: the far pair is asked
    points = t([[1, 0], [0, 1], [0.5, 0.5]])
    gain = we.expected_information_gain(grid, prior, points[[0]], points[[2]], 1.0).item()
    assert gain == pytest.approx(0.0202, abs=1e-4)
    assert we.choose_question(points, grid, prior, 1.0) == (0, 1)
    assert we.choose_question(points, grid, prior, 1.0, asked={(0, 1)}) in {(0, 2), (1, 2)}
    assert we.choose_question(points, grid, prior, 1.0, asked={(0, 1), (0, 2), (1, 2)}) is None
    # the point a person with E[w] = (0.654, 0.346) picks: w . p = 0.654, 0.346, 0.5 -> (1, 0)
    assert we.best_point(points, t([0.654, 0.346])) == 0


def test_grid_posterior_invariants():
    grid = we.simplex_grid(3, 6)
    assert len(grid) == math.comb(6 + 2, 2) and torch.allclose(grid.sum(1), torch.ones(len(grid), dtype=F64))
    diffs = t([[0.3, -0.1, -0.2], [-0.05, 0.2, -0.15]])
    lp = we.log_posterior(grid, diffs, 0.1)
    assert lp.exp().sum().item() == pytest.approx(1.0)
    w = we.posterior_mean(grid, lp)
    assert w.sum().item() == pytest.approx(1.0) and bool((w >= 0).all())  # a mixture of simplex points
    # the order of the answers does not matter
    assert torch.allclose(lp, we.log_posterior(grid, diffs.flip(0), 0.1))
    # EIG is non-negative, and 0 for a pair every w answers the same way with certainty ((1, 1, 1) dominates 0)
    g = we.expected_information_gain(grid, lp, t([[0.9, 0.1, 0.0], [1.0, 1.0, 1.0]]), t([[0.1, 0.9, 0.0], [0, 0, 0]]),
                                     0.01)
    assert bool((g >= -1e-12).all()) and g[1].item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("w1", [0.15, 0.35, 0.5, 0.65, 0.85])
def test_a_simulated_person_is_recovered_within_0_1_in_8_questions(w1):
    # a person answering by Bradley-Terry at the model's temperature (0.05: noisy between neighbouring points),
    # 11 points of a concave front; every seed's estimate within 0.1 of the truth after at most 8 questions
    w = t([w1, 1 - w1])
    for seed in range(5):
        trace = we.simulate(quarter_circle(), w, questions=8, temperature=0.05, seed=seed)
        assert len(trace) == 9 and trace[0]["w"] == pytest.approx([0.5, 0.5])  # the prior's mean first
        assert trace[-1]["error"] <= 0.1, (w1, seed, [round(x["error"], 3) for x in trace])
        assert len({tuple(x["question"]) for x in trace[1:]}) == 8  # never the same question twice


@pytest.mark.parametrize("w", [(0.2, 0.3, 0.5), (0.6, 0.2, 0.2), (1 / 3, 1 / 3, 1 / 3), (0.1, 0.7, 0.2)])
def test_three_objectives_are_recovered_on_average(w):
    # 15 front points on 3 objectives, 16 questions: the mean error over 5 seeds within 0.1
    errors = [we.simulate(octant(), t(w), questions=16, temperature=0.05, grid_steps=30, seed=s)[-1]["error"]
              for s in range(5)]
    assert statistics.mean(errors) <= 0.1, errors


def test_information_gain_asks_better_than_random_on_average():
    # the mean error after 4 questions over 5 weights x 10 seeds; can fail: random questions that happen to split
    # the posterior as well would tie
    def mean_error(strategy: str) -> float:
        return statistics.mean(
            we.simulate(quarter_circle(), t([w1, 1 - w1]), questions=4, temperature=0.05, strategy=strategy,
                        seed=s)[-1]["error"] for w1 in (0.15, 0.35, 0.5, 0.65, 0.85) for s in range(10))

    eig, rnd = mean_error("eig"), mean_error("random")
    assert eig < 0.75 * rnd, (eig, rnd)


def test_questions_to_reach_counts_until_the_error_stays_within():
    trace = [{"error": e} for e in (0.3, 0.08, 0.2, 0.09, 0.05)]
    assert we.questions_to_reach(trace, 0.1) == 3  # within at 1, out again at 2, within from 3 on
    assert we.questions_to_reach(trace, 0.01) is None
    assert we.questions_to_reach(trace, 0.5) == 0
