"""The five kinds of feedback as plain records, and how each is written as one JSON object.

    rating      {"prompt", "response", "rating"}                       rating: true/false (+1/-1) or a graded number
    comparison  {"prompt", "chosen", "rejected", "margin"?}            a preference, margin >= 0 optional
                {"prompt", "responses": [a, b], "tie": true}           a tie
    ranking     {"prompt", "responses", "ranking": [[1], [2, 3], [0]]} tiers best -> worst, ties inside a tier
                {..., "ranking": "B > C = D > A", "labels": [...]}     the human form (labels name the responses)
    spans       {"prompt", "response", "spans": [{"start", "end", "category"}], "missing": [...], "corrected"?}
    critique    {"prompt", "response", "critique", "refinement"?}

A prompt is a string or a list of chat messages ``{"role", "content"}``. Any other field of a record (an id, the
annotator, meta data) is kept in ``extra`` and written back after the record's own fields. Span offsets are Python
string indices (Unicode code points) into the response, end exclusive.

Records are built by :func:`langrl.feedback.parse.record_from_dict`, which validates them; ``to_dict`` is its inverse.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import ClassVar, Union

Prompt = Union[str, list]  # a string, or a list of {"role": str, "content": str} messages

KINDS = ("rating", "comparison", "ranking", "spans", "critique")

# The fields that say which kind a record is (any one of them is enough; fields of two kinds is ambiguous).
MARKERS = {
    "rating": ("rating",),
    "comparison": ("chosen", "rejected", "tie"),
    "ranking": ("ranking",),
    "spans": ("spans", "missing", "corrected"),
    "critique": ("critique", "refinement"),
}


def kinds_matching(d: dict) -> list[str]:
    """The kinds whose marker fields appear in ``d`` (empty: unknown; two or more: ambiguous)."""
    return [k for k in KINDS if any(m in d for m in MARKERS[k])]


def _finish(rec, core: dict) -> dict:
    """``core`` then the record's extra fields; ``"kind"`` is put first when the fields alone would not say it."""
    out = dict(core)
    for key, value in rec.extra.items():
        if key not in out and key != "kind":
            out[key] = value
    if kinds_matching(out) != [rec.kind]:
        out = {"kind": rec.kind, **out}
    return out


@dataclass
class Rating:
    """One response judged alone: thumbs up/down (``True``/``False``, or +1/-1) or a graded score."""

    prompt: Prompt
    response: str
    rating: bool | int | float
    extra: dict = field(default_factory=dict)
    kind: ClassVar[str] = "rating"

    @property
    def score(self) -> float:
        """The rating as a number: ``True`` -> 1.0, ``False`` -> -1.0, a number as itself."""
        if isinstance(self.rating, bool):
            return 1.0 if self.rating else -1.0
        return float(self.rating)

    def to_dict(self) -> dict:
        return _finish(self, {"prompt": self.prompt, "response": self.response, "rating": self.rating})


@dataclass
class Comparison:
    """Two responses to one prompt: ``chosen`` preferred over ``rejected`` (by ``margin`` if given), or a tie.

    For a tie (``tie=True``, no margin) ``chosen`` and ``rejected`` are just the first and second response.
    """

    prompt: Prompt
    chosen: str
    rejected: str
    margin: float | None = None
    tie: bool = False
    extra: dict = field(default_factory=dict)
    kind: ClassVar[str] = "comparison"

    def to_dict(self) -> dict:
        if self.tie:
            core = {"prompt": self.prompt, "responses": [self.chosen, self.rejected], "tie": True}
        else:
            core = {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        if self.margin is not None:  # (a margin on a tie is written so that validation refuses it)
            core["margin"] = self.margin
        return _finish(self, core)


@dataclass
class Ranking:
    """Several responses ordered in tiers, best first; responses in one tier are tied.

    ``tiers`` holds indices into ``responses`` and covers each exactly once. With ``labels`` the ranking is written in
    the human form (``"B > C = D > A"``, canonical spacing, order inside a tier kept as given).
    """

    prompt: Prompt
    responses: list[str]
    tiers: list[list[int]]
    labels: list[str] | None = None
    extra: dict = field(default_factory=dict)
    kind: ClassVar[str] = "ranking"

    def to_dict(self) -> dict:
        core = {"prompt": self.prompt, "responses": list(self.responses)}
        if self.labels is not None:
            core["ranking"] = format_ranking(self.tiers, self.labels)
            core["labels"] = list(self.labels)
        else:
            core["ranking"] = [list(t) for t in self.tiers]
        return _finish(self, core)


@dataclass
class Span:
    """Characters ``response[start:end]`` marked with a free-string ``category`` (e.g. ``"irrelevant"``)."""

    start: int
    end: int
    category: str
    extra: dict = field(default_factory=dict)

    def text(self, response: str) -> str:
        return response[self.start:self.end]

    def to_dict(self) -> dict:
        out = {"start": self.start, "end": self.end, "category": self.category}
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out


@dataclass
class SpanFeedback:
    """Fine-grained feedback on one response: marked spans, information that is missing, and a corrected response."""

    prompt: Prompt
    response: str
    spans: list[Span] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrected: str | None = None
    extra: dict = field(default_factory=dict)
    kind: ClassVar[str] = "spans"

    def to_dict(self) -> dict:
        core = {"prompt": self.prompt, "response": self.response, "spans": [s.to_dict() for s in self.spans],
                "missing": list(self.missing)}
        if self.corrected is not None:
            core["corrected"] = self.corrected
        return _finish(self, core)


@dataclass
class Critique:
    """A written critique of one response, optionally with a refined response that addresses it."""

    prompt: Prompt
    response: str
    critique: str
    refinement: str | None = None
    extra: dict = field(default_factory=dict)
    kind: ClassVar[str] = "critique"

    def to_dict(self) -> dict:
        core = {"prompt": self.prompt, "response": self.response, "critique": self.critique}
        if self.refinement is not None:
            core["refinement"] = self.refinement
        return _finish(self, core)


Record = Union[Rating, Comparison, Ranking, SpanFeedback, Critique]


def default_labels(n: int) -> list[str]:
    """``A, B, C, ...`` for up to 26 responses, else ``"0", "1", ...``."""
    return list(string.ascii_uppercase[:n]) if n <= 26 else [str(i) for i in range(n)]


def format_ranking(tiers: list[list[int]], labels: list[str] | None = None) -> str:
    """Tiers as the human string: ``[[1], [2, 3], [0]]`` with labels A..D -> ``"B > C = D > A"``."""
    if labels is None:
        labels = default_labels(1 + max((i for t in tiers for i in t), default=-1))
    return " > ".join(" = ".join(labels[i] for i in tier) for tier in tiers)
