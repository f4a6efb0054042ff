"""Attribute reward models (``langrl rm train --objectives helpful,harmless``): one head per named objective.

SteerLM-style attribute heads (Dong et al. 2023) on one backbone: every feedback record names the objective it judges
(``"objective": "harmless"`` beside its usual fields: a rating, a comparison or a ranking made with one axis in mind)
and trains that objective's head only, with its kind's own likelihood (Bradley-Terry per head for a pair;
:func:`langrl.losses.select_heads`). The saved model has K heads and ``"objectives"`` in ``reward_config.json``;
``rm:path=DIR,head=NAME`` is one head as a reward, ``rm:path=DIR`` one column per head (``NAME/OBJECTIVE``).

Departure from SteerLM: its attribute model regresses 0-4 Likert values per attribute on every response; here the
labels are whatever per-objective judgements the data holds (pairs, ratings, rankings), each fit by its own loss.
"""
from __future__ import annotations

from langrl.errors import InputError

OBJECTIVE_FIELD = "objective"


def parse_objectives(values: list[str], ensemble: int = 1) -> list[str]:
    """``["helpful,harmless"]`` or ``["helpful", "harmless"]`` -> ``["helpful", "harmless"]``: names, each once (and
    no ``--ensemble``: the heads are objectives, not members)."""
    if ensemble > 1:
        raise InputError("rm train: give --objectives or --ensemble, not both", field="objectives")
    names = [n.strip() for v in values for n in str(v).split(",") if n.strip()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"rm train: objective {dupes[0]!r} given twice", field="objectives")
    if len(names) == 1:
        raise InputError("rm train: --objectives needs at least two names (one head each); a single objective is a "
                         "plain reward model", field="objectives")
    bad = [n for n in names if "/" in n or "=" in n]
    if bad:
        raise InputError(f"rm train: objective name {bad[0]!r}: expected no '/' or '='", field="objectives")
    return names


def check_objective_rows(paths: list[str], names: list[str]) -> None:
    """Every record of ``paths`` names one of ``names`` in its ``objective`` field and is not span feedback; else an
    InputError ``path:line: field 'objective': ...`` (read before any model is loaded)."""
    from langrl.jsonl import iter_records

    for path in paths:
        for row in iter_records(path, "feedback file"):
            if not row.ok or not isinstance(row.value, dict):
                continue  # the feedback reader reports these with its own message
            value = row.value.get(OBJECTIVE_FIELD)
            if value is None:
                raise InputError(f"missing; with --objectives every record names the objective it judges, one of "
                                 f"{', '.join(names)}", path=path, line=row.line, field=OBJECTIVE_FIELD)
            if value not in names:
                raise InputError(f"expected one of {', '.join(names)} (the --objectives), got {value!r}", path=path,
                                 line=row.line, field=OBJECTIVE_FIELD)
            if "spans" in row.value:
                raise InputError("span feedback trains per-category heads and cannot name an objective head; leave "
                                 "it out of an --objectives run", path=path, line=row.line, field="spans")


def head_of(rec, names: list[str]) -> int:
    """The head index of a record's objective (checked by :func:`check_objective_rows` when the files were read)."""
    value = rec.extra.get(OBJECTIVE_FIELD)
    if value not in names:
        raise InputError(f"record (prompt {str(rec.prompt)[:40]!r}) names objective {value!r}; expected one of "
                         f"{', '.join(names)}", field=OBJECTIVE_FIELD)
    return names.index(value)

