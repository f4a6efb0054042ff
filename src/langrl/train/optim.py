"""Optimizer and learning-rate schedule shared by every trainer."""
from __future__ import annotations

import math

import torch


def make_optimizer(params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.95)) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, or over parameter groups (dicts with ``params`` and their own ``lr``)."""
    params = list(params)
    if params and isinstance(params[0], dict):
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    return torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, betas=betas, weight_decay=weight_decay)


def cosine_decay(frac: float, min_ratio: float) -> float:
    """The multiplier ``frac`` (0 → 1, clipped) of the way along a cosine from 1 down to ``min_ratio``."""
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.1):
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return cosine_decay((step - warmup) / max(1, total - warmup), min_ratio)

    return f


class WarmupStableDecay:
    """LR multiplier of the warm-up–stable–decay schedule (WSD: Hu et al. 2024, MiniCPM §4.1; Hägele et al. 2024):
    linear warm-up over ``warmup`` steps, then 1 until ``decay_start``, then a cosine from 1 to ``min_ratio`` over
    ``decay_steps`` steps (``min_ratio`` after that).

    ``decay_start`` may be moved while training (:meth:`start_decay`): a run whose held-out loss stops falling at the
    stable rate starts its decay there, so "trained until the loss stops falling" does not depend on a schedule length
    fixed in advance (a cosine's falling rate flattens the loss whether or not the model has converged).
    """

    def __init__(self, warmup: int, decay_start: int, decay_steps: int, min_ratio: float = 0.1):
        self.warmup, self.decay_start, self.decay_steps, self.min_ratio = warmup, decay_start, decay_steps, min_ratio

    def start_decay(self, step: int) -> None:
        self.decay_start = min(self.decay_start, step)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if step < self.decay_start:
            return 1.0
        return cosine_decay((step - self.decay_start) / max(1, self.decay_steps), self.min_ratio)


def make_scheduler(opt, warmup: int, total: int, min_ratio: float = 0.1):
    return torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, total, min_ratio))
