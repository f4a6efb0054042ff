"""Validating one feedback record (a JSON object) and building the record dataclass from it.

Every rejection names the field and what was expected: ``field 'spans[1].end': expected an integer ...``. Inside this
package problems are raised as :class:`FieldError` (an :class:`InputError` without a place); the readers add the path
and line. What is rejected: an unknown or ambiguous kind, a missing field, a wrong type, an empty response, a NaN or
infinite number, a margin below 0, rankings with repeated or out-of-range indices or not covering every response,
labels that do not match the human ranking string, a ``time`` that is neither ISO 8601 nor epoch seconds, spans
outside the response, with start >= end, or overlapping another span of the same category, and non-string categories.
"""
from __future__ import annotations

import datetime as dt
import json
import math

from langrl.errors import InputError
from langrl.feedback.records import (KINDS, MARKERS, Comparison, Critique, Ranking, Rating, Record, Span, SpanFeedback,
                                     kinds_matching)


class FieldError(InputError):
    """A bad field in one record, before the reader knows the path and line. ``reason`` is the message alone."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(reason, field=field)
        self.reason = reason


def show(value, limit: int = 40) -> str:
    """A short JSON rendering of ``value`` for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need(d: dict, key: str, kind: str):
    if key not in d:
        raise FieldError(key, f"missing (a {kind} record needs {', '.join(_REQUIRED[kind])})")
    return d.pop(key)


def text_field(value, name: str, *, empty_ok: bool = False) -> str:
    """``value`` if it is a string (non-blank unless ``empty_ok``), else a :class:`FieldError` on ``name``."""
    if not isinstance(value, str):
        raise FieldError(name, f"expected a string, got {_type_name(value)} {show(value)}")
    if not empty_ok and not value.strip():
        raise FieldError(name, f"expected a non-empty string, got {show(value)}")
    return value


def prompt_field(value, name: str = "prompt"):
    """A prompt: any string, or a non-empty list of ``{"role": str, "content": str}`` messages."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise FieldError(name, f"expected a string or a list of {{role, content}} messages, got {show(value)}")
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise FieldError(f"{name}[{i}]", f"expected a {{role, content}} message, got {show(msg)}")
        for key in ("role", "content"):
            if key not in msg:
                raise FieldError(f"{name}[{i}].{key}", "missing (a message needs role and content)")
            text_field(msg[key], f"{name}[{i}].{key}", empty_ok=key == "content")
    return value


def number_field(value, name: str, *, minimum: float | None = None) -> int | float:
    """A finite JSON number (not a boolean), at least ``minimum`` if given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, f"expected a number, got {_type_name(value)} {show(value)}")
    if not math.isfinite(value):
        raise FieldError(name, f"expected a finite number, got {show(value)}")
    if minimum is not None and value < minimum:
        raise FieldError(name, f"expected a number >= {minimum:g}, got {show(value)}")
    return value


