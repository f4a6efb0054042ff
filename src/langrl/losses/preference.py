"""Reward-model losses for every feedback kind: ratings, pairs (with margins and ties), rankings (with tiers), segments.

Shapes: b batch, n list size, t tokens, c categories. Every loss returns ``(loss, parts)``; ``parts`` holds detached
scalar tensors worth logging. Scores are reward-model outputs (logits / log-strengths), any real number.

Departures from the papers:
- Ties are modelled, never dropped: Rao & Kupper (1967) and Davidson (1970) extend Bradley-Terry with a tie parameter
  that the caller passes as a tensor (fixed, or an ``nn.Parameter`` learned with the reward model).
- Rankings with tied tiers use Breslow's (1974) approximation of the Plackett-Luce likelihood (see
  :func:`plackett_luce_tiers_loss`), the standard choice for tied event times in Cox regression.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masked import expect_same_shape, expect_shape, masked_mean

IGNORE_INDEX = -100


def binary_loss(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Logistic loss for +1/-1 ratings; graded ratings y in [-1, 1] become the target probability (y + 1) / 2.

    For y = +1 this is -log sigma(s), for y = -1 it is -log sigma(-s) (the lecture's contextual-bandit reward model).

    Shapes: ``scores`` (b,) logits; ``labels`` (b,) floats in [-1, 1].
    parts: ``accuracy`` (sign of score agrees with sign of label, labels 0 excluded), ``score_mean``.
    """
    expect_shape(scores, (None,), "scores")
    expect_same_shape(scores=scores, labels=labels)
    labels = labels.to(scores.dtype)
    if ((labels < -1) | (labels > 1)).any():
        raise ValueError("labels: expected ratings in [-1, 1]")
    target = (labels + 1) / 2  # y in [-1, 1] -> P(good) in [0, 1]
    loss = F.binary_cross_entropy_with_logits(scores, target)  # -[p log sigma(s) + (1-p) log sigma(-s)]
    with torch.no_grad():
        decided = labels != 0
        acc = masked_mean(((scores > 0) == (labels > 0)).to(scores.dtype), decided)
        parts = {"accuracy": acc, "score_mean": scores.detach().mean()}
    return loss, parts


