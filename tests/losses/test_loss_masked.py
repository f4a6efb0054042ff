"""Masked reductions, the normalizer invariance, and the torch-only import rule."""
import ast
import math
from pathlib import Path

import pytest
import torch

from langrl.losses import masked_mean, masked_sum, token_mean

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
M = torch.tensor([[1, 1, 0], [0, 1, 0]])


def test_masked_sum_and_mean_by_hand():
    # masked-in values: 1, 2, 5 -> sum 8, mean 8/3; per row: [1+2, 5] and means [1.5, 5]
    assert masked_sum(X, M).item() == pytest.approx(8.0)
    assert masked_mean(X, M).item() == pytest.approx(8 / 3)
    assert torch.allclose(masked_sum(X, M, dim=1), torch.tensor([3.0, 5.0]))
    assert torch.allclose(masked_mean(X, M, dim=1), torch.tensor([1.5, 5.0]))
    assert torch.allclose(masked_mean(X, M.bool(), dim=0), torch.tensor([1.0, 3.5, 0.0]))  # empty column -> 0


def test_masked_mean_of_empty_mask_is_zero_not_nan():
    assert masked_mean(X, torch.zeros_like(M)).item() == 0.0


def test_mask_shape_mismatch_raises():
    with pytest.raises(ValueError, match="mask: expected shape"):
        masked_mean(X, M[:, :2])


def test_token_mean_normalizer_makes_micro_batches_sum_to_the_big_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 0]])
    big = token_mean(x, mask)
    big_grad, = torch.autograd.grad(big, x)
    n_tokens = int(mask.sum())  # 11: the global count every piece divides by
    pieces = [token_mean(x[i:i + 2], mask[i:i + 2], normalizer=n_tokens) for i in (0, 2)]
    total = sum(pieces)
    grad, = torch.autograd.grad(total, x)
    assert total.item() == pytest.approx(big.item(), abs=1e-6)
    assert torch.allclose(grad, big_grad)
    # without the normalizer the per-micro-batch means do NOT average to the big-batch loss here (4 vs 7 tokens)
    naive = sum(token_mean(x[i:i + 2], mask[i:i + 2]) for i in (0, 2)) / 2
    assert not math.isclose(naive.item(), big.item(), abs_tol=1e-4)
    with pytest.raises(ValueError, match="normalizer"):
        token_mean(x, mask, normalizer=0)


def test_losses_package_imports_only_torch():
    allowed = {"torch", "__future__", "math", "typing"}
    for path in (Path(__file__).parents[2] / "src" / "langrl" / "losses").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level > 0 else [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
