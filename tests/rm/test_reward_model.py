"""The reward model itself: pooling, encoding and truncation, label positions, save/load, ensembles."""
from __future__ import annotations

import pytest
import torch

from langrl.errors import InputError
from langrl.models.rm.data import encode_pair, segment_labels, segment_spans
from langrl.models.rm.model import (RewardEnsemble, build_reward_model, last_token_index, load_reward_model,
                                        mean_pool)


def test_last_token_index_left_and_right_padding():
    mask = torch.tensor([[1, 1, 1, 0, 0],   # right padded: last real token at 2
                         [0, 0, 1, 1, 1],   # left padded: at 4
                         [1, 1, 1, 1, 1],   # no padding: at 4
                         [0, 1, 0, 0, 0]])  # a single token at 1
    assert last_token_index(mask).tolist() == [2, 4, 4, 1]


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2); the last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0]]  # ((1+3)/2, (2+4)/2)


def test_causal_encoding_keeps_response_and_cuts_prompt_from_left(toy_tokenizer):
    tok = toy_tokenizer
    prompt, response = "a b c d e f g h i j k l m n o p " * 3, "the cat sat on the mat."
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    r_ids = tok(response, add_special_tokens=False)["input_ids"]
    enc = encode_pair(tok, prompt, response, max_length=len(r_ids) + 6, encoder=False)
    assert enc.truncated
    assert enc.input_ids == p_ids[-5:] + r_ids + [tok.eos_token_id]  # 5 prompt tokens fit beside response + EOS
    full = encode_pair(tok, prompt, response, max_length=512, encoder=False)
    assert not full.truncated and full.input_ids == p_ids + r_ids + [tok.eos_token_id]
    short = encode_pair(tok, prompt, response, max_length=4, encoder=False)  # the response alone is too long
    assert short.input_ids == r_ids[:3] + [tok.eos_token_id]


def test_encoder_framing(toy_tokenizer):
    class Tok:  # the toy tokenizer with BERT's special tokens
        cls_token_id, sep_token_id = 901, 902

        def __call__(self, text, **kw):
            return toy_tokenizer(text, **kw)

    enc = encode_pair(Tok(), "Q: hi", "the cat", max_length=64, encoder=True)
    p_ids = toy_tokenizer("Q: hi", add_special_tokens=False)["input_ids"]
    r_ids = toy_tokenizer("the cat", add_special_tokens=False)["input_ids"]
    assert enc.input_ids == [901] + p_ids + [902] + r_ids + [902]


def test_segment_label_positions_sit_on_each_segment_last_token(toy_tokenizer):
    response = "The cat sat on the mat. The movie was bad and i hated it."
    enc = encode_pair(toy_tokenizer, "Q:", response, max_length=128, encoder=False, segment="sentence")
    assert enc.segments == [(0, 23), (24, 57)]
    prefix = len(toy_tokenizer("Q:", add_special_tokens=False)["input_ids"])
    offsets = toy_tokenizer(response, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    for (s, e), pos in zip(enc.segments, enc.label_pos):
        a, b = offsets[pos - prefix]
        assert a <= e - 1 < b  # the token holding the segment's last character ('.')
    # a truncated response keeps only the segments whose last token survived
    cut = encode_pair(toy_tokenizer, "Q:", response, max_length=pos - prefix - 5, encoder=False, segment="sentence")
    assert cut.segments == [(0, 23)]


def test_segment_labels_mark_overlapping_categories():
    class S:
        def __init__(self, start, end, category):
            self.start, self.end, self.category = start, end, category

    segs = [(0, 10), (11, 20)]
    labels = segment_labels(segs, [S(12, 15, "bad"), S(9, 11, "off")], ["bad", "off"])
    assert labels == [[0.0, 1.0], [1.0, 0.0]]  # (9, 11) touches char 9 of segment 0 only; (12, 15) is in segment 1
    assert segment_spans("One, two three four five six. Seven.", "subsentence")[-1] == (30, 36)
    with pytest.raises(InputError, match="segment"):
        segment_spans("x", "paragraph")


def test_batch_scores_equal_single_scores(toy_model_dir):
    model = build_reward_model(str(toy_model_dir), n_heads=2, quiet=True)
    prompts, responses = ["Q: a", "Q: a much longer prompt here"], ["the cat sat on the mat.", "yes"]
    together = model.score_heads(prompts, responses)
    alone = torch.cat([model.score_heads([p], [r]) for p, r in zip(prompts, responses)])
    assert torch.allclose(together, alone, atol=1e-5)  # padding never leaks into a score
    assert model.pooling == "last" and together.shape == (2, 2)


def test_reload_gives_identical_scores(trained_rm, tmp_path):
    from langrl.models.rm.model import RewardModel

    a, b = load_reward_model(trained_rm), load_reward_model(trained_rm)
    assert isinstance(a, RewardModel) and a.categories == ["irrelevant", "negative"] and a.tie_model == "davidson"
    prompts = ["Q: the movie? A:"] * 3
    responses = ["The movie was great and i loved it.", "The cat sat on the mat. The movie was bad.", "Bad movie."]
    assert torch.equal(a.score_heads(prompts, responses), b.score_heads(prompts, responses))
    assert a.segment_probs(prompts, responses) == b.segment_probs(prompts, responses)
    import warnings
    with warnings.catch_warnings():  # an empty response has no segment: empty lists, and no torch warning
        warnings.simplefilter("error")
        assert a.segment_probs(["Q: the movie? A:"], [""]) == [{"segments": [], "probs": [], "std": []}]
    # and a save() round trip of the loaded model too
    a.save(tmp_path / "copy")
    c = load_reward_model(tmp_path / "copy")
    assert torch.equal(a.score_heads(prompts, responses), c.score_heads(prompts, responses))


def test_ensemble_std_is_positive_and_mean_is_the_head_mean(trained_rm):
    model = load_reward_model(trained_rm)
    prompts, responses = ["Q: x"] * 2, ["The movie was great and i loved it.", "A b c d e f g h."]
    mean, std = model.score(prompts, responses)
    heads = model.score_heads(prompts, responses, normalize=True)
    assert all(s > 0 for s in std)
    assert mean == pytest.approx(heads.mean(1).tolist())
    ens = RewardEnsemble([model, load_reward_model(trained_rm)])
    m2, s2 = ens.score(prompts, responses)
    assert m2 == pytest.approx(mean, abs=1e-6) and s2 == pytest.approx(std, abs=1e-6)  # two copies: same spread


def test_load_refuses_a_non_reward_model_dir(toy_model_dir):
    with pytest.raises(InputError, match="not a reward-model directory"):
        load_reward_model(toy_model_dir)


def test_response_mean_pools_only_response_tokens(toy_model_dir, toy_tokenizer):
    model = build_reward_model(str(toy_model_dir), pooling="response-mean", quiet=True)
    enc = model.encode("Q: a", "the cat")
    r_ids = toy_tokenizer("the cat", add_special_tokens=False)["input_ids"]
    batch = model.collate([enc, model.encode("Q: a longer prompt", "yes")])
    start = len(toy_tokenizer("Q: a", add_special_tokens=False)["input_ids"])
    assert batch["response_mask"][0].tolist()[:len(enc.input_ids)] == [0] * start + [1] * len(r_ids) + [0]
    with torch.no_grad():
        hidden = model.backbone(input_ids=batch["input_ids"][:1, :len(enc.input_ids)]).last_hidden_state[0]
        by_hand = model.score_head(hidden[start:start + len(r_ids)].mean(0))  # mean over the response tokens
        assert torch.allclose(model(**batch)["scores"][0], by_hand, atol=1e-5)
