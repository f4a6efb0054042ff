"""The loop's reward model as a reward function: ``r(y) = (theta . x(y) - mean) / std`` (``--reward loop-rm:path=DIR``).

Every round of ``langrl loop`` writes ``rounds/rNN/reward.json``: the posterior mean ``theta`` of the linear reward
model on frozen features (:mod:`langrl.loop.features`; the same fit as the round's ``rm.json`` accuracy), the feature
kind, and the mean and standard deviation of ``theta . x`` over the round's own samples (so a standardised score is
about N(0, 1) on what the policy produced; GRPO does not need it, RLOO's and the KL's scale do). The score depends on
the response only (the features are of the response text), never on the prompt.

``path`` is a ``reward.json``, a round directory (``rounds/r03``) or a loop directory (its latest round with one).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from langrl.errors import InputError
from langrl.rewards.protocol import RewardOutput

FILE = "reward.json"


def reward_record(theta: torch.Tensor, features: str, scores: torch.Tensor, **extra) -> dict:
    """The ``reward.json`` content: theta (d,), the feature kind and the mean/std of ``scores`` (the round's samples'
    theta . x, (n,)); a std of 0 (one sample, or theta = 0 before any judgement) is stored as 1."""
    std = float(scores.std(unbiased=False)) if len(scores) > 1 else 0.0
    return {"features": features, "theta": theta.tolist(), "mean": float(scores.mean()) if len(scores) else 0.0,
            "std": std if std > 1e-12 else 1.0, **extra}


def find_reward_file(path: str) -> Path:
    """The ``reward.json`` that ``path`` (a file, a round directory or a loop directory) names."""
    p = Path(path)
    if p.is_file():
        return p
    if (p / FILE).is_file():
        return p / FILE
    rounds = sorted((p / "rounds").glob(f"r*/{FILE}")) if (p / "rounds").is_dir() else []
    if rounds:
        return rounds[-1]
    raise InputError(f"loop-rm: path: expected a {FILE}, a loop round directory or a loop directory (langrl loop "
                     f"--out) holding one, got {path!r}")


class LoopReward:
    """A reward model fitted by ``langrl loop`` (a round's linear model on frozen features) as a reward function."""

    def __init__(self, path: str, standardize: bool = True, name: str = "loop-rm"):
        from langrl.loop.features import Featurizer

        self.file = find_reward_file(path)
        try:
            rec = json.loads(self.file.read_text())
            self.theta = torch.tensor(rec["theta"], dtype=torch.float64)
            self.mean, self.std, kind = float(rec["mean"]), float(rec["std"]), rec["features"]
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{self.file}: loop-rm: expected theta, mean, std and features ({e})") from None
        self.feat = Featurizer(kind)
        if self.feat.dim != len(self.theta):
            raise InputError(f"{self.file}: loop-rm: theta has {len(self.theta)} weights, {kind} features "
                             f"{self.feat.dim}")
        self.standardize, self.name = bool(standardize), name

    def __call__(self, prompts: list[str] | None, responses: list[str], **columns: Any) -> RewardOutput:
        s = self.feat(list(responses)) @ self.theta  # (b,)
        if self.standardize:
            s = (s - self.mean) / self.std
        return RewardOutput(s.to(torch.float32).unsqueeze(1), [self.name])


def _register() -> None:
    from langrl.rewards.registry import register_reward

    register_reward("loop-rm", LoopReward, overwrite=True,
                    doc="a langrl loop reward model (a loop dir, round dir or reward.json): linear on frozen features")


_register()
