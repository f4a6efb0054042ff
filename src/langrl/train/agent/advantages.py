"""Advantage estimators for multi-turn episodes, one per algorithm; the losses come from ``train/pg/algorithms.py``.

The single-turn table (``train/pg/algorithms.py``) supplies each algorithm's policy loss, whether it has a value function, and
its defaults; only the advantage estimator changes with episodes, because the reward arrives per turn and γ discounts
turns (see :mod:`langrl.envs.returns`). Every estimator takes the per-token rewards (each turn's environment reward on
the last token of its action, − β·KL on every action token when the KL is in the reward; environment tokens carry
nothing) and returns an :class:`~langrl.train.pg.algorithms.AdvantageResult`:

- ``ppo``: GAE(γ, λ) over the turns of each episode, V(s_k) from the value head at the turn's first token.
- ``grpo``: the episode's discounted return Σ_k γ^k r_k, normalised within its group (episodes of the same game).
- ``rloo``: the same return minus the mean return of the other episodes of its group.
- ``reinforce``: each turn's discounted reward-to-go minus a moving-average baseline of episode returns.

Shapes: b rows, t response length; ``episode`` (b,) the episode of each row (rows of an episode consecutive),
episodes of a group consecutive, ``n`` episodes per group.
"""
from __future__ import annotations

from typing import Callable

import torch

from langrl.envs.returns import episode_returns, per_row, turn_gae, turn_returns
from langrl.losses import ema_baseline_update, group_normalized_advantages, leave_one_out_advantages
from langrl.train.pg.algorithms import AdvantageResult


def turn_gae_advantages(rewards, mask, values, *, episode, gamma: float, lam: float, **_) -> AdvantageResult:
    if values is None:
        raise ValueError("turn_gae_advantages needs the value head's values")
    adv, returns = turn_gae(rewards, values, mask, gamma, lam, episode)
    return AdvantageResult(adv, returns)


def group_episode_advantages(rewards, mask, values=None, *, episode, gamma: float, n: int, scale_std: bool = True,
                             **_) -> AdvantageResult:
    g, order = episode_returns(rewards, mask, gamma, episode)
    return AdvantageResult(per_row(group_normalized_advantages(g, n, scale=scale_std), episode, order))


def loo_episode_advantages(rewards, mask, values=None, *, episode, gamma: float, n: int, **_) -> AdvantageResult:
    g, order = episode_returns(rewards, mask, gamma, episode)
    return AdvantageResult(per_row(leave_one_out_advantages(g, n), episode, order))


def reinforce_turn_advantages(rewards, mask, values=None, *, episode, gamma: float, baseline: float | None,
                              decay: float, **_) -> AdvantageResult:
    g, _ = episode_returns(rewards, mask, gamma, episode)
    mean = float(g.mean())
    b = mean if baseline is None else baseline
    adv = (turn_returns(rewards, mask, gamma, episode) - b) * mask  # reward-to-go of the token's turn − baseline
    return AdvantageResult(adv, baseline=float(ema_baseline_update(baseline, mean, decay)))


MULTI_TURN_ADVANTAGES: dict[str, Callable[..., AdvantageResult]] = {
    "ppo": turn_gae_advantages,
    "grpo": group_episode_advantages,
    "rloo": loo_episode_advantages,
    "reinforce": reinforce_turn_advantages,
}


def episode_metrics(episodes) -> dict[str, float]:
    """Success rate, mean normalised score, mean steps and mean return of played episodes."""
    n = max(1, len(episodes))
    return {"success_rate": sum(e.won for e in episodes) / n,
            "score": sum(e.normalized_score for e in episodes) / n,
            "steps": sum(e.steps for e in episodes) / n,
            "env_return": sum(e.total_reward for e in episodes) / n}


def shaped_rewards(env_rewards: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """(b, t) per-token rewards: the environment's per-turn rewards (already on each action's last token) − β·KL on
    every action token. ``mask`` zeroes environment tokens and padding, so they carry no KL penalty."""
    return env_rewards - beta * kl * mask
