"""Batch statistics over all data-parallel ranks: sums, means, maxima, whitening, explained variance.

The library's only masked variance, whitening and explained variance (the local versions ``langrl.losses`` once had,
``masked_var``, ``masked_whiten`` and ``explained_variance``, were removed: on one process these give the same
statistics, in float64). Each rank holds a share of the global batch; these functions reduce over every rank so that
whitening and logging see the global batch, exactly as one process holding all of it would (one process: plain local
statistics).
Shapes: any ``x`` with a ``mask`` of the same shape (1 = counted).
"""
from __future__ import annotations

import torch

from langrl import distributed as dist


def global_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (a copy; the input is untouched)."""
    return dist.all_reduce_sum(values.detach().clone().double())


def global_max(values: torch.Tensor) -> torch.Tensor:
    """Element-wise max over ranks (a copy)."""
    out = values.detach().clone().double()
    if dist.is_distributed():
        torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.MAX)
    return out


def global_means(pairs: dict[str, tuple[float, float]]) -> dict[str, float]:
    """{name: (sum, count)} of local shares → {name: global sum / global count} in one all-reduce (NaN for count 0)."""
    if not pairs:
        return {}
    names = list(pairs)
    tot = global_sum(torch.tensor([[float(pairs[n][0]), float(pairs[n][1])] for n in names]))
    return {n: (tot[i, 0] / tot[i, 1]).item() if tot[i, 1] > 0 else float("nan") for i, n in enumerate(names)}


def global_mean_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> tuple[float, float]:
    """Masked mean and variance of ``x`` over every rank's share (two passes: mean, then squared deviations)."""
    w = mask.to(torch.float64)
    xd = x.detach().to(torch.float64)
    s = global_sum(torch.stack([(xd * w).sum(), w.sum()]))
    count = s[1].item()
    mean = (s[0] / s[1]).item() if count > 0 else 0.0
    sq = global_sum(((xd - mean) ** 2 * w).sum()).item()
    if unbiased:
        if count < 2:
            raise ValueError("a variance over fewer than 2 values")
        return mean, sq / (count - 1)
    return mean, sq / max(count, 1.0)


def global_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Whiten ``x`` with the masked mean and (unbiased) variance of the global batch; masked-out positions are set to 0.

    ``shift_mean=False`` keeps the original mean (only rescales), as PPO implementations do for rewards.
    Shape: ``x``, ``mask`` any shape, the same; returns that shape (and ``x``'s dtype)."""
    mean, var = global_mean_var(x, mask)
    white = (x - mean) * (var + eps) ** -0.5
    if not shift_mean:
        white = white + mean
    return torch.where(mask.bool(), white, torch.zeros_like(white))


def global_explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 − Var[R − V] / Var[R] over the global batch (NaN when the returns have no variance)."""
    _, var_r = global_mean_var(returns, mask, unbiased=False)
    if var_r == 0:
        return float("nan")
    _, var_e = global_mean_var(returns - values, mask, unbiased=False)
    return 1.0 - var_e / var_r