def bradley_terry_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Bradley-Terry pairwise loss: mean over b of -log sigma(r_c - r_r - m).

    ``margin`` m (b,) is the Llama-2 style margin for "much better" labels (0 when None).
    Shapes: ``chosen``, ``rejected``, ``margin`` (b,).
    parts: ``accuracy`` (r_c > r_r), ``margin`` (mean r_c - r_r).
    """
    expect_shape(chosen, (None,), "chosen")
    expect_same_shape(chosen=chosen, rejected=rejected)
    diff = chosen - rejected
    if margin is not None:
        expect_same_shape(chosen=chosen, margin=margin)
        diff = diff - margin
    loss = -F.logsigmoid(diff).mean()  # P(c > r) = sigma(r_c - r_r), Bradley & Terry (1952)
    with torch.no_grad():
        parts = {"accuracy": (chosen > rejected).float().mean(), "margin": (chosen - rejected).mean()}
    return loss, parts


def select_heads(scores: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
    """Attribute heads (SteerLM-style, one head per objective): each sequence's score on its own record's head.

    A record labelled for objective k trains head k only, so every kind's likelihood applies per head; for a pair it
    is Bradley-Terry per head, -log sigma(r_k(x, y_c) - r_k(x, y_r)) with k = the pair's objective.
    Shapes: ``scores`` (S, K) (S sequences, K heads), ``heads`` (S,) long in [0, K) -> (S, 1).
    """
    expect_shape(scores, (None, None), "scores")
    expect_shape(heads, (scores.shape[0],), "heads")
    if heads.numel() and (int(heads.min()) < 0 or int(heads.max()) >= scores.shape[1]):
        raise ValueError(f"heads: expected indices in [0, {scores.shape[1]})")
    return scores.gather(1, heads.long().unsqueeze(1))  # r_{o_i}: the record's objective head


def _tie_inputs(a, b, is_tie, param, param_name):
    expect_shape(a, (None,), "a")
    expect_same_shape(a=a, b=b, is_tie=is_tie)
    param = torch.as_tensor(param, dtype=a.dtype, device=a.device)
    try:
        torch.broadcast_shapes(param.shape, a.shape)
    except RuntimeError:
        msg = f"{param_name}: expected a scalar or shape {tuple(a.shape)}, got {tuple(param.shape)}"
        raise ValueError(msg) from None
    return is_tie.bool(), param


def rao_kupper_log_probs(a: torch.Tensor, b: torch.Tensor, log_theta: torch.Tensor):
    """Log-probabilities (a beats b, b beats a, tie) under Rao-Kupper with strengths pi = exp(score), theta >= 1.

    P(a > b) = pi_a / (pi_a + theta pi_b) = sigma(d - c),  P(b > a) = sigma(-d - c),
    P(tie) = (theta^2 - 1) pi_a pi_b / ((pi_a + theta pi_b)(pi_b + theta pi_a)) = sigma(c - d) - sigma(-c - d),
    with d = a - b, c = log theta >= 0. The three sum to 1; c = 0 is Bradley-Terry (no ties possible).
    """
    d, c = a - b, log_theta
    log_win = F.logsigmoid(d - c)  # Rao & Kupper (1967): pi_a / (pi_a + theta pi_b)
    log_loss = F.logsigmoid(-d - c)
    # sigma(x) - sigma(y) = sigma(x) sigma(-y) (1 - e^(y - x)) with x = c - d, y = -c - d, so y - x = -2c
    log_tie = F.logsigmoid(c - d) + F.logsigmoid(c + d) + torch.log(-torch.expm1(-2 * c))
    return log_win, log_loss, log_tie


def rao_kupper_loss(
    a: torch.Tensor, b: torch.Tensor, is_tie: torch.Tensor, log_theta: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """Rao-Kupper pairwise loss with ties: mean over b of -log P(observed outcome).

    a is the preferred item when ``is_tie`` is False. Probabilities in :func:`rao_kupper_log_probs`.
    ``log_theta`` = log theta >= 0 (a scalar tensor or (b,)); to learn it use ``softplus(raw_parameter)``.
    log_theta = 0 reduces to :func:`bradley_terry_loss` (and a tie then has probability 0, infinite loss).
    Shapes: ``a``, ``b`` (b,) scores; ``is_tie`` (b,) bool.
    parts: ``accuracy`` (a > b on non-tied pairs), ``tie_prob`` (mean model P(tie)), ``theta``.
    """
    is_tie, log_theta = _tie_inputs(a, b, is_tie, log_theta, "log_theta")
    if (log_theta < 0).any():
        raise ValueError("log_theta: expected >= 0 (theta >= 1); pass softplus(raw) to learn it")
    log_win, _, log_tie = rao_kupper_log_probs(a, b, log_theta)
    loss = -torch.where(is_tie, log_tie, log_win).mean()
    with torch.no_grad():
        parts = {
            "accuracy": masked_mean((a > b).to(a.dtype), ~is_tie),
            "tie_prob": log_tie.exp().mean(),
            "theta": log_theta.exp().mean(),
        }
    return loss, parts


def davidson_log_probs(a: torch.Tensor, b: torch.Tensor, log_nu: torch.Tensor):
    """Log-probabilities (a beats b, b beats a, tie) under Davidson's model with strengths pi = exp(score), nu > 0.

    Z = pi_a + pi_b + nu sqrt(pi_a pi_b);  P(a > b) = pi_a / Z,  P(b > a) = pi_b / Z,  P(tie) = nu sqrt(pi_a pi_b) / Z.
    The three sum to 1; nu -> 0 (log_nu -> -inf) is Bradley-Terry.
    """
    log_nu = log_nu.expand(torch.broadcast_shapes(log_nu.shape, a.shape))
    tie_logit = log_nu + (a + b) / 2
    log_z = torch.logsumexp(torch.stack([a, b, tie_logit]), dim=0)  # Davidson (1970): log Z
    return a - log_z, b - log_z, tie_logit - log_z


def davidson_loss(
    a: torch.Tensor, b: torch.Tensor, is_tie: torch.Tensor, log_nu: torch.Tensor
) -> tuple[torch.Tensor, dict]:
    """Davidson pairwise loss with ties: mean over b of -log P(observed outcome).

    a is the preferred item when ``is_tie`` is False. Probabilities in :func:`davidson_log_probs`. ``log_nu`` is any
    real (a scalar tensor or (b,); an ``nn.Parameter`` works as is); ``-inf`` gives :func:`bradley_terry_loss`.
    Shapes: ``a``, ``b`` (b,) scores; ``is_tie`` (b,) bool.
    parts: ``accuracy`` (a > b on non-tied pairs), ``tie_prob`` (mean model P(tie)), ``nu``.
    """
    is_tie, log_nu = _tie_inputs(a, b, is_tie, log_nu, "log_nu")
    log_win, _, log_tie = davidson_log_probs(a, b, log_nu)
    loss = -torch.where(is_tie, log_tie, log_win).mean()
    with torch.no_grad():
        parts = {
            "accuracy": masked_mean((a > b).to(a.dtype), ~is_tie),
            "tie_prob": log_tie.exp().mean(),
            "nu": log_nu.exp().mean(),
        }
    return loss, parts


def plackett_luce_loss(scores: torch.Tensor, order: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Plackett-Luce listwise loss: mean over b of -sum_i log( exp(s_{o_i}) / sum_{j >= i} exp(s_{o_j}) ).

    ``order[k]`` lists item indices best -> worst, padded at the end with -1 (lists of different lengths in one batch).
    The last term is log 1 = 0; with n = 2 this is exactly :func:`bradley_terry_loss`. An all-padding row adds 0.
    Shapes: ``scores`` (b, n); ``order`` (b, n) long.
    parts: ``top1_accuracy`` (the best-ranked item has the highest score in its list).
    """
    expect_shape(scores, (None, None), "scores")
    expect_same_shape(scores=scores, order=order)
    valid = order >= 0
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        raise ValueError("order: padding (-1) must come after all item indices in each row")
    if (order >= scores.shape[1]).any():
        raise ValueError(f"order: item index out of range for lists of size {scores.shape[1]}")
    ranked_idx = order.sort(dim=1).values
    if ((ranked_idx[:, 1:] == ranked_idx[:, :-1]) & (ranked_idx[:, 1:] >= 0)).any():
        raise ValueError("order: an item index appears twice in one list")
    ranked = scores.gather(1, order.clamp_min(0))
    ranked = torch.where(valid, ranked, torch.full_like(ranked, float("-inf")))
    suffix_lse = torch.logcumsumexp(ranked.flip(1), dim=1).flip(1)  # log sum_{j >= i} exp(s_{o_j})
    # Plackett (1975) / Luce (1959): log P(o_i chosen from {o_i, ..., o_last}); padding adds 0
    log_choice = torch.where(valid, ranked - suffix_lse, torch.zeros_like(ranked))
    loss = -log_choice.sum(dim=1).mean()
    with torch.no_grad():
        has_items = valid[:, 0]
        top1 = (ranked[:, 0] >= ranked.amax(dim=1)).to(scores.dtype)  # the best-ranked item scores highest
        parts = {"top1_accuracy": masked_mean(top1, has_items)}
    return loss, parts


