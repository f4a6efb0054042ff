"""Checking what comes in: item files for ``annotate load`` and judgements posted to ``/api/feedback``.

A judgement is turned into its stored form here: the *unit* (which responses of the item were judged, in item indices)
and the kind's fields rewritten in item indices (a comparison becomes ``{"chosen": i, "rejected": j}`` or
``{"preferred": "tie", "pair": [i, j]}``). Character offsets of spans count Unicode code points (Python ``len``), as the
feedback JSONL format does; the pages convert from the browser's UTF-16 offsets before sending.
Every problem raises :class:`FeedbackError` naming the field and what was expected.
"""
from __future__ import annotations

import math
import os

from langrl.errors import InputError

KINDS = ("comparison", "ranking", "rating", "spans", "critique")
DEFAULT_CATEGORIES = ("irrelevant", "untruthful")
MAX_ITEM_TEXT = 100_000      # characters in a prompt or a response
MAX_RESPONSES = 26           # responses of one item (labelled A..Z on the ranking page)
MAX_FEEDBACK_TEXT = 20_000   # characters in a critique, refinement, corrected response or missing note
MAX_LIST = 200               # spans or missing notes in one judgement
MAX_ID = 200                 # characters in an item id or client id
MAX_TIME_SPENT_S = 7 * 24 * 3600.0


class FeedbackError(Exception):
    """A judgement the server refuses; ``status`` is the HTTP status, ``str(err)`` the message."""

    def __init__(self, message: str, field: str | None = None, status: int = 422):
        super().__init__(f"field '{field}': {message}" if field else message)
        self.field, self.status = field, status


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _text(payload: dict, field: str, *, required: bool, limit: int = MAX_FEEDBACK_TEXT) -> str | None:
    value = payload.get(field)
    if value is None or (value == "" and not required):
        if required:
            raise FeedbackError("expected a non-empty string", field)
        return None
    if not isinstance(value, str):
        raise FeedbackError(f"expected a string, got {type(value).__name__}", field)
    if required and not value.strip():
        raise FeedbackError("expected a non-empty string", field)
    if len(value) > limit:
        raise FeedbackError(f"expected at most {limit} characters, got {len(value)}", field, status=413)
    return value


def _indices(payload: dict, n_responses: int, size: int, kind: str) -> list[int]:
    """The responses this judgement is about: ``indices`` if given, else the only possible choice."""
    given = payload.get("indices")
    if given is None:
        if n_responses != size:
            raise FeedbackError(f"expected {size} response indices (the item has {n_responses} responses; "
                                f"use the 'indices' that /api/next returned)", "indices")
        return list(range(size))
    if not isinstance(given, list) or len(given) != size or not all(_is_int(i) for i in given):
        raise FeedbackError(f"expected a list of {size} integer response indices for {kind}", "indices")
    if any(not 0 <= i < n_responses for i in given) or len(set(given)) != size:
        raise FeedbackError(f"expected distinct indices in 0..{n_responses - 1}, got {given}", "indices")
    return given


def unit_key(indices) -> str:
    """The stored name of a unit of work: its response indices, sorted, comma-joined (``"0,2"``)."""
    return ",".join(str(i) for i in sorted(indices))


def check_comparison(payload, responses, categories):
    a, b = _indices(payload, len(responses), 2, "comparison")
    pref = payload.get("preferred")
    if pref == "tie":
        return [a, b], {"preferred": "tie", "pair": [a, b]}
    if not _is_int(pref) or pref not in (0, 1):
        raise FeedbackError('expected 0 (first shown), 1 (second shown) or "tie"', "preferred")
    chosen, rejected = (a, b) if pref == 0 else (b, a)
    return [a, b], {"chosen": chosen, "rejected": rejected}


