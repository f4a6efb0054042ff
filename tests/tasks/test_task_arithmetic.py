"""arithmetic gold (final answer) and step validity on hand-made solutions."""
import pytest

from langrl.errors import InputError
from langrl.tasks.arithmetic import Arithmetic, solution
from langrl.tasks.base import make_rng

OPS = [{"op": "+", "b": 4, "phrase": "buys 4 more"}, {"op": "-", "b": 2, "phrase": "gives away 2"}]
ROW = {"prompt": "Q: Ann has 3 apples. She buys 4 more and gives away 2. How many apples does she have now?\nA:",
       "answer": "5", "reference": "3 + 4 = 7. 7 - 2 = 5. #### 5", "meta": {"start": 3, "ops": OPS}}
TASK = Arithmetic()
QUIET = dict(flip=0, temperature=0, intransitive=0, tie_margin=0, span_miss=0)


def gold(resp):
    return {k: v[0] for k, v in TASK.gold([ROW], [resp]).items()}


def test_solution_format():
    assert solution(3, OPS) == ("3 + 4 = 7. 7 - 2 = 5. #### 5", 5)


def test_correct_answer_scores_one_and_wrong_zero():
    assert gold(" 3 + 4 = 7. 7 - 2 = 5. #### 5") == {"gold": 1.0, "correct": 1.0, "steps": 1.0}
    assert gold(" 3 + 4 = 7. 7 - 2 = 5. #### 6")["gold"] == 0.0
    assert gold(" #### 5")["gold"] == 1.0  # gold is the answer only; steps = 0 written -> 0
    assert gold(" #### 5")["steps"] == 0.0
    assert gold(" 3 + 4 = 7. 7 - 2 = 5.")["gold"] == 0.0  # no answer line
    assert gold(" #### 5 #### 6")["gold"] == 1.0  # the first answer line counts


def test_step_validity_by_hand():
    # slip: 3 + 4 = 8 is false; 8 - 2 = 6 is true, uses (-, 2) from the problem and 8 was written: 1 valid of 2
    assert gold(" 3 + 4 = 8. 8 - 2 = 6. #### 6") == {"gold": 0.0, "correct": 0.0, "steps": 0.5}
    # wrong operation: 7 + 2 is true but (+, 2) is not in the problem: 1 valid of 2
    assert gold(" 3 + 4 = 7. 7 + 2 = 9. #### 9")["steps"] == 0.5
    # a skipped step: 1 valid step of the 2 needed
    assert gold(" 3 - 2 = 1. #### 1")["steps"] == 0.5


def test_spans_and_critique_name_the_wrong_step_and_answer():
    ann = TASK.annotator(0, **QUIET)
    resp = " 3 + 4 = 8. 8 - 2 = 6. #### 6"
    out = ann.spans(ROW, resp)
    assert [(resp[s["start"]:s["end"]], s["category"]) for s in out["spans"]] == [("3 + 4 = 8", "wrong_step"),
                                                                                    ("#### 6", "wrong_answer")]
    assert out["missing"] == ['The step for "buys 4 more" is missing.'] and out["corrected"] == ROW["reference"]
    crit = ann.critique(ROW, resp)["critique"]
    assert "Step 1: 3 + 4 is 7, not 8." in crit and "The final answer should be 5, not 6." in crit
    assert ann.spans(ROW, " 3 + 4 = 7.")["missing"] == ['The step for "gives away 2" is missing.',
                                                        "The final answer line is missing: #### 5"]
    assert ann.critique(ROW, " " + ROW["reference"])["critique"] == "The solution is correct."


def test_annotator_orders_wrong_answers_by_their_working():
    ann = TASK.annotator(0, **QUIET)
    good_work = " 3 + 4 = 7. 7 - 2 = 6. #### 6"  # utility .8 * 0 + .2 * 1/2 = 0.1
    no_work = " #### 6"  # utility 0
    assert ann.compare(ROW, no_work, good_work)["chosen"] == good_work


def test_corpus_error_rates():
    zero = {"slip": 0.0, "wrong_op": 0.0, "skip": 0.0, "answer_mismatch": 0.0}
    rng = make_rng("test-arith", 0)
    clean = Arithmetic(error_rates=zero)
    rows = [clean._row(rng, "train") for _ in range(300)]
    assert all(clean.gold([r], [clean._completion(r["meta"], rng)])["gold"] == [1.0] for r in rows)
    # a slip changes one step by 1-2 (clamped at 0, so a result of 0 can survive a -1 slip): almost always wrong
    slips = Arithmetic(error_rates={**zero, "slip": 1.0})
    wrong = sum(slips.gold([r], [slips._completion(r["meta"], rng)])["gold"] == [0.0] for r in rows)
    assert wrong / len(rows) > 0.95
    with pytest.raises(InputError):
        Arithmetic(error_rates={"typo": 1.0})
