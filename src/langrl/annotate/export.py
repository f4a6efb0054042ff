"""Stored judgements → the feedback JSONL records of ``langrl.feedback``, one record per judgement.

- rating: ``{"prompt", "response", "rating": 1 | -1}``
- comparison: ``{"prompt", "chosen", "rejected"}``, a tie ``{"prompt", "responses": [a, b], "tie": true}``
- ranking: ``{"prompt", "responses": [...], "ranking": [[i], [j, k], ...]}`` (tiers best → worst, indices into
  responses)
- spans: ``{"prompt", "response", "spans": [{"start", "end", "category"}], "missing": [...], "corrected"?}``
- critique: ``{"prompt", "response", "critique", "refinement"?}``

Every record also carries ``annotator``, ``item_id``, ``judgement_id``, ``time`` (UTC, ISO 8601) and ``time_spent_s``
(when known); readers ignore these extra fields. Optional fields that were left empty are omitted.
"""
from __future__ import annotations

import datetime as dt


def _core(kind: str, prompt: str, responses: list[str], f: dict) -> dict:
    if kind == "comparison":
        if f.get("preferred") == "tie":
            a, b = f["pair"]
            return {"prompt": prompt, "responses": [responses[a], responses[b]], "tie": True}
        return {"prompt": prompt, "chosen": responses[f["chosen"]], "rejected": responses[f["rejected"]]}
    if kind == "ranking":
        return {"prompt": prompt, "responses": list(responses), "ranking": f["ranking"]}
    response = responses[f["response"]]
    if kind == "rating":
        return {"prompt": prompt, "response": response, "rating": f["rating"]}
    if kind == "spans":
        rec = {"prompt": prompt, "response": response, "spans": f["spans"], "missing": f["missing"]}
        if f.get("corrected"):
            rec["corrected"] = f["corrected"]
        return rec
    if kind == "critique":
        rec = {"prompt": prompt, "response": response, "critique": f["critique"]}
        if f.get("refinement"):
            rec["refinement"] = f["refinement"]
        return rec
    raise ValueError(f"unknown kind {kind!r}")


def to_record(j: dict) -> dict:
    """One stored judgement (as :meth:`Storage.judgements` returns it) as a feedback record."""
    rec = _core(j["kind"], j["prompt"], j["responses"], j["fields"])
    rec.update(annotator=j["annotator"], item_id=j["item_id"], judgement_id=j["id"],
               time=dt.datetime.fromtimestamp(j["created_at"], dt.timezone.utc).isoformat(timespec="seconds"))
    if j.get("time_spent_s") is not None:
        rec["time_spent_s"] = round(j["time_spent_s"], 3)
    return rec


def export_records(storage, kind: str) -> list[dict]:
    """Every judgement of ``kind`` in the database, as feedback records, oldest first."""
    return [to_record(j) for j in storage.judgements(kind)]