def check_ranking(payload, responses, categories):
    n = len(responses)
    if n < 2:
        raise FeedbackError("a ranking needs an item with at least 2 responses", "item_id")
    indices = _indices(payload, n, n, "ranking")
    ranking = payload.get("ranking")
    if not isinstance(ranking, list) or not ranking or not all(isinstance(t, list) and t for t in ranking):
        raise FeedbackError("expected tiers best → worst, a list of non-empty lists of indices like [[1], [0, 2]]",
                            "ranking")
    flat = [i for tier in ranking for i in tier]
    if not all(_is_int(i) for i in flat) or sorted(flat) != list(range(n)):
        raise FeedbackError(f"expected every index 0..{n - 1} exactly once, got {ranking}", "ranking")
    # the tiers index the responses in the order shown (``indices``); store them in item indices
    return indices, {"ranking": [sorted(indices[i] for i in tier) for tier in ranking]}


def check_rating(payload, responses, categories):
    (i,) = _indices(payload, len(responses), 1, "rating")
    rating = payload.get("rating")
    if not _is_int(rating) or rating not in (1, -1):
        raise FeedbackError("expected 1 or -1", "rating")
    return [i], {"response": i, "rating": rating}


def _spans(payload, response: str, categories) -> list[dict]:
    spans = payload.get("spans", [])
    if not isinstance(spans, list) or len(spans) > MAX_LIST:
        raise FeedbackError(f"expected a list of at most {MAX_LIST} spans", "spans")
    out = []
    for k, s in enumerate(spans):
        field = f"spans[{k}]"
        if not isinstance(s, dict) or set(s) != {"start", "end", "category"}:
            raise FeedbackError('expected {"start", "end", "category"}', field)
        start, end, cat = s["start"], s["end"], s["category"]
        if not (_is_int(start) and _is_int(end)) or not 0 <= start < end <= len(response):
            raise FeedbackError(f"expected 0 <= start < end <= {len(response)} (the response's length in characters), "
                                f"got start={start!r} end={end!r}", field)
        if cat not in categories:
            raise FeedbackError(f"expected a category in {list(categories)}, got {cat!r}", field)
        out.append({"start": start, "end": end, "category": cat})
    out.sort(key=lambda s: (s["start"], s["end"], s["category"]))
    for cat in categories:
        same = [s for s in out if s["category"] == cat]
        for x, y in zip(same, same[1:]):
            if y["start"] < x["end"]:
                raise FeedbackError(f"spans of category {cat!r} overlap: [{x['start']}, {x['end']}) and "
                                    f"[{y['start']}, {y['end']}); merge them", "spans")
    return out


def check_spans(payload, responses, categories):
    (i,) = _indices(payload, len(responses), 1, "spans")
    spans = _spans(payload, responses[i], categories)
    missing = payload.get("missing", [])
    if not isinstance(missing, list) or len(missing) > MAX_LIST:
        raise FeedbackError(f"expected a list of at most {MAX_LIST} notes", "missing")
    notes = []
    for k in range(len(missing)):
        field = f"missing[{k}]"
        notes.append(_text({field: missing[k]}, field, required=True).strip())
    corrected = _text(payload, "corrected", required=False)
    return [i], {"response": i, "spans": spans, "missing": notes, "corrected": corrected}


def check_critique(payload, responses, categories):
    (i,) = _indices(payload, len(responses), 1, "critique")
    critique = _text(payload, "critique", required=True)
    refinement = _text(payload, "refinement", required=False)
    return [i], {"response": i, "critique": critique, "refinement": refinement}


CHECKS = {"comparison": check_comparison, "ranking": check_ranking, "rating": check_rating, "spans": check_spans,
          "critique": check_critique}
KIND_FIELDS = {"comparison": {"preferred"}, "ranking": {"ranking"}, "rating": {"rating"},
               "spans": {"spans", "missing", "corrected"}, "critique": {"critique", "refinement"}}
COMMON_FIELDS = {"item_id", "kind", "client_id", "indices", "time_spent_s"}


