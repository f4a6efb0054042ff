"""Value functions: a head on the shared backbone and a separate value model, aligned with the response tokens."""
import torch

from langrl.models.value import SeparateValueModel, SharedValueHead, make_value_function
from langrl.rollout import response_logprobs, sample

PROMPTS = ["the cat", "Q: 3 + 4 = ? A:"]


def _rollout(toy_lm, toy_tokenizer):
    return sample(toy_lm, toy_tokenizer, PROMPTS, n=2, max_new_tokens=6, seed=0)


def test_values_start_at_zero_and_receive_gradients(toy_lm, toy_tokenizer):
    ro = _rollout(toy_lm, toy_tokenizer)
    for kind in ("shared", "separate"):
        critic = make_value_function(kind, toy_lm)
        out = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                                with_hidden=True)
        values = critic(ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask, hidden=out.hidden)
        assert values.shape == ro.response_ids.shape
        assert torch.equal(values, torch.zeros_like(values))  # zero-initialised head: no random baseline
        (values - 1.0).pow(2).sum().backward()
        assert critic.head.linear.weight.grad.abs().sum() > 0


def test_shared_head_reads_the_hidden_state_that_predicts_each_token(toy_lm, toy_tokenizer):
    ro = _rollout(toy_lm, toy_tokenizer)
    critic = SharedValueHead(toy_lm)
    torch.nn.init.normal_(critic.head.linear.weight)
    out = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                            with_hidden=True)
    values = critic(ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask, hidden=out.hidden)
    # V(s_0) comes from the last prompt position: the same state that produced the first response token's logits
    ids = ro.prompt_ids[:1]
    h = toy_lm(input_ids=ids, attention_mask=ro.prompt_mask[:1], output_hidden_states=True,
               position_ids=(ro.prompt_mask[:1].cumsum(-1) - 1).clamp(min=0)).hidden_states[-1][0, -1]
    torch.testing.assert_close(values[0, 0], critic.head.linear.weight[0] @ h, atol=1e-5, rtol=0)


def test_separate_model_matches_the_shared_head_on_the_same_weights(toy_lm, toy_tokenizer):
    ro = _rollout(toy_lm, toy_tokenizer)
    shared, separate = SharedValueHead(toy_lm), SeparateValueModel(toy_lm)
    torch.nn.init.normal_(shared.head.linear.weight)
    separate.head.load_state_dict(shared.head.state_dict())
    out = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                            with_hidden=True)
    a = shared(ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask, hidden=out.hidden)
    b = separate(ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask)
    on = ro.response_mask.bool()
    torch.testing.assert_close(a[on], b[on], atol=1e-5, rtol=0)  # a copy of the backbone: same values at the start
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(separate.backbone.parameters(),
                                                             toy_lm.model.parameters()))  # but its own weights
