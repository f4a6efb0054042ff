"""When a judgement was made, and how much an old one should still count (pure functions, stdlib only).

Any feedback record may carry an optional ``time`` field: an ISO 8601 string (``"2026-12-01T14:00:00+00:00"``,
``"2026-12-01T14:00:00Z"``; a time without an offset is read as UTC) or a number of seconds since the Unix epoch. The
annotation app's export writes it (``langrl.annotate.export``); the readers validate it (``path:line: field 'time':
...``) and keep it in the record's ``extra`` as written, so files round-trip unchanged.

Preferences change ("How to chase changing preferences through time?"): a reward model can count recent judgements
more. Two weightings, both relative to ``now`` (default: the newest judgement):

    exponential recency   w_i = 2 ** (-(now - t_i) / half_life)          (a judgement half_life old counts half)
    sliding window        w_i = 1 if now - t_i <= window else 0

and the drift monitor compares a reward model's accuracy on the newest judgements with its accuracy on the older ones
(:func:`drift_check`, a fixed gap; :func:`drift_test`, a gap that is also significant by Fisher's exact test).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Sequence

from langrl.errors import InputError
from langrl.feedback.parse import time_field


def parse_time(value, name: str = "time") -> float:
    """``value`` (ISO 8601 string or epoch seconds) as epoch seconds; a ``FieldError`` on ``name`` otherwise."""
    return time_field(value, name)


def format_time(epoch: float) -> str:
    """Epoch seconds as the ISO 8601 UTC string the app's export writes (``...+00:00``, whole seconds)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def record_time(rec) -> float | None:
    """The record's ``time`` (validated when it was read) as epoch seconds, or None when it has none."""
    value = rec.extra.get("time")
    return None if value is None else parse_time(value)


def record_times(records, *, path: str = "feedback", needed_by: str = "") -> list[float]:
    """Every record's time as epoch seconds; an :class:`InputError` naming the first record without one."""
    out = []
    for n, rec in enumerate(records, 1):
        t = record_time(rec)
        if t is None:
            raise InputError(f"missing ({needed_by or 'recency weighting'} needs a time on every record)",
                             path=path, line=n, field="time")
        out.append(t)
    return out


def recency_weights(times: Sequence[float], half_life: float, now: float | None = None) -> list[float]:
    """Exponential recency weights, one per judgement: ``w_i = 2 ** (-(now - t_i) / half_life)``.

    ``times`` (n,) in any unit (seconds, rounds); ``half_life`` > 0 in the same unit; ``now`` defaults to
    ``max(times)``, so the newest judgement has weight 1. A judgement from the future (t_i > now) also gets 1.
    """
    if not half_life > 0:
        raise ValueError(f"half_life must be > 0, got {half_life}")
    if not times:
        return []
    now = max(times) if now is None else now
    return [2.0 ** (-max(0.0, now - t) / half_life) for t in times]  # w = 2^(-age / half-life)


def window_weights(times: Sequence[float], window: float, now: float | None = None) -> list[float]:
    """Sliding-window weights: 1 for judgements at most ``window`` older than ``now`` (default the newest), else 0."""
    if not window > 0:
        raise ValueError(f"window must be > 0, got {window}")
    if not times:
        return []
    now = max(times) if now is None else now
    return [1.0 if now - t <= window else 0.0 for t in times]


def combined_weights(times: Sequence[float], *, half_life: float = 0.0, window: float = 0.0,
                     now: float | None = None) -> list[float]:
    """The product of the recency weights (``half_life`` > 0) and the window (``window`` > 0); ones when both are 0."""
    w = [1.0] * len(times)
    if half_life > 0:
        w = [a * b for a, b in zip(w, recency_weights(times, half_life, now))]
    if window > 0:
        w = [a * b for a, b in zip(w, window_weights(times, window, now))]
    return w


