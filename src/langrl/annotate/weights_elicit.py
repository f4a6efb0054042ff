"""Eliciting a person's weight vector over a Pareto front from a few "which of these two do you prefer?" answers.

The lecture's "Humans are bad at expressing their own preferences. Can we elicit them? (yes)", for the
multi-objective setting: a person's trade-off is a weight vector w on the simplex (w_k >= 0, sum_k w_k = 1) and
their utility of a front point p (its k objective scores) is w . p. Asked to compare two points a and b they answer
by Bradley-Terry at temperature T:

    P(a > b | w) = sigma(w . (a - b) / T)                                               (Bradley & Terry 1952)

The posterior over w lives on a simplex grid G (the lattice of :func:`langrl.rewards.weights.weight_grid`) with a
uniform prior, so it is exact on the grid (no approximation but the grid's resolution):

    log p(w | answers) = sum_i log sigma(w . d_i / T) - log Z,   d_i = preferred_i - other_i

The next question is the pair of front points with the largest expected information gain about w (the mutual
information of the answer y and w; Houlsby et al. 2011's BALD form, as :mod:`langrl.annotate.elicit` uses for the
reward model):

    EIG(a, b) = H[ sum_g p_g q_g ] - sum_g p_g H[q_g],   q_g = P(a > b | w_g),  H the binary entropy (nats)

and the estimate is the posterior mean E[w] (on the simplex, as a mixture of simplex points). The point the person
would pick is argmax_p E[w] . p (:func:`best_point`).

Departures: the person is assumed linear in the front's scores (the same scale as the conditioned policy's w . r)
and of a known temperature; questions are chosen greedily one at a time (no lookahead).

Legend: G grid points, k objectives, P front points, n answers.
"""
from __future__ import annotations

import math

import torch


def simplex_grid(k: int, steps: int) -> torch.Tensor:
    """(G, k) the simplex lattice {w : w_i = j_i / steps, sum_i w_i = 1}, G = C(steps + k - 1, k - 1)."""
    from langrl.rewards.weights import weight_grid

    return torch.tensor(weight_grid(k, steps), dtype=torch.float64)


def log_likelihood(grid: torch.Tensor, diffs: torch.Tensor, temperature: float) -> torch.Tensor:
    """(G,) sum_i log sigma(w_g . d_i / T): grid (G, k); diffs (n, k), each row preferred minus other."""
    if diffs.numel() == 0:
        return torch.zeros(len(grid), dtype=torch.float64)
    z = grid @ diffs.T / temperature  # (G, n)
    return torch.nn.functional.logsigmoid(z).sum(1)  # Bradley-Terry likelihood of every answer


def log_posterior(grid: torch.Tensor, diffs: torch.Tensor, temperature: float) -> torch.Tensor:
    """(G,) the normalised log posterior under a uniform prior on the grid (the module docstring's formula)."""
    ll = log_likelihood(grid, diffs, temperature)
    return ll - torch.logsumexp(ll, 0)


def posterior_mean(grid: torch.Tensor, log_post: torch.Tensor) -> torch.Tensor:
    """(k,) E[w] = sum_g p_g w_g."""
    return log_post.exp() @ grid


def _entropy(q: torch.Tensor) -> torch.Tensor:
    """Binary entropy in nats, elementwise, H(0) = H(1) = 0."""
    q = q.clamp(1e-12, 1 - 1e-12)
    return -(q * q.log() + (1 - q) * (1 - q).log())


def expected_information_gain(grid: torch.Tensor, log_post: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                              temperature: float) -> torch.Tensor:
    """EIG (nats) of asking "a or b?" for every row: a, b (c, k) candidate pairs -> (c,) (the module docstring)."""
    q = torch.sigmoid(grid @ (a - b).T / temperature)  # (G, c): P(a > b | w_g)
    p = log_post.exp().unsqueeze(1)  # (G, 1)
    return _entropy((p * q).sum(0)) - (p * _entropy(q)).sum(0)  # H[E_w q] - E_w H[q]


