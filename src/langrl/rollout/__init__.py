"""Rollouts: the record, the KV-cached sampler, per-token log-probs, logits masks."""
from langrl.rollout.logits import LogitsMask, sampling_logprobs, top_k_mask, top_p_mask
from langrl.rollout.logprobs import TokenLogprobs, response_logprobs
from langrl.rollout.record import Rollout
from langrl.rollout.sampler import encode_prompts, sample, sample_prompts

__all__ = ["LogitsMask", "Rollout", "TokenLogprobs", "encode_prompts", "response_logprobs", "sample", "sample_prompts",
           "sampling_logprobs", "top_k_mask", "top_p_mask"]
