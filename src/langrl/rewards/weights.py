"""Objective weight vectors: parsing and validation (clear errors), and the simplex grid of a sweep.

A weight vector gives every objective a non-negative weight w_k (not all zero). It is written either by name,
``helpful=0.7,harmless=0.3`` (every objective named once), or by position, ``0.7,0.3`` (in the objectives' order).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from langrl.errors import InputError


def check_weights(weights: Sequence[float] | Mapping[str, float], names: Sequence[str],
                  field: str = "weights") -> dict[str, float]:
    """``weights`` (by position or by name) → {name: w} in the order of ``names``; InputError naming ``field`` when
    the length does not match the objectives, a name does not exist or is missing, a weight is negative or not a
    finite number, or every weight is 0."""
    names = list(names)
    if isinstance(weights, Mapping):
        unknown = [n for n in weights if n not in names]
        if unknown:
            raise InputError(f"objective {unknown[0]!r} does not exist; objectives: {', '.join(names)}", field=field)
        missing = [n for n in names if n not in weights]
        if missing:
            raise InputError(f"no weight for objective(s) {', '.join(missing)}; expected one weight for each of "
                             f"{', '.join(names)}", field=field)
        values = [weights[n] for n in names]
    else:
        values = list(weights)
        if len(values) != len(names):
            raise InputError(f"{len(values)} weight(s) for {len(names)} objective(s) ({', '.join(names)}); expected "
                             f"one weight per objective", field=field)
    out = {}
    for name, w in zip(names, values):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise InputError(f"weight of {name!r}: expected a finite number, got {w!r}", field=field)
        if w < 0:
            raise InputError(f"weight of {name!r}: expected a non-negative number, got {w!r}", field=field)
        out[name] = float(w)
    if not any(out.values()):
        raise InputError(f"every weight is 0; give at least one objective a positive weight", field=field)
    return out


def parse_weights(text: str, names: Sequence[str], field: str = "weights") -> dict[str, float]:
    """``"helpful=0.7,harmless=0.3"`` or ``"0.7,0.3"`` → {name: w} (validated by :func:`check_weights`)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise InputError(f"empty weight vector; expected e.g. {','.join(f'{n}=1' for n in names)}", field=field)
    named = [("=" in p) for p in parts]
    if any(named) and not all(named):
        raise InputError(f"weights {text!r}: give every weight by name (NAME=W) or none", field=field)

    def number(s: str):
        try:
            return float(s)
        except ValueError:
            raise InputError(f"weights {text!r}: expected a number, got {s!r}", field=field) from None

    if all(named):
        pairs = [p.split("=", 1) for p in parts]
        keys = [k.strip() for k, _ in pairs]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise InputError(f"weights {text!r}: objective {dupes[0]!r} given twice", field=field)
        return check_weights({k.strip(): number(v) for k, v in pairs}, names, field)
    return check_weights([number(p) for p in parts], names, field)


def weight_grid(k: int, steps: int) -> list[tuple[float, ...]]:
    """Every weight vector on the simplex lattice {w : w_i = j_i / steps, Σ w_i = 1}, in lexicographic order of
    (j_1 descending, ...): k = 2, steps = 2 → (1, 0), (0.5, 0.5), (0, 1). There are C(steps + k − 1, k − 1)."""
    if k < 1 or steps < 1:
        raise InputError(f"weight grid: expected k >= 1 objectives and steps >= 1, got k={k}, steps={steps}",
                         field="grid")

    def rec(left: int, dims: int):
        if dims == 1:
            yield (left,)
            return
        for j in range(left, -1, -1):
            for rest in rec(left - j, dims - 1):
                yield (j,) + rest

    return [tuple(j / steps for j in js) for js in rec(steps, k)]
