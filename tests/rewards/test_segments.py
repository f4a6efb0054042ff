"""Segmenters, token character offsets and dense placement of segment rewards (fine-grained RLHF, Eq. 1)."""
from __future__ import annotations

import pytest
import torch

from langrl.rewards import Segment, place_segment_rewards, split_sentences, split_subsentences, token_char_ends
from langrl.rewards.segments import segments_from_spans, weighted_segment_sum


def texts(text, spans):
    return [text[s:e] for s, e in spans]


# ---------------------------------------------------------------- splitters
def test_split_sentences_tricky_text():
    t = ('Dr. Smith moved to the U.S. in 1990. He paid $3.14 for e.g. coffee... Then he left! '
         '"Really?" she asked. I live in the U.S. It is big. Wait... what? J. R. R. Tolkien wrote it. The end')
    assert texts(t, split_sentences(t)) == [
        "Dr. Smith moved to the U.S. in 1990.", "He paid $3.14 for e.g. coffee...", "Then he left!",
        '"Really?" she asked.', "I live in the U.S.", "It is big.", "Wait... what?", "J. R. R. Tolkien wrote it.",
        "The end"]


def test_split_sentences_quotes_newlines_and_unicode_ellipsis():
    t = 'He said "Hi." Then he left.\n- item one\n- item two…  Next one?  (Yes.) Done'
    assert texts(t, split_sentences(t)) == [
        'He said "Hi."', "Then he left.", "- item one", "- item two…", "Next one?", "(Yes.)", "Done"]


def test_split_sentences_spans_are_offsets_into_the_text():
    t = "  First one.   Second one!  "
    spans = split_sentences(t)
    assert spans == [(2, 12), (15, 26)]  # leading/trailing whitespace excluded
    assert split_sentences("") == [] and split_sentences("   \n ") == []
    assert texts("pi is 3.14159 and e is 2.718.", split_sentences("pi is 3.14159 and e is 2.718.")) == [
        "pi is 3.14159 and e is 2.718."]


def test_split_subsentences_follows_the_paper_rule():
    t = ("The atmosphere of Earth is a layer of gases, retained by gravity; the most common gas, by dry air volume, "
         "is nitrogen. Yes, ok. One two three four five, six seven eight nine ten? Sure!")
    assert texts(t, split_subsentences(t, min_words=5)) == [
        "The atmosphere of Earth is a layer of gases,", "retained by gravity; the most common gas,",
        "by dry air volume, is nitrogen.", "Yes, ok.", "One two three four five,", "six seven eight nine ten?",
        "Sure!"]
    # every piece has >= min_words words unless its whole sentence is shorter
    for s, e in split_subsentences(t, min_words=3):
        assert len(t[s:e].split()) >= 3 or t[s:e] in ("Yes, ok.", "Sure!")
    assert split_subsentences("1,000 people came, and left.", min_words=1)[0] == (0, 18)  # no split inside 1,000


