"""Advantage estimators, single-turn and multi-turn: pure functions of the shaped per-token rewards.

Every estimator takes the per-token rewards (the task score on the last token + dense segment rewards − β·KL when the
KL is in the reward; for episodes, each turn's environment reward on its action's last token, environment tokens
carrying nothing) and returns an :class:`AdvantageResult`. Only the settings an estimator uses are its keywords (a
misspelt or foreign one is a TypeError); the algorithm objects (:mod:`langrl.train.pg.algorithms`) pick them.

Single-turn (rows are whole responses):

- ``gae_advantages`` (PPO, NLPO): GAE(γ, λ) over tokens with the value function's V(s_t).
- ``group_advantages`` (GRPO): R_i = Σ_t r_it, then (R_i − mean_group) / std_group.
- ``loo_advantages`` (RLOO): R_i − mean_{j≠i} R_j within the prompt's group.
- ``moving_baseline_advantages`` (REINFORCE): R_i − b, b an exponential moving average of past batch means.

Multi-turn (γ discounts turns, see :mod:`langrl.envs.returns`; ``episode`` (b,) the episode of each row, rows of an
episode consecutive, episodes of a group consecutive):

- ``turn_gae_advantages`` (PPO): GAE(γ, λ) over the turns, V(s_k) from the value head at the turn's first token.
- ``group_episode_advantages`` (GRPO): the episode's discounted return Σ_k γ^k r_k, normalised within its group.
- ``loo_episode_advantages`` (RLOO): the same return minus the mean return of the other episodes of its group.
- ``reinforce_turn_advantages`` (REINFORCE): each turn's discounted reward-to-go minus a moving-average baseline.

Shapes: b batch (prompts × samples, each prompt's samples contiguous), t response length.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from langrl.envs.returns import episode_returns, per_row, turn_gae, turn_returns
from langrl.losses import ema_baseline_update, gae, group_normalized_advantages, leave_one_out_advantages
from langrl.losses.multiobjective import aggregate_advantages


@dataclass
class AdvantageResult:
    advantages: torch.Tensor
    """(b, t) per-token or (b,) per-sequence advantages."""
    returns: torch.Tensor | None = None
    """(b, t) value targets (estimators that use a value function), else None."""
    baseline: float | None = None
    """The updated moving baseline (REINFORCE), else None."""


def gae_advantages(rewards: torch.Tensor, mask: torch.Tensor, values: torch.Tensor | None, *, gamma: float,
                   lam: float) -> AdvantageResult:
    """GAE over the response tokens (Schulman et al. 2016); ``values`` (b, t) are V(s_t) of the value function."""
    if values is None:
        raise ValueError("gae_advantages needs the value function's values")
    adv, returns = gae(rewards, values, mask, gamma, lam)
    return AdvantageResult(adv, returns)


def sequence_returns(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(b,) undiscounted sequence return Σ_t r_t over policy tokens (the score + dense rewards − β·ΣKL)."""
    return (rewards * mask).sum(dim=1)


def group_advantages(rewards: torch.Tensor, mask: torch.Tensor, *, n: int, scale_std: bool = True) -> AdvantageResult:
    """GRPO outcome supervision: group-normalised sequence returns (Shao et al. 2024, sec. 4.1.2)."""
    return AdvantageResult(group_normalized_advantages(sequence_returns(rewards, mask), n, scale=scale_std))


def loo_advantages(rewards: torch.Tensor, mask: torch.Tensor, *, n: int) -> AdvantageResult:
    """RLOO: leave-one-out baseline within each prompt's n samples (Ahmadian et al. 2024, eq. 6)."""
    return AdvantageResult(leave_one_out_advantages(sequence_returns(rewards, mask), n))


def vector_group_advantages(columns: torch.Tensor, weights: torch.Tensor, rest: torch.Tensor, *, n: int,
                            aggregation: str, estimator: str, scale_std: bool = True) -> AdvantageResult:
    """GRPO/RLOO on a reward vector (``langrl rl --aggregation``; :mod:`langrl.losses.multiobjective`).

    ``columns`` (b, k) the shaped objective scores, ``weights`` (k,), ``rest`` (b,) what the sequence return holds
    besides Σ_k w_k columns_k (−β·ΣKL when the KL is in the reward, the missing-EOS penalty, clipping): A =
    aggregate(columns) + LOO(rest), the remainder given a leave-one-out baseline (never scaled, so a tiny KL
    difference is not blown up to unit variance). Without a remainder (KL in the loss) LOO(rest) is exactly 0.
    """
    adv, _ = aggregate_advantages(columns, weights, n, aggregation=aggregation, estimator=estimator, scale=scale_std)
    return AdvantageResult(adv + leave_one_out_advantages(rest, n).to(adv.dtype))


def moving_baseline_advantages(rewards: torch.Tensor, mask: torch.Tensor, *, baseline: float | None, decay: float,
                               return_mean: float) -> AdvantageResult:
    """REINFORCE with a moving baseline: A_i = R_i − b, then b ← decay·b + (1 − decay)·mean(R).

    ``return_mean`` is the mean return of the whole (global) batch; the first batch uses it as its own baseline.
    """
    seq = sequence_returns(rewards, mask)
    b = return_mean if baseline is None else baseline
    return AdvantageResult(seq - b, baseline=float(ema_baseline_update(baseline, float(return_mean), decay)))


def turn_gae_advantages(rewards, mask, values, *, episode, gamma: float, lam: float) -> AdvantageResult:
    if values is None:
        raise ValueError("turn_gae_advantages needs the value head's values")
    adv, returns = turn_gae(rewards, values, mask, gamma, lam, episode)
    return AdvantageResult(adv, returns)


def group_episode_advantages(rewards, mask, *, episode, gamma: float, n: int, scale_std: bool = True) -> AdvantageResult:
    g, order = episode_returns(rewards, mask, gamma, episode)
    return AdvantageResult(per_row(group_normalized_advantages(g, n, scale=scale_std), episode, order))


def loo_episode_advantages(rewards, mask, *, episode, gamma: float, n: int) -> AdvantageResult:
    g, order = episode_returns(rewards, mask, gamma, episode)
    return AdvantageResult(per_row(leave_one_out_advantages(g, n), episode, order))


def reinforce_turn_advantages(rewards, mask, *, episode, gamma: float, baseline: float | None,
                              decay: float) -> AdvantageResult:
    g, _ = episode_returns(rewards, mask, gamma, episode)
    mean = float(g.mean())
    b = mean if baseline is None else baseline
    adv = (turn_returns(rewards, mask, gamma, episode) - b) * mask  # reward-to-go of the token's turn − baseline
    return AdvantageResult(adv, baseline=float(ema_baseline_update(baseline, mean, decay)))
