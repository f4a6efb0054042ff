import torch

from langrl.rollout import encode_prompts, response_logprobs, sample, sampling_logprobs

PROMPTS = ["the cat", "Q: 3 + 4 = ? A:", "the movie was great and i"]  # different lengths -> left padding


def test_left_padding_and_masks(toy_tokenizer):
    ids, mask = encode_prompts(toy_tokenizer, PROMPTS)
    lens = mask.sum(-1)
    assert len(set(lens.tolist())) > 1  # really different lengths
    for i in range(len(PROMPTS)):
        assert mask[i, -1] == 1 and (mask[i, : ids.shape[1] - lens[i]] == 0).all()  # padding on the left only


def test_sampler_logprobs_match_full_forward(toy_lm, toy_tokenizer):
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=2, max_new_tokens=12, temperature=1.0, seed=0)
    assert ro.response_ids.shape[0] == 6 and ro.group.tolist() == [0, 0, 1, 1, 2, 2]
    again = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask).logprobs
    assert ro.response_mask.sum() > 6
    torch.testing.assert_close(again, ro.logprobs, atol=1e-4, rtol=0)


def test_sampler_is_seeded_and_masks_after_eos(toy_lm, toy_tokenizer):
    a = sample(toy_lm, toy_tokenizer, PROMPTS, n=1, max_new_tokens=10, seed=3)
    b = sample(toy_lm, toy_tokenizer, PROMPTS, n=1, max_new_tokens=10, seed=3)
    assert torch.equal(a.response_ids, b.response_ids) and a.responses == b.responses
    eos = toy_tokenizer.eos_token_id
    for i in range(a.batch_size):
        n_tok = int(a.response_mask[i].sum())
        if a.ended[i]:
            assert a.response_ids[i, n_tok - 1] == eos  # EOS is the last masked-in token
        assert (a.logprobs[i, n_tok:] == 0).all()


def test_temperature_and_top_k_are_consistent(toy_lm, toy_tokenizer):
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=2, max_new_tokens=8, temperature=0.7, top_k=5, seed=1)
    again = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                              temperature=0.7, top_k=5).logprobs
    torch.testing.assert_close(again, ro.logprobs, atol=1e-4, rtol=0)


def test_top_p_keeps_nucleus():
    # probs 0.5, 0.3, 0.15, 0.05; top_p = 0.75 keeps tokens whose preceding mass < 0.75: 0.5 (0), 0.3 (0.5) and
    # 0.15 (0.8 -> dropped)... preceding masses are 0, 0.5, 0.8, 0.95 so only the first two stay.
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    lp = sampling_logprobs(logits, top_p=0.75)
    torch.testing.assert_close(lp.exp(), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))


class BanToken:
    """A logits mask that forbids one token everywhere."""

    def __init__(self, token):
        self.token = token

    def reset(self, ids, mask):
        pass

    def allowed(self, logits):
        ok = torch.ones_like(logits, dtype=torch.bool)
        ok[:, self.token] = False
        return ok

    def advance(self, tokens):
        pass


def test_logits_mask_hook_is_respected(toy_lm, toy_tokenizer):
    free = sample(toy_lm, toy_tokenizer, PROMPTS, n=4, max_new_tokens=16, seed=0)
    banned = int(free.response_ids[free.response_mask.bool()].mode().values)
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=4, max_new_tokens=16, seed=0, logits_mask=BanToken(banned))
    assert not (ro.response_ids[ro.response_mask.bool()] == banned).any()


def test_stop_strings_cut_text(toy_lm, toy_tokenizer):
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=2, max_new_tokens=20, seed=0, stop=["e"])
    assert all("e" not in r for r in ro.responses)
