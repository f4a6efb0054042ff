"""Choosing what to ask an annotator next: round-robin, random, or where a reward-model ensemble is least sure.

The unit of work depends on the kind: a *pair* of responses for comparisons (every pair of an item with more than two
responses), *all* responses for rankings, and *one* response for ratings, spans and critiques. Each unit should get
``target`` judgements from different annotators on the share ``overlap`` of the items (chosen by a stable hash of the
item id, so the same items overlap on every restart) and one judgement elsewhere; a unit already served to another
annotator within ``lease_s`` seconds counts as taken, so annotators working at the same time get different ones.

- ``round-robin``: the unit with the fewest judgements, then the earliest pair of the item, then load order — every item
  gets a first judgement before any gets a second.
- ``random``: any open unit, uniformly.
- ``uncertainty``: the unit whose responses the reward-model ensemble separates least. For a pair it is the standardised
  score gap ``|m_i - m_j| / (sqrt(s_i^2 + s_j^2) + 1e-6)`` (smallest first: the ensemble disagrees on the order, or the
  two responses score alike); for a ranking, its closest pair; for a single response, the largest ensemble std.
  This is the lecture's "improve the sample efficiency of human feedback" by active selection; it departs from
  expected-information-gain methods by using only the ensemble's mean and std per response.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import random
from dataclasses import dataclass
from typing import Protocol, Sequence

SELECTS = ("round-robin", "random", "uncertainty")


class Scorer(Protocol):
    """A reward-model ensemble as seen by the selector: per (prompt, response) the ensemble's mean and std."""

    def score(self, prompts: list[str], responses: list[str]) -> tuple[Sequence[float], Sequence[float]]: ...


def units_for(kind: str, n_responses: int) -> list[tuple[int, ...]]:
    """The units of work one item with ``n_responses`` responses offers for ``kind`` (response indices)."""
    if kind == "comparison":
        return list(itertools.combinations(range(n_responses), 2))
    if kind == "ranking":
        return [tuple(range(n_responses))] if n_responses >= 2 else []
    return [(i,) for i in range(n_responses)]


def in_overlap(item_id: str, overlap: float) -> bool:
    """Whether this item is in the overlap share (stable: a hash of the id, uniform in [0, 1))."""
    h = int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big") / 2**64
    return h < overlap


def target_for(item_id: str, target: int, overlap: float) -> int:
    """Judgements wanted per unit of this item: ``target`` inside the overlap share, one outside."""
    return target if in_overlap(item_id, overlap) else 1


@dataclass(frozen=True)
class Candidate:
    """An open unit of work. ``order`` is the item's load order, ``rank`` the unit's position within its item."""

    item_pk: int
    item_id: str
    indices: tuple[int, ...]
    order: int
    rank: int
    done: int


def pick_round_robin(cands: list[Candidate], *, rng: random.Random, priority: dict | None = None) -> Candidate:
    return min(cands, key=lambda c: (c.done, c.rank, c.order))


def pick_random(cands: list[Candidate], *, rng: random.Random, priority: dict | None = None) -> Candidate:
    return rng.choice(cands)


def pick_uncertainty(cands: list[Candidate], *, rng: random.Random, priority: dict | None = None) -> Candidate:
    """Smallest priority first (see :func:`unit_priority`); unscored units go last, in round-robin order."""
    priority = priority or {}
    return min(cands, key=lambda c: (priority.get((c.item_pk, c.indices), math.inf), c.done, c.rank, c.order))


PICKERS = {"round-robin": pick_round_robin, "random": pick_random, "uncertainty": pick_uncertainty}


def pair_gap(m_i: float, s_i: float, m_j: float, s_j: float) -> float:
    """Standardised score gap of two responses: ``|m_i - m_j| / (sqrt(s_i^2 + s_j^2) + 1e-6)``."""
    return abs(m_i - m_j) / (math.sqrt(s_i * s_i + s_j * s_j) + 1e-6)


def unit_priority(indices: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> float:
    """Lower is asked first. One response: ``-std``; two or more: the smallest :func:`pair_gap` among them."""
    if len(indices) == 1:
        return -std[indices[0]]
    return min(pair_gap(mean[i], std[i], mean[j], std[j]) for i, j in itertools.combinations(indices, 2))


def load_scorer(rm_dir: str) -> Scorer:
    """The reward model (or ensemble) saved in ``rm_dir`` by ``langrl rm train``, as a :class:`Scorer`.

    Its ``score`` returns the mean and std over the ensemble's heads/members, each standardised with its own training
    statistics (see ``langrl.models.rm.model``); a single head has std 0, so selection falls back to the gap.
    """
    from langrl.models.rm.model import load_reward_model

    return load_reward_model(rm_dir)


def scorer_name(rm_dir: str) -> str:
    """The name cached scores are stored under: the directory and when its model was written (a retrained model in
    the same directory is scored afresh)."""
    import os

    path = os.path.realpath(rm_dir)
    stamp = max((os.stat(os.path.join(path, f)).st_mtime_ns for f in os.listdir(path)), default=0)
    return f"rm:{path}@{stamp}"
