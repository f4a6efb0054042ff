"""Rewards: texts (and dataset columns) in, per-objective scores out; composition; dense segment placement.

``import langrl.rewards`` needs only torch: the metric, sentiment and model libraries (sacrebleu, rouge-score,
bert-score, vaderSentiment, transformers, jsonschema) are imported when a reward that needs them is built.

- :mod:`~langrl.rewards.protocol`: :class:`RewardOutput`, :class:`Segment`, the :class:`RewardFunction` protocol,
  :func:`from_trl`.
- :mod:`~langrl.rewards.metrics`, :mod:`~langrl.rewards.bertscore`, :mod:`~langrl.rewards.sentiment`,
  :mod:`~langrl.rewards.verifiable` (+ :mod:`~langrl.rewards.sandbox`), :mod:`~langrl.rewards.length`: the rewards.
- :mod:`~langrl.rewards.compose`: :class:`CompositeReward` (weights, clipping, running normalisation, NaN policy).
- :mod:`~langrl.rewards.registry`: spec strings (``rouge:type=rougeL,weight=0.5``), :func:`build_reward`,
  :func:`build_rewards`, :func:`register_reward`.
- :mod:`~langrl.rewards.segments`: sentence/sub-sentence splitters, :func:`token_char_ends`,
  :func:`place_segment_rewards` (fine-grained RLHF, Eq. 1).
"""
from langrl.rewards.compose import CompositeReward, RunningNorm, Term
from langrl.rewards.protocol import RewardError, RewardFunction, RewardOutput, Segment, from_trl
from langrl.rewards.registry import build_reward, build_rewards, register_reward, reward_entries
from langrl.rewards.segments import (place_segment_rewards, split_sentences, split_subsentences, token_char_ends,
                                     weighted_segment_sum)

__all__ = ["CompositeReward", "RunningNorm", "Term", "RewardError", "RewardFunction", "RewardOutput", "Segment",
           "from_trl", "build_reward", "build_rewards", "register_reward", "reward_entries", "place_segment_rewards",
           "split_sentences", "split_subsentences", "token_char_ends", "weighted_segment_sum"]