def check_envelope(payload, kinds=KINDS) -> tuple[str, str, str, float | None]:
    """Check the fields every judgement has. Returns ``(item_id, kind, client_id, time_spent_s)``."""
    if not isinstance(payload, dict):
        raise FeedbackError("expected a JSON object")
    kind = payload.get("kind")
    if kind not in kinds:
        raise FeedbackError(f"expected one of {list(kinds)}, got {kind!r}", "kind")
    unknown = set(payload) - COMMON_FIELDS - KIND_FIELDS[kind]
    if unknown:
        raise FeedbackError(f"unknown field(s) {sorted(unknown)} for kind {kind!r}; expected "
                            f"{sorted(COMMON_FIELDS | KIND_FIELDS[kind])}")
    item_id = payload.get("item_id")
    if _is_int(item_id):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id or len(item_id) > MAX_ID:
        raise FeedbackError("expected the item's id (a string)", "item_id")
    client_id = payload.get("client_id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_ID:
        raise FeedbackError(f"expected a client-chosen id (a string of 1..{MAX_ID} characters) that makes "
                            "retries idempotent", "client_id")
    spent = payload.get("time_spent_s")
    if spent is not None:
        if isinstance(spent, bool) or not isinstance(spent, (int, float)) or not math.isfinite(spent) \
                or not 0 <= spent <= MAX_TIME_SPENT_S:
            raise FeedbackError(f"expected seconds between 0 and {MAX_TIME_SPENT_S:.0f}", "time_spent_s")
        spent = float(spent)
    return item_id, kind, client_id, spent


def check_feedback(kind: str, payload: dict, responses: list[str], categories=DEFAULT_CATEGORIES):
    """Check a judgement's kind fields against its item. Returns ``(unit_indices, stored_fields)``."""
    return CHECKS[kind](payload, responses, categories)


def _item(obj, path: str, line: int) -> dict:
    where = {"path": path, "line": line}
    if not isinstance(obj, dict):
        raise InputError('expected a JSON object like {"id": "q1", "prompt": "...", "responses": ["..."]}', **where)
    item_id = obj.get("id", str(line))
    if _is_int(item_id):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > MAX_ID:
        raise InputError(f"expected a non-empty string of at most {MAX_ID} characters", field="id", **where)
    prompt = obj.get("prompt")
    if not isinstance(prompt, str):
        raise InputError(f"expected a string, got {type(prompt).__name__}", field="prompt", **where)
    if not prompt.strip():
        raise InputError("expected a non-empty string", field="prompt", **where)
    if len(prompt) > MAX_ITEM_TEXT:
        raise InputError(f"expected at most {MAX_ITEM_TEXT} characters, got {len(prompt)}", field="prompt", **where)
    responses = obj.get("responses")
    if not isinstance(responses, list) or not 1 <= len(responses) <= MAX_RESPONSES:
        raise InputError(f"expected a list of 1..{MAX_RESPONSES} response strings", field="responses", **where)
    for k, r in enumerate(responses):
        if not isinstance(r, str) or not r.strip():
            raise InputError("expected a non-empty string", field=f"responses[{k}]", **where)
        if len(r) > MAX_ITEM_TEXT:
            raise InputError(f"expected at most {MAX_ITEM_TEXT} characters, got {len(r)}", field=f"responses[{k}]",
                             **where)
    return {"id": item_id, "prompt": prompt, "responses": responses}


def read_items(path: str) -> list[dict]:
    """Read an items JSONL file (``{"id"?, "prompt", "responses": [...]}`` per line); ``id`` defaults to the line.

    The file is read by :mod:`langrl.jsonl` (UTF-8, a BOM dropped, lines split at ``\\n`` only, the line-size limit,
    finite numbers, a regular file: a FIFO is refused, never opened)."""
    from langrl.jsonl import file_error, iter_jsonl

    if not os.path.lexists(path):
        raise file_error("cannot read the items file: no such file", path=path)
    out, seen = [], {}
    for row in iter_jsonl(path, "items file"):
        if row.code == "json":
            raise InputError(f"expected a JSON object, got {row.reason}", path=path, line=row.line)
        if not row.ok:
            raise row.error()
        item = _item(row.value, path, row.line)
        if item["id"] in seen:
            raise InputError(f"duplicate id {item['id']!r} (first on line {seen[item['id']]})", path=path,
                             line=row.line, field="id")
        seen[item["id"]] = row.line
        out.append(item)
    if not out:
        raise InputError("expected at least one item, found none", path=path)
    return out
