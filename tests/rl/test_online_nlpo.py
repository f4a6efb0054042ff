"""NLPO's masking policy: masked tokens are never sampled, the ratio sees the same support, a sync really re-syncs."""
import copy

import torch

from langrl.rollout import sample
from langrl.rollout.logits import top_p_mask
from langrl.rollout.nlpo import NLPOMask, pack_mask, unpack_mask
from langrl.train.pg.collect import policy_forward

PROMPTS = ["the cat", "Q: 3 + 4 = ? A:", "the movie was great and i"]


def test_pack_unpack_roundtrip():
    torch.manual_seed(0)
    m = torch.rand(3, 5, 301) > 0.7  # 301 is not a multiple of 8
    packed = pack_mask(m)
    assert packed.shape == (3, 5, 38) and packed.dtype == torch.uint8  # ceil(301 / 8) = 38
    assert torch.equal(unpack_mask(packed, 301), m)


def test_masked_tokens_are_never_sampled(toy_tokenizer, toy_lm):
    from online_helpers import make_toy_lm

    masker = make_toy_lm(toy_tokenizer, seed=1)  # a different network: its nucleus is not the policy's
    mask = NLPOMask(copy.deepcopy(masker), top_p=0.3, min_tokens=1)
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=4, max_new_tokens=10, seed=0, logits_mask=mask)
    allowed = unpack_mask(mask.recorded(ro.response_ids.shape[1]), len(toy_tokenizer))  # (b, t, v)
    v = len(toy_tokenizer)
    picked = allowed.gather(-1, ro.response_ids[..., None]).squeeze(-1)
    assert picked[ro.response_mask.bool()].all()  # every sampled token is inside the masking policy's nucleus
    assert allowed[ro.response_mask.bool()].sum(-1).float().mean() < 0.5 * v  # and the nucleus is a real restriction
    # the recorded nucleus is the masking model's own top-p over the same context (recomputed by a full forward)
    p = ro.prompt_ids.shape[1]
    ids = torch.cat([ro.prompt_ids, ro.response_ids], 1)
    attn = torch.cat([ro.prompt_mask, ro.response_mask.long()], 1)
    logits = masker(input_ids=ids, attention_mask=attn, position_ids=(attn.cumsum(-1) - 1).clamp(min=0)).logits
    again = top_p_mask(logits[:, p - 1:-1], 0.3, 1)
    on = ro.response_mask.bool()
    assert (again[on] == allowed[on]).float().mean() > 0.999


def test_ratio_uses_the_masked_renormalised_distribution(toy_tokenizer, toy_lm):
    from online_helpers import make_toy_lm

    mask = NLPOMask(make_toy_lm(toy_tokenizer, seed=1), top_p=0.5, min_tokens=2)
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=2, max_new_tokens=8, seed=3, logits_mask=mask, temperature=0.8)
    allowed = unpack_mask(mask.recorded(ro.response_ids.shape[1]), len(toy_tokenizer))
    out = policy_forward(toy_lm, ro, temperature=0.8, allowed=allowed)
    torch.testing.assert_close(out.logprobs, ro.logprobs, atol=1e-4, rtol=0)  # old log-probs = sampling log-probs
    on = ro.response_mask.bool()
    assert (out.full_logprobs[on] < out.logprobs[on] + 1e-6).all()  # renormalising over a subset raises log-probs
    assert (out.full_logprobs[on] < out.logprobs[on] - 1e-3).any()  # ... strictly, where the mask removed mass


def _own_nucleus(model, ro, top_p):
    """(b, t, v) the model's own top-p nucleus at every response position (full forward)."""
    p = ro.prompt_ids.shape[1]
    ids = torch.cat([ro.prompt_ids, ro.response_ids], 1)
    attn = torch.cat([ro.prompt_mask, ro.response_mask.long()], 1)
    logits = model(input_ids=ids, attention_mask=attn, position_ids=(attn.cumsum(-1) - 1).clamp(min=0)).logits
    return top_p_mask(logits[:, p - 1:-1], top_p, 1)


@torch.no_grad()
def test_sampling_uses_the_new_masking_policy_after_a_sync(toy_tokenizer, toy_lm):
    from online_helpers import make_toy_lm

    v = len(toy_tokenizer)
    mask = NLPOMask.copy_of(toy_lm, top_p=0.3, min_tokens=1)
    toy_lm.load_state_dict(make_toy_lm(toy_tokenizer, seed=1).state_dict())  # "training" moved the policy far away

    def run():
        ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=4, max_new_tokens=8, seed=0, logits_mask=mask)
        allowed = unpack_mask(mask.recorded(ro.response_ids.shape[1]), v)
        own = _own_nucleus(toy_lm, ro, 0.3)
        on = ro.response_mask.bool()
        in_own = own.gather(-1, ro.response_ids[..., None]).squeeze(-1)[on]
        return (allowed[on] == own[on]).all(-1).float().mean(), in_own.float().mean()

    same_before, inside_before = run()
    assert same_before < 0.5  # the stale masking policy's nucleus is not the policy's
    assert inside_before < 0.95  # so the policy is made to sample outside its own nucleus
    mask.sync(toy_lm)
    assert mask.syncs == 1
    same_after, inside_after = run()
    assert same_after > 0.99  # after the sync the recorded masks are the current policy's nucleus
    assert inside_after == 1.0  # and every sampled token lies inside it


def test_padding_outside_the_mask_does_not_poison_the_loss(toy_tokenizer, toy_lm):
    mask = NLPOMask.copy_of(toy_lm, top_p=0.2, min_tokens=1)
    ro = sample(toy_lm, toy_tokenizer, PROMPTS, n=4, max_new_tokens=12, seed=0, logits_mask=mask)
    allowed = unpack_mask(mask.recorded(ro.response_ids.shape[1]), len(toy_tokenizer))
    ro.response_mask[::2, 5:] = 0  # pretend every other row ended after 5 tokens
    pad = ro.response_mask == 0
    allowed[pad] = False  # the worst case: not even the token sitting there is allowed where a row has finished
    out = policy_forward(toy_lm, ro, temperature=1.0, allowed=allowed)
    assert pad.any() and torch.isfinite(out.logprobs).all() and (out.logprobs[pad] == 0).all()
