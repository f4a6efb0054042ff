"""The KL penalty to the reference policy: the one owner of β.

max_π E[r(x, y)] − β KL(π ‖ π_ref) (Ziegler et al. 2019; the lecture's trust region). A :class:`KLPenalty` holds the
three choices every trainer makes about that term, and nothing else in ``langrl.train`` reads or writes β:

- the per-token **estimator** of KL(π ‖ π_ref) on sampled tokens: ``k1`` = log π − log π_ref, ``k2``, ``k3``
  (Schulman's estimators, :mod:`langrl.losses.kl`);
- its **placement**: subtracted from the per-token reward before the advantages (``reward``, PPO's Ziegler et al.
  shaping: :meth:`shape`, :meth:`shape_turns`), or added to the loss (``loss``, GRPO eq. 3: :meth:`loss_term`);
- its **controller**: a fixed β, or Ziegler et al.'s adaptive one, which moves β toward ``target`` KL per sequence
  over ``horizon`` samples (:meth:`update`, once per iteration after the update, from the measured KL).

β is read once per iteration (``beta``) and is the same in the shaping and in every micro-batch of the update.
Shapes: b batch, t response length.
"""
from __future__ import annotations

import torch

from langrl.errors import InputError
from langrl.losses import (AdaptiveKLController, FixedKLController, kl_k1, kl_k2, kl_k3, kl_penalized_rewards,
                           token_mean)

ESTIMATORS = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}
PLACEMENTS = ("reward", "loss")
CONTROLLERS = ("fixed", "adaptive")


class KLPenalty:
    """β · KL(π ‖ π_ref): estimator, placement (reward or loss) and controller (fixed or adaptive)."""

    def __init__(self, coef: float, *, estimator: str, placement: str, controller: str = "fixed",
                 target: float = 6.0, horizon: float = 10000):
        if estimator not in ESTIMATORS:
            raise InputError(f"kl_estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        if placement not in PLACEMENTS:
            raise InputError(f"kl_in: expected one of {', '.join(PLACEMENTS)}, got {placement!r}")
        if controller not in CONTROLLERS:
            raise InputError(f"kl_controller: expected one of {', '.join(CONTROLLERS)}, got {controller!r}")
        if coef < 0:
            raise InputError(f"kl_coef: expected >= 0, got {coef!r}")
        self.estimator, self.placement, self.controller_name = estimator, placement, controller
        self._estimate = ESTIMATORS[estimator]
        self.controller = (AdaptiveKLController(coef, target, horizon) if controller == "adaptive"
                           else FixedKLController(coef))

    @classmethod
    def from_config(cls, cfg) -> "KLPenalty":
        """From a resolved trainer config: ``kl_coef``, ``kl_estimator``, ``kl_in`` and, where the trainer has them,
        ``kl_controller``, ``kl_target``, ``kl_horizon`` (``langrl agent train``'s β is always fixed)."""
        return cls(cfg.kl_coef, estimator=cfg.kl_estimator, placement=cfg.kl_in,
                   controller=getattr(cfg, "kl_controller", "fixed"), target=getattr(cfg, "kl_target", 6.0),
                   horizon=getattr(cfg, "kl_horizon", 10000))

    @property
    def beta(self) -> float:
        """The current coefficient β."""
        return self.controller.value

    @property
    def in_reward(self) -> bool:
        return self.placement == "reward"

    @property
    def in_loss(self) -> bool:
        return self.placement == "loss"

    def per_token(self, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(b, t) the estimator on every policy token (0 elsewhere): what is logged, shaped and controlled."""
        return self._estimate(logprobs, ref_logprobs) * mask

    def shape(self, score: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor,
              dense: torch.Tensor | None = None) -> torch.Tensor:
        """(b, t) single-turn rewards: ``score`` (b,) on the last policy token + ``dense`` − β·kl when the KL is in
        the reward (β = 0 here when it is in the loss). ``kl`` from :meth:`per_token`."""
        rewards, _ = kl_penalized_rewards(score, kl, mask, self.beta if self.in_reward else 0.0, dense)
        return rewards

    def shape_turns(self, env_rewards: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(b, t) multi-turn rewards: the environment's per-turn rewards (on each action's last token) − β·KL on every
        action token; ``mask`` zeroes environment tokens and padding, so they carry no penalty."""
        return env_rewards - (self.beta if self.in_reward else 0.0) * kl * mask

    def loss_term(self, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                  normalizer: float | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(β · KL term, KL term) to add to a micro-batch loss when the KL is in the loss, else None. The KL term is
        the estimator's token mean over ``normalizer`` tokens (GRPO eq. 3), on the unmasked log-probs."""
        if not self.in_loss:
            return None
        kl = token_mean(self._estimate(logprobs, ref_logprobs.detach()), mask, normalizer)
        return self.beta * kl, kl

    def update(self, measured_kl: float, n_samples: int) -> None:
        """After an iteration: the adaptive controller moves β toward the target (no-op when fixed)."""
        self.controller.update(measured_kl, n_samples)

    def state_dict(self) -> dict:
        return self.controller.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state)
