"""Masked reductions and the shape checks every loss in this package uses.

Shapes (letters used across ``langrl.losses``): b batch, t response length, n samples per prompt / list size,
c categories, v vocabulary. A mask is 1 (or True) for a token the policy produced and the loss should see, 0 for prompt,
padding and environment tokens.

Token-level losses reduce with :func:`token_mean`: the masked **sum** divided by ``normalizer`` when one is given,
else by ``mask.sum()``. A trainer that splits a batch into micro-batches (or over data-parallel ranks) passes the
global number of policy tokens as ``normalizer``, and the micro-batch losses then add up to exactly the big-batch
loss (the invariance OpenRLHF's ``tests/test_loss_aggregation.py`` checks).

Batch statistics (masked variance, whitening, explained variance) are not here: they reduce over every data-parallel
rank, in :mod:`langrl.train.pg.stats`.

Shape mistakes are programmer errors, not user input, so they raise ``ValueError`` (this package may import only torch).
"""
from __future__ import annotations

import torch

_TINY = 1e-8  # guards a division by an empty mask (the numerator is 0 then, so the result is 0, not NaN)


def expect_shape(x: torch.Tensor, shape: tuple, name: str) -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape`` (``None`` entries match any size)."""
    if x.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")


def expect_same_shape(**tensors: torch.Tensor) -> torch.Size:
    """Raise ``ValueError`` unless all given tensors have one shape; return it."""
    items = list(tensors.items())
    first_name, first = items[0]
    for name, x in items[1:]:
        if x.shape != first.shape:
            raise ValueError(f"{name}: expected the shape of {first_name} {tuple(first.shape)}, got {tuple(x.shape)}")
    return first.shape


def _as_weights(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if mask.shape != like.shape:
        raise ValueError(f"mask: expected shape {tuple(like.shape)}, got {tuple(mask.shape)}")
    return mask.to(like.dtype)


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` where ``mask`` is 1. ``x``, ``mask``: any shape, the same; ``dim=None`` sums everything."""
    w = _as_weights(mask, x)
    return (x * w).sum() if dim is None else (x * w).sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (0, not NaN, where the mask is empty)."""
    w = _as_weights(mask, x)
    if dim is None:
        return (x * w).sum() / w.sum().clamp_min(_TINY)
    return (x * w).sum(dim=dim) / w.sum(dim=dim).clamp_min(_TINY)


def token_mean(x: torch.Tensor, mask: torch.Tensor, normalizer: float | None = None) -> torch.Tensor:
    """Reduce a per-token loss to a scalar: masked sum / ``normalizer`` (or / mask.sum() when it is None).

    Shapes: ``x``, ``mask`` (b, t). Pass ``normalizer`` = the number of policy tokens in the whole (global) batch when
    the batch is split into micro-batches or over ranks; the pieces then sum to the big-batch loss exactly.
    """
    if normalizer is None:
        return masked_mean(x, mask)
    if float(normalizer) <= 0:
        raise ValueError(f"normalizer: expected a positive token count, got {normalizer}")
    return masked_sum(x, mask) / normalizer
