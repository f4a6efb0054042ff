"""Pareto fronts of policies scored on several objectives: the non-dominated set and its exact hypervolume.

Every objective is *maximised*. Shapes: m points, k objectives; a point is a sequence of k floats.

- ``dominates(a, b)``: a ≥ b on every objective and > on at least one.
- ``non_dominated(points)``: indices of the points no other point dominates (duplicates all kept).
- ``hypervolume(points, ref)``: the k-dimensional volume of ∪_p [ref, p] (the box between the reference point and each
  point, Zitzler & Thiele 1998), exact, by slicing along the last objective (HSO, While et al. 2006): sort the points
  by the last coordinate, and between consecutive levels the dominated region is a (k−1)-dimensional union whose
  volume is computed recursively; k = 1 is a length. Points not strictly above ``ref`` on every objective add
  nothing. Cost O(m^(k−1) log m): fine for the few dozen policies of a sweep.
"""
from __future__ import annotations

from typing import Sequence

Point = Sequence[float]


def _check(points: Sequence[Point], k: int | None = None) -> int:
    dims = {len(p) for p in points}
    if k is not None:
        dims.add(k)
    if len(dims) > 1:
        raise ValueError(f"points: every point (and the reference) needs the same number of objectives, got {dims}")
    return dims.pop() if dims else 0


def dominates(a: Point, b: Point) -> bool:
    """a Pareto-dominates b (maximisation): a_i ≥ b_i for all i and a_j > b_j for some j."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices (ascending) of the points that no other point dominates."""
    _check(points)
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]


def _hv(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return max(p[0] for p in points) - ref[0]  # the union of [ref, p] on a line is [ref, max p]
    pts = sorted(points, key=lambda p: p[-1], reverse=True)  # slice from the top of the last objective down
    total = 0.0
    for i, p in enumerate(pts):
        below = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        height = p[-1] - below  # the slab between this level and the next
        if height > 0:
            # in this slab every point at or above the level covers its (k-1)-dimensional box
            total += height * _hv([q[:-1] for q in pts[:i + 1]], ref[:-1])
    return total


def hypervolume(points: Sequence[Point], ref: Point) -> float:
    """Exact hypervolume of ``points`` above the reference point ``ref`` (every objective maximised)."""
    k = _check(points, len(ref))
    if k == 0:
        raise ValueError("ref: expected at least one objective")
    ref_t = tuple(float(r) for r in ref)
    above = [tuple(float(x) for x in p) for p in points if all(x > r for x, r in zip(p, ref_t))]
    keep = non_dominated(above)  # dominated points add nothing; dropping them keeps the recursion small
    return _hv([above[i] for i in keep], ref_t)