# ---------------------------------------------------------------- token offsets
@pytest.fixture(scope="module")
def bpe():
    """A byte-level BPE tokenizer trained in the test on a few sentences (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["The cat sat. The dog ran, fast!", "It rains in Paris. Water boils at 100 degrees."] * 5,
                            trainer)
    return tok


def test_token_char_ends_match_cumulative_decoding(bpe):
    text = "The cat ran. It rains!"
    ids = bpe.encode(text).ids
    (ends,) = token_char_ends(bpe, [ids])
    assert len(ends) == len(ids) and ends[-1] == len(text)
    assert all(a <= b for a, b in zip(ends, ends[1:]))
    starts = [0] + ends[:-1]
    assert "".join(text[s:e] for s, e in zip(starts, ends)) == text
    for i in range(len(ids)):  # each token's characters are exactly its own decoded piece
        assert text[starts[i]:ends[i]] == bpe.decode(ids[: i + 1])[starts[i]:]


def test_token_char_ends_multibyte_and_special_tokens(bpe):
    text = "café ☕ ok"  # é and ☕ are unseen: split into byte tokens
    eos = bpe.token_to_id("<eos>")
    ids = bpe.encode(text).ids + [eos]
    (ends,) = token_char_ends(bpe, [ids])
    assert ends[-1] == ends[-2] == len(text)  # the skipped special token owns no characters
    # ☕ is 3 bytes, unseen in training: 3 byte tokens. The two partial ones own no characters (their prefix decodes
    # to "café \ufffd"); the token completing the character owns it.
    cup = text.index("☕")
    j = ends.index(cup + 1)
    assert ends[j - 1] == ends[j - 2] == cup
    assert "\ufffd" in bpe.decode(ids[:j])
    assert token_char_ends(bpe, [[]]) == [[]]


def test_token_char_ends_with_a_transformers_tokenizer(bpe):
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>")
    ids = hf("The dog ran, fast!")["input_ids"]
    assert token_char_ends(hf, [ids]) == token_char_ends(bpe, [ids])


# ---------------------------------------------------------------- placement
def test_place_segment_rewards_hand_worked():
    # response 0: tokens end at chars [3, 7, 12, 13, 20]; response 1 has 3 tokens (padded to t=5)
    ends = [[3, 7, 12, 13, 20], [4, 9, 15]]
    segs = [[Segment(13, 0.5, "rel"), Segment(20, -1.0, "fact"), Segment(7, 2.0, "fact")],
            [Segment(9, 1.0, "rel")]]
    r = place_segment_rewards(segs, ends, t=5, weights={"rel": 0.3, "fact": 0.5})
    # seg end 13 → first token with end >= 13 is token 3: 0.3 * 0.5 = 0.15
    # seg end 20 → token 4: 0.5 * -1.0 = -0.5 ; seg end 7 → token 1: 0.5 * 2.0 = 1.0
    # response 1: seg end 9 → token 1: 0.3 * 1.0 = 0.3
    expected = torch.tensor([[0.0, 1.0, 0.0, 0.15, -0.5], [0.0, 0.3, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(r, expected)


def test_place_segment_rewards_sum_equals_weighted_segment_sum():
    g = torch.Generator().manual_seed(0)
    ends = [[2, 5, 9, 14, 18, 25], [3, 6, 10]]
    segs = [[Segment(int(e), float(torch.randn(1, generator=g)), k) for e in (5, 14, 25) for k in ("a", "b")],
            [Segment(6, 1.5, "a"), Segment(10, -2.0, "b")]]
    w = {"a": 0.7, "b": -1.3}
    r = place_segment_rewards(segs, ends, t=6, weights=w)
    torch.testing.assert_close(r.sum(dim=1), torch.tensor(weighted_segment_sum(segs, w)))


def test_segment_ending_mid_token_lands_on_that_token():
    # token 1 covers chars [4, 10); a segment ending at char 6 ends inside it
    r = place_segment_rewards([[Segment(6, 1.0, "x")]], [[4, 10, 15]], t=3)
    assert r.tolist() == [[0.0, 1.0, 0.0]]
    # a segment ending exactly at a token end lands on that token, not the next
    r = place_segment_rewards([[Segment(4, 1.0, "x")]], [[4, 10, 15]], t=3)
    assert r.tolist() == [[1.0, 0.0, 0.0]]


def test_truncated_response_keeps_only_complete_segments(bpe):
    full = "The cat sat. The dog ran, fast! It rains in Paris."
    spans = split_sentences(full)
    segs = segments_from_spans(spans, [1.0, 2.0, 4.0], "s")
    ids = bpe.encode(full).ids
    cut = ids[: len(ids) - 4]  # truncated at the length limit inside the last sentence
    (ends,) = token_char_ends(bpe, [cut])
    r = place_segment_rewards([segs], [ends], t=len(ids))
    assert r.sum().item() == 3.0  # 1 + 2; the third sentence (reward 4) is incomplete and dropped
    assert r[0, len(cut):].abs().sum().item() == 0.0  # nothing beyond the last real token


def test_place_segment_rewards_errors():
    with pytest.raises(ValueError, match="no weight for objective 'z'"):
        place_segment_rewards([[Segment(1, 1.0, "z")]], [[1]], t=1, weights={"a": 1.0})
    with pytest.raises(ValueError, match="more than t=1"):
        place_segment_rewards([[]], [[1, 2]], t=1)
    with pytest.raises(ValueError, match="non-decreasing"):
        place_segment_rewards([[]], [[3, 2]], t=2)
    with pytest.raises(ValueError, match="spans but"):
        segments_from_spans([(0, 1)], [1.0, 2.0], "a")
