"""KL estimators, KL-coefficient controllers and KL-shaped per-token rewards.

Shapes: b batch, t response length. Per-token estimators follow Schulman, "Approximating KL Divergence" (2020): tokens
are sampled from the policy q = pi_theta, p = pi_ref, r = p(x) / q(x) = exp(ref_logp - logp), and the target is
KL[q || p] = E_q[-log r]:
    k1 = -log r               unbiased, high variance, can be negative per sample
    k2 = (log r)^2 / 2        biased (low bias when q and p are close), low variance, >= 0
    k3 = (r - 1) - log r      unbiased, low variance, >= 0
The adaptive controller is Ziegler et al. (2019), "Fine-Tuning Language Models from Human Preferences", sec. 2.2, in the
form of their code (the error is divided by the horizon and multiplied by the number of samples since the last update).
"""
from __future__ import annotations

import torch

from .masked import expect_same_shape, expect_shape


def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k1 = -log r = logp - ref_logp per token. Shapes: any, the same; returns that shape."""
    expect_same_shape(logp=logp, ref_logp=ref_logp)
    return logp - ref_logp  # Schulman (2020): k1 = -log r


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k2 = (log r)^2 / 2 per token. Shapes: any, the same; returns that shape."""
    expect_same_shape(logp=logp, ref_logp=ref_logp)
    return 0.5 * (ref_logp - logp) ** 2  # Schulman (2020): k2 = (log r)^2 / 2


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 = (r - 1) - log r per token, r = exp(ref_logp - logp). Shapes: any, the same; returns that shape."""
    expect_same_shape(logp=logp, ref_logp=ref_logp)
    log_r = ref_logp - logp
    return torch.expm1(log_r) - log_r  # Schulman (2020): k3 = (r - 1) - log r


def adaptive_kl_update(beta: float, current_kl: float, target: float, horizon: float, n_steps: int) -> float:
    """One step of Ziegler et al.'s proportional controller; returns the new beta.

    e = clip(KL / target - 1, -0.2, 0.2);  beta <- beta * (1 + e * n_steps / horizon).
    """
    if target <= 0 or horizon <= 0:
        raise ValueError(f"adaptive KL: target and horizon must be positive, got target={target}, horizon={horizon}")
    error = min(max(float(current_kl) / target - 1.0, -0.2), 0.2)  # Ziegler et al. (2019) sec. 2.2: e_t
    return float(beta) * (1.0 + error * n_steps / horizon)  # beta_{t+1} = beta_t (1 + K_beta e_t), K_beta = n / horizon


class FixedKLController:
    """A constant KL coefficient (``.update`` does nothing)."""

    def __init__(self, value: float):
        self.value = float(value)

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op, so trainers can call it whatever the controller."""

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])


class AdaptiveKLController:
    """Ziegler et al. (2019) adaptive KL coefficient: steers the measured KL toward ``target``."""

    def __init__(self, init_value: float, target: float, horizon: float):
        if target <= 0 or horizon <= 0:
            raise ValueError(f"adaptive KL: target and horizon must be positive, got {target}, {horizon}")
        self.value, self.target, self.horizon = float(init_value), float(target), float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        """``current_kl``: the mean per-sequence KL of the last batch; ``n_steps``: sequences in that batch."""
        self.value = adaptive_kl_update(self.value, float(current_kl), self.target, self.horizon, n_steps)

    def state_dict(self) -> dict:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict) -> None:
        self.value, self.target, self.horizon = float(state["value"]), float(state["target"]), float(state["horizon"])


def kl_penalized_rewards(
    scores: torch.Tensor,
    kl: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    dense_rewards: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """Per-token rewards: the task score on the LAST policy token, plus dense rewards, minus beta * KL on every one.

    R(x, y) = r(x, y) - beta KL[pi || pi_ref]  (Ziegler et al. 2019 eq. 2), spread over tokens as in torchtune's
    ``get_rewards_ppo``: rewards[i, t] = -beta kl[i, t] * mask[i, t]  (+ scores[i] at the last t with mask 1)
    (+ dense_rewards[i, t]). Dense rewards come already placed on tokens (``langrl.rewards`` places them); one on a
    masked-out token would be silently lost by the advantage estimators, so it is an error.

    Shapes: ``scores`` (b,); ``kl``, ``mask``, ``dense_rewards`` (b, t); returns rewards (b, t).
    parts: ``task_term`` (mean score + dense sum per sequence), ``kl`` (mean per-sequence summed KL), ``kl_term``
    (mean of -beta * that), ``total`` (mean per-sequence reward sum).
    """
    expect_shape(kl, (None, None), "kl")
    expect_shape(scores, (kl.shape[0],), "scores")
    expect_same_shape(kl=kl, mask=mask)
    w = mask.to(kl.dtype)
    counts = w.sum(dim=1)
    if (counts == 0).any():
        raise ValueError("mask: every response needs at least one policy token to carry its score")
    positions = torch.arange(kl.shape[1], device=kl.device).expand_as(kl)
    last = torch.where(mask.bool(), positions, -1).amax(dim=1)  # (b,) index of the last policy token
    kl_term = -beta * kl * w
    task = torch.zeros_like(kl).scatter(1, last[:, None], scores.to(kl.dtype)[:, None])
    if dense_rewards is not None:
        expect_same_shape(kl=kl, dense_rewards=dense_rewards)
        if ((dense_rewards != 0) & ~mask.bool()).any():
            raise ValueError("dense_rewards: a nonzero reward sits on a masked-out (prompt/pad/environment) token")
        task = task + dense_rewards.to(kl.dtype)
    rewards = task + kl_term
    with torch.no_grad():
        parts = {
            "task_term": task.sum(dim=1).mean(),
            "kl": (kl * w).sum(dim=1).mean(),
            "kl_term": kl_term.sum(dim=1).mean(),
            "total": rewards.sum(dim=1).mean(),
        }
    return rewards, parts
