"""The reward-function protocol: texts (and dataset columns) in, a ``(b, k)`` table of scores out.

A reward function never sees policy tensors. It is called on a batch of prompts and responses plus any dataset
columns (``answer``, ``reference``, ``tests`` ...), each a list with one value per sample, and returns a
:class:`RewardOutput`: one column per *objective* (most rewards have one), optional dense per-segment rewards (the
fine-grained RLHF setting; placed onto tokens by :func:`langrl.rewards.segments.place_segment_rewards`) and free-form
``info`` (per-sample reasons such as ``"timeout"`` or ``"syntax_error"``).

Shapes: b batch, k objectives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import torch

from langrl.errors import InputError


@dataclass
class Segment:
    """A dense reward for one segment of a response: ``value`` lands on the token holding character ``end - 1``.

    ``end`` is the exclusive character offset of the segment's end in the response text the reward saw.
    """

    end: int
    value: float
    objective: str


@dataclass
class RewardOutput:
    """Scores of one reward call.

    Fields:
        scores: (b, k) float32, one column per objective (higher is better).
        names: the k objective names, in column order.
        segments: per sample, the dense segment rewards (or None when the reward is sequence-level only).
        info: anything worth logging, e.g. ``{"reasons": [None, "timeout", ...]}`` (lists have one entry per sample).
    """

    scores: torch.Tensor
    names: list[str]
    segments: list[list[Segment]] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.scores.dim() != 2 or self.scores.shape[1] != len(self.names):
            raise ValueError(f"RewardOutput: scores must be (b, k={len(self.names)}) for names {self.names}, "
                             f"got shape {tuple(self.scores.shape)}")
        if self.scores.dtype != torch.float32:
            self.scores = self.scores.float()
        if self.segments is not None and len(self.segments) != self.scores.shape[0]:
            raise ValueError(f"RewardOutput: {len(self.segments)} segment lists for a batch of {self.scores.shape[0]}")

    def column(self, name: str) -> torch.Tensor:
        """The (b,) scores of objective ``name``."""
        if name not in self.names:
            raise KeyError(f"no objective {name!r}; objectives: {self.names}")
        return self.scores[:, self.names.index(name)]


@runtime_checkable
class RewardFunction(Protocol):
    """Anything with a ``name`` and ``__call__(prompts, responses, **columns) -> RewardOutput`` (batched)."""

    name: str

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput: ...


class RewardError(RuntimeError):
    """A reward function failed; the message names the reward (and the sample index when known)."""

    def __init__(self, message: str, *, reward: str | None = None, index: int | None = None):
        super().__init__(message)
        self.reward, self.index = reward, index


def single(name: str, values: Sequence[float], info: dict | None = None,
           segments: list[list[Segment]] | None = None) -> RewardOutput:
    """A one-objective :class:`RewardOutput` from b floats (None becomes NaN: "no score")."""
    col = [float("nan") if v is None else float(v) for v in values]
    return RewardOutput(torch.tensor(col, dtype=torch.float32).reshape(-1, 1), [name], segments, info or {})


def map_samples(name: str, fn: Callable[..., Any], *iterables: Iterable) -> list:
    """``[fn(*args) for args in zip(*iterables)]``, re-raising a failure as RewardError naming the reward and sample."""
    out = []
    for i, args in enumerate(zip(*iterables)):
        try:
            out.append(fn(*args))
        except (InputError, RewardError):
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the reward and sample named
            raise RewardError(f"reward {name!r} failed on sample {i}: {type(e).__name__}: {e}",
                              reward=name, index=i) from e
    return out


def column(columns: dict, key: str, reward: str, b: int) -> list:
    """The dataset column ``key`` (one value per sample), or an InputError naming the column and the reward."""
    if key not in columns or columns[key] is None:
        have = ", ".join(sorted(columns)) or "none"
        raise InputError(f"reward {reward!r} needs a column {key!r} (one value per sample); columns given: {have}",
                         field=key)
    values = list(columns[key])
    if len(values) != b:
        raise InputError(f"reward {reward!r}: column {key!r} has {len(values)} values for {b} responses", field=key)
    return values


def references(columns: dict, reward: str, b: int, key: str | None = None,
               fallbacks: tuple[str, ...] = ("references", "reference")) -> list[list[str]]:
    """One list of reference strings per sample, from ``key`` or the first of ``fallbacks`` present.

    A column value may be a string (one reference) or a list of strings (several).
    """
    keys = (key,) if key else fallbacks
    found = next((k for k in keys if columns.get(k) is not None), None)
    if found is None:
        have = ", ".join(sorted(columns)) or "none"
        raise InputError(f"reward {reward!r} needs a column {' or '.join(map(repr, keys))} with reference text(s); "
                         f"columns given: {have}", field=keys[0])
    out = []
    for i, v in enumerate(column(columns, found, reward, b)):
        refs = [v] if isinstance(v, str) else list(v)
        if not refs or not all(isinstance(r, str) for r in refs):
            raise InputError(f"reward {reward!r}: sample {i}: expected a string or a non-empty list of strings, "
                             f"got {v!r}", field=found)
        out.append(refs)
    return out


class TRLReward:
    """Wraps a TRL-style ``f(prompts=..., completions=..., **columns) -> list[float | None]`` (None: no score → NaN)."""

    def __init__(self, fn: Callable[..., list], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        try:
            values = list(self.fn(prompts=prompts, completions=responses, **columns))
        except (InputError, RewardError):
            raise
        except Exception as e:  # noqa: BLE001 - named and re-raised
            raise RewardError(f"reward {self.name!r} failed: {type(e).__name__}: {e}", reward=self.name) from e
        if len(values) != len(responses):
            raise RewardError(f"reward {self.name!r} returned {len(values)} scores for {len(responses)} responses",
                              reward=self.name)
        bad = [i for i, v in enumerate(values) if v is not None and not isinstance(v, (int, float))]
        if bad:
            raise RewardError(f"reward {self.name!r} returned a non-number {values[bad[0]]!r} for sample {bad[0]}",
                              reward=self.name, index=bad[0])
        return single(self.name, values)


def from_trl(fn: Callable[..., list], name: str | None = None) -> RewardFunction:
    """Adapt a TRL reward function (``prompts``, ``completions`` and columns as keywords) to the protocol."""
    return TRLReward(fn, name)
