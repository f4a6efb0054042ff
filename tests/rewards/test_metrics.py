"""Metric rewards equal the libraries' own sentence-level scores on the same inputs."""
from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from langrl.errors import InputError
from langrl.rewards.metrics import (BLEUReward, CHRFReward, ExactMatchReward, ROUGEReward, TERReward,
                                    normalize_answer)

HYPS = ["the cat sat on the mat", "a quick brown fox jumps over the lazy dog", "completely unrelated words here", ""]
REFS = ["the cat is sitting on the mat", "the quick brown fox jumped over the lazy dog", "nothing in common", "empty"]
MULTI = [[r, "another " + r] for r in REFS]


def test_bleu_chrf_ter_equal_sacrebleu():
    bleu = BLEUReward()(["p"] * 4, HYPS, reference=REFS).scores[:, 0]
    chrf = CHRFReward()(["p"] * 4, HYPS, reference=REFS).scores[:, 0]
    ter = TERReward()(["p"] * 4, HYPS, reference=REFS).scores[:, 0]
    for i, (h, r) in enumerate(zip(HYPS, REFS)):
        assert bleu[i].item() == pytest.approx(sacrebleu.sentence_bleu(h, [r]).score, abs=1e-4)
        assert chrf[i].item() == pytest.approx(sacrebleu.sentence_chrf(h, [r]).score, abs=1e-4)
        assert ter[i].item() == pytest.approx(-sacrebleu.sentence_ter(h, [r]).score, abs=1e-4)  # reward = -TER
    raw = TERReward(negate=False)(None, HYPS[:1], reference=REFS[:1]).scores[0, 0].item()
    assert raw == pytest.approx(sacrebleu.sentence_ter(HYPS[0], [REFS[0]]).score, abs=1e-4)


def test_multiple_references_from_the_references_column():
    bleu = BLEUReward()(None, HYPS, references=MULTI).scores[:, 0]
    chrfpp = CHRFReward(word_order=2)(None, HYPS, references=MULTI).scores[:, 0]
    for i, (h, refs) in enumerate(zip(HYPS, MULTI)):
        assert bleu[i].item() == pytest.approx(sacrebleu.sentence_bleu(h, refs).score, abs=1e-4)
        assert chrfpp[i].item() == pytest.approx(sacrebleu.sentence_chrf(h, refs, word_order=2).score, abs=1e-4)


@pytest.mark.parametrize("rtype", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
@pytest.mark.parametrize("measure,attr", [("f", "fmeasure"), ("p", "precision"), ("r", "recall")])
def test_rouge_equals_rouge_score(rtype, measure, attr):
    got = ROUGEReward(type=rtype, measure=measure)(None, HYPS, reference=REFS).scores[:, 0]
    scorer = rouge_scorer.RougeScorer([rtype])
    for i, (h, r) in enumerate(zip(HYPS, REFS)):
        assert got[i].item() == pytest.approx(getattr(scorer.score(r, h)[rtype], attr), abs=1e-6)


def test_rouge_multi_reference_and_stemmer():
    got = ROUGEReward(type="rouge1", stemmer=True)(None, HYPS, references=MULTI).scores[:, 0]
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    for i, (h, refs) in enumerate(zip(HYPS, MULTI)):
        assert got[i].item() == pytest.approx(scorer.score_multi(refs, h)["rouge1"].fmeasure, abs=1e-6)


def test_exact_match_squad_normalisation():
    # lower-case, punctuation, articles and whitespace are all ignored (SQuAD's normalize_answer)
    assert normalize_answer("  The  Eiffel-Tower!! ") == "eiffeltower"
    assert normalize_answer("An apple", articles=False) == "an apple"
    r = ExactMatchReward()
    out = r(None, ["The Eiffel Tower.", "eiffel  tower", "Eiffel", "Paris"],
            references=[["Eiffel Tower"], ["the eiffel tower"], ["Eiffel Tower"], ["London", "paris!"]])
    assert out.scores[:, 0].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert ExactMatchReward(case=False)(None, ["paris"], answer=["Paris"]).scores.item() == 0.0
    assert ExactMatchReward()(None, ["42"], answer=["42"]).scores.item() == 1.0  # the answer column works too


def test_missing_reference_column_names_column_and_reward():
    with pytest.raises(InputError, match=r"reward 'bleu' needs a column 'references' or 'reference'.*columns given: answer"):
        BLEUReward()(None, ["x"], answer=["y"])
    with pytest.raises(InputError, match=r"column 'reference' has 1 values for 2 responses"):
        ROUGEReward()(None, ["a", "b"], reference=["a"])
    with pytest.raises(InputError, match="expected a string or a non-empty list"):
        CHRFReward()(None, ["a"], references=[[]])
    with pytest.raises(InputError, match="type must be one of"):
        ROUGEReward(type="rouge9")


def test_rouge_objectives_are_named_by_type_so_variants_combine():
    from langrl.rewards import build_rewards

    out = build_rewards(["rouge:type=rouge1", "rouge:type=rouge2,measure=p", "rouge"])(None, HYPS[:1],
                                                                                     reference=REFS[:1])
    assert out.names == ["rouge1", "rouge2_p", "rougeL", "total"]
    # total = rouge1 F + rouge2 P + rougeL F (all weights 1)
    assert out.column("total").item() == pytest.approx(out.scores[0, :3].sum().item())
