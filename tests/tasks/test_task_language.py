"""The simulated language annotator: varied phrasings parse back to the right spans and categories, noise at its rate."""
import pytest

from langrl.errors import InputError
from langrl.tasks import get_task
from langrl.tasks.critique_parse import critique_sentences, parse_critique
from langrl.tasks.issues import Issue, label_key, task_issues
from langrl.tasks.language import HEDGES, PHRASINGS, LanguageAnnotator, phrase
from langrl.tasks.rng import make_rng

# A hand-made factqa row: the 3 largest cities of Vorland are Kelm, Ardo, Pim.
META = {"entity": "Vorland", "kind": "country", "attr": "cities", "k": 3, "items": ["Kelm", "Ardo", "Pim", "Sorv"],
        "other_attr": "rivers", "other_items": ["Sul", "Varo", "Tesk", "Mool"], "filler": "Vorland is a small country."}
ROW = {"prompt": "... Q: What are the 3 largest cities of Vorland?\nA:", "meta": META}
# sentences: " The largest city of Vorland is Kelm." -> (1, 37) (36 characters after the leading space);
# "The second largest is Pim." -> (38, 64) (26 characters); "Vorland is a small country." -> (65, 92) (27 characters)
RESP = " The largest city of Vorland is Kelm. The second largest is Pim. Vorland is a small country."


def spans(issues):
    return [(i.start, i.end, i.category) for i in issues]


@pytest.mark.parametrize("critique, expected", [
    ("I think the second sentence gets it wrong: Pim should be Ardo.", [(38, 64, "untruthful")]),
    ("Pim is not the second city; the passage says Ardo.", [(38, 64, "untruthful")]),
    ("The second item is wrong: it is Ardo, not Pim.", [(38, 64, "untruthful")]),  # the default annotator's words
    ('"Vorland is a small country." is irrelevant to the question.', [(65, 92, "irrelevant")]),
    ("Probably the third sentence is off-topic.", [(65, 92, "irrelevant")]),
    ("You forgot Pim, the third city.", [(-1, -1, "missing")]),
    ("Looks right to me.", []),
])
def test_hand_made_factqa_critiques_map_to_spans_and_categories(critique, expected):
    assert spans(parse_critique("factqa", RESP, critique)) == expected


def test_a_critique_of_several_sentences_names_each_problem_once():
    c = ('It seems that "Vorland is a small country." does not answer the question; drop it. You list Pim as the '
         'second one, but it should be Ardo. The third item is missing: Pim.')
    assert critique_sentences(c)[0] == 'It seems that "Vorland is a small country." does not answer the question; ' \
                                       'drop it.'  # the quote's full stop does not end the sentence
    assert sorted(spans(parse_critique("factqa", RESP, c))) == [(-1, -1, "missing"), (38, 64, "untruthful"),
                                                                 (65, 92, "irrelevant")]


# " 3 + 4 = 8. 8 - 2 = 6. #### 6": step 1 "3 + 4 = 8" is characters 1..10, step 2 "8 - 2 = 6" 12..21, "#### 6" 23..29
ARESP = " 3 + 4 = 8. 8 - 2 = 6. #### 6"


@pytest.mark.parametrize("critique, expected", [
    ("Step 1: 3 + 4 is 7, not 8.", [(1, 10, "wrong_step")]),
    ("3 + 4 does not equal 8.", [(1, 10, "wrong_step")]),
    ("Check the second calculation; 6 is wrong.", [(12, 21, "wrong_step")]),
    ("The final answer should be 5, not 6.", [(23, 29, "wrong_answer")]),
    ('You never account for "gives away 2".', [(-1, -1, "missing")]),
    ("All steps check out.", []),
])
def test_hand_made_arithmetic_critiques_map_to_spans_and_categories(critique, expected):
    assert spans(parse_critique("arithmetic", ARESP, critique)) == expected


def _responses(name, n, seed):
    """(row, response) pairs with the task's errors at high rates (so most responses have several problems)."""
    task, rng = get_task(name), make_rng("test-language", name, seed)
    rates = {k: 0.4 for k in task.error_rates}
    out = []
    for row in task.prompts("train", n, seed):
        if name == "factqa":
            out.append((row, task._completion(row["meta"], rng, rates)))
        else:
            out.append((row, type(task)(error_rates=rates)._completion(row["meta"], rng)))
    return task, out


def _exact(issues):
    return sorted((i.start, i.end, i.category) for i in issues if i.located), sum(not i.located for i in issues)


