"""Reward vectors → advantages: weighted sum, normalise-then-sum (GDPO) and per-objective group advantages.

Shapes: b batch (prompts), n samples per prompt, k objectives. ``scores`` are the (b*n, k) per-objective sequence
scores of n samples per prompt laid out contiguously (index = prompt * n + sample), ``weights`` the (k,) non-negative
objective weights w, or (b*n, k) per-sample weights (a preference-conditioned policy: each prompt's own w, shared by its
group). Everything is computed without gradient (advantages are targets).

The three aggregations of ``langrl rl --aggregation`` (GRPO/RLOO):

- ``sum`` (TRL's ``sum_then_normalize``): the scalar reward r = Σ_k w_k r_k, then the algorithm's own estimator
  (GRPO's group normalisation, RLOO's leave-one-out). This is what every run did before reward vectors.
- ``normalize_then_sum`` (GDPO, Liu et al. 2026, arXiv 2601.05242, eqs. 4-6): each objective normalised within its
  group, A_k = (r_k − mean_group r_k) / (std_group r_k + ε); A = Σ_k w_k A_k; then A normalised over the whole batch.
  An objective that the group cannot tell apart (std 0) contributes 0, so its scale cannot drown the others (the
  "reward collapse" of GRPO on summed rewards).
- ``per_objective``: each objective keeps its own advantage column A_k = estimator(r_k) (GRPO: group-normalised, RLOO:
  leave-one-out), and the policy loss sees A = Σ_k w_k A_k (no batch normalisation). For RLOO this equals ``sum`` by
  linearity of the leave-one-out baseline; for GRPO it is GDPO without the final batch normalisation.
"""
from __future__ import annotations

import torch

from .advantages import group_normalized_advantages, leave_one_out_advantages
from .masked import expect_shape

AGGREGATIONS = ("sum", "normalize_then_sum", "per_objective")
ESTIMATORS = ("grpo", "rloo")


def _check(scores: torch.Tensor, weights: torch.Tensor) -> None:
    """``weights`` (k,) for the whole batch, or (b, k): one vector per sample (a preference-conditioned policy's w,
    the same for every sample of a prompt's group)."""
    expect_shape(scores, (None, None), "scores")
    if weights.dim() == 2:
        expect_shape(weights, tuple(scores.shape), "weights")
    else:
        expect_shape(weights, (scores.shape[1],), "weights")


@torch.no_grad()
def weighted_sum(scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """r_b = Σ_k w_k · s_bk (NaN objectives skipped, as :class:`~langrl.rewards.CompositeReward`'s total).

    Shapes: ``scores`` (b, k), ``weights`` (k,) or (b, k); returns (b,).
    """
    _check(scores, weights)
    return (scores * weights.to(scores.dtype)).nansum(dim=1)  # Σ_k w_k s_k


@torch.no_grad()
def objective_advantages(scores: torch.Tensor, n: int, estimator: str = "grpo", scale: bool = True,
                         eps: float = 1e-6) -> torch.Tensor:
    """Every objective's own group advantage column: A_k = estimator(r_k) within each prompt's n samples.

    ``estimator`` grpo: (r − mean_group) / (std_group + eps) (``scale=False``: centred only, Dr. GRPO); rloo:
    r_i − mean_{j≠i} r_j. Shapes: ``scores`` (b*n, k); returns (b*n, k).
    """
    expect_shape(scores, (None, None), "scores")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    cols = []
    for j in range(scores.shape[1]):
        if estimator == "grpo":
            cols.append(group_normalized_advantages(scores[:, j], n, eps=eps, scale=scale))  # GRPO sec. 4.1.2, per k
        else:
            cols.append(leave_one_out_advantages(scores[:, j], n))  # RLOO eq. 6, per objective
    return torch.stack(cols, dim=1)


@torch.no_grad()
def per_objective_advantages(scores: torch.Tensor, weights: torch.Tensor, n: int, estimator: str = "grpo",
                             scale: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(A (b*n,), columns (b*n, k)): A = Σ_k w_k A_k with A_k = :func:`objective_advantages`.

    An objective with weight 0 contributes exactly 0 (so weights (1, 0) give the one-objective advantages bit for bit).
    """
    _check(scores, weights)
    cols = objective_advantages(scores, n, estimator, scale)
    return (cols * weights.to(cols.dtype)).sum(dim=1), cols  # A = Σ_k w_k A_k


@torch.no_grad()
def gdpo_advantages(scores: torch.Tensor, weights: torch.Tensor, n: int, eps: float = 1e-6,
                    batch_norm: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """GDPO (Liu et al. 2026): (A (b*n,), columns (b*n, k)).

    A_k = (r_k − mean_group r_k) / (std_group r_k + ε)   (eq. 4: group-decoupled normalisation, per objective)
    A_sum = Σ_k w_k A_k                                    (eq. 5)
    A = (A_sum − mean_batch A_sum) / (std_batch A_sum + ε) (eq. 6: batch-wise normalisation; ``batch_norm=False``
    skips it). std is the unbiased sample std.
    """
    a_sum, cols = per_objective_advantages(scores, weights, n, "grpo", scale=True)
    if not batch_norm or a_sum.numel() < 2:
        return a_sum, cols
    return (a_sum - a_sum.mean()) / (a_sum.std() + eps), cols  # eq. 6


@torch.no_grad()
def aggregate_advantages(scores: torch.Tensor, weights: torch.Tensor, n: int, *, aggregation: str, estimator: str,
                         scale: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The advantage of each sample under ``aggregation`` (see the module docstring); returns (A (b*n,), the (b*n, k)
    per-objective columns, or None for ``sum``, whose objectives are summed before the estimator)."""
    _check(scores, weights)
    if aggregation == "sum":
        r = weighted_sum(scores, weights)
        if estimator == "grpo":
            return group_normalized_advantages(r, n, scale=scale), None
        return leave_one_out_advantages(r, n), None
    if aggregation == "normalize_then_sum":
        if estimator != "grpo" or not scale:
            raise ValueError("normalize_then_sum (GDPO) is group normalisation: estimator grpo with scale=True")
        return gdpo_advantages(scores, weights, n)
    if aggregation == "per_objective":
        return per_objective_advantages(scores, weights, n, estimator, scale)
    raise ValueError(f"aggregation: expected one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
