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
    predictive     the expected reduction of the predictive variance of z = r(a) - r(b) summed over *target* pairs
                   (all the candidates: the policy's current samples), sum_t c (delta_t' Sigma delta)^2 /
                   (1 + c delta' Sigma delta) with c = sigma'(mu): transductive experimental design (Yu, Bi & Tresp
                   2006; MacKay 1992's information gain at interpolation points) — eig asks where theta is unknown,
                   this where not knowing it matters for the pairs the policy produces (:func:`greedy_pair_predictive`)
    coverage       the candidate farthest from every response already judged (greedy k-centre on the features of
                   the policy's current samples, :func:`coverage_pick`)

Departures from the papers: the posterior is over a linear head on frozen features (not the whole network); a batch
of pairs or lists is chosen greedily, each pick shrinking the covariance as its answer would (:func:`greedy_pair_eig`,
:func:`greedy_list_eig`; not BatchBALD's joint gain); ``predictive`` on lists and disagreement take the top-k scores;
``coverage`` is greedy by construction.

Legend: c candidates, m responses per candidate (2: a pair; 4: a list), d features, n judgements, S posterior samples,
E ensemble members, K outcomes of one question (2 for a pair, m! for a list).
"""
from __future__ import annotations

import itertools
import math

import torch

STRATEGIES = ("random", "disagreement", "eig", "predictive", "coverage")


# ---------------------------------------------------------------------------------------------- the posterior
def _log_posterior(x: torch.Tensor, w: torch.Tensor, theta: torch.Tensor, prior_var: float, derivatives: bool):
    """The log posterior of :func:`laplace_posterior` at ``theta`` (and its gradient and Hessian)."""
    n, m, d = x.shape
    s = x @ theta  # (n, m)
    value = -(theta @ theta) / (2 * prior_var)
    grad = -theta / prior_var
    hess = -torch.eye(d, dtype=x.dtype) / prior_var
    for k in range(m - 1):  # stage k: item k chosen from items k..m-1
        value = value + (w * (s[:, k] - torch.logsumexp(s[:, k:], dim=1))).sum()
        if derivatives:
            p = torch.softmax(s[:, k:], dim=1)  # (n, m - k)
            xs = x[:, k:]  # (n, m - k, d)
            mean_x = (p.unsqueeze(-1) * xs).sum(1)  # (n, d)
            grad = grad + (w.unsqueeze(1) * (xs[:, 0] - mean_x)).sum(0)
            a = (xs * (w.unsqueeze(1) * p).sqrt().unsqueeze(-1)).reshape(-1, d)  # rows sqrt(w_i p_ij) x_ij
            b = mean_x * w.sqrt().unsqueeze(1)
            hess = hess - a.T @ a + b.T @ b  # - sum_i w_i Cov_p(x) = - sum_i w_i (E_p[x x'] - E_p[x] E_p[x]')
    return value, grad, hess


def laplace_posterior(lists: torch.Tensor, weights: torch.Tensor | None = None, *, prior_var: float = 1.0,
                      iters: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """MAP and Laplace covariance of theta for a linear Plackett-Luce / Bradley-Terry reward model.

    ``lists`` (n, m, d): each judgement's response features ordered best first (a comparison is m = 2, [chosen,
    rejected]); ``weights`` (n,) multiply each judgement's log-likelihood (recency; default ones); prior
    theta ~ N(0, prior_var I). The log posterior is
        sum_i w_i sum_k [ theta.x_{i,k} - log sum_{j >= k} exp(theta.x_{i,j}) ] - |theta|^2 / (2 prior_var)
    (Plackett 1975; with m = 2 the Bradley-Terry log sigma(theta.(x_c - x_r))), concave: Newton's method with step
    halving until it rises. The precision is the negative Hessian at the MAP, sum_i w_i sum_k Cov_{softmax over
    j >= k}(x) + I / prior_var (the Laplace approximation). Returns (mean (d,), cov (d, d)), float64.
    """
    x = lists.to(torch.float64)
    n, m, d = x.shape
    w = torch.ones(n, dtype=torch.float64) if weights is None else weights.to(torch.float64)
    theta = torch.zeros(d, dtype=torch.float64)
    value, grad, hess = _log_posterior(x, w, theta, prior_var, True)
    for _ in range(iters):
        step = torch.linalg.solve(-hess, grad)  # Newton: theta - H^-1 g
        t = 1.0
        for _ in range(30):  # backtracking: a full step can overshoot on separable data
            new = _log_posterior(x, w, theta + t * step, prior_var, False)[0]
            if new >= value - 1e-12:
                break
            t /= 2
        theta = theta + t * step
        value, grad, hess = _log_posterior(x, w, theta, prior_var, True)
        if (t * step).abs().max() < 1e-10:
            break
    return theta, torch.linalg.inv(-hess)  # at the MAP: (negative Hessian)^-1


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


def plackett_luce_fisher(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The expected Fisher information about theta of observing one list's order: ``x`` (m, d) its responses'
    features, ``theta`` (d,) where it is taken (the posterior mean). Returns (d, d).

    For an order o the Plackett-Luce log-likelihood's negative Hessian is sum_k Cov_{softmax(s_{o_k..})}(x) (the
    precision :func:`laplace_posterior` adds for it); this is its mean over the m! orders weighted by P(o | theta).
    With m = 2 both orders give sigma(z)(1 - sigma(z)) (x_a - x_b)(x_a - x_b)^T, z = theta . (x_a - x_b).
    """
    m, d = x.shape
    x = x.to(theta.dtype)
    perms = list(itertools.permutations(range(m)))
    probs = plackett_luce_order_probs(x @ theta)  # (m!,)
    info = torch.zeros((d, d), dtype=theta.dtype)
    for p_o, order in zip(probs, perms):
        xo = x[list(order)]
        for k in range(m - 1):  # stage k: Cov of x under the softmax over the items still unplaced
            q = torch.softmax(xo[k:] @ theta, 0)  # (m - k,)
            centred = xo[k:] - q @ xo[k:]
            info = info + p_o * (centred.T * q) @ centred
    return info


def greedy_list_eig(feats: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, k: int, *, samples: int = 256,
                    seed: int = 0) -> list[int]:
    """``k`` lists by greedy information gain (:func:`eig_lists` on ``samples`` draws of N(mean, cov)): after each
    pick the precision grows by the list's expected Fisher information (:func:`plackett_luce_fisher` at the mean),
    as :func:`greedy_pair_eig` does for pairs, so a batch does not ask several lists about one direction. The draws
    share one seed (common random numbers), so the gains of successive picks differ only by the covariance.
    ``feats`` (c, m, d). Returns candidate indices, best first.
    """
    cov = cov.clone()
    picked: list[int] = []
    for _ in range(min(k, len(feats))):
        gain = eig_lists(feats, sample_posterior(mean, cov, samples, seed))
        if picked:
            gain[picked] = -1.0
        best = int(torch.argmax(gain))
        picked.append(best)
        precision = torch.linalg.inv(cov) + plackett_luce_fisher(feats[best], mean)
        cov = torch.linalg.inv(precision)
        cov = (cov + cov.T) / 2  # keep it symmetric for the Cholesky of the next draw
    return picked


def pair_eig(feats: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """:func:`eig_pair_gaussian` for candidate pairs ``feats`` (c, 2, d) under theta ~ N(mean, cov). Returns (c,)."""
    delta = (feats[:, 0] - feats[:, 1]).to(mean.dtype)  # (c, d)
    return eig_pair_gaussian(delta @ mean, torch.einsum("cd,de,ce->c", delta, cov, delta))


def greedy_pair_eig(feats: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, k: int) -> list[int]:
    """``k`` pairs by greedy information gain: after each pick the covariance shrinks as if its answer were in,
    Sigma <- Sigma - c Sigma delta delta^T Sigma / (1 + c delta^T Sigma delta), c = sigma(mu)(1 - sigma(mu)) at the
    posterior mean (the Laplace precision gains c delta delta^T whatever the answer; Sherman-Morrison), so the batch
    does not ask k versions of one question. ``feats`` (c, 2, d). The first pick is the top of :func:`pair_eig`.
    """
    delta = (feats[:, 0] - feats[:, 1]).to(mean.dtype)  # (c, d)
    mu = delta @ mean
    cov = cov.clone()
    picked: list[int] = []
    for _ in range(min(k, len(delta))):
        gain = eig_pair_gaussian(mu, torch.einsum("cd,de,ce->c", delta, cov, delta))
        if picked:
            gain[picked] = -1.0
        best = int(torch.argmax(gain))  # the first maximum: ties go to the lower index
        picked.append(best)
        v = cov @ delta[best]
        c = torch.sigmoid(mu[best]) * (1 - torch.sigmoid(mu[best]))
        cov = cov - c * torch.outer(v, v) / (1 + c * (delta[best] @ v))  # Sherman-Morrison rank-one update
    return picked


def greedy_pair_predictive(feats: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, k: int,
                           targets: torch.Tensor | None = None) -> list[int]:
    """``k`` pairs by greedy expected reduction of the predictive variance on target pairs (see ``predictive``).

    ``feats`` (c, 2, d) candidates; ``targets`` (T, d) target differences x_a - x_b (default: the candidates'). The
    covariance shrinks after each pick as in :func:`greedy_pair_eig`. Returns candidate indices, best first.
    """
    delta = (feats[:, 0] - feats[:, 1]).to(mean.dtype)  # (c, d)
    tgt = delta if targets is None else targets.to(mean.dtype)  # (T, d)
    mu = delta @ mean
    c_all = torch.sigmoid(mu) * (1 - torch.sigmoid(mu))  # sigma'(mu): the Laplace precision one answer adds
    cov = cov.clone()
    picked: list[int] = []
    for _ in range(min(k, len(delta))):
        cross = tgt @ cov @ delta.T  # (T, c): Cov(z_t, z_c)
        var = torch.einsum("cd,de,ce->c", delta, cov, delta)
        gain = c_all * (cross ** 2).sum(0) / (1 + c_all * var)  # sum_t of the drop in Var(z_t) if c is asked
        if picked:
            gain[picked] = -1.0
        best = int(torch.argmax(gain))
        picked.append(best)
        v = cov @ delta[best]
        cov = cov - c_all[best] * torch.outer(v, v) / (1 + c_all[best] * (delta[best] @ v))  # Sherman-Morrison
    return picked


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

    ``eig`` and ``predictive`` need ``mean``/``cov`` (eig on lists: ``samples`` posterior draws); ``disagreement`` needs
    ``members`` (E, d); ``coverage`` uses ``seen`` (L, d). Ties keep the lower index first (a stable sort).
    """
    c = feats.shape[0]
    k = min(k, c)
    if strategy == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.randperm(c, generator=g)[:k].tolist()
    if strategy == "coverage":
        return coverage_pick(feats, seen if seen is not None else feats.new_zeros((0, feats.shape[2])), k)
    if strategy == "predictive":
        m = feats.shape[1]
        if m == 2:
            return greedy_pair_predictive(feats, mean, cov, k)
        pairs = list(itertools.combinations(range(m), 2))  # a list: the sum over its pairs, each alone (top-k)
        flat = torch.stack([feats[:, [i, j]] for i, j in pairs], 1).reshape(-1, 2, feats.shape[2])  # (c*P, 2, d)
        delta = (flat[:, 0] - flat[:, 1]).to(mean.dtype)
        mu = delta @ mean
        cc = torch.sigmoid(mu) * (1 - torch.sigmoid(mu))
        gain = cc * ((delta @ cov @ delta.T) ** 2).sum(0) / (1 + cc * torch.einsum("cd,de,ce->c", delta, cov, delta))
        score = gain.reshape(c, len(pairs)).sum(1)
    elif strategy == "eig":
        if feats.shape[1] == 2:
            return greedy_pair_eig(feats, mean, cov, k)
        return greedy_list_eig(feats, mean, cov, k, samples=samples, seed=seed)
    elif strategy == "disagreement":
        score = ensemble_disagreement(feats, members)
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    order = sorted(range(c), key=lambda i: (-float(score[i]), i))
    return order[:k]