def drift_check(correct: Sequence[bool], times: Sequence[float], *, newest: int, threshold: float,
                min_older: int = 1, z: float = 0.0) -> dict:
    """Does a reward model agree less with the newest judgements than with the older ones?

    ``correct`` (n,): whether the reward model orders judgement i as the annotator did; ``times`` (n,): when it was
    made. The ``newest`` judgements (by time; ties broken by position, later first) are compared with the rest:
    the alarm fires when ``acc_old - acc_new > threshold`` and there are at least ``min_older`` older judgements,
    and, with ``z`` > 0, when the gap is also at least ``z`` standard errors of a difference of two proportions,
    se = sqrt(a_n (1 - a_n) / n_new + a_o (1 - a_o) / n_old) (a few judgements per round are noisy).
    Returns ``{"alarm", "acc_new", "acc_old", "gap", "z", "n_new", "n_old"}`` (None where a side is empty).
    """
    if len(correct) != len(times):
        raise ValueError(f"correct ({len(correct)}) and times ({len(times)}) differ in length")
    order = sorted(range(len(times)), key=lambda i: (times[i], i), reverse=True)
    new, old = order[:newest], order[newest:]
    acc_new = sum(bool(correct[i]) for i in new) / len(new) if new else None
    acc_old = sum(bool(correct[i]) for i in old) / len(old) if old else None
    gap = None if acc_new is None or acc_old is None else acc_old - acc_new
    score = None
    if gap is not None:
        se = math.sqrt(acc_new * (1 - acc_new) / len(new) + acc_old * (1 - acc_old) / len(old))
        score = gap / se if se > 0 else (math.inf if gap > 0 else 0.0)
    alarm = gap is not None and len(old) >= min_older and gap > threshold and (z <= 0 or score >= z)
    return {"alarm": alarm, "acc_new": acc_new, "acc_old": acc_old, "gap": gap, "z": score, "n_new": len(new),
            "n_old": len(old)}


def fisher_lower_p(k_new: int, n_new: int, k_old: int, n_old: int) -> float:
    """Fisher's exact one-sided p-value that the new group's success rate is lower than the old group's.

    Given the totals (n = n_new + n_old judgements, k = k_new + k_old of them predicted right), under the null that
    which judgements are new is independent of which are right, the new group's count X is hypergeometric:
    P(X = x) = C(k, x) C(n - k, n_new - x) / C(n, n_new); the p-value is P(X <= k_new). Exact at any count (no normal
    approximation, so 9 of 10 against 6 of 12 is not "2.3 standard errors" but p = 0.059).
    """
    if not (0 <= k_new <= n_new and 0 <= k_old <= n_old):
        raise ValueError(f"expected 0 <= k <= n per group, got {k_new}/{n_new} and {k_old}/{n_old}")
    n, k = n_new + n_old, k_new + k_old
    lo = max(0, n_new - (n - k))
    total = math.comb(n, n_new)
    return sum(math.comb(k, x) * math.comb(n - k, n_new - x) for x in range(lo, k_new + 1)) / total


def drift_test(splits: Sequence[tuple[Sequence[bool], Sequence[bool], int]], *, alpha: float,
               threshold: float) -> dict:
    """Has a reward model become worse at predicting the newest judgements? One check of a change-point monitor.

    ``splits``: candidate change points, each ``(new, old, change)``: whether the model predicted each judgement
    made from round ``change`` on (``new``) and each earlier one (``old``, held out from its model) as the annotator
    ordered it. A split alarms when acc_old - acc_new > ``threshold`` (a drop worth acting on) and
    m * p <= ``alpha`` (p: :func:`fisher_lower_p`; Bonferroni over the m splits), so one check fires without a
    change with probability at most ``alpha``, and a run of K checks at most K * alpha (a union bound).

    Returns the alarming split with the smallest p (else the smallest p's): ``{"alarm", "change", "acc_new",
    "acc_old", "gap", "p", "n_new", "n_old", "splits"}`` (``change`` None when no split has both sides).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"expected 0 < alpha < 1, got {alpha}")
    usable = [(n, o, c) for n, o, c in splits if len(n) and len(o)]
    tested = []
    for new, old, c in usable:
        acc_new, acc_old = sum(map(bool, new)) / len(new), sum(map(bool, old)) / len(old)
        p = fisher_lower_p(sum(map(bool, new)), len(new), sum(map(bool, old)), len(old))
        tested.append({"alarm": acc_old - acc_new > threshold and p * len(usable) <= alpha,  # Bonferroni: m p <= a
                       "change": c, "acc_new": acc_new, "acc_old": acc_old, "gap": acc_old - acc_new, "p": p,
                       "n_new": len(new), "n_old": len(old)})
    if not tested:
        return {"alarm": False, "change": None, "acc_new": None, "acc_old": None, "gap": None, "p": None,
                "n_new": 0, "n_old": 0, "splits": 0}
    best = min([t for t in tested if t["alarm"]] or tested, key=lambda t: t["p"])  # an alarming split first
    return {**best, "splits": len(usable)}
