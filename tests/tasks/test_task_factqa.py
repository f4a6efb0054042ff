"""factqa gold, spans and critiques on hand-made answers (the lecture's '3 most common gases', generalised)."""
import pytest

from langrl.errors import InputError
from langrl.tasks.base import make_rng
from langrl.tasks.factqa import FactQA, analyze, render_answer

META = {"entity": "Vorland", "kind": "country", "attr": "cities", "k": 3, "items": ["Kelm", "Ardo", "Pim", "Sorv"],
        "other_attr": "rivers", "other_items": ["Sul", "Varo", "Tesk", "Mool"], "filler": "Vorland is a small country."}
ROW = {"prompt": "Vorland is a small country. ...\nQ: What are the 3 largest cities of Vorland?\nA:",
       "answer": "Kelm, Ardo and Pim", "reference": render_answer(META), "meta": META}
TASK = FactQA()
QUIET = dict(flip=0, temperature=0, intransitive=0, tie_margin=0, span_miss=0)


def labelled(response):
    spans, missing = TASK.label_spans(ROW, response)
    return [(response[s["start"]:s["end"]], s["category"]) for s in spans], missing


def test_reference_is_perfect():
    assert ROW["reference"] == ("The largest city of Vorland is Kelm. The second largest is Ardo. "
                                "The third largest is Pim.")
    assert TASK.gold([ROW], [" " + ROW["reference"]]) == {"gold": [1.0], "relevance": [1.0], "factuality": [1.0],
                                                          "completeness": [1.0]}


def test_lecture_style_answer_irrelevant_untruthful_and_missing():
    # like the lecture: an irrelevant opener, two right items, and a wrong third item (Sorv instead of Pim)
    resp = " Vorland is a small country. The largest city of Vorland is Kelm. The second largest is Ardo. " \
           "The third largest is Sorv."
    spans, missing = labelled(resp)
    assert spans == [("Vorland is a small country.", "irrelevant"), ("The third largest is Sorv.", "untruthful")]
    assert missing == ["The third largest city of Vorland is Pim."]
    g = TASK.gold([ROW], [resp])
    # relevance 1 - 1/4 = 0.75; factuality 1 - 1/3 claims; completeness 2/3 ranks; gold = .75 * 2/3 * 2/3 = 1/3
    assert g["relevance"] == [0.75] and g["factuality"][0] == pytest.approx(2 / 3)
    assert g["completeness"][0] == pytest.approx(2 / 3) and g["gold"][0] == pytest.approx(1 / 3)
    crit = TASK.annotator(0, **QUIET).critique(ROW, resp)
    assert "The third item is wrong: it is Pim, not Sorv." in crit["critique"]
    assert "The third item is missing: Pim." in crit["critique"]
    assert crit["refinement"] == ROW["reference"]


def test_missing_item_is_caught_and_named():
    resp = " The largest city of Vorland is Kelm. The second largest is Ardo."
    assert labelled(resp) == ([], ["The third largest city of Vorland is Pim."])
    assert TASK.gold([ROW], [resp])["gold"][0] == pytest.approx(2 / 3)  # completeness 2/3, the rest 1
    assert TASK.annotator(0, **QUIET).critique(ROW, resp)["critique"] == "The third item is missing: Pim."
    # a middle item missing: the third sentence still claims rank 3 correctly
    resp = " The largest city of Vorland is Kelm. The third largest is Pim."
    assert labelled(resp) == ([], ["The second largest city of Vorland is Ardo."])


def test_list_style_wrong_order_is_labelled_per_item():
    resp = " The 3 largest cities of Vorland are Kelm, Pim and Ardo."
    spans, missing = labelled(resp)
    assert spans == [("Pim", "untruthful"), ("Ardo", "untruthful")]  # sub-sentence spans
    assert missing == ["The second largest city of Vorland is Ardo.", "The third largest city of Vorland is Pim."]
    # factuality 1 - 2/3, completeness 1/3, relevance 1: gold = 1/9
    assert TASK.gold([ROW], [resp])["gold"][0] == pytest.approx(1 / 9)
    assert TASK.refine(ROW, resp) == "The 3 largest cities of Vorland are Kelm, Ardo and Pim."


def test_redundant_other_attribute_and_unasked_sentences_are_irrelevant():
    ref = " " + ROW["reference"]
    for extra in ["The largest city of Vorland is Kelm.", "The longest river of Vorland is Sul.",
                  "The fourth largest is Sorv."]:
        spans, missing = labelled(ref + " " + extra)
        assert spans == [(extra, "irrelevant")] and missing == []
        assert TASK.gold([ROW], [ref + " " + extra])["gold"] == [0.75]  # relevance 3/4


def test_untruthful_beats_irrelevant_and_unknown_names_are_wrong():
    # rank 4 is not asked, but Kelm is not the fourth largest: a false claim is untruthful first
    assert labelled(" The fourth largest is Kelm.")[0] == [("The fourth largest is Kelm.", "untruthful")]
    assert labelled(" The largest city of Vorland is Zzyzx.")[0] == [("The largest city of Vorland is Zzyzx.",
                                                                       "untruthful")]


def test_empty_and_garbage_responses_score_zero():
    g = TASK.gold([ROW, ROW], ["", " of the of the"])
    assert g["gold"] == [0.0, 0.0] and g["relevance"] == [0.0, 0.0]


def _error_fraction(rates, check, n=600):
    task = FactQA(error_rates=rates)
    rng = make_rng("test-factqa-rates", 0)
    hits = 0
    for _ in range(n):
        row = task._row(rng, "train")
        hits += check(analyze(row["meta"], task._completion(row["meta"], rng, task.error_rates)))
    return hits / n


ZERO = {"irrelevant": 0.0, "redundant": 0.0, "untruthful": 0.0, "missing": 0.0}


def test_corpus_without_errors_is_perfect():
    assert _error_fraction(ZERO, lambda a: a["gold"] == 1.0) == 1.0


def test_corpus_error_rates_are_what_they_say():
    # each injected untruthful item makes a false claim; sd of a rate near .5 over 600 docs is .02, tolerance .06
    assert abs(_error_fraction({**ZERO, "untruthful": 0.5}, lambda a: a["factuality"] < 1) - 0.5) < 0.06
    assert abs(_error_fraction({**ZERO, "irrelevant": 0.5}, lambda a: a["relevance"] < 1) - 0.5) < 0.06
    # missing is only injected when k >= 2 (80% of questions): expected rate 0.5 * 0.8 = 0.4
    assert abs(_error_fraction({**ZERO, "missing": 0.5}, lambda a: a["completeness"] < 1) - 0.4) < 0.06


def test_unknown_error_type_is_refused():
    with pytest.raises(InputError, match="untruthful"):
        FactQA(error_rates={"lies": 0.1})
