"""A long-tailed annotator population: annotator types with their own weights over a task's gold axes, in unequal
shares (a majority and minorities), the lecture's "human preference distributions are long-tailed".

Each type g has a share p_g (Σ p_g = 1) and weights w_g over named gold axes; its annotators judge by the utility
u_g(y) = Σ_k w_gk · gold_k(y) / Σ_k w_gk, with the noise knobs of :class:`langrl.tasks.annotator.Annotator`. Every
judgement is made by one annotator whose type is drawn by share from a generator seeded by (seed, kind, prompt,
texts), so the same question always goes to the same type; the record carries it as ``"annotator": TYPE`` (kept as
an extra field by the feedback readers). Pooling every type's comparisons and training one reward model fits,
roughly, the share-weighted average utility: what serves the majority, not the minorities.
"""
from __future__ import annotations

import math

from langrl.errors import InputError
from langrl.tasks.annotator import Annotator
from langrl.tasks.rng import make_rng


class _Weighted:
    """The task as type g sees it: every hook of the task, with the utility replaced by w_g · its gold axes."""

    def __init__(self, task, weights: dict[str, float]):
        self._task, self._weights = task, weights
        self._total = sum(weights.values())

    def utility(self, row: dict, response: str) -> float:
        gold = self._task.gold([row], [response])
        return sum(w * gold[k][0] for k, w in self._weights.items()) / self._total  # u_g = Σ_k w_gk gold_k / Σ w_g

    def __getattr__(self, name):
        return getattr(self._task, name)


