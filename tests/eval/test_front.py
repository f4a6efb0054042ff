"""Pareto fronts: dominance, the non-dominated set, and exact hypervolume (hand-worked and against a grid count)."""
import itertools
import random

import pytest

from langrl.eval.front import dominates, hypervolume, non_dominated


def test_dominance_and_non_dominated_set():
    assert dominates((2, 2), (1, 2)) and not dominates((1, 2), (1, 2)) and not dominates((3, 0), (0, 3))
    pts = [(1, 3), (2, 2), (3, 1), (1, 1), (2, 2), (0, 3)]
    # (1, 1) is dominated by (2, 2); (0, 3) by (1, 3); the duplicate (2, 2) dominates neither copy
    assert non_dominated(pts) == [0, 1, 2, 4]


def test_hypervolume_2d_hand_worked():
    # staircase above ref (0, 0): x in [0, 1] up to 3, [1, 2] up to 2, [2, 3] up to 1 → 3 + 2 + 1 = 6
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (0, 0)) == pytest.approx(6.0)
    # ref (1, 0): (1, 3) has no width above ref → [1, 2] × 2 + [2, 3] × 1 = 3
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (1, 0)) == pytest.approx(3.0)
    assert hypervolume([(0.5, 0.5)], (1, 1)) == 0.0  # below the reference: nothing


def test_hypervolume_3d_hand_worked():
    assert hypervolume([(2, 3, 4)], (0, 0, 0)) == pytest.approx(24.0)  # one box 2 × 3 × 4
    # boxes 2×2×1 = 4 and 1×1×2 = 2 overlap in 1×1×1 = 1 → 5
    assert hypervolume([(2, 2, 1), (1, 1, 2)], (0, 0, 0)) == pytest.approx(5.0)


def _grid_count(points, ref, top):
    """Brute force: unit cells [c, c+1]^k (c integer, ref ≤ c < top) inside some box [ref, p]."""
    k = len(ref)
    cells = itertools.product(*[range(ref[i], top) for i in range(k)])
    return sum(any(all(c[i] + 1 <= p[i] for i in range(k)) for p in points) for c in cells)


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_a_brute_force_grid_count(k):
    rng = random.Random(k)
    for trial in range(30):
        ref = tuple(rng.randint(0, 2) for _ in range(k))
        points = [tuple(rng.randint(0, 7) for _ in range(k)) for _ in range(rng.randint(1, 7))]
        assert hypervolume(points, ref) == pytest.approx(_grid_count(points, ref, 8)), (points, ref)


def test_mismatched_dimensions_are_refused():
    with pytest.raises(ValueError, match="same number of objectives"):
        hypervolume([(1, 2)], (0, 0, 0))
