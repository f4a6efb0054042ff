"""Request bodies parsed safely: bounded nesting, bounded integers, finite numbers, each refused with a 4xx.

Python's ``json.loads`` recurses once per nested ``[``/``{`` (RecursionError near 1,000 levels; deeper still can take
the thread's stack down with the connection), raises ValueError for an integer over 4,300 digits, and turns
``1e999``, ``NaN`` and ``Infinity`` into non-finite floats. So before it runs, :func:`check_depth` measures the nesting
from the raw bytes with C-speed byte operations, and :func:`parse_json` hands ``json.loads`` hooks that mark
out-of-range numbers, then names the field that holds one.
"""
from __future__ import annotations

import json
import math
import re

from langrl.annotate.validate import FeedbackError

MAX_DEPTH = 32          # nested arrays/objects in one body (a judgement needs 3: {"spans": [{...}]})
MAX_INT_DIGITS = 100    # digits of one JSON integer (every integer a judgement holds is far shorter)

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PARENS = bytes.maketrans(b"[{]}", b"(())")


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise 400 when ``body`` nests arrays/objects deeper than ``limit`` (brackets inside strings do not count).

    Escapes go first (``\\"`` cannot end a string), then whole strings, then every byte but brackets. Deleting each
    adjacent open-close pair once per pass removes every subtree of height ≤ ``limit`` in ``limit`` passes; what is
    left has depth ≥ (the body's depth − limit), so a short walk over it decides. Text after the first place JSON is
    invalid can only make this stricter, never let a deeper prefix through (``json.loads`` stops there).
    """
    s = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKETS)
    s = s.translate(_PARENS)  # one opening and one closing symbol: depth does not care which bracket it is
    for _ in range(limit):
        shorter = s.replace(b"()", b"")
        if len(shorter) == len(s):
            break
        s = shorter
    if not s:
        return
    depth = 0
    for ch in s:  # the remainder: at most ~len(body)/limit brackets unless the body is deep (then it stops early)
        depth += 1 if ch == 40 else -1
        if depth > limit:
            break
        if depth < 0:
            return  # a stray close bracket: invalid JSON that json.loads reports before recursing past it
    else:
        if depth > 0:
            return  # unclosed (invalid JSON) but at most 2 * limit deep: json.loads reports it
    raise FeedbackError(f"expected JSON nested at most {limit} levels deep", status=400)


class _Bad:
    def __init__(self, message: str):
        self.message = message


def _int(text: str):
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Bad(f"expected an integer of at most {MAX_INT_DIGITS} digits, got one of {digits} digits")
    return int(text)


def _float(text: str):
    x = float(text)
    return x if math.isfinite(x) else _Bad(f"expected a finite number, got {text[:40]}")


def _constant(text: str):
    return _Bad(f"expected a finite number, got {text}")


def _find_bad(obj, path: str):
    if isinstance(obj, _Bad):
        return path, obj
    if isinstance(obj, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items())
    elif isinstance(obj, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for p, v in items:
        found = _find_bad(v, p)  # depth is at most MAX_DEPTH here
        if found:
            return found
    return None


def parse_json(body: bytes):
    """The JSON value of ``body``; :class:`FeedbackError` 400 for invalid or too deeply nested JSON, 422 naming the
    field for an integer over :data:`MAX_INT_DIGITS` digits or a non-finite number."""
    check_depth(body)
    try:
        value = json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise FeedbackError(f"expected a JSON object, got invalid JSON ({e})", status=400) from None
    found = _find_bad(value, "")
    if found:
        path, bad = found
        raise FeedbackError(bad.message, path or None, status=422)
    return value
