"""The simulated annotator's noise knobs, measured against their settings on a stub task with known utilities."""
import math

import pytest

from langrl.errors import InputError
from langrl.tasks.annotator import Annotator, cyclic_class, cyclic_prefers
from langrl.tasks.base import Task


class Stub(Task):
    """Utility = the number before '|' in the response; every word after it is one labelled span."""

    name = "stub"

    def corpus(self, n, seed):  # the data side is not used by the annotator
        return []

    def sft_examples(self, n, seed):
        return []

    def prompts(self, split, n, seed):
        return []

    def gold(self, rows, responses):
        return {"gold": [self.utility(r, s) for r, s in zip(rows, responses)]}

    def utility(self, row, response):
        return float(response.split("|")[0])

    def label_spans(self, row, response):
        spans, pos = [], response.index("|") + 1
        for word in response[pos:].split(" "):
            spans.append({"start": pos, "end": pos + len(word), "category": "bad"})
            pos += len(word) + 1
        return spans, [f"note {i}" for i in range(3)]

    def refine(self, row, response):
        return "fixed"

    def critique_text(self, row, response, spans, missing):
        return f"{len(spans)} spans"


ROW = {"prompt": "Q: p\nA:", "meta": {}}
N = 2000
# Tolerance for a rate p measured over N=2000 independent draws: sd = sqrt(p(1-p)/N) <= sqrt(.25/2000) = 0.0112;
# we allow 0.035 (> 3 sd), so a correct implementation fails less than 0.3% of the time (and the seeds are fixed).
TOL = 0.035


def test_flip_rate_on_ratings_matches_setting():
    ann = Annotator(Stub(), seed=0, flip=0.2)
    # utility 0.9 >= threshold 0.5, so the noiseless rating is +1 and every -1 is a flip
    flips = sum(ann.rate(ROW, f"0.9|{i}")["rating"] == -1 for i in range(N))
    assert abs(flips / N - 0.2) < TOL


def test_flip_rate_on_comparisons_matches_setting():
    ann = Annotator(Stub(), seed=1, flip=0.2, temperature=0.0, tie_margin=0.0)
    wrong = sum(ann.compare(ROW, f"0.8|{i}", f"0.2|{i}")["chosen"].startswith("0.2") for i in range(N))
    assert abs(wrong / N - 0.2) < TOL


def test_bradley_terry_temperature_matches_sigmoid():
    ann = Annotator(Stub(), seed=2, flip=0.0, temperature=0.1, tie_margin=0.0)
    # g_a - g_b = 0.1, T = 0.1: P(a > b) = sigmoid(1) = 1 / (1 + e^-1) = 0.7311
    wins = sum(ann.compare(ROW, f"0.6|{i}", f"0.5|{i}")["chosen"].startswith("0.6") for i in range(N))
    assert abs(wins / N - 1 / (1 + math.exp(-1))) < TOL


def test_zero_noise_is_deterministic_and_transitive():
    ann = Annotator(Stub(), seed=3, flip=0.0, temperature=0.0, tie_margin=0.0, intransitive=0.0)
    assert all(ann.compare(ROW, f"0.51|{i}", f"0.5|{i}")["chosen"].startswith("0.51") for i in range(200))
    assert ann.rank(ROW, ["0.1|a", "0.9|b", "0.5|c"])["ranking"] == [[1], [2], [0]]


def test_ties_within_margin():
    ann = Annotator(Stub(), seed=4, tie_margin=0.05)
    assert ann.compare(ROW, "0.50|a", "0.54|b") == {"prompt": ROW["prompt"], "responses": ["0.50|a", "0.54|b"],
                                                    "tie": True}
    assert "chosen" in ann.compare(ROW, "0.50|a", "0.56|b")
    # 0.9 and 0.88 share the top tier (|0.9 - 0.88| <= 0.05); 0.2 is alone
    assert Annotator(Stub(), 0, temperature=0, flip=0, tie_margin=0.05).rank(
        ROW, ["0.2|x", "0.88|y", "0.9|z"])["ranking"] == [[2, 1], [0]]


