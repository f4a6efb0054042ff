"""What every built-in task promises: determinism, disjoint splits, short texts, gold in [0, 1], feedback formats."""
import json

import pytest

from langrl.errors import InputError
from langrl.tasks import ANSWER_DELIMITER, TASKS, get_task, mixture_corpus

NAMES = sorted(TASKS)


@pytest.fixture(scope="module", params=NAMES)
def task(request):
    return get_task(request.param)


def test_registry_and_unknown_name():
    assert set(NAMES) == {"factqa", "reviews", "arithmetic", "hh"}
    with pytest.raises(InputError, match="arithmetic, factqa, hh, reviews"):
        get_task("poetry")


def test_deterministic_by_seed(task):
    assert task.corpus(20, 3) == task.corpus(20, 3)
    assert task.sft_examples(10, 3) == task.sft_examples(10, 3)
    assert task.prompts("eval", 10, 3) == task.prompts("eval", 10, 3)
    assert task.corpus(20, 3) != task.corpus(20, 4)
    assert task.prompts("train", 10, 3) != task.prompts("train", 10, 4)


def test_train_and_eval_prompts_are_disjoint(task):
    train = {r["prompt"] for r in task.prompts("train", 300, 0)}
    evals = {r["prompt"] for r in task.prompts("eval", 300, 0)}
    assert len(train) > 250 and len(evals) > 250  # mostly distinct prompts
    assert not train & evals
    # the corpus and the SFT data come from the train side only
    corpus_prompts = {d[:d.index(ANSWER_DELIMITER) + len(ANSWER_DELIMITER)] for d in task.corpus(300, 0)}
    sft_prompts = {e["prompt"] for e in task.sft_examples(300, 0)}
    assert not (corpus_prompts | sft_prompts) & evals


def test_texts_are_short_and_delimited(task):
    for doc in task.corpus(300, 1):
        assert doc.count(ANSWER_DELIMITER) == 1 and len(doc) < 600
    for ex in task.sft_examples(100, 1):
        assert ex["prompt"].endswith(ANSWER_DELIMITER)
        assert ex["completion"].startswith(" ") and not ex["completion"].startswith("  ")
        assert "\n" not in ex["completion"] and "</s>" not in ex["completion"]
    for row in task.prompts("train", 50, 1):
        assert row["prompt"].endswith(ANSWER_DELIMITER)
        json.dumps(row["meta"])  # JSON-able hidden info


def test_sft_completions_score_high_gold(task):
    rows = task.prompts("eval", 100, 2)
    scores = task.gold(rows, [" " + r["reference"] for r in rows])
    assert "gold" in scores and all(len(v) == len(rows) for v in scores.values())
    assert min(scores["gold"]) >= 0.9


def test_gold_is_in_unit_interval_on_corpus_completions(task):
    docs = task.corpus(200, 5)
    rows = task.prompts("train", 200, 5)
    # score each corpus completion against an unrelated row too: gold must stay in [0, 1] on anything
    responses = [d[d.index(ANSWER_DELIMITER) + len(ANSWER_DELIMITER):] for d in docs] + ["", "!!!", "#### 3"]
    rows = rows + rows[:3]
    for name, values in task.gold(rows, responses).items():
        assert all(0.0 <= v <= 1.0 for v in values), name


def test_bad_input_is_refused(task):
    with pytest.raises(InputError, match="split"):
        task.prompts("test", 3, 0)
    with pytest.raises(InputError):
        task.corpus(-1, 0)
    with pytest.raises(InputError, match="meta"):
        task.gold([{"prompt": "x"}], ["y"])
    with pytest.raises(InputError, match="responses"):
        task.gold(task.prompts("train", 2, 0), ["y"])


KEYS = {"rate": {"prompt", "response", "rating"}, "compare": {"prompt", "chosen", "rejected"},
        "tie": {"prompt", "responses", "tie"}, "rank": {"prompt", "responses", "ranking"},
        "spans": {"prompt", "response", "spans", "missing", "corrected"},
        "critique": {"prompt", "response", "critique", "refinement"}}


def test_every_feedback_dict_has_its_fields(task):
    ann = task.annotator(0, span_miss=0.1)
    rows = task.prompts("train", 30, 6)
    docs = task.corpus(90, 6)
    responses = [d[d.index(ANSWER_DELIMITER) + len(ANSWER_DELIMITER):] for d in docs]
    for i, row in enumerate(rows):
        a, b, c = responses[3 * i: 3 * i + 3]
        r = ann.rate(row, a)
        assert set(r) == KEYS["rate"] and r["rating"] in (1, -1)
        cmp = ann.compare(row, a, " " + row["reference"])
        assert set(cmp) == (KEYS["tie"] if cmp.get("tie") else KEYS["compare"])
        rk = ann.rank(row, [a, b, c])
        assert set(rk) == KEYS["rank"] and sorted(i for tier in rk["ranking"] for i in tier) == [0, 1, 2]
        for resp in (a, b, c, ""):
            sp = ann.spans(row, resp)
            assert set(sp) == KEYS["spans"] and isinstance(sp["corrected"], str) and sp["corrected"]
            for s in sp["spans"]:
                assert set(s) == {"start", "end", "category"} and 0 <= s["start"] < s["end"] <= len(resp)
            assert all(isinstance(m, str) and m for m in sp["missing"])
            cr = ann.critique(row, resp)
            assert set(cr) == KEYS["critique"] and cr["critique"] and cr["refinement"]
        json.dumps([r, cmp, rk, sp, cr])


def test_noiseless_annotator_prefers_the_reference_over_a_flawed_corpus_answer(task):
    ann = task.annotator(0, flip=0, temperature=0, intransitive=0, tie_margin=0)
    rows = task.prompts("train", 40, 7)
    for row in rows:
        good = " " + row["reference"]
        bad = " !!!"
        assert ann.compare(row, bad, good)["chosen"] == good
        assert ann.rate(row, good)["rating"] == 1 and ann.rate(row, bad)["rating"] == -1


def test_mixture_corpus_splits_evenly_and_is_seeded():
    docs = mixture_corpus(["factqa", "reviews", "arithmetic"], 10, 0)
    assert len(docs) == 10 and docs == mixture_corpus(["factqa", "reviews", "arithmetic"], 10, 0)
    # 10 = 4 + 3 + 3: factqa first
    assert sum("How many" in d for d in docs) == 3 and sum("Continue this review" in d for d in docs) == 3
    with pytest.raises(InputError, match="unknown task"):
        mixture_corpus(["factqa", "nope"], 4, 0)
    with pytest.raises(InputError):
        mixture_corpus([], 4, 0)
