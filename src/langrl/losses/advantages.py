"""Advantage and return estimators: GAE, discounted returns, group-normalised (GRPO), leave-one-out (RLOO), EMA.

Shapes: b batch (prompts), t response length, n samples per prompt. Group estimators take the (b*n,) scores of n
samples per prompt laid out contiguously: index = prompt * n + sample.

Departures:
- ``gae`` and ``discounted_returns`` skip masked-out positions: the successor of a policy token is the next policy
  token, not the next position. In a multi-turn episode the environment's tokens sit between two policy turns; they
  are not actions, so they get no advantage and do not break the credit chain. Rewards and values at masked-out
  positions are ignored, and the value after the last policy token is 0 (the episode ends there).
- Everything here is computed without gradient (advantages and returns are targets).
"""
from __future__ import annotations

import torch

from .masked import expect_same_shape, expect_shape


def _target(x: torch.Tensor) -> torch.Tensor:
    """Detached, at least float32 (bf16 rewards would lose the small terms of a long discounted sum)."""
    return x.detach().to(torch.promote_types(x.dtype, torch.float32))


@torch.no_grad()
def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eqs. 11-16); returns (advantages, returns).

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = delta_t + gamma lam A_{t+1};  returns_t = A_t + V(s_t),
    where t+1 is the next position with mask 1 and V after the last one is 0. Masked-out positions get 0 in both.
    Shapes: ``rewards``, ``values``, ``mask`` (b, t); returns two (b, t) tensors.
    """
    expect_shape(rewards, (None, None), "rewards")
    expect_same_shape(rewards=rewards, values=values, mask=mask)
    on = mask.bool()
    rewards, values = _target(rewards), _target(values)
    next_value = torch.zeros_like(rewards[:, 0])  # V after the last policy token: terminal, 0
    next_adv = torch.zeros_like(rewards[:, 0])
    adv = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # GAE eq. 11: the TD residual delta_t
        a_t = delta + gamma * lam * next_adv  # GAE eq. 16, recursive form: A_t = delta_t + gamma lam A_{t+1}
        adv[:, t] = torch.where(on[:, t], a_t, torch.zeros_like(a_t))
        next_value = torch.where(on[:, t], values[:, t], next_value)  # a masked-out position passes its successor on
        next_adv = torch.where(on[:, t], a_t, next_adv)
    returns = torch.where(on, adv + values, torch.zeros_like(adv))  # the value target: lambda-return
    return adv, returns


@torch.no_grad()
def discounted_returns(rewards: torch.Tensor, gamma: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Reward-to-go G_t = r_t + gamma G_{t+1} over positions with mask 1 (all when ``mask`` is None); 0 elsewhere.

    Shapes: ``rewards``, ``mask`` (b, t); returns (b, t).
    """
    expect_shape(rewards, (None, None), "rewards")
    if mask is None:
        mask = torch.ones_like(rewards, dtype=torch.bool)
    expect_same_shape(rewards=rewards, mask=mask)
    on = mask.bool()
    rewards = _target(rewards)
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        g = rewards[:, t] + gamma * running  # G_t = r_t + gamma G_{t+1}
        out[:, t] = torch.where(on[:, t], g, torch.zeros_like(g))
        running = torch.where(on[:, t], g, running)
    return out


def _groups(scores: torch.Tensor, n: int) -> torch.Tensor:
    expect_shape(scores, (None,), "scores")
    if n < 2:
        raise ValueError(f"n: a group baseline needs at least 2 samples per prompt, got {n}")
    if scores.shape[0] % n:
        raise ValueError(f"scores: expected a multiple of n={n} entries (b*n), got {scores.shape[0]}")
    return _target(scores).view(-1, n)


@torch.no_grad()
def group_normalized_advantages(scores: torch.Tensor, n: int, eps: float = 1e-6, scale: bool = True) -> torch.Tensor:
    """GRPO advantages: (r - mean_group) / (std_group + eps) (Shao et al. 2024, sec. 4.1.2, outcome supervision).

    ``scale=False`` drops the division by std (Dr. GRPO, Liu et al. 2025). std is the unbiased sample std.
    Shapes: ``scores`` (b*n,) with each prompt's n samples contiguous; returns (b*n,).
    """
    g = _groups(scores, n)
    adv = g - g.mean(dim=1, keepdim=True)  # r_i - mean(r)
    if scale:
        adv = adv / (g.std(dim=1, keepdim=True) + eps)  # / std(r)
    return adv.reshape(-1)


@torch.no_grad()
def leave_one_out_advantages(scores: torch.Tensor, n: int) -> torch.Tensor:
    """RLOO advantages: r_i - mean_{j != i} r_j (Ahmadian et al. 2024, eq. 6; Kool et al. 2019).

    Shapes: ``scores`` (b*n,) with each prompt's n samples contiguous; returns (b*n,).
    """
    g = _groups(scores, n)
    baseline = (g.sum(dim=1, keepdim=True) - g) / (n - 1)  # mean of the other n - 1 samples
    return (g - baseline).reshape(-1)


def ema_baseline_update(baseline, value, decay: float):
    """Moving-average baseline for REINFORCE: decay * baseline + (1 - decay) * value (``value`` when baseline is None).

    ``baseline``/``value``: floats or tensors (a tensor value is detached).
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay: expected a number in [0, 1], got {decay}")
    if isinstance(value, torch.Tensor):
        value = value.detach()
    if baseline is None:
        return value
    return decay * baseline + (1.0 - decay) * value  # b <- decay b + (1 - decay) r
