"""NLPO's masking policy (Ramamurthy et al. 2023, "Is Reinforcement Learning (Not) for Natural Language Processing?",
Algorithm 1): a periodically synchronised copy of the policy whose top-p nucleus is the only support the policy may
sample from and is trained on.

At every generation step the masking policy π_ψ scores the same context; its nucleus (smallest set of tokens reaching
probability ``top_p``, at least ``min_tokens``) is the allowed set A_t. The policy samples from π_θ restricted to A_t
and renormalised, and the PPO ratio uses the same masked, renormalised distributions (the mask recorded while sampling,
so old and new log-probs see exactly the same support). The KL penalty uses the unmasked log-probs.

Departures from the paper / RL4LMs:
- RL4LMs' ``update_mask_model`` replaces the policy's ``_mask_model`` attribute, but its generation logits processor
  keeps the reference it was built with, so sampling keeps using the *initial* mask model forever. Here
  :meth:`NLPOMask.sync` copies the policy's weights *into* the masking model in place, so the sampler, which holds
  this object, really uses the new masking policy after a sync (tested).
- The allowed sets are recorded during sampling (bit-packed, v/8 bytes per token) instead of being recomputed in the
  loss by a second forward pass of the masking model: the same support in sampling and in the ratio, exactly, and one
  masking-model pass per token instead of two.
- Only the learned top-p mask is implemented (RL4LMs also has top-k and reference-model variants).

Shapes: b batch, p prompt length, t response length, v vocabulary.
"""
from __future__ import annotations

import copy

import torch

from langrl.rollout.logits import top_p_mask
from langrl.rollout.sampler import cache_kwarg, cache_of

_BITS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """(..., v) bool → (..., ceil(v/8)) uint8, 8 tokens per byte."""
    v = mask.shape[-1]
    pad = (-v) % 8
    if pad:
        mask = torch.nn.functional.pad(mask, (0, pad), value=False)
    grouped = mask.reshape(*mask.shape[:-1], -1, 8).to(torch.uint8)
    return (grouped * _BITS.to(mask.device)).sum(-1).to(torch.uint8)


def unpack_mask(packed: torch.Tensor, v: int) -> torch.Tensor:
    """Inverse of :func:`pack_mask`: (..., ceil(v/8)) uint8 → (..., v) bool."""
    bits = (packed[..., None] & _BITS.to(packed.device)) != 0
    return bits.reshape(*packed.shape[:-1], -1)[..., :v]


class NLPOMask:
    """The masking policy as a :class:`~langrl.rollout.logits.LogitsMask` for :func:`langrl.rollout.sample`.

    ``model`` is the masking policy's own network (a frozen copy of the policy); :meth:`sync` copies the policy's
    current weights into it. While sampling, every step's allowed set is recorded; :meth:`recorded` returns them
    packed, aligned with the rollout's response columns.
    """

    def __init__(self, model, top_p: float = 0.9, min_tokens: int = 1, temperature: float = 1.0):
        if not 0 < top_p <= 1:
            raise ValueError(f"NLPO mask top_p must be in (0, 1], got {top_p}")
        if min_tokens < 1:
            raise ValueError(f"NLPO mask min_tokens must be >= 1, got {min_tokens}")
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.top_p, self.min_tokens, self.temperature = top_p, min_tokens, temperature
        self.syncs = 0
        self._steps: list[torch.Tensor] = []
        self._past = self._logits = self._attn = self._pos = None

    @classmethod
    def copy_of(cls, policy, **kw) -> "NLPOMask":
        """A masking policy initialised as a deep copy of ``policy``."""
        return cls(copy.deepcopy(policy), **kw)

    @torch.no_grad()
    def sync(self, policy) -> None:
        """Copy the policy's current weights into the masking model (in place: every holder sees the new weights)."""
        self.model.load_state_dict(policy.state_dict())
        self.syncs += 1

    # ---- LogitsMask protocol ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> None:
        self._steps = []
        self._attn = prompt_mask.long().clone()
        positions = (self._attn.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=prompt_ids, attention_mask=self._attn, position_ids=positions, use_cache=True,
                         logits_to_keep=1)
        self._past, self._logits = cache_of(out), out.logits[:, -1, :]
        self._pos = positions[:, -1:] + 1

    @torch.no_grad()
    def allowed(self, logits: torch.Tensor) -> torch.Tensor:
        """(b, v) bool: the masking policy's nucleus for the current context (the policy's ``logits`` are unused)."""
        keep = top_p_mask(self._logits.float() / self.temperature, self.top_p, self.min_tokens)
        self._steps.append(pack_mask(keep))
        return keep

    @torch.no_grad()
    def advance(self, tokens: torch.Tensor) -> None:
        # finished rows receive pad tokens; attending to them only changes those rows' (unused) later masks
        self._attn = torch.cat([self._attn, torch.ones_like(self._attn[:, :1])], dim=1)
        out = self.model(input_ids=tokens[:, None], attention_mask=self._attn, position_ids=self._pos, use_cache=True,
                         **{cache_kwarg(self.model): self._past})
        self._past, self._logits = cache_of(out), out.logits[:, -1, :]
        self._pos = self._pos + 1

    def recorded(self, t: int) -> torch.Tensor:
        """(b, t, ceil(v/8)) uint8: the packed allowed sets of the last sampling call, one per response column."""
        if len(self._steps) < t:
            raise RuntimeError(f"NLPO mask recorded {len(self._steps)} steps for a rollout of {t} tokens")
        out = torch.stack(self._steps[:t], dim=1) if t else torch.zeros(0)
        self._steps, self._past = [], None  # free the masking model's KV cache
        return out
