"""The online algorithms as data: each names the pure functions it plugs into the one loop in ``train/rl/loop.py``.

An :class:`Algorithm` is (advantage estimator, policy loss, needs a value function?, needs NLPO's masking policy?,
defaults for the config fields left unset). The loop never branches on the algorithm's name; a new algorithm is a new
entry here.

Advantage estimators take the shaped per-token rewards (task score on the last token + dense segment rewards − β·KL
when the KL is in the reward) and return advantages (b, t) or (b,) plus, for PPO, value targets:

- ``gae_advantages`` (PPO, NLPO): GAE(γ, λ) over tokens with the value function's V(s_t).
- ``group_advantages`` (GRPO): R_i = Σ_t r_it, then (R_i − mean_group) / std_group.
- ``loo_advantages`` (RLOO): R_i − mean_{j≠i} R_j within the prompt's group.
- ``moving_baseline_advantages`` (REINFORCE): R_i − b, b an exponential moving average of past batch means.

Shapes: b batch (prompts × samples, each prompt's samples contiguous), t response length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from langrl.losses import (ema_baseline_update, gae, group_normalized_advantages, grpo_loss,
                           leave_one_out_advantages, ppo_policy_loss, reinforce_loss)


@dataclass
class AdvantageResult:
    advantages: torch.Tensor
    """(b, t) per-token or (b,) per-sequence advantages."""
    returns: torch.Tensor | None = None
    """(b, t) value targets (estimators that use a value function), else None."""
    baseline: float | None = None
    """The updated moving baseline (REINFORCE), else None."""


def gae_advantages(rewards: torch.Tensor, mask: torch.Tensor, values: torch.Tensor | None, *, gamma: float,
                   lam: float, **_) -> AdvantageResult:
    """GAE over the response tokens (Schulman et al. 2016); ``values`` (b, t) are V(s_t) of the value function."""
    if values is None:
        raise ValueError("gae_advantages needs the value function's values")
    adv, returns = gae(rewards, values, mask, gamma, lam)
    return AdvantageResult(adv, returns)


def sequence_returns(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(b,) undiscounted sequence return Σ_t r_t over policy tokens (the score + dense rewards − β·ΣKL)."""
    return (rewards * mask).sum(dim=1)


def group_advantages(rewards: torch.Tensor, mask: torch.Tensor, values=None, *, n: int, scale_std: bool = True,
                     **_) -> AdvantageResult:
    """GRPO outcome supervision: group-normalised sequence returns (Shao et al. 2024, sec. 4.1.2)."""
    return AdvantageResult(group_normalized_advantages(sequence_returns(rewards, mask), n, scale=scale_std))


def loo_advantages(rewards: torch.Tensor, mask: torch.Tensor, values=None, *, n: int, **_) -> AdvantageResult:
    """RLOO: leave-one-out baseline within each prompt's n samples (Ahmadian et al. 2024, eq. 6)."""
    return AdvantageResult(leave_one_out_advantages(sequence_returns(rewards, mask), n))


def moving_baseline_advantages(rewards: torch.Tensor, mask: torch.Tensor, values=None, *, baseline: float | None,
                               decay: float, return_mean: float, **_) -> AdvantageResult:
    """REINFORCE with a moving baseline: A_i = R_i − b, then b ← decay·b + (1 − decay)·mean(R).

    ``return_mean`` is the mean return of the whole (global) batch; the first batch uses it as its own baseline.
    """
    seq = sequence_returns(rewards, mask)
    b = return_mean if baseline is None else baseline
    return AdvantageResult(seq - b, baseline=float(ema_baseline_update(baseline, float(return_mean), decay)))


def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, *, clip_eps: float, normalizer: float):
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7)."""
    return ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps, normalizer)


def grpo_policy_loss(logprobs, old_logprobs, advantages, mask, *, clip_eps: float, normalizer: float):
    """GRPO's clipped surrogate; its KL term is added by the loop like every other algorithm's (k3 by default)."""
    return grpo_loss(logprobs, old_logprobs, None, advantages, mask, clip_eps, 0.0, normalizer)


def reinforce_policy_loss(logprobs, old_logprobs, advantages, mask, *, clip_eps: float, normalizer: float):
    """−A·log π (no ratio, no clipping): on-policy REINFORCE / RLOO."""
    return reinforce_loss(logprobs, advantages, mask, normalizer)


@dataclass(frozen=True)
class Algorithm:
    name: str
    advantages: Callable[..., AdvantageResult]
    policy_loss: Callable[..., tuple[torch.Tensor, dict]]
    uses_value: bool = False
    uses_mask: bool = False
    group_based: bool = False
    """Needs at least 2 samples per prompt."""
    defaults: dict = field(default_factory=dict)
    """Values for the config fields left unset (None), resolved once after parsing and saved with the run."""


_TOKEN_KL = {"kl_in": "reward"}  # the estimator follows the placement: k1 in the reward, k3 in the loss
ALGORITHMS: dict[str, Algorithm] = {
    "ppo": Algorithm("ppo", gae_advantages, clipped_policy_loss, uses_value=True,
                     defaults={**_TOKEN_KL, "samples_per_prompt": 1, "epochs": 4, "whiten_advantages": True}),
    "nlpo": Algorithm("nlpo", gae_advantages, clipped_policy_loss, uses_value=True, uses_mask=True,
                      defaults={**_TOKEN_KL, "samples_per_prompt": 1, "epochs": 4, "whiten_advantages": True}),
    "grpo": Algorithm("grpo", group_advantages, grpo_policy_loss, group_based=True,
                      defaults={"kl_in": "loss", "samples_per_prompt": 4, "epochs": 1,
                                "whiten_advantages": False}),
    "rloo": Algorithm("rloo", loo_advantages, reinforce_policy_loss, group_based=True,
                      defaults={**_TOKEN_KL, "samples_per_prompt": 4, "epochs": 1, "whiten_advantages": False}),
    "reinforce": Algorithm("reinforce", moving_baseline_advantages, reinforce_policy_loss,
                           defaults={**_TOKEN_KL, "samples_per_prompt": 1, "epochs": 1, "whiten_advantages": False}),
}


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; algorithms: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
