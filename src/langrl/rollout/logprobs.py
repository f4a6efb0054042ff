"""Per-token log-probs of responses given prompts: the one function every trainer uses.

One forward pass over ``[prompt ; response]`` with position ids from the attention mask (so left padding and, in
multi-turn episodes, interleaved environment tokens are handled), logits only for the response positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from langrl.losses import entropy_from_logprobs
from langrl.rollout.logits import sampling_logprobs


@dataclass
class TokenLogprobs:
    logprobs: torch.Tensor
    """(b, t) log π(a_t | s_t) of each response token (0 where ``response_mask`` is 0)."""
    entropy: torch.Tensor | None = None
    """(b, t) entropy of the (temperature-scaled, masked) next-token distribution, if asked for."""
    hidden: torch.Tensor | None = None
    """(b, t, h) last hidden state at the positions that predict each response token, if asked for (value heads)."""
    logits: torch.Tensor | None = None
    """(b, t, v) raw logits at those positions, if asked for."""


def response_logprobs(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                      response_mask: torch.Tensor, *, attn_mask: torch.Tensor | None = None, temperature: float = 1.0,
                      top_k: int = 0, top_p: float = 1.0, allowed: torch.Tensor | None = None,
                      with_entropy: bool = False, with_hidden: bool = False, with_logits: bool = False) -> TokenLogprobs:
    """Log-probs of ``response_ids`` under ``model``.

    Shapes: prompt_ids, prompt_mask (b, p) (left-padded); response_ids, response_mask (b, t) (right-padded);
    attn_mask (b, t) — which response tokens are real context (defaults to response_mask); allowed (b, t, v) bool —
    a per-position support restriction (NLPO: log-probs are then those of the masked, renormalised distribution).
    """
    b, p = prompt_ids.shape
    t = response_ids.shape[1]
    resp_attn = (attn_mask if attn_mask is not None else response_mask).long()
    input_ids = torch.cat([prompt_ids, response_ids], dim=1)
    attn = torch.cat([prompt_mask.long(), resp_attn], dim=1)
    positions = (attn.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=input_ids, attention_mask=attn, position_ids=positions, logits_to_keep=t + 1,
                output_hidden_states=with_hidden)
    logits = out.logits[:, :-1, :]  # position j predicts response token j
    if top_k or top_p < 1.0 or allowed is not None:
        lp_all = torch.stack([sampling_logprobs(logits[:, j], temperature, top_k, top_p,
                                                None if allowed is None else allowed[:, j]) for j in range(t)], 1)
    else:
        lp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    picked = lp_all.gather(-1, response_ids[..., None]).squeeze(-1)
    # where, not multiply: a padding token outside a restricted support has log-prob -inf, and -inf * 0 is NaN
    logprobs = torch.where(response_mask > 0, picked, torch.zeros_like(picked))
    res = TokenLogprobs(logprobs=logprobs)
    if with_entropy:
        res.entropy = entropy_from_logprobs(lp_all)
    if with_hidden:
        res.hidden = out.hidden_states[-1][:, p - 1: p + t - 1, :]
    if with_logits:
        res.logits = logits
    return res

