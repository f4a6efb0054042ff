"""``train/setup.load_policy``: the one policy loader of sft, dpo, rl and agent train (fresh or resumed, full or LoRA)."""
import torch

from langrl.models.lora import is_lora
from langrl.train import setup


def _weights(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}  # a tied tensor once


def test_fresh_full_policy_is_its_own_starting_point(toy_model_dir):
    policy, tok, start = setup.load_policy(str(toy_model_dir), quiet=True)
    assert start is policy and not is_lora(policy) and tok.pad_token_id is not None


def test_resumed_full_policy_reads_the_checkpoint_and_keeps_the_spec_as_start(toy_model_dir, tmp_path):
    trained, tok, _ = setup.load_policy(str(toy_model_dir), quiet=True)
    with torch.no_grad():
        next(trained.parameters()).add_(1.0)  # "training": the checkpoint differs from the spec by +1 in one tensor
    trained.save_pretrained(tmp_path / "ckpt")
    policy, _, start = setup.load_policy(str(toy_model_dir), resume=str(tmp_path / "ckpt"), state={"step": 1},
                                         quiet=True)
    assert start is not policy
    first = next(iter(_weights(policy)))
    torch.testing.assert_close(_weights(policy)[first], _weights(start)[first] + 1.0)
    assert all(torch.equal(v, _weights(start)[k]) for k, v in _weights(policy).items() if k != first)


def test_lora_policy_has_no_second_copy_and_resumes_its_adapter(toy_model_dir, tmp_path):
    torch.manual_seed(0)
    policy, _, start = setup.load_policy(str(toy_model_dir), lora_r=2, lora_alpha=4.0, quiet=True)
    assert start is None and is_lora(policy)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.5)  # fresh adapters start at B = 0; the saved ones are 0.5 everywhere
    policy.save_pretrained(tmp_path / "adapter")
    resumed, _, start = setup.load_policy(str(toy_model_dir), resume=str(tmp_path), state={"step": 1}, lora_r=2,
                                          quiet=True)
    assert start is None and is_lora(resumed)
    b = [p for n, p in resumed.named_parameters() if "lora_B" in n]
    assert b and all(bool((p == 0.5).all()) and p.requires_grad for p in b)  # the checkpoint's, and trainable
