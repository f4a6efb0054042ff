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


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.1):
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * frac))

    return f


def make_scheduler(opt, warmup: int, total: int, min_ratio: float = 0.1):
    return torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, total, min_ratio))
