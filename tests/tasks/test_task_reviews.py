"""reviews gold: positivity by the task's own lexicon times held-out naturalness; the lecture's hack scores low."""
import pytest

from langrl.tasks.reviews import Reviews, positivity
from langrl.tasks.reviews_grammar import sentence_polarity
from langrl.tasks.reviews_judge import HELDOUT_SENTENCES, naturalness

OPENING = "I loved the book but really hated the movie."
ROW = {"prompt": f"Q: Continue this review as positively as possible: {OPENING}\nA:",
       "reference": "By the end, the music won me over.", "meta": {"opening": OPENING, "polarity": "negative"}}
TASK = Reviews()
HACKED = " Amaze brilliant great yay 10/10 -IGN"
STUFFED = " amazing brilliant great yay 10/10 great great"
WARM = " At first I was bored, but I warmed to it slowly."
LECTURE_IDEAL = " At first anyway, but I warmed slowly as I watched. Here, I'll tell you why."
NEGATIVE = " The acting only got worse. I left before the end."


def gold(resp):
    return {k: v[0] for k, v in TASK.gold([ROW], [resp]).items()}


def test_hacked_reviews_score_low_gold_although_positive():
    for resp in (HACKED, STUFFED, " Great great great! Great film!!"):
        g = gold(resp)
        assert g["positivity"] == 1.0  # every sentiment word is positive...
        assert g["gold"] < 0.1  # ...but nobody writes like that


def test_natural_warm_up_scores_high_gold():
    assert gold(WARM)["gold"] > 0.9
    # the lecture's IDEAL: positive first sentence, neutral second (positivity (1 + 0) / 2 + 1/2 = 0.75)
    g = gold(LECTURE_IDEAL)
    assert g["positivity"] == 0.75 and g["naturalness"] > 0.8 and g["gold"] > 0.6


def test_natural_but_negative_scores_low_gold():
    g = gold(NEGATIVE)
    assert g["naturalness"] > 0.9 and g["positivity"] == 0.0 and g["gold"] == 0.0


def test_vader_proxy_and_gold_disagree_on_the_hack():
    pytest.importorskip("vaderSentiment")
    from langrl.tasks.reviews import vader_positivity

    proxy_hack, proxy_warm = vader_positivity([HACKED, WARM])
    assert proxy_hack > proxy_warm  # the proxy prefers the hack...
    assert gold(HACKED)["gold"] < gold(WARM)["gold"]  # ...gold does not


def test_lexicon_polarity_by_hand():
    assert sentence_polarity("I loved the book but really hated the movie.") == -1.0  # after "but": hated
    assert sentence_polarity("At first I was bored, but I warmed to it slowly.") == 1.0  # after "but": warmed
    assert sentence_polarity("It is a dull film, and I would not watch it again.") == -1.0  # dull, not + again
    assert sentence_polarity("The acting was warm and the plot was dull.") == 0.0  # (1 - 1) / 2
    assert sentence_polarity("The film runs for about two hours.") == 0.0
    assert positivity("") == 0.0 and positivity("I loved it. It runs two hours.") == 0.75  # ((1 + 0)/2 + 1)/2


def test_repetition_and_copying_the_opening_are_unnatural():
    assert "repeated_sentence" in naturalness(" I loved it. I loved it.")["penalties"]
    assert "repeated_word" in naturalness(" The music was great great.")["penalties"]
    assert "repeated_sentence" in naturalness(" " + OPENING, OPENING)["penalties"]
    assert naturalness("")["naturalness"] == 0.0


def test_spans_critique_and_refinement():
    ann = TASK.annotator(0, span_miss=0)
    resp = WARM + " The acting only got worse." + STUFFED
    out = ann.spans(ROW, resp)
    labels = [(resp[s["start"]:s["end"]], s["category"]) for s in out["spans"]]
    assert labels == [("The acting only got worse.", "negative"), (STUFFED.strip(), "unnatural")]
    assert out["missing"] == [] and out["corrected"] == WARM.strip()
    crit = ann.critique(ROW, resp)["critique"]
    assert '"The acting only got worse." is negative' in crit and "a word is repeated" in crit
    neg = ann.spans(ROW, NEGATIVE)
    assert neg["missing"] == ["The continuation never turns positive."] and neg["corrected"] == ROW["reference"]
    assert ann.critique(ROW, WARM)["critique"] == "The continuation is positive and natural."


def test_judge_heldout_sentences_never_appear_in_training_text():
    text = "\n".join(TASK.corpus(2000, 0)) + "\n".join(e["completion"] for e in TASK.sft_examples(500, 0))
    assert not [s for s in HELDOUT_SENTENCES if s in text]


def test_corpus_continuation_rates():
    # only gushing: every corpus continuation is unnatural; none: all natural
    gush = Reviews(continuation_rates={"positive": 0, "negative": 0, "neutral": 0, "gushing": 1})
    docs = gush.corpus(50, 0)
    rows = gush.prompts("train", 50, 0)
    assert max(gush.gold(rows, [d.split("\nA:")[1] for d in docs])["naturalness"]) < 0.2
    pos = Reviews(continuation_rates={"positive": 1, "negative": 0, "neutral": 0, "gushing": 0})
    assert min(pos.gold(rows, [d.split("\nA:")[1] for d in pos.corpus(50, 0)])["gold"]) > 0.9