def _text_in_class(utility: str, cls: int) -> str:
    return next(f"{utility}|{i}" for i in range(100) if cyclic_class(f"{utility}|{i}") == cls)


def test_intransitive_annotator_has_a_cycle():
    # gold order a > b > c; cyclic classes 0, 1, 2, where class c beats class c - 1 (mod 3): b > a, c > b, a > c
    a, b, c = _text_in_class("0.9", 0), _text_in_class("0.5", 1), _text_in_class("0.1", 2)
    ann = Annotator(Stub(), seed=5, intransitive=1.0, tie_margin=0.0)
    wins = {(x, y) for x, y in [(a, b), (b, c), (c, a), (b, a), (c, b), (a, c)]
            if ann.compare(ROW, x, y)["chosen"] == x}
    assert wins == {(b, a), (c, b), (a, c)}  # a cycle: a > c > b > a
    # with intransitive=0 the same annotator follows gold: a > b > c, no cycle
    ann = Annotator(Stub(), seed=5, intransitive=0.0, tie_margin=0.0, temperature=0.0, flip=0.0)
    assert [ann.compare(ROW, x, y)["chosen"] for x, y in [(a, b), (b, c), (c, a)]] == [a, b, a]


def test_intransitive_rate_matches_setting():
    ann = Annotator(Stub(), seed=6, intransitive=0.3, flip=0.0, temperature=0.0, tie_margin=0.0)
    follows, total = 0, 0
    for i in range(3 * N):
        a, b = f"0.8|{i}", f"0.2|{i}x"
        if cyclic_prefers(a, b) is False:  # the cyclic rule disagrees with gold: cyclic judgements are visible
            total += 1
            follows += ann.compare(ROW, a, b)["chosen"] == b
    assert total > 1000
    assert abs(follows / total - 0.3) < TOL


def test_span_miss_rate_matches_setting():
    ann = Annotator(Stub(), seed=7, span_miss=0.25)
    kept = total = 0
    for i in range(200):
        resp = "0.5|" + " ".join(f"w{i}x{j}" for j in range(10))
        out = ann.spans(ROW, resp)
        kept += len(out["spans"]) + len(out["missing"])
        total += 10 + 3
        assert all(0 <= s["start"] < s["end"] <= len(resp) for s in out["spans"])
    assert abs(1 - kept / total - 0.25) < TOL


def test_critique_uses_the_same_noisy_labels_as_spans():
    ann = Annotator(Stub(), seed=8, span_miss=0.5)
    resp = "0.5|a b c d e f g h"
    assert ann.critique(ROW, resp)["critique"] == f"{len(ann.spans(ROW, resp)['spans'])} spans"


def test_rank_flip_swaps_adjacent_tiers_at_the_set_rate():
    ann = Annotator(Stub(), seed=9, flip=0.2, temperature=0.0, tie_margin=0.0)
    swapped = sum(ann.rank(ROW, [f"0.9|{i}", f"0.1|{i}"])["ranking"] != [[0], [1]] for i in range(N))
    assert abs(swapped / N - 0.2) < TOL


def test_same_question_same_answer():
    ann = Annotator(Stub(), seed=10)
    assert ann.rank(ROW, ["0.5|a", "0.52|b", "0.7|c"]) == ann.rank(ROW, ["0.5|a", "0.52|b", "0.7|c"])
    assert ann.compare(ROW, "0.5|a", "0.6|b") == ann.compare(ROW, "0.5|a", "0.6|b")


@pytest.mark.parametrize("knobs", [{"flips": 0.1}, {"flip": 1.5}, {"temperature": -1}, {"span_miss": "x"}])
def test_bad_noise_knobs_are_refused(knobs):
    with pytest.raises(InputError):
        Annotator(Stub(), 0, **knobs)


def test_rank_needs_a_response():
    with pytest.raises(InputError):
        Annotator(Stub(), 0).rank(ROW, [])
