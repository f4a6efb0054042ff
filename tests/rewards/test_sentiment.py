"""Sentiment rewards: VADER equals the library; the classifier reward equals the model's own label probability."""
from __future__ import annotations

import pytest
import torch

from langrl.errors import InputError
from langrl.rewards.sentiment import ClassifierReward, VaderReward

TEXTS = ["I loved this movie, it was wonderful!", "This was terrible and boring.", "It is a movie.", ""]


def test_vader_equals_library():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    for field in ("compound", "pos", "neg", "neu"):
        got = VaderReward(field=field)(None, TEXTS).scores[:, 0]
        want = torch.tensor([sia.polarity_scores(t)[field] for t in TEXTS])
        torch.testing.assert_close(got, want)
    compound = VaderReward()(None, TEXTS).scores[:, 0]
    assert compound[0] > 0.5 and compound[1] < -0.5  # sanity: positive vs negative review
    with pytest.raises(InputError, match="field must be one of"):
        VaderReward(field="joy")


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A tiny randomly initialised BERT classifier with a tokenizer trained in the test (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(TEXTS * 3, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]"]))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=2,
                     id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    path = tmp_path_factory.mktemp("clf")
    BertForSequenceClassification(cfg).eval().save_pretrained(path)
    hf.save_pretrained(path)
    return path


def test_classifier_reward_equals_model_probability(classifier_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = TEXTS[:3]
    r = ClassifierReward(str(classifier_dir), label="POSITIVE", batch_size=2)
    got = r(None, texts).scores[:, 0]
    tok = AutoTokenizer.from_pretrained(classifier_dir)
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    with torch.no_grad():  # one text at a time, no padding: the batched, padded reward must agree
        want = torch.stack([model(**tok(t, return_tensors="pt")).logits.softmax(-1)[0, 1] for t in texts])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    neg = ClassifierReward(str(classifier_dir), label="0")(None, texts).scores[:, 0]
    torch.testing.assert_close(neg, 1 - want, atol=1e-5, rtol=1e-5)  # two labels: P(neg) = 1 - P(pos)


def test_classifier_errors(classifier_dir, tmp_path):
    with pytest.raises(InputError, match="label 'JOY' not in the model's labels NEGATIVE, POSITIVE"):
        ClassifierReward(str(classifier_dir), label="JOY")
    with pytest.raises(InputError, match="expected a model directory"):
        ClassifierReward(str(tmp_path))