def time_field(value, name: str = "time") -> float:
    """When a judgement was made: an ISO 8601 string (no offset: UTC) or epoch seconds, as epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldError(name, f"expected an ISO 8601 time string or epoch seconds (a number), got {show(value)}")
    if isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, "expected an ISO 8601 time like \"2026-12-01T14:00:00Z\" or epoch seconds, "
                                   f"got {show(value)}") from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return t.timestamp()
    if not math.isfinite(value) or value < 0:
        raise FieldError(name, f"expected epoch seconds (a finite number >= 0), got {show(value)}")
    return float(value)


def _responses(value, name: str = "responses", *, count: int | None = None, at_least: int = 2) -> list[str]:
    if not isinstance(value, list):
        raise FieldError(name, f"expected a list of response strings, got {_type_name(value)}")
    if count is not None and len(value) != count:
        raise FieldError(name, f"expected exactly {count} responses, got {len(value)}")
    if len(value) < at_least:
        raise FieldError(name, f"expected at least {at_least} responses, got {len(value)}")
    return [text_field(r, f"{name}[{i}]") for i, r in enumerate(value)]


# ----------------------------------------------------------------------------------------------------------- rankings
def tiers_field(value, n: int, name: str = "ranking") -> list[list[int]]:
    """Tiers of indices into ``n`` responses, best first, covering each index exactly once.

    A plain index stands for a tier of one: ``[2, 0, 1]`` is ``[[2], [0], [1]]``.
    """
    if not isinstance(value, list) or not value:
        raise FieldError(name, f"expected a list of tiers like [[1], [0, 2]], got {show(value)}")
    tiers, seen = [], {}
    for t, tier in enumerate(value):
        items = [tier] if is_int(tier) else tier
        if not isinstance(items, list) or not items:
            raise FieldError(f"{name}[{t}]", f"expected a non-empty list of response indices, got {show(tier)}")
        for j, idx in enumerate(items):
            where = f"{name}[{t}]" if is_int(tier) else f"{name}[{t}][{j}]"
            if not is_int(idx):
                raise FieldError(where, f"expected a response index (integer), got {show(idx)}")
            if not 0 <= idx < n:
                raise FieldError(where, f"expected an index in 0..{n - 1} ({n} responses), got {idx}")
            if idx in seen:
                raise FieldError(where, f"index {idx} is repeated (first in tier {seen[idx]}); expected each once")
            seen[idx] = t
        tiers.append(list(items))
    _check_covered(seen, n, name, [str(i) for i in range(n)], "index")
    return tiers


def _check_covered(seen, n: int, name: str, labels: list[str], what: str) -> None:
    left = [labels[i] for i in range(n) if i not in seen]
    if left:
        raise FieldError(name, f"{what} {', '.join(left)} not ranked; expected every response exactly once")


def labels_field(value, n: int, name: str = "labels") -> list[str]:
    """``n`` distinct, non-empty labels without ``>``, ``=`` or surrounding spaces (one per response, in order)."""
    if not isinstance(value, list):
        raise FieldError(name, f"expected a list of labels, one per response, got {_type_name(value)}")
    if len(value) != n:
        raise FieldError(name, f"expected {n} labels (one per response), got {len(value)}")
    for i, label in enumerate(value):
        text_field(label, f"{name}[{i}]")
        if ">" in label or "=" in label or label != label.strip():
            raise FieldError(f"{name}[{i}]", f"expected a label without '>', '=' or outer spaces, got {show(label)}")
        if label in value[:i]:
            raise FieldError(f"{name}[{i}]", f"label {show(label)} is repeated; expected distinct labels")
    return list(value)


def parse_ranking_string(text: str, labels: list[str], name: str = "ranking") -> list[list[int]]:
    """The human form to tiers: ``"B > C = D > A"`` with labels ``A..D`` -> ``[[1], [2, 3], [0]]``.

    ``>`` separates tiers (best first), ``=`` ties inside a tier; spaces around names are ignored. Every label must
    appear exactly once.
    """
    text_field(text, name)
    index = {label: i for i, label in enumerate(labels)}
    tiers, seen = [], {}
    for t, part in enumerate(text.split(">")):
        tier = []
        for item in part.split("="):
            label = item.strip()
            if not label:
                raise FieldError(name, f"empty name in tier {t + 1} of {show(text)}; expected 'A > B = C'")
            if label not in index:
                raise FieldError(name, f"{show(label)} is not one of the labels {', '.join(labels)}")
            if index[label] in seen:
                raise FieldError(name, f"{show(label)} appears twice in {show(text)}; expected each label once")
            seen[index[label]] = t
            tier.append(index[label])
        tiers.append(tier)
    _check_covered(seen, len(labels), name, labels, "label")
    return tiers


# ------------------------------------------------------------------------------------------------------ the five kinds
_REQUIRED = {
    "rating": ("prompt", "response", "rating"),
    "comparison": ("prompt", "chosen", "rejected"),
    "ranking": ("prompt", "responses", "ranking"),
    "spans": ("prompt", "response"),
    "critique": ("prompt", "response", "critique"),
}


def _rating(d: dict) -> Rating:
    prompt = prompt_field(_need(d, "prompt", "rating"))
    response = text_field(_need(d, "response", "rating"), "response")
    value = _need(d, "rating", "rating")
    if not isinstance(value, bool):
        if not isinstance(value, (int, float)):
            raise FieldError("rating", f"expected true/false or a number, got {_type_name(value)} {show(value)}")
        number_field(value, "rating")
    return Rating(prompt, response, value, extra=d)


def _comparison(d: dict) -> Comparison:
    prompt = prompt_field(_need(d, "prompt", "comparison"))
    tie = d.pop("tie", False)
    if not isinstance(tie, bool):
        raise FieldError("tie", f"expected true or false, got {show(tie)}")
    if "responses" in d:
        if "chosen" in d or "rejected" in d:
            raise FieldError("responses", "expected either chosen/rejected or responses (a tie), not both")
        if not tie:
            raise FieldError("tie", "expected true with 'responses' (an unordered pair is a tie); "
                                    "use chosen/rejected for a preference")
        chosen, rejected = _responses(d.pop("responses"), count=2)
    else:
        chosen = text_field(_need(d, "chosen", "comparison"), "chosen")
        rejected = text_field(_need(d, "rejected", "comparison"), "rejected")
    margin = d.pop("margin", None)
    if margin is not None:
        if tie:
            raise FieldError("margin", "expected no margin on a tie")
        margin = float(number_field(margin, "margin", minimum=0))
    return Comparison(prompt, chosen, rejected, margin=margin, tie=tie, extra=d)


def _ranking(d: dict) -> Ranking:
    prompt = prompt_field(_need(d, "prompt", "ranking"))
    responses = _responses(_need(d, "responses", "ranking"))
    value = _need(d, "ranking", "ranking")
    labels = d.pop("labels", None)
    if labels is not None:
        labels = labels_field(labels, len(responses))
    if isinstance(value, str):
        if labels is None:
            raise FieldError("labels", "missing (a ranking string like 'B > A' needs labels naming the responses)")
        tiers = parse_ranking_string(value, labels)
    else:
        tiers = tiers_field(value, len(responses))
    return Ranking(prompt, responses, tiers, labels=labels, extra=d)


def _span(value, i: int, response: str) -> Span:
    name = f"spans[{i}]"
    if not isinstance(value, dict):
        raise FieldError(name, f"expected a {{start, end, category}} object, got {show(value)}")
    d = dict(value)
    for key in ("start", "end", "category"):
        if key not in d:
            raise FieldError(f"{name}.{key}", "missing (a span needs start, end, category)")
    start, end, category = d.pop("start"), d.pop("end"), d.pop("category")
    for key, v in (("start", start), ("end", end)):
        if not is_int(v):
            raise FieldError(f"{name}.{key}", f"expected a character offset (integer), got {show(v)}")
    if not isinstance(category, str) or not category.strip():
        raise FieldError(f"{name}.category", f"expected a non-empty string, got {show(category)}")
    if start >= end:
        raise FieldError(name, f"expected start < end, got start {start}, end {end}")
    if start < 0 or end > len(response):
        raise FieldError(name, f"span {start}..{end} is outside the response (length {len(response)})")
    return Span(start, end, category, extra=d)


def _check_overlaps(spans: list[Span]) -> None:
    by_category: dict[str, list[tuple[int, Span]]] = {}
    for i, s in enumerate(spans):
        by_category.setdefault(s.category, []).append((i, s))
    for category, items in by_category.items():
        items.sort(key=lambda x: (x[1].start, x[1].end))
        for (i, a), (j, b) in zip(items, items[1:]):
            if b.start < a.end:
                first, second = sorted((i, j))
                raise FieldError(f"spans[{second}]", f"overlaps spans[{first}] of the same category {show(category)} "
                                                     f"({a.start}..{a.end} and {b.start}..{b.end})")


def _spans(d: dict) -> SpanFeedback:
    prompt = prompt_field(_need(d, "prompt", "spans"))
    response = text_field(_need(d, "response", "spans"), "response")
    raw = d.pop("spans", [])
    if not isinstance(raw, list):
        raise FieldError("spans", f"expected a list of {{start, end, category}} objects, got {_type_name(raw)}")
    spans = [_span(s, i, response) for i, s in enumerate(raw)]
    _check_overlaps(spans)
    missing = d.pop("missing", [])
    if not isinstance(missing, list):
        raise FieldError("missing", "expected a list of strings (information that should be there), "
                                    f"got {show(missing)}")
    missing = [text_field(m, f"missing[{i}]") for i, m in enumerate(missing)]
    corrected = d.pop("corrected", None)
    if corrected is not None:
        text_field(corrected, "corrected")
    return SpanFeedback(prompt, response, spans, missing, corrected, extra=d)


def _critique(d: dict) -> Critique:
    prompt = prompt_field(_need(d, "prompt", "critique"))
    response = text_field(_need(d, "response", "critique"), "response")
    critique = text_field(_need(d, "critique", "critique"), "critique")
    refinement = d.pop("refinement", None)
    if refinement is not None:
        text_field(refinement, "refinement")
    return Critique(prompt, response, critique, refinement, extra=d)


_PARSERS = {"rating": _rating, "comparison": _comparison, "ranking": _ranking, "spans": _spans, "critique": _critique}


def detect_kind(d: dict) -> str:
    """The kind of a record from its fields (an explicit ``"kind"`` field wins); a :class:`FieldError` if unclear."""
    if "kind" in d:
        return check_kind(d["kind"], "kind")
    found = kinds_matching(d)
    if len(found) == 1:
        return found[0]
    if not found:
        expected = "; ".join(f"{k} ({'/'.join(MARKERS[k])})" for k in KINDS)
        raise FieldError(None, f"unknown feedback kind: fields {', '.join(map(show, d)) or '(none)'}; "
                               f"expected a field that names one of: {expected}; or a \"kind\" field")
    which = ", ".join(f"{k} ({'/'.join(m for m in MARKERS[k] if m in d)})" for k in found)
    raise FieldError(None, f"ambiguous feedback kind: fields fit {which}; add \"kind\": \"{found[0]}\" (or another)")


def check_kind(kind, name: str = "kind") -> str:
    if kind not in KINDS:
        raise FieldError(name, f"expected one of {', '.join(KINDS)}, got {show(kind)}")
    return kind


def parse_record(d, kind: str | None = None) -> Record:
    """Like :func:`record_from_dict` but raising :class:`FieldError` (no path or line)."""
    if not isinstance(d, dict):
        raise FieldError(None, f"expected a JSON object (one record), got {_type_name(d)}")
    if kind is not None:
        check_kind(kind)
        if "kind" in d and d["kind"] != kind:
            raise FieldError("kind", f"expected {show(kind)} (the kind asked for), got {show(d['kind'])}")
    kind = kind or detect_kind(d)
    rest = {k: v for k, v in d.items() if k != "kind"}
    if "time" in rest:  # optional, any kind: when the judgement was made (kept in extra as written)
        time_field(rest["time"])
    return _PARSERS[kind](rest)


def record_from_dict(d: dict, kind: str | None = None, *, path: str | None = None, line: int | None = None) -> Record:
    """Validate one JSON object and build its record; ``kind`` forces the kind, else it is read from the fields.

    A bad record raises :class:`InputError` as ``path:line: field 'x': expected ...``.
    """
    try:
        return parse_record(d, kind)
    except FieldError as e:
        raise InputError(e.reason, path=path, line=line, field=e.field) from None
