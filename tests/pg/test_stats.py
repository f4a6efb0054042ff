"""The data-parallel batch statistics (``train/pg/stats.py``): the library's only masked variance, whitening and
explained variance (moved here from tests/losses with the local versions they replaced: ``losses.masked_var`` too).
On one process they are local statistics."""
import math

import pytest
import torch

from langrl.losses import masked_mean
from langrl.train.pg.stats import global_explained_variance, global_mean_var, global_whiten

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
M = torch.tensor([[1, 1, 0], [0, 1, 0]])


def test_global_mean_var_by_hand():
    # values 1, 2, 5; mean 8/3; squared deviations (5/3)^2 + (2/3)^2 + (7/3)^2 = 78/9
    # biased: 78/9 / 3 = 78/27; unbiased: 78/9 / 2 = 78/18
    mean, var = global_mean_var(X, M, unbiased=False)
    assert mean == pytest.approx(8 / 3) and var == pytest.approx(78 / 27)
    assert global_mean_var(X, M)[1] == pytest.approx(78 / 18)
    with pytest.raises(ValueError, match="fewer than 2"):
        global_mean_var(X, torch.tensor([[1, 0, 0], [0, 0, 0]]))


def test_global_whiten():
    w = global_whiten(X, M)
    assert masked_mean(w, M).item() == pytest.approx(0.0, abs=1e-6)
    assert global_mean_var(w, M)[1] == pytest.approx(1.0, abs=1e-5)
    assert (w[~M.bool()] == 0).all()
    kept = global_whiten(X, M, shift_mean=False)
    assert masked_mean(kept, M).item() == pytest.approx(8 / 3, abs=1e-5)
    # (1 - 8/3) / sqrt(78/18) = -1.6667 / 2.0817 = -0.80064
    assert w[0, 0].item() == pytest.approx(-0.80064, abs=1e-4)


def test_global_explained_variance():
    returns, mask = torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1, 1, 1, 0]])
    assert global_explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert global_explained_variance(torch.full_like(returns, 2.0), returns, mask) == pytest.approx(0.0)
    # V = [1, 2, 2]: Var[R - V] = Var[0, 0, 1] = 2/9, Var[R] = 2/3 -> 1 - 1/3 = 2/3
    assert global_explained_variance(torch.tensor([[1.0, 2.0, 2.0, 0.0]]), returns, mask) == pytest.approx(2 / 3)
    assert math.isnan(global_explained_variance(returns, torch.ones_like(returns), mask))