def all_pairs(n_points: int) -> list[tuple[int, int]]:
    """Every unordered pair (i, j), i < j, of ``n_points`` front points."""
    return [(i, j) for i in range(n_points) for j in range(i + 1, n_points)]


def choose_question(points: torch.Tensor, grid: torch.Tensor, log_post: torch.Tensor, temperature: float,
                    asked: set[tuple[int, int]] = frozenset(), strategy: str = "eig",
                    generator: torch.Generator | None = None) -> tuple[int, int] | None:
    """The next pair (i, j) of front points (P, k) to ask about: the largest EIG (first on ties) or, for
    ``strategy="random"``, a uniform draw; pairs in ``asked`` are skipped; None when every pair was asked."""
    open_ = [p for p in all_pairs(len(points)) if p not in asked]
    if not open_:
        return None
    if strategy == "random":
        return open_[int(torch.randint(len(open_), (1,), generator=generator))]
    if strategy != "eig":
        raise ValueError(f"strategy: expected eig or random, got {strategy!r}")
    idx = torch.tensor(open_)
    gain = expected_information_gain(grid, log_post, points[idx[:, 0]], points[idx[:, 1]], temperature)
    return open_[int(gain.argmax())]


def best_point(points: torch.Tensor, w: torch.Tensor) -> int:
    """argmax_p w . p over the front points (P, k): the point a person with weights w prefers."""
    return int((points @ w).argmax())


def weight_error(w_hat: torch.Tensor, w_true: torch.Tensor) -> float:
    """max_k |w_hat_k - w_true_k| (for 2 objectives: the error of w_1)."""
    return float((w_hat - w_true).abs().max())


def simulate(points: torch.Tensor, w_true: torch.Tensor, *, questions: int, temperature: float,
             person_temperature: float | None = None, strategy: str = "eig", grid_steps: int = 100,
             seed: int = 0) -> list[dict]:
    """A simulated person with weights ``w_true`` (k,) answers ``questions`` questions about the front points (P, k)
    by Bradley-Terry at ``person_temperature`` (default: the model's ``temperature``; 0: always the larger w . p).

    Returns one dict per answer: the pair asked, the answer, the posterior mean after it and its error
    (:func:`weight_error`); entry 0 is the prior (no question).
    """
    grid = simplex_grid(points.shape[1], grid_steps)
    g = torch.Generator().manual_seed(seed)
    t_person = temperature if person_temperature is None else person_temperature
    diffs, asked = [], set()
    log_post = log_posterior(grid, torch.zeros((0, points.shape[1]), dtype=torch.float64), temperature)
    w_hat = posterior_mean(grid, log_post)
    out = [{"question": None, "w": w_hat.tolist(), "error": weight_error(w_hat, w_true)}]
    for _ in range(questions):
        pair = choose_question(points, grid, log_post, temperature, asked, strategy, g)
        if pair is None:
            break
        asked.add(pair)
        i, j = pair
        u = float(w_true @ (points[i] - points[j]))
        p_i = (1.0 if u > 0 else 0.0 if u < 0 else 0.5) if t_person == 0 else 1 / (1 + math.exp(-u / t_person))
        first = bool(torch.rand(1, generator=g) < p_i)
        win, lose = (i, j) if first else (j, i)
        diffs.append(points[win] - points[lose])
        log_post = log_posterior(grid, torch.stack(diffs), temperature)
        w_hat = posterior_mean(grid, log_post)
        out.append({"question": [i, j], "preferred": win, "w": w_hat.tolist(), "error": weight_error(w_hat, w_true)})
    return out


def questions_to_reach(trace: list[dict], within: float) -> int | None:
    """Answers after which the error is within ``within`` and stays so to the trace's end (None: never)."""
    n = None
    for k in range(len(trace) - 1, -1, -1):
        if trace[k]["error"] > within:
            break
        n = k
    return n
