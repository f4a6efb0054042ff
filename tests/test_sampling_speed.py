"""LoRA sampling with the adapters merged (same samples, the base restored bit for bit) and sampling progress."""
from __future__ import annotations

import torch

from langrl.cli import main


def _lora(toy_lm):
    from langrl.models.lora import apply_lora

    model = apply_lora(toy_lm, r=4)
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero (adapter = identity): give it weight so merging changes something
            p.data.normal_(0, 0.1)
    return model.eval()


def test_merged_sampling_matches_the_adapter_path_and_restores_the_base(toy_lm, toy_tokenizer):
    from langrl.models.lora import adapters_disabled, merged_for_sampling
    from langrl.rollout import response_logprobs, sample

    model = _lora(toy_lm)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prompts = ["the cat", "Q: 3 + 4 = ? A:"]
    plain = sample(model, toy_tokenizer, prompts, n=2, max_new_tokens=6, seed=3)
    with merged_for_sampling(model):
        merged = sample(model, toy_tokenizer, prompts, n=2, max_new_tokens=6, seed=3)
        w = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
        assert not torch.equal(w, before["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"])
    assert torch.equal(plain.response_ids, merged.response_ids)
    assert torch.allclose(plain.logprobs, merged.logprobs, atol=1e-5)  # float rounding of W + s·BA only
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # exactly: the original tensors are put back
    # and the reference (adapters off) is the same base before and after a merged rollout
    args = (merged.prompt_ids, merged.prompt_mask, merged.response_ids, merged.response_mask)
    with adapters_disabled(model):
        ref_after = response_logprobs(model, *args).logprobs
    model.load_state_dict(before)
    with adapters_disabled(model):
        assert torch.equal(response_logprobs(model, *args).logprobs, ref_after)


def test_merging_leaves_a_plain_model_alone(toy_lm, toy_tokenizer):
    from langrl.models.lora import merged_for_sampling

    with merged_for_sampling(toy_lm) as m:
        assert m is toy_lm


def test_sampler_reports_tokens_per_step(toy_lm, toy_tokenizer):
    from langrl.rollout import sample

    seen = []
    ro = sample(toy_lm, toy_tokenizer, ["the cat", "the movie"], n=2, max_new_tokens=5, seed=0, progress=seen.append)
    assert sum(seen) == int(ro.response_mask.sum()) and len(seen) == ro.response_ids.shape[1]
    assert seen[0] == 4  # every row samples its first token


def test_rl_shows_sampling_progress_lines_in_a_log(toy_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LANGRL_QUIET", raising=False)
    monkeypatch.setenv("LANGRL_PROGRESS_EVERY", "0")  # every update is a line (the default is one per 10 s)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "the cat"}\n{"prompt": "the movie"}\n')
    assert main(["rl", "--algo", "grpo", "--model", str(toy_model_dir), "--prompts", str(prompts), "--reward",
                 "length", "--out", str(tmp_path / "o"), "--max-steps", "1", "--prompts-per-step", "2",
                 "--samples-per-prompt", "2", "--max-new-tokens", "4", "--lora-r", "4"]) == 0
    err = capsys.readouterr().err.splitlines()
    lines = [x for x in err if x.startswith("rl grpo: 0/1") and "phase=sampling" in x]
    assert lines and "tok_s=" in lines[-1] and "tokens=" in lines[-1], "\n".join(err)


def test_merge_choice_measures_then_keeps_the_faster():
    from langrl.models.lora import MergeChoice

    auto = MergeChoice("auto", lora=True)
    assert auto.merged() is False  # first rollout: adapters active
    auto.record(False, seconds=10.0, tokens=100)  # 0.1 s/token
    assert auto.merged() is True  # second: merged
    auto.record(True, seconds=4.0, tokens=100)  # 0.04 s/token: faster
    assert auto.merged() is True and auto.merged() is True
    slow = MergeChoice("auto", lora=True)
    slow.record(False, 1.0, 100)
    slow.record(True, 3.0, 100)  # merging lost (a tiny model: the B·A products cost more than they save)
    assert slow.merged() is False
    assert MergeChoice("true", lora=False).merged() is False and MergeChoice("true", lora=True).merged() is True
    assert MergeChoice("false", lora=True).merged() is False
