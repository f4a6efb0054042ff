"""The agents' admissible-action trie as a vLLM logits processor (imported only with ``--rollout-engine vllm``).

A request opts in with ``SamplingParams(extra_args={TRIE_KEY: candidates})``, ``candidates`` being the token
sequences of the admissible commands as the policy writes them (``" take key\\n"``). At every step the row's logits
outside the tokens that continue some candidate of the tokens written so far are set to −inf, before temperature and
top-k/top-p, so the token is drawn from the policy's distribution renormalised over that set — exactly
:class:`langrl.envs.admissible.AdmissibleMask` — and ``logprobs_mode="processed_logprobs"`` reports its log-prob
under that masked distribution. Every candidate ends with the action stop string, which ends the request.

vLLM's V1 model runner interface (``vllm.v1.sample.logits_processor.AdapterLogitsProcessor``); the engine selects
that runner (``VLLM_USE_V2_MODEL_RUNNER=0``) when it loads this processor.
"""
from __future__ import annotations

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from langrl.envs.admissible import allowed_next

TRIE_KEY = "langrl_admissible"


class AdmissibleTrie(AdapterLogitsProcessor):
    """Per request: logits (v,) → the same with every token outside :func:`allowed_next` at −inf."""

    @classmethod
    def validate_params(cls, params) -> None:
        cands = (params.extra_args or {}).get(TRIE_KEY)
        if cands is not None and not all(isinstance(s, list) and s for s in cands):
            raise ValueError(f"{TRIE_KEY}: expected a list of non-empty token id lists")

    def is_argmax_invariant(self) -> bool:
        return False

    def new_req_logits_processor(self, params):
        cands = (params.extra_args or {}).get(TRIE_KEY)
        if not cands:
            return None

        def mask(output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            ids = allowed_next(cands, list(output_ids))
            if not ids:  # nothing continues (a whole command was written): leave the row as is
                return logits
            out = torch.full_like(logits, float("-inf"))
            idx = torch.tensor(ids, dtype=torch.long, device=logits.device)
            out[idx] = logits[idx]
            return out

        return mask
