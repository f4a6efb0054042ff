"""Objective weight vectors: parsing, validation errors, the simplex grid, and CompositeReward.set_weights."""
import pytest
import torch

from langrl.errors import InputError
from langrl.rewards.weights import check_weights, parse_weights, weight_grid

NAMES = ["helpful", "harmless"]


def test_parse_by_name_and_by_position():
    assert parse_weights("harmless=0.3,helpful=0.7", NAMES) == {"helpful": 0.7, "harmless": 0.3}
    assert parse_weights("1, 0", NAMES) == {"helpful": 1.0, "harmless": 0.0}


@pytest.mark.parametrize("text, match", [
    ("1,0,0", "3 weight\\(s\\) for 2 objective"),
    ("1,-0.5", "non-negative"),
    ("helpful=1,kind=1", "objective 'kind' does not exist"),
    ("helpful=1", "no weight for objective\\(s\\) harmless"),
    ("helpful=1,0", "by name"),
    ("0,0", "every weight is 0"),
    ("1,x", "expected a number"),
    ("helpful=1,helpful=2", "given twice"),
    ("1,nan", "finite"),
])
def test_bad_weights_are_refused_with_the_field_named(text, match):
    with pytest.raises(InputError, match=match) as err:
        parse_weights(text, NAMES, field="weights")
    assert "field 'weights'" in str(err.value)


def test_check_weights_keeps_the_objectives_order():
    assert list(check_weights({"harmless": 1, "helpful": 2}, NAMES)) == NAMES


def test_weight_grid():
    assert weight_grid(2, 2) == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    g = weight_grid(3, 2)  # C(2 + 2, 2) = 6 points on the simplex
    assert len(g) == 6 and all(sum(w) == pytest.approx(1.0) for w in g) and g[0] == (1.0, 0.0, 0.0)
    with pytest.raises(InputError, match="steps"):
        weight_grid(2, 0)


def test_composite_set_weights_changes_the_total():
    from langrl.rewards import CompositeReward, from_trl

    a = from_trl(lambda prompts, completions, **k: [1.0 for _ in completions], "helpful")
    b = from_trl(lambda prompts, completions, **k: [2.0 for _ in completions], "harmless")
    comp = CompositeReward([a, b])
    assert comp.set_weights(parse_weights("0.25,2", comp.objective_names)) == {"helpful": 0.25, "harmless": 2.0}
    out = comp(["q"], ["r"])
    assert out.column("total").item() == pytest.approx(0.25 * 1 + 2 * 2)  # 4.25
    with pytest.raises(InputError, match="objective"):
        comp.set_weights([1.0])
