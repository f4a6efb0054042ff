"""Value functions for PPO/NLPO: a head on the policy's shared backbone, or a separate value model.

Both give V(s_t) for every response position, aligned with ``Rollout.response_ids``: column j is the value of the
state *before* response token j is taken (the hidden state at the position that predicts token j). Shapes: b batch,
p prompt length, t response length, h hidden size.

- :class:`SharedValueHead` reads the hidden states of the policy's own forward pass (one forward for log-probs and
  values; the value loss trains the shared backbone too, weighted by ``vf_coef``).
- :class:`SeparateValueModel` is its own copy of the backbone plus a head (RL4LMs' and InstructGPT's choice): twice the
  weights and a second forward pass, but the value loss never disturbs the policy.

The head is a bias-free linear layer initialised to zero, so every value starts at 0 (no random baseline at step 0).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class ValueHead(nn.Module):
    """Linear map from a hidden state to a scalar value; zero-initialised."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1, bias=False)
        nn.init.zeros_(self.linear.weight)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (b, t, h) → values (b, t) in float32."""
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1).float()


def _hidden_size(model) -> int:
    cfg = getattr(model, "config", None)
    size = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None) or getattr(cfg, "d_model", None)
    if not size:
        raise ValueError(f"cannot find the hidden size of {type(model).__name__} (config.hidden_size)")
    return int(size)


class SharedValueHead(nn.Module):
    """A value head on the policy's backbone: needs the policy forward's hidden states (``needs_policy_hidden``)."""

    needs_policy_hidden = True

    def __init__(self, policy):
        super().__init__()
        self.head = ValueHead(_hidden_size(policy))

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                attn_mask: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """values (b, t) from ``hidden`` (b, t, h), the policy's last hidden states at the predicting positions."""
        if hidden is None:
            raise ValueError("SharedValueHead needs the policy's hidden states (response_logprobs(with_hidden=True))")
        return self.head(hidden)


class SeparateValueModel(nn.Module):
    """Its own transformer backbone (a copy of a causal LM's base model) plus a :class:`ValueHead`."""

    needs_policy_hidden = False

    def __init__(self, causal_lm):
        super().__init__()
        base = causal_lm.get_base_model() if hasattr(causal_lm, "peft_config") else causal_lm
        self.backbone = copy.deepcopy(base.base_model)  # the decoder without the LM head
        for p in self.backbone.parameters():
            p.requires_grad_(True)
        self.head = ValueHead(_hidden_size(base))

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                attn_mask: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """values (b, t). prompt_ids/prompt_mask (b, p) left-padded; response_ids/attn_mask (b, t) right-padded.
        ``hidden`` is ignored (this model runs its own forward pass)."""
        p, t = prompt_ids.shape[1], response_ids.shape[1]
        ids = torch.cat([prompt_ids, response_ids], dim=1)
        attn = torch.cat([prompt_mask.long(), attn_mask.long()], dim=1)
        positions = (attn.cumsum(-1) - 1).clamp(min=0)
        out = self.backbone(input_ids=ids, attention_mask=attn, position_ids=positions)
        hidden_all = out.last_hidden_state  # (b, p + t, h)
        return self.head(hidden_all[:, p - 1: p + t - 1, :])  # position j predicts response token j


def make_value_function(kind: str, policy) -> nn.Module:
    """``shared`` → :class:`SharedValueHead`; ``separate`` → :class:`SeparateValueModel` (a copy of ``policy``'s
    backbone as it is now)."""
    factories = {"shared": SharedValueHead, "separate": SeparateValueModel}
    if kind not in factories:
        raise ValueError(f"value model kind must be one of {sorted(factories)}, got {kind!r}")
    return factories[kind](policy)