class Population:
    """Annotator types ``groups`` = {name: (share, {axis: weight})} over ``task``'s gold axes; see the module."""

    def __init__(self, task, groups: dict[str, tuple[float, dict[str, float]]], seed: int = 0, **noise):
        if len(groups) < 1:
            raise InputError("a population needs at least one annotator type", field="groups")
        shares = [float(s) for s, _ in groups.values()]
        if any(s <= 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
            raise InputError(f"annotator type shares must be positive and sum to 1, got {shares}", field="groups")
        probe = task.prompts("train", 1, 0)
        axes = set(task.gold(probe, [""]))
        for name, (_, weights) in groups.items():
            bad = sorted(set(weights) - axes)
            if bad:
                raise InputError(f"type {name!r}: task {task.name!r} has no gold axis {bad[0]!r}; axes: "
                                 f"{', '.join(sorted(axes))}", field="groups")
            if any(w < 0 for w in weights.values()) or not any(weights.values()):
                raise InputError(f"type {name!r}: weights must be non-negative, not all 0", field="groups")
        self.task, self.seed, self.groups = task, seed, dict(groups)
        self.annotators = {name: Annotator(_Weighted(task, w), seed, **noise) for name, (_, w) in groups.items()}

    def type_of(self, kind: str, row: dict, *texts: str) -> str:
        """The annotator type that makes this judgement (drawn by share, the same for the same question)."""
        u = make_rng("population", self.task.name, self.seed, kind, row["prompt"], *texts).random()
        acc = 0.0
        for name, (share, _) in self.groups.items():
            acc += share
            if u < acc:
                return name
        return name  # u within rounding of 1

    def utility(self, group: str, row: dict, response: str) -> float:
        return self.annotators[group].task.utility(row, response)

    def rate(self, row: dict, response: str) -> dict:
        g = self.type_of("rate", row, response)
        return {**self.annotators[g].rate(row, response), "annotator": g}

    def compare(self, row: dict, a: str, b: str) -> dict:
        g = self.type_of("compare", row, a, b)
        return {**self.annotators[g].compare(row, a, b), "annotator": g}

    def rank(self, row: dict, responses: list[str]) -> dict:
        g = self.type_of("rank", row, *responses)
        return {**self.annotators[g].rank(row, responses), "annotator": g}


class AxisAnnotator:
    """Per-objective judgements (SteerLM-style attribute labels): each question is asked once per gold axis, "which
    is more helpful?", "which is more harmless?", by an annotator who judges by that axis alone (with the noise knobs
    of :class:`langrl.tasks.annotator.Annotator`, its own draws per axis); each record carries ``"objective": AXIS``,
    what ``langrl rm train --objectives`` trains one head per axis from."""

    def __init__(self, task, axes: list[str], seed: int = 0, **noise):
        probe = task.prompts("train", 1, 0)
        known = set(task.gold(probe, [""]))
        bad = [a for a in axes if a not in known]
        if bad or not axes:
            raise InputError(f"task {task.name!r} has no gold axis {bad[0] if bad else '(none given)'!r}; axes: "
                             f"{', '.join(sorted(known))}", field="axes")
        self.task, self.axes = task, list(axes)
        self.annotators = {a: Annotator(_Weighted(task, {a: 1.0}), seed * 1009 + k, **noise)
                           for k, a in enumerate(self.axes)}

    def rate(self, row: dict, response: str) -> list[dict]:
        return [{**ann.rate(row, response), "objective": a} for a, ann in self.annotators.items()]

    def compare(self, row: dict, a: str, b: str) -> list[dict]:
        return [{**ann.compare(row, a, b), "objective": axis} for axis, ann in self.annotators.items()]

    def rank(self, row: dict, responses: list[str]) -> list[dict]:
        return [{**ann.rank(row, responses), "objective": a} for a, ann in self.annotators.items()]


def pool_comparisons(annotator, rows: list[dict], pool) -> list[dict]:
    """Every pair of the responses ``pool(row)`` of each row, compared by ``annotator`` (an Annotator, a
    :class:`Population` or an :class:`AxisAnnotator`, whose ``compare`` gives a record or a list of them); each record
    keeps the row's task columns (``meta`` ...) so the task's gold evaluator can score it later."""
    out = []
    for row in rows:
        responses = pool(row)
        cols = {c: v for c, v in row.items() if c != "prompt"}
        for i in range(len(responses)):
            for j in range(i + 1, len(responses)):
                got = annotator.compare(row, responses[i], responses[j])
                out += [{**rec, **{c: v for c, v in cols.items() if c not in rec}}
                        for rec in (got if isinstance(got, list) else [got])]
    return out


def group_accuracy(scores: list[float], utility: list[float], pairs: list[tuple[int, int]],
                   tie: float = 1e-9) -> tuple[float, int]:
    """How well a reward model's ``scores`` serve one annotator type: the share of ``pairs`` (i, j) of responses
    whose order by score agrees with the type's utility ``utility`` (u_g, by response index), pairs the type is
    indifferent between (|u_i − u_j| ≤ ``tie``) left out, a score tie counting 1/2. Returns (accuracy or NaN, pairs
    counted)."""
    from langrl.models.rm.eval import pairwise_accuracy

    ordered = [(i, j) if utility[i] > utility[j] else (j, i) for i, j in pairs if abs(utility[i] - utility[j]) > tie]
    return pairwise_accuracy([scores[a] for a, _ in ordered], [scores[b] for _, b in ordered]), len(ordered)


def condition_judgements(records: list[dict], weights: dict[str, dict[str, float]], fmt: str = "compact") -> list[dict]:
    """A weight-conditioned reward model's training data: each judgement's prompt with its annotator type's weights
    w_g written before it as the policy's documented prefix (:func:`langrl.rewards.conditioning.condition_prompt`,
    ``fmt`` ``compact``, ``short`` or ``names``; ``weights``: type → {axis: w}, every type with the same axes in the
    same order), the rest of the record unchanged. One reward model trained on all of them sees every group's judgements and
    which group made each, so it can learn r(w, x, y): at w_g it should order pairs as type g does, while what every
    type agrees on is learnt from everyone's data. A record whose ``annotator`` is not a type is an error."""
    from langrl.rewards.conditioning import condition_prompt

    out = []
    for i, rec in enumerate(records):
        g = rec.get("annotator")
        if g not in weights:
            raise InputError(f"judgement {i}: annotator {g!r} is not a type of the population "
                             f"({', '.join(weights)})", field="annotator")
        out.append({**rec, "prompt": condition_prompt(rec["prompt"], weights[g], fmt)})
    return out
