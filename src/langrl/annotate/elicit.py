"""Active elicitation: which pair (or list of 4) to ask about next, as pure functions over tensors.

The lecture asks "How to improve sample efficiency of human feedback learning?" and "Humans are bad at expressing
their own preferences. Can we elicit them? (yes)". The reward model here is linear in fixed features,
r(y) = theta . x(y), with a Gaussian posterior over theta (a Laplace approximation of the Bradley-Terry /
Plackett-Luce posterior, :func:`laplace_posterior`), or an ensemble standing in for the posterior. Strategies
(a score per candidate, highest asked first):

    random         uniform scores (a seeded draw)
    disagreement   Var_e[ P_e(a > b) ] over ensemble members (for a list: the mean over its pairs)
    eig            expected information gain about theta, I(y; theta) = H[E_theta p(y|theta)] - E_theta H[p(y|theta)]
                   (Houlsby et al. 2011, "BALD"); for a pair under the Gaussian posterior z = theta . (x_a - x_b)
                   ~ N(mu, s^2) by Gauss-Hermite quadrature (:func:`eig_pair_gaussian`); for lists of 4 over the
                   4! = 24 Plackett-Luce orders with posterior samples (:func:`eig_from_samples`)
    coverage       the candidate farthest from every response already judged (greedy k-centre on the features of
                   the policy's current samples, :func:`coverage_pick`)

Departures from the papers: the posterior is over a linear head on frozen features (not the whole network); a batch
is the top-k scores, not a jointly optimised batch (BatchBALD), except ``coverage`` which is greedy by construction.

Legend: c candidates, m responses per candidate (2: a pair; 4: a list), d features, n judgements, S posterior samples,
E ensemble members, K outcomes of one question (2 for a pair, m! for a list).
"""
from __future__ import annotations

import itertools
import math

import torch

STRATEGIES = ("random", "disagreement", "eig", "coverage")