@pytest.mark.parametrize("name", ["factqa", "arithmetic"])
def test_noiseless_varied_critiques_parse_back_to_the_gold_labels(name):
    task, pairs = _responses(name, 300, 0)
    ann = LanguageAnnotator(task, seed=0, noise=0.0, hedge=0.5)
    assert sum(bool(task_issues(name, r, x)) for r, x in pairs) > 100  # enough responses with problems to test
    for row, resp in pairs:
        crit = ann.critique(row, resp)
        assert _exact(parse_critique(name, resp, crit["critique"])) == _exact(task_issues(name, row, resp)), crit
        gold_spans, _ = task.label_spans(row, resp)  # the issues are the task's own gold labels
        assert sorted((s["start"], s["end"], s["category"]) for s in gold_spans) == _exact(task_issues(name, row,
                                                                                                         resp))[0]


@pytest.mark.parametrize("name", ["factqa", "arithmetic"])
def test_noise_rate_is_honoured_and_the_critique_says_what_the_annotator_believes(name):
    task, pairs = _responses(name, 2000, 1)
    ann = LanguageAnnotator(task, seed=1, noise=0.2)
    corrupted = agree = 0
    for row, resp in pairs:
        issues, mode = ann.believed(row, resp)
        corrupted += mode != ""
        if mode:  # a corrupted critique never states the truth
            assert label_key(resp, issues) != label_key(resp, task_issues(name, row, resp)) or mode == "partial"
        parsed = parse_critique(name, resp, ann.critique(row, resp)["critique"])
        agree += _exact(parsed) == _exact(issues)
        # the paired spans record marks exactly what the critique says
        sp = ann.spans(row, resp)
        assert [(s["start"], s["end"], s["category"]) for s in sp["spans"]] == _exact(issues)[0]
    # sd of a rate 0.2 over 2000 draws = sqrt(.2 * .8 / 2000) = 0.0089; 0.035 is ~4 sd
    assert abs(corrupted / 2000 - 0.2) < 0.035
    # a partial critique that drops one of two identical repeated complaints cannot tell which: allow 2%
    assert agree / 2000 > 0.98


def test_default_annotator_critiques_parse_back_to_its_span_marks():
    task, pairs = _responses("factqa", 300, 2)
    ann = task.annotator(0)
    agree = 0
    for row, resp in pairs:
        sp = ann.spans(row, resp)
        marks = [Issue(s["category"], "", s["start"], s["end"]) for s in sp["spans"]] + \
            [Issue("missing", "")] * len(sp["missing"])
        agree += label_key(resp, parse_critique("factqa", resp, ann.critique(row, resp)["critique"])) == \
            label_key(resp, marks)
    # the default annotator's span_miss may drop one of two identical repeated sentences' labels, and its critique
    # cannot say which: allow 2%
    assert agree / 300 > 0.98


def test_phrasings_vary_hedges_at_their_rate_and_are_reproducible():
    task, pairs = _responses("factqa", 400, 3)
    issue = task_issues("factqa", ROW, RESP)[0]  # sentence 2 claims Pim is the second largest
    assert issue.kind == "wrong_rank" and (issue.said, issue.should, issue.rank) == ("Pim", "Ardo", 2)
    texts = {phrase("factqa", ROW, RESP, issue, t) for t in range(len(PHRASINGS["factqa"]["wrong_rank"]))}
    assert len(texts) == 5 and "Pim is not the second city; the passage says Ardo." in texts
    ann = LanguageAnnotator(task, seed=4, noise=0.0, hedge=0.3)
    sents = [s for row, resp in pairs for s in critique_sentences(ann.critique(row, resp)["critique"])]
    rate = sum(s.startswith(HEDGES) for s in sents) / len(sents)
    assert len(sents) > 300 and abs(rate - 0.3) < 0.07  # sd = sqrt(.3 * .7 / 300) = 0.026 at worst
    again = LanguageAnnotator(task, seed=4, noise=0.0, hedge=0.3)
    assert [again.critique(r, x) for r, x in reversed(pairs)][::-1] == [ann.critique(r, x) for r, x in pairs]
    other = LanguageAnnotator(task, seed=5, noise=0.0, hedge=0.3)
    assert [other.critique(r, x)["critique"] for r, x in pairs] != [ann.critique(r, x)["critique"] for r, x in pairs]
    rec = ann.critique(*pairs[0])
    assert list(rec) == ["prompt", "response", "critique", "refinement", "annotator"]  # the app's export shape


def test_bad_knobs_and_tasks_are_refused():
    with pytest.raises(InputError, match="noise"):
        LanguageAnnotator(get_task("factqa"), noise=1.5)
    with pytest.raises(InputError, match="reviews"):
        LanguageAnnotator(get_task("reviews"))
