"""Length rewards and penalties: pure functions over a (b,) tensor of lengths, plus two reward wrappers.

- :func:`target_length_reward`: ``-|L - target| / target`` (0 at the target, -1 at 0 or twice the target).
- :func:`overlong_penalty`: DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13): 0 up to ``max_len - buffer``,
  then linear down to -1 at ``max_len``, and -1 beyond.
- ``length`` reward: the raw length in words or characters (``target=0``; give it a negative weight for a length
  penalty), or :func:`target_length_reward` when ``target`` is set. ``overlong`` reward: :func:`overlong_penalty`.

Token lengths need the policy's tokenizer, which rewards never see: the trainer applies these functions to its own
token counts (``response_mask.sum(-1)``) instead.

Shapes: b batch.
"""
from __future__ import annotations

from typing import Any

import torch

from langrl.errors import InputError
from langrl.rewards.protocol import RewardOutput, single

UNITS = ("words", "chars")


def text_lengths(texts: list[str], unit: str = "words") -> torch.Tensor:
    """(b,) float lengths of ``texts`` in whitespace-separated words or characters."""
    if unit not in UNITS:
        raise InputError(f"length: unit must be words or chars, got {unit!r}", field="unit")
    return torch.tensor([float(len(t.split()) if unit == "words" else len(t)) for t in texts], dtype=torch.float32)


def target_length_reward(lengths: torch.Tensor, target: float) -> torch.Tensor:
    """``-|L - target| / target`` per sample. lengths: (b,) → (b,)."""
    if target <= 0:
        raise ValueError(f"target length must be positive, got {target}")
    return -(lengths - target).abs() / target


def overlong_penalty(lengths: torch.Tensor, max_len: float, buffer: float) -> torch.Tensor:
    """DAPO soft overlong punishment (Eq. 13). lengths: (b,) → (b,) in [-1, 0].

    0 if L <= max_len - buffer; ((max_len - buffer) - L) / buffer if max_len - buffer < L <= max_len; -1 if L > max_len.
    """
    if not 0 < buffer <= max_len:
        raise ValueError(f"need 0 < buffer <= max_len, got buffer={buffer}, max_len={max_len}")
    soft = ((max_len - buffer) - lengths) / buffer  # Eq. 13, middle case
    return torch.where(lengths <= max_len - buffer, torch.zeros_like(lengths),
                       torch.where(lengths <= max_len, soft, torch.full_like(lengths, -1.0)))


class LengthReward:
    """Response length (``target=0``), or ``-|L - target| / target`` when a target length is given."""

    def __init__(self, unit: str = "words", target: float = 0.0, name: str = "length"):
        if target < 0:
            raise InputError(f"length: target must be >= 0, got {target}", field="target")
        text_lengths([], unit)  # validates the unit
        self.name, self.unit, self.target = name, unit, float(target)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        lengths = text_lengths(responses, self.unit)
        values = target_length_reward(lengths, self.target) if self.target > 0 else lengths
        return single(self.name, values.tolist())


class OverlongReward:
    """DAPO's soft overlong penalty on the response length (words or characters)."""

    def __init__(self, max_len: float, buffer: float, unit: str = "words", name: str = "overlong"):
        if not 0 < buffer <= max_len:
            raise InputError(f"overlong: need 0 < buffer <= max_len, got buffer={buffer}, max_len={max_len}",
                             field="buffer")
        text_lengths([], unit)
        self.name, self.unit, self.max_len, self.buffer = name, unit, float(max_len), float(buffer)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        return single(self.name, overlong_penalty(text_lengths(responses, self.unit), self.max_len,
                                                  self.buffer).tolist())