# ---------------------------------------------------------------------------------------------- the posterior
def laplace_posterior(lists: torch.Tensor, weights: torch.Tensor | None = None, *, prior_var: float = 1.0,
                      iters: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """MAP and Laplace covariance of theta for a linear Plackett-Luce / Bradley-Terry reward model.

    ``lists`` (n, m, d): each judgement's response features ordered best first (a comparison is m = 2, [chosen,
    rejected]); ``weights`` (n,) multiply each judgement's log-likelihood (recency; default ones); prior
    theta ~ N(0, prior_var I). The log posterior is
        sum_i w_i sum_k [ theta.x_{i,k} - log sum_{j >= k} exp(theta.x_{i,j}) ] - |theta|^2 / (2 prior_var)
    (Plackett 1975; with m = 2 the Bradley-Terry log sigma(theta.(x_c - x_r))). Newton's method; the precision is the
    negative Hessian, sum_i w_i sum_k Cov_{softmax over j >= k}(x) + I / prior_var (Laplace approximation).
    Returns (mean (d,), cov (d, d)), float64.
    """
    x = lists.to(torch.float64)
    n, m, d = x.shape
    w = torch.ones(n, dtype=torch.float64) if weights is None else weights.to(torch.float64)
    theta = torch.zeros(d, dtype=torch.float64)
    prec_prior = torch.eye(d, dtype=torch.float64) / prior_var
    for _ in range(iters):
        grad, hess = -theta / prior_var, prec_prior.clone()
        s = x @ theta  # (n, m)
        for k in range(m - 1):  # stage k: item k chosen from items k..m-1
            p = torch.softmax(s[:, k:], dim=1)  # (n, m - k)
            xs = x[:, k:]  # (n, m - k, d)
            mean_x = (p.unsqueeze(-1) * xs).sum(1)  # (n, d)
            grad = grad + (w.unsqueeze(1) * (xs[:, 0] - mean_x)).sum(0)
            second = torch.einsum("n,nj,njd,nje->de", w, p, xs, xs)
            hess = hess + second - torch.einsum("n,nd,ne->de", w, mean_x, mean_x)  # sum_i w_i Cov_p(x)
        step = torch.linalg.solve(hess, grad)
        theta = theta + step
        if step.abs().max() < 1e-10:
            break
    return theta, torch.linalg.inv(hess)  # at the MAP: (negative Hessian)^-1


def sample_posterior(mean: torch.Tensor, cov: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` draws of theta ~ N(mean, cov): (S, d)."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(cov + 1e-10 * torch.eye(len(mean), dtype=cov.dtype))
    return mean + torch.randn(n, len(mean), generator=g, dtype=cov.dtype) @ chol.T


# ------------------------------------------------------------------------------------------------ information
def _entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Entropy in nats of distributions along ``dim`` (0 log 0 = 0)."""
    return -(p * torch.log(p.clamp_min(1e-300))).sum(dim)


def eig_from_samples(probs: torch.Tensor) -> torch.Tensor:
    """Expected information gain of each question from posterior samples or ensemble members (BALD).

    ``probs`` (S, c, K): P(outcome | theta_s) for every sample s, candidate and outcome. Returns (c,) in nats:
    I = H[mean_s p_s] - mean_s H[p_s] (Houlsby et al. 2011, eq. 2). Each sample counts equally.
    """
    return _entropy(probs.mean(0)) - _entropy(probs).mean(0)


def eig_pair_gaussian(mu: torch.Tensor, var: torch.Tensor, nodes: int = 40) -> torch.Tensor:
    """Expected information gain of asking "a or b?" when z = r(a) - r(b) ~ N(mu, var) and P(a > b | z) = sigma(z).

    ``mu``, ``var`` (c,). I = H_b(E[sigma(z)]) - E[H_b(sigma(z))], both expectations by Gauss-Hermite quadrature
    with ``nodes`` points (probabilists' Hermite: E f(z) = sum_k w_k f(mu + s t_k) / sqrt(2 pi)). Returns (c,) nats.
    """
    import numpy as np

    t, wts = np.polynomial.hermite_e.hermegauss(nodes)
    t = torch.tensor(t, dtype=torch.float64)
    wts = torch.tensor(wts / math.sqrt(2 * math.pi), dtype=torch.float64)  # sums to 1
    z = mu.to(torch.float64).unsqueeze(-1) + var.to(torch.float64).clamp_min(0).sqrt().unsqueeze(-1) * t  # (c, q)
    p = torch.sigmoid(z)
    pq = torch.stack([p, 1 - p], -1)  # (c, q, 2)
    mean_p = (wts.unsqueeze(-1) * pq).sum(-2)  # (c, 2)
    return _entropy(mean_p) - (wts * _entropy(pq)).sum(-1)


def plackett_luce_order_probs(scores: torch.Tensor) -> torch.Tensor:
    """P(order) for every one of the m! orders of each list: ``scores`` (..., m) -> (..., m!).

    Orders in :func:`itertools.permutations` order; P(o) = prod_k exp(s_{o_k}) / sum_{j >= k} exp(s_{o_j}).
    """
    m = scores.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(m))))  # (m!, m)
    ranked = scores[..., perms]  # (..., m!, m)
    suffix = torch.logcumsumexp(ranked.flip(-1), dim=-1).flip(-1)
    return (ranked - suffix).sum(-1).exp()  # Plackett-Luce: product of the stage choice probabilities


def eig_lists(feats: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
    """Expected information gain of asking for the full order of each candidate list.

    ``feats`` (c, m, d) response features; ``thetas`` (S, d) posterior samples (or ensemble members' weights).
    With m = 2 this is the pair's information gain. Returns (c,) nats.
    """
    scores = torch.einsum("cmd,sd->scm", feats.to(thetas.dtype), thetas)  # (S, c, m)
    return eig_from_samples(plackett_luce_order_probs(scores))


def pair_eig(feats: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """:func:`eig_pair_gaussian` for candidate pairs ``feats`` (c, 2, d) under theta ~ N(mean, cov). Returns (c,)."""
    delta = (feats[:, 0] - feats[:, 1]).to(mean.dtype)  # (c, d)
    return eig_pair_gaussian(delta @ mean, torch.einsum("cd,de,ce->c", delta, cov, delta))


# ----------------------------------------------------------------------------------------------- disagreement
def ensemble_disagreement(feats: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """Variance over members of P_e(a > b) = sigma(theta_e . (x_a - x_b)), averaged over the pairs of each list.

    ``feats`` (c, m, d); ``members`` (E, d). Returns (c,).
    """
    s = torch.einsum("cmd,ed->ecm", feats.to(members.dtype), members)  # (E, c, m)
    pairs = list(itertools.combinations(range(feats.shape[1]), 2))
    out = torch.zeros(feats.shape[0], dtype=members.dtype)
    for i, j in pairs:
        out += torch.sigmoid(s[..., i] - s[..., j]).var(0, unbiased=False)
    return out / len(pairs)


# --------------------------------------------------------------------------------------------------- coverage
def coverage_pick(feats: torch.Tensor, seen: torch.Tensor, k: int) -> list[int]:
    """Greedy k-centre over the policy's current samples: ``k`` candidate indices, each time the one whose responses
    are, on average, farthest from their nearest judged (or already picked) response.

    ``feats`` (c, m, d) candidates' response features; ``seen`` (L, d) features of responses already judged (L may be
    0). Ties go to the lower index.
    """
    c, m, d = feats.shape
    flat = feats.reshape(c * m, d).to(torch.float64)
    near = torch.full((c * m,), math.inf, dtype=torch.float64)
    if len(seen):
        near = torch.cdist(flat, seen.to(torch.float64)).min(1).values
    picked: list[int] = []
    for _ in range(min(k, c)):
        novelty = near.clamp_max(1e12).reshape(c, m).mean(1)  # an empty `seen`: every distance is capped alike
        if picked:
            novelty[picked] = -1.0
        best = int(torch.argmax(novelty))  # argmax returns the first maximum
        picked.append(best)
        near = torch.minimum(near, torch.cdist(flat, flat[best * m:(best + 1) * m]).min(1).values)
    return picked


# ----------------------------------------------------------------------------------------------- one strategy
def choose(strategy: str, feats: torch.Tensor, k: int, *, seed: int, mean: torch.Tensor | None = None,
           cov: torch.Tensor | None = None, members: torch.Tensor | None = None, seen: torch.Tensor | None = None,
           samples: int = 256) -> list[int]:
    """The ``k`` candidates ``strategy`` asks about, best first (indices into ``feats`` (c, m, d)).

    ``eig`` needs ``mean``/``cov`` (pairs: quadrature; lists: ``samples`` posterior draws); ``disagreement`` needs
    ``members`` (E, d); ``coverage`` uses ``seen`` (L, d). Ties keep the lower index first (a stable sort).
    """
    c = feats.shape[0]
    k = min(k, c)
    if strategy == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.randperm(c, generator=g)[:k].tolist()
    if strategy == "coverage":
        return coverage_pick(feats, seen if seen is not None else feats.new_zeros((0, feats.shape[2])), k)
    if strategy == "eig":
        if feats.shape[1] == 2:
            score = pair_eig(feats, mean, cov)
        else:
            score = eig_lists(feats, sample_posterior(mean, cov, samples, seed))
    elif strategy == "disagreement":
        score = ensemble_disagreement(feats, members)
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    order = sorted(range(c), key=lambda i: (-float(score[i]), i))
    return order[:k]
