"""Pure functions that turn next-token logits into the distribution a token is sampled from.

Shape letters: b batch, v vocabulary. Everything here is differentiable where it makes sense, so the same function
serves the sampler (no grad) and the loss (the NLPO ratio uses the masked, renormalised distribution).
"""
from __future__ import annotations

from typing import Protocol

import torch

NEG_INF = float("-inf")


def top_k_mask(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(b, v) bool: True on the ``k`` largest logits of each row (all True when k <= 0 or k >= v)."""
    if k <= 0 or k >= logits.shape[-1]:
        return torch.ones_like(logits, dtype=torch.bool)
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits >= kth


def top_p_mask(logits: torch.Tensor, p: float, min_tokens: int = 1) -> torch.Tensor:
    """(b, v) bool: the nucleus — the smallest set of most likely tokens whose probability reaches ``p``
    (Holtzman et al. 2020), with at least ``min_tokens`` kept. All True when p >= 1."""
    if p >= 1.0:
        return torch.ones_like(logits, dtype=torch.bool)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each token
    keep_sorted = before < p
    keep_sorted[..., :min_tokens] = True
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def sampling_logprobs(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                      allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(b, v) log-probs of the distribution actually sampled from: logits / temperature, restricted to
    top-k ∩ top-p ∩ ``allowed`` (a (b, v) bool mask, e.g. NLPO's masking policy), renormalised.

    With temperature 1, no truncation and no mask this is ``log_softmax(logits)``.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (use a small value such as 1e-3 for near-greedy sampling)")
    scaled = logits.float() / temperature
    keep = top_k_mask(scaled, top_k) & top_p_mask(scaled, top_p)
    if allowed is not None:
        keep = keep & allowed
    if allowed is not None or top_k > 0 or top_p < 1.0:
        # a row whose mask removes everything falls back to its argmax, so sampling never sees an empty support
        empty = ~keep.any(-1, keepdim=True)
        if empty.any():
            keep = keep | (empty & (scaled == scaled.max(-1, keepdim=True).values))
        scaled = scaled.masked_fill(~keep, NEG_INF)
    return torch.log_softmax(scaled, dim=-1)


class LogitsMask(Protocol):
    """A stateful hook that restricts which tokens may be sampled (NLPO's masking policy, admissible actions).

    The sampler calls ``reset`` once with the prompt batch, then per step ``allowed(logits)`` → (b, v) bool and
    ``advance(tokens)`` with the (b,) tokens just sampled.
    """

    def reset(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> None: ...

    def allowed(self, logits: torch.Tensor) -> torch.Tensor: ...

    def advance(self, tokens: torch.Tensor) -> None: ...
