"""Counts and inter-annotator agreement for ``langrl annotate stats``.

Agreement is measured only on units judged by two or more annotators:
- **Krippendorff's alpha, nominal** (Krippendorff 2011, "Computing Krippendorff's alpha-reliability", the
  coincidence-matrix form): ``alpha = 1 - D_o / D_e``; 1 is perfect agreement, 0 is chance, below 0 is systematic
  disagreement; undefined (None) when every judgement has the same value.
- **pairwise agreement**: the share of pairs of judgements on the same unit that agree.

What a "value" is, per kind: a rating's +1/-1; a comparison's outcome in item order (first better, second better, tie);
a ranking's outcome on every pair of its responses (so a ranking is compared pair by pair); for spans, whether each
character is inside a span of a category, one alpha per category (a character-level binary alpha). Critiques are free
text and get counts only.
"""
from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from typing import Hashable, Iterable


def krippendorff_alpha_nominal(units: Iterable[list[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal values; ``units`` holds the values each unit received (any number of coders).

    With ``o_ck`` the coincidences (pairs of values c, k from different coders of one unit, each weighted
    ``1 / (m_u - 1)``) and ``n_c = sum_k o_ck``, ``n = sum_c n_c``:
    ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
    """
    disagree, n_c = 0.0, Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        # ordered pairs of different values within the unit: m^2 - sum_c n_uc^2, each weighted 1/(m-1)
        disagree += (m * m - sum(c * c for c in counts.values())) / (m - 1)
        n_c.update(counts)
    n = sum(n_c.values())
    expected = n * n - sum(c * c for c in n_c.values())  # sum_{c != k} n_c n_k
    if n < 2 or expected == 0:
        return None
    return 1.0 - (n - 1) * disagree / expected


def pairwise_agreement(units: Iterable[list[Hashable]]) -> float | None:
    """Share of agreeing pairs among all pairs of values given to the same unit; None without any such pair."""
    agree = total = 0
    for values in units:
        for a, b in itertools.combinations(values, 2):
            total += 1
            agree += a == b
    return agree / total if total else None


def _comparison_value(f: dict) -> str:
    if f.get("preferred") == "tie":
        return "tie"
    return "first" if f["chosen"] < f["rejected"] else "second"


def _ranking_pairs(ranking: list[list[int]]) -> dict[tuple[int, int], str]:
    tier = {i: t for t, members in enumerate(ranking) for i in members}
    out = {}
    for i, j in itertools.combinations(sorted(tier), 2):
        out[(i, j)] = "tie" if tier[i] == tier[j] else ("first" if tier[i] < tier[j] else "second")
    return out


def _group(judgements: list[dict]) -> dict:
    by_unit = defaultdict(list)
    for j in judgements:
        by_unit[(j["item_pk"], j["unit"])].append(j)
    return {k: v for k, v in by_unit.items() if len(v) >= 2}


def kind_agreement(kind: str, judgements: list[dict], categories: Iterable[str] = ()) -> dict | None:
    """Agreement for one kind's judgements (as :meth:`Storage.judgements` returns them)."""
    groups = _group(judgements)
    if kind in ("rating", "comparison"):
        value = (lambda f: f["rating"]) if kind == "rating" else _comparison_value
        units = [[value(j["fields"]) for j in g] for g in groups.values()]
        return {"units": len(units), "alpha": krippendorff_alpha_nominal(units), "pairwise": pairwise_agreement(units)}
    if kind == "ranking":
        units = []
        for g in groups.values():
            pairs = [_ranking_pairs(j["fields"]["ranking"]) for j in g]
            units += [[p[key] for p in pairs] for key in pairs[0]]
        return {"units": len(groups), "pair_units": len(units), "alpha": krippendorff_alpha_nominal(units),
                "pairwise": pairwise_agreement(units)}
    if kind == "spans":
        cats = sorted(set(categories) | {s["category"] for j in judgements for s in j["fields"]["spans"]})
        alpha = {}
        for cat in cats:
            units = []
            for g in groups.values():
                length = len(g[0]["responses"][g[0]["fields"]["response"]])
                marks = []
                for j in g:
                    inside = [0] * length
                    for s in j["fields"]["spans"]:
                        if s["category"] == cat:
                            inside[s["start"]:s["end"]] = [1] * (s["end"] - s["start"])
                    marks.append(inside)
                units += [list(col) for col in zip(*marks)]
            alpha[cat] = krippendorff_alpha_nominal(units)
        return {"units": len(groups), "alpha_by_category": alpha}
    return None


def stats(storage, kinds: Iterable[str], categories: Iterable[str] = ()) -> dict:
    """Counts per kind and annotator, median time spent, and agreement (see the module docstring)."""
    counts = storage.counts()
    out = {"items": counts["items"], "annotators": counts["annotators"], "kinds": {}}
    for kind in kinds:
        js = storage.judgements(kind)
        spent = [j["time_spent_s"] for j in js if j["time_spent_s"] is not None]
        out["kinds"][kind] = {
            "judgements": len(js),
            "by_annotator": dict(sorted(Counter(j["annotator"] for j in js).items())),
            "median_time_s": round(statistics.median(spent), 2) if spent else None,
            "agreement": kind_agreement(kind, js, categories),
        }
    return out
