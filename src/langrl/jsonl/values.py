"""What a record's values may be: :class:`Row` (a record, or what is wrong with it), the number rules of the JSON
decoder (finite numbers, integers of at most :data:`MAX_INT_DIGITS` digits, each error naming its field) and the
validators of common fields (:func:`text_field`, :func:`check_references`). See :mod:`langrl.jsonl`."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from langrl.errors import InputError

MAX_INT_DIGITS = 300      # float(10**300) is finite; a 309-digit integer overflows a float


@dataclass
class Row:
    """One non-blank record of a file: where it starts, its text, and its value or what is wrong with it.

    ``raw`` is the record's text on one line (``None`` for a line over the size limit, which is not kept);
    ``value`` the parsed JSON (``None`` when bad); ``field``/``reason`` say what is wrong (``reason`` is ``None`` for a
    good row); ``code`` is one of ``"json"``, ``"utf8"``, ``"size"``, ``"number"`` for a bad row.
    """

    path: str
    line: int
    raw: str | None
    value: object = None
    reason: str | None = None
    field: str | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def error(self) -> InputError:
        """The row's problem as ``path:line: field 'x': reason``."""
        return InputError(self.reason or "", path=self.path, line=self.line, field=self.field)


# ---------------------------------------------------------------------------------------------------- numbers
class _BadNumber:
    """Stands in for a number json.loads must not return; the walk below finds its field."""

    def __init__(self, reason: str):
        self.reason = reason


def number_decoder() -> tuple[json.JSONDecoder, list]:
    """(a JSON decoder holding numbers to the rules, the list it appends each bad number to; :func:`parsed_row`
    reads that list)."""
    bad: list[_BadNumber] = []

    def flag(reason: str) -> _BadNumber:
        b = _BadNumber(reason)
        bad.append(b)
        return b

    def parse_int(text: str):
        digits = len(text) - (text[0] == "-")
        if digits > MAX_INT_DIGITS:
            return flag(f"expected an integer of at most {MAX_INT_DIGITS} digits, got {digits} digits")
        return int(text)

    def parse_float(text: str):
        value = float(text)
        if not math.isfinite(value):
            shown = text if len(text) <= 30 else text[:27] + "..."
            return flag(f"expected a finite number, got {shown} (it overflows a float)")
        return value

    def parse_constant(name: str):
        return flag(f"expected a finite number, got {name}")

    return json.JSONDecoder(parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant), bad


def _find(value, target, where: str = "") -> str | None:
    """The field path (``a.b[2]``) of ``target`` inside ``value``; ``""`` when ``value`` is it."""
    if value is target:
        return where
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find(v, target, f"{where}.{k}" if where else str(k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _find(v, target, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def parsed_row(row: Row, value, bad: list) -> Row:
    """``row`` with ``value``, or with the first bad number's reason and field (``bad`` is then cleared)."""
    if bad:
        field = _find(value, bad[0])
        row.reason, row.field, row.code = bad[0].reason, field or None, "number"
        bad.clear()
    else:
        row.value = value
    return row


# ---------------------------------------------------------------------------------------------------- fields
def text_field(rec: dict, key: str, path, line: int, *, empty_ok: bool = False) -> str:
    """``rec[key]`` if it is a string (non-blank unless ``empty_ok``), else ``path:line: field 'key': expected ...``."""
    value = rec.get(key)
    if not isinstance(value, str):
        got = type(value).__name__ if key in rec else "nothing"
        raise InputError(f"expected a string, got {got}", path=str(path), line=line, field=key)
    if not empty_ok and not value.strip():
        raise InputError("expected a non-empty string", path=str(path), line=line, field=key)
    return value


def check_references(rec: dict, path, line: int) -> None:
    """A ``reference`` column is a non-empty string or a non-empty list of them; ``references`` is such a list."""
    for key in ("reference", "references"):
        if key not in rec:
            continue
        value = rec[key]
        items = [value] if isinstance(value, str) and key == "reference" else value
        if not isinstance(items, list) or not items:
            raise InputError("expected a non-empty string or a non-empty list of strings", path=str(path), line=line,
                             field=key)
        for i, v in enumerate(items):
            where = key if isinstance(value, str) else f"{key}[{i}]"
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"expected a non-empty string, got {json.dumps(v, ensure_ascii=False)[:40]}",
                                 path=str(path), line=line, field=where)
