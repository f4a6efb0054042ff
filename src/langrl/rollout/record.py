"""The one rollout record every trainer passes around.

Shape letters: b batch (prompts × samples), p prompt length (left-padded), t response length (right-padded),
k objectives. Every per-token tensor is aligned with ``response_ids``: column i is the i-th generated token.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch


@dataclass
class Rollout:
    """A batch of sampled responses and everything computed about them.

    Masks are 1 for tokens the policy produced and the loss should see; 0 for padding (and, in multi-turn episodes,
    environment tokens, which sit inside ``response_ids`` but were not sampled by the policy).
    """

    prompt_ids: torch.Tensor
    """(b, p) long — prompt tokens, LEFT-padded with the tokenizer's pad id."""
    prompt_mask: torch.Tensor
    """(b, p) long — 1 on real prompt tokens, 0 on left padding (the attention mask of the prompt)."""
    response_ids: torch.Tensor
    """(b, t) long — sampled tokens (incl. the EOS that ended a response), RIGHT-padded with the pad id."""
    response_mask: torch.Tensor
    """(b, t) float — 1 on policy tokens the loss and KL see, 0 on padding and environment tokens."""
    logprobs: torch.Tensor
    """(b, t) float — log π_sample(a_t | s_t): log-prob of each token under the exact distribution it was sampled from
    (after temperature, top-k/top-p and any logits mask). 0 where ``response_mask`` is 0."""
    prompts: list[str]
    """b prompt texts."""
    responses: list[str]
    """b response texts (decoded policy tokens, without EOS/pad and cut before a stop string)."""
    group: torch.Tensor
    """(b,) long — index of the prompt each row came from; the n samples of one prompt are consecutive rows."""
    ended: torch.Tensor
    """(b,) bool — True when the response ended by EOS or a stop string, False when it hit the token budget."""
    attn_mask: torch.Tensor | None = None
    """(b, t) long — attention over the response part: 1 on every real token (policy AND environment tokens), 0 on
    padding. None means equal to ``response_mask`` (single-turn)."""
    ref_logprobs: torch.Tensor | None = None
    """(b, t) float — log π_ref(a_t | s_t) under the reference policy, logits divided by the sampling temperature."""
    old_logprobs: torch.Tensor | None = None
    """(b, t) float — log π_θ_old(a_t | s_t) recomputed by the policy before the update (for the PPO ratio)."""
    values: torch.Tensor | None = None
    """(b, t) float — V(s_t) from the value head, before taking a_t."""
    dense_rewards: torch.Tensor | None = None
    """(b, t) float — per-token task rewards placed at segment ends (fine-grained rewards), before the KL term."""
    rewards: torch.Tensor | None = None
    """(b, t) float — the shaped per-token rewards the advantage estimator sees (task reward − β·KL)."""
    advantages: torch.Tensor | None = None
    """(b, t) float — advantage estimate per token."""
    returns: torch.Tensor | None = None
    """(b, t) float — return targets for the value head."""
    columns: dict = field(default_factory=dict)
    """Dataset columns aligned with the b rows (references, answers, tests, hidden task metadata...)."""

    @property
    def batch_size(self) -> int:
        return self.response_ids.shape[0]

    def select(self, idx: torch.Tensor | list[int]) -> "Rollout":
        """The rows ``idx`` (a minibatch): tensors indexed on dim 0, lists and columns picked alike."""
        idx_t = torch.as_tensor(idx, dtype=torch.long)
        idx_l = idx_t.tolist()
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                out[f.name] = v[idx_t]
            elif f.name in ("prompts", "responses"):
                out[f.name] = [v[i] for i in idx_l]
            elif f.name == "columns":
                out[f.name] = {k: [col[i] for i in idx_l] for k, col in v.items()}
            else:
                out[f.name] = v
        return replace(self, **out)

    def to(self, device) -> "Rollout":
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})
