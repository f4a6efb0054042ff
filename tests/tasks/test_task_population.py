"""The long-tailed annotator population: types drawn by share, each judging by its own weights over the gold axes."""
import pytest

from langrl.errors import InputError
from langrl.tasks import get_task
from langrl.tasks.population import Population

TASK = get_task("hh")
GROUPS = {"majority": (0.8, {"helpful": 0.9, "harmless": 0.1}), "minority": (0.2, {"helpful": 0.1, "harmless": 0.9})}


def forbidden_row():
    return next(r for r in TASK.prompts("train", 400, 0) if r["meta"]["object"] == "the stone drake")


def test_types_are_drawn_by_share_and_stable():
    pop = Population(TASK, GROUPS, seed=0)
    rows = TASK.prompts("train", 2000, 1)
    types = [pop.type_of("compare", r, "a", "b") for r in rows]
    assert abs(types.count("minority") / len(types) - 0.2) < 0.03  # the minority's share
    assert types == [pop.type_of("compare", r, "a", "b") for r in rows]  # the same question, the same type


def test_each_type_judges_by_its_own_weights():
    row = forbidden_row()
    comply, refuse = " To wake the stone drake, ring the iron bell.", " " + row["reference"]
    pop = Population(TASK, GROUPS, seed=0, flip=0.0, temperature=0.0)
    # comply: helpful 1, harmless 0; refuse with the reason: helpful 0, harmless 1
    # majority u = 0.9 vs 0.1 → prefers complying; minority u = 0.1 vs 0.9 → prefers the refusal
    assert pop.utility("majority", row, comply) == pytest.approx(0.9)
    assert pop.utility("minority", row, refuse) == pytest.approx(0.9)
    assert pop.annotators["majority"].compare(row, comply, refuse)["chosen"] == comply
    assert pop.annotators["minority"].compare(row, comply, refuse)["chosen"] == refuse
    rec = pop.compare(row, comply, refuse)
    assert rec["annotator"] in GROUPS and rec["chosen"] == (comply if rec["annotator"] == "majority" else refuse)


@pytest.mark.parametrize("groups, match", [
    ({"a": (0.5, {"helpful": 1.0})}, "sum to 1"),
    ({"a": (1.0, {"kind": 1.0})}, "no gold axis 'kind'"),
    ({"a": (1.0, {"helpful": -1.0})}, "non-negative"),
])
def test_bad_populations_are_refused(groups, match):
    with pytest.raises(InputError, match=match):
        Population(TASK, groups)


def test_axis_annotator_judges_each_question_once_per_axis():
    from langrl.tasks.hh import candidate_responses
    from langrl.tasks.population import AxisAnnotator, pool_comparisons

    row = forbidden_row()
    comply, refuse = " To wake the stone drake, ring the iron bell.", " " + row["reference"]
    ann = AxisAnnotator(TASK, ["helpful", "harmless"], seed=0, flip=0.0, temperature=0.0)
    recs = ann.compare(row, comply, refuse)
    # helpful: comply 1 vs refusal 0 → comply; harmless: comply 0 vs refusal 1 → the refusal
    assert [(r["objective"], r["chosen"]) for r in recs] == [("helpful", comply), ("harmless", refuse)]
    assert [r["objective"] for r in ann.rate(row, comply)] == ["helpful", "harmless"]
    assert [r["rating"] for r in ann.rate(row, comply)] == [1, -1]  # helpful 1 ≥ 0.75; harmless 0 < 0.75
    # every pair of the 5-response pool, once per axis, with the row's meta kept for the gold evaluator
    pooled = pool_comparisons(ann, [row], candidate_responses)
    assert len(pooled) == 10 * 2 and all(r["meta"] == row["meta"] for r in pooled)
    with pytest.raises(InputError, match="no gold axis 'kind'"):
        AxisAnnotator(TASK, ["helpful", "kind"])


def test_group_accuracy_counts_agreeing_pairs_and_skips_indifference():
    from langrl.tasks.population import group_accuracy

    scores = [3.0, 1.0, 2.0, 2.0]
    utility = [1.0, 0.0, 0.0, 0.5]
    # (0,1): du 1, ds 2 → agree; (1,2): du 0 → left out; (2,3): du -0.5, ds 0 → 1/2; (1,3): du -0.5, ds -1 → agree
    assert group_accuracy(scores, utility, [(0, 1), (1, 2), (2, 3), (1, 3)]) == (2.5 / 3, 3)
    acc, n = group_accuracy(scores, utility, [(1, 2)])
    assert n == 0 and acc != acc  # NaN: no pair the type cares about


def test_condition_judgements_writes_each_annotators_weights_before_the_prompt():
    from langrl.rewards.conditioning import strip_prefix
    from langrl.tasks.population import condition_judgements

    w = {"many": {"helpful": 0.9, "harmless": 0.1}, "few": {"helpful": 0.1, "harmless": 0.9}}
    recs = [{"prompt": "Q: a?", "chosen": "x", "rejected": "y", "annotator": "many"},
            {"prompt": "Q: b?", "chosen": "y", "rejected": "x", "annotator": "few"}]
    got = condition_judgements(recs, w)
    # compact: level round(20·0.9) = 18 → "s", round(20·0.1) = 2 → "c"
    assert [r["prompt"] for r in got] == ["[s,c] Q: a?", "[c,s] Q: b?"]
    assert got[0]["chosen"] == "x" and got[1]["annotator"] == "few" and recs[0]["prompt"] == "Q: a?"
    text, back = strip_prefix(got[1]["prompt"], ["helpful", "harmless"])
    assert text == "Q: b?" and back == pytest.approx({"helpful": 0.1, "harmless": 0.9})
    assert condition_judgements(recs[:1], w, fmt="names")[0]["prompt"] == "[w helpful=0.9 harmless=0.1] Q: a?"
    with pytest.raises(InputError, match="annotator 'rare'"):
        condition_judgements([{**recs[0], "annotator": "rare"}], w)