def plackett_luce_tiers_loss(scores: torch.Tensor, tiers: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Plackett-Luce with tied tiers (e.g. B > C = D > A), Breslow's approximation.

    Each item i of tier k is "chosen" against the same denominator: every item in tier k and all worse tiers,
        loss_b = -sum_i [ s_i - log sum_{j : tier_j >= tier_i} exp(s_j) ].
    Why Breslow (1974, the usual treatment of tied event times in Cox models): the exact likelihood of a tie would sum
    PL over every ordering inside the tier (m! terms); Breslow needs none, is symmetric in the tied items, and with no
    ties it is exactly :func:`plackett_luce_loss`. A tier with m items adds m log-terms, so a worst tier of m >= 2
    tied items still pulls their scores together (its loss is >= m log m, least when their scores are equal).

    ``tiers``: tier index per item (0 = best; larger is worse; -1 = padding, anywhere in the row).
    Shapes: ``scores`` (b, n); ``tiers`` (b, n) long.
    parts: ``top1_accuracy`` (the highest-scoring item of each list is in its best tier).
    """
    expect_shape(scores, (None, None), "scores")
    expect_same_shape(scores=scores, tiers=tiers)
    if (tiers < -1).any():
        raise ValueError("tiers: expected tier indices >= 0, or -1 for padding")
    valid = tiers >= 0
    n = scores.shape[1]
    # risk[b, i, j]: item j is in item i's denominator (same or worse tier); the diagonal keeps padded rows finite
    eye = torch.eye(n, dtype=torch.bool, device=scores.device)
    risk = (valid[:, None, :] & (tiers[:, None, :] >= tiers[:, :, None])) | eye
    denom = torch.logsumexp(torch.where(risk, scores[:, None, :], float("-inf")), dim=-1)  # (b, n)
    log_choice = torch.where(valid, scores - denom, torch.zeros_like(scores))  # Breslow (1974) partial likelihood
    loss = -log_choice.sum(dim=1).mean()
    with torch.no_grad():
        masked = torch.where(valid, scores, torch.full_like(scores, float("-inf")))
        arg = masked.argmax(dim=1, keepdim=True)
        best_tier = torch.where(valid, tiers, torch.iinfo(tiers.dtype).max).amin(dim=1)
        hit = (tiers.gather(1, arg).squeeze(1) == best_tier).to(scores.dtype)
        parts = {"top1_accuracy": masked_mean(hit, valid.any(dim=1))}
    return loss, parts


def segment_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, category_names: list[str] | None = None
) -> tuple[torch.Tensor, dict]:
    """Per-category binary cross-entropy over labelled positions only (fine-grained / span feedback).

    A segment's label sits on its last token; every other position carries -100 (ignored). Labelling every token
    gives token classification. The loss is the mean BCE-with-logits over all labelled (position, category) entries.
    Shapes: ``logits`` (b, t, c); ``labels`` (b, t, c) floats in {0, 1} or -100.
    parts: ``accuracy`` over all labelled entries and ``accuracy/<name>`` per category (name = index when
    ``category_names`` is None); a category with no labelled entry in this batch is left out.
    """
    expect_shape(logits, (None, None, None), "logits")
    expect_same_shape(logits=logits, labels=labels)
    if category_names is not None and len(category_names) != logits.shape[-1]:
        raise ValueError(f"category_names: expected {logits.shape[-1]} names, got {len(category_names)}")
    labelled = labels != IGNORE_INDEX
    if (labelled & (labels != 0) & (labels != 1)).any():
        raise ValueError("labels: expected 0, 1 or -100 (ignore)")
    target = torch.where(labelled, labels, torch.zeros_like(labels)).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss = masked_mean(bce, labelled)
    with torch.no_grad():
        right = ((logits > 0) == (target > 0.5)).to(logits.dtype)
        parts = {"accuracy": masked_mean(right, labelled)}
        counts = labelled.sum(dim=(0, 1))
        per_cat = (right * labelled).sum(dim=(0, 1)) / counts.clamp_min(1)
        for k in range(logits.shape[-1]):
            if counts[k] > 0:
                parts[f"accuracy/{category_names[k] if category_names else k}"] = per_cat[k]
    return loss, parts
