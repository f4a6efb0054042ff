"""Pure tensor functions for RL from feedback: reward-model losses, policy losses, KL, advantages. Needs only torch.

Shape letters everywhere: b batch, t response length, n samples per prompt / list size, c categories, v vocabulary.
Losses return ``(loss, parts)``; ``parts`` is a dict of detached scalars worth logging.
"""
from .advantages import (
    discounted_returns,
    ema_baseline_update,
    gae,
    group_normalized_advantages,
    leave_one_out_advantages,
)
from .kl import (
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_update,
    kl_k1,
    kl_k2,
    kl_k3,
    kl_penalized_rewards,
)
from .masked import masked_mean, masked_sum, token_mean
from .policy import (
    dpo_loss,
    entropy_from_logits,
    entropy_from_logprobs,
    grpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    pl_dpo_loss,
    ppo_policy_loss,
    reinforce_loss,
    rpo_loss,
    value_loss,
)
from .preference import (
    IGNORE_INDEX,
    binary_loss,
    bradley_terry_loss,
    davidson_log_probs,
    davidson_loss,
    plackett_luce_loss,
    plackett_luce_tiers_loss,
    rao_kupper_log_probs,
    rao_kupper_loss,
    segment_classification_loss,
    select_heads,
)

__all__ = [
    "AdaptiveKLController", "FixedKLController", "IGNORE_INDEX", "adaptive_kl_update", "binary_loss",
    "bradley_terry_loss", "davidson_log_probs", "davidson_loss", "discounted_returns", "dpo_loss",
    "ema_baseline_update", "entropy_from_logits", "entropy_from_logprobs", "gae", "group_normalized_advantages",
    "grpo_loss", "ipo_loss", "kl_k1", "kl_k2", "kl_k3", "kl_penalized_rewards", "kto_loss", "kto_reference_point",
    "leave_one_out_advantages", "masked_mean", "masked_sum", "pl_dpo_loss",
    "plackett_luce_loss", "plackett_luce_tiers_loss", "ppo_policy_loss", "rao_kupper_log_probs", "rao_kupper_loss",
    "reinforce_loss", "rpo_loss", "segment_classification_loss", "select_heads", "token_mean", "value_loss",
]
