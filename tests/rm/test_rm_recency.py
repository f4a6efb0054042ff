"""Per-record weights in reward-model training: the weighted loss by hand, and --recency-half-life / --window."""
from __future__ import annotations

import json
import math

import pytest
import torch

from langrl.config import parse_config
from langrl.errors import InputError
from langrl.models.rm.data import Item
from langrl.models.rm.losses import batch_counts, micro_batch_loss
from langrl.train.rm.loop import RMConfig, run_rm_train

from .conftest import feedback_rows, train_args, write_jsonl


class TableModel:
    """A stand-in reward model: each "sequence" is its own score (one head)."""

    tie_param = None
    tie_model = None
    categories: list = []

    def collate(self, seqs):
        return {"scores": torch.tensor([[float(s)] for s in seqs], requires_grad=True)}

    def __call__(self, scores, tokens=False):
        return {"scores": scores}


def test_weighted_comparison_loss_by_hand():
    items = [Item("comparison", [2.0, 0.0]), Item("comparison", [0.0, 1.0])]
    # -log sigma(2 - 0) = 0.126928; -log sigma(0 - 1) = 1.313262
    l1, l2 = math.log1p(math.exp(-2)), math.log1p(math.exp(1))
    assert (l1, l2) == pytest.approx((0.126928, 1.313262), abs=1e-6)
    counts = batch_counts(items)
    plain, _ = micro_batch_loss(TableModel(), items, torch.ones(2, 1), **counts)
    assert plain.item() == pytest.approx((l1 + l2) / 2, abs=1e-6)  # 0.720095
    # weights 1 and 0.5: (1 * 0.126928 + 0.5 * 1.313262) / 2 = 0.391780
    weighted, parts = micro_batch_loss(TableModel(), items, torch.tensor([[1.0], [0.5]]), **counts)
    assert weighted.item() == pytest.approx(0.391780, abs=1e-6)
    assert parts["loss/comparison"] == (pytest.approx((l1 + l2) / 2, abs=1e-6), 2)  # rows pooled for logging
    # one half of each: the old constant-weight path (bootstrap 2/0) is unchanged
    boot, _ = micro_batch_loss(TableModel(), items, torch.tensor([[2.0], [0.0]]), **counts)
    assert boot.item() == pytest.approx(2 * l1 / 2, abs=1e-6)


def timed_comparisons(tmp_path, times):
    rows = [dict(r, time=t) for r, t in zip(feedback_rows()["comparison"], times)]
    return write_jsonl(tmp_path / "timed.jsonl", rows)


def train(*args) -> dict:
    cfg, _ = parse_config(RMConfig, list(args))
    return run_rm_train(cfg, quiet=True)


def test_recency_half_life_and_window_change_training(tmp_path, toy_model_dir):
    data = timed_comparisons(tmp_path, [0, 0, 3600, 3600, 7200, 7200])
    plain = train(*train_args(data, tmp_path / "plain", toy_model_dir))
    recent = train(*train_args(data, tmp_path / "recent", toy_model_dir, "--recency-half-life", "600"))
    assert plain["finished"] and recent["finished"] and recent["train_items"] == 6
    assert recent["final_loss"] != pytest.approx(plain["final_loss"], abs=1e-9)
    window = train(*train_args(data, tmp_path / "window", toy_model_dir, "--window", "3600"))
    assert window["train_items"] == 4  # the two records 7200 s before the newest are left out
    cfg = json.loads((tmp_path / "recent" / "langrl_metrics.json").read_text())
    assert cfg["train_records"] == 6


def test_recency_needs_a_time_on_every_record(tmp_path, toy_model_dir, fb_files):
    with pytest.raises(InputError, match="field 'time': missing on training record 1"):
        train(*train_args(fb_files["comparison"], tmp_path / "x", toy_model_dir, "--recency-half-life", "60"))
    with pytest.raises(InputError, match="recency-half-life and --window must be >= 0"):
        train(*train_args(fb_files["comparison"], tmp_path / "y", toy_model_dir, "--window", "-1"))
