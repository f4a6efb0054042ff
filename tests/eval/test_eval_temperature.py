"""`langrl eval` and the evaluator at the training temperature and near-greedy (T = 1e-4)."""
import json

import pytest
import torch

from langrl.cli import main


def test_near_greedy_is_the_argmax_decode_whatever_the_seed(toy_lm, toy_tokenizer):
    from langrl.eval.evaluate import NEAR_GREEDY, evaluate_policy

    rows = [{"prompt": p} for p in ("the cat", "the movie was", "Q: 3 + 4 = ? A:")]
    a = evaluate_policy(toy_lm, toy_tokenizer, rows, max_new_tokens=6, seed=0, temperature=NEAR_GREEDY,
                        chat_template=False)
    b = evaluate_policy(toy_lm, toy_tokenizer, rows, max_new_tokens=6, seed=7, temperature=NEAR_GREEDY,
                        chat_template=False)
    assert a[1] == b[1]  # two seeds, one answer per prompt
    # ... and it is the greedy (argmax) continuation, decoded by hand
    ids = toy_tokenizer("the cat", return_tensors="pt").input_ids
    with torch.no_grad():
        for _ in range(6):
            nxt = toy_lm(input_ids=ids).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
            if nxt.item() == toy_tokenizer.eos_token_id:
                break
    greedy = toy_tokenizer.decode(ids[0, len(toy_tokenizer("the cat").input_ids):], skip_special_tokens=True)
    assert a[1][0] == greedy
    # at temperature 1 (a random toy model) the two seeds sample different responses
    s0 = evaluate_policy(toy_lm, toy_tokenizer, rows, max_new_tokens=6, seed=0, chat_template=False)[1]
    s7 = evaluate_policy(toy_lm, toy_tokenizer, rows, max_new_tokens=6, seed=7, chat_template=False)[1]
    assert s0 != s7


def test_kl_is_only_reported_at_the_training_temperature(toy_lm, toy_tokenizer):
    from langrl.eval.evaluate import NEAR_GREEDY, evaluate_policy

    rows = [{"prompt": "the cat"}]
    hot = evaluate_policy(toy_lm, toy_tokenizer, rows, ref_model=toy_lm, max_new_tokens=4, chat_template=False)[0]
    cold = evaluate_policy(toy_lm, toy_tokenizer, rows, ref_model=toy_lm, max_new_tokens=4, chat_template=False,
                           temperature=NEAR_GREEDY)[0]
    assert hot["kl"] == pytest.approx(0.0, abs=1e-5) and hot["temperature"] == 1.0  # the policy is its own ref
    assert "kl" not in cold and cold["temperature"] == NEAR_GREEDY


@pytest.mark.slow
def test_langrl_eval_reports_sampled_and_near_greedy(capsys):
    code = main(["eval", "--policy", "tiny", "--task", "arithmetic", "--num-prompts", "4", "--max-new-tokens", "8",
                 "--ref", "tiny", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert out["temperature"] == 1.0 and out["near_greedy/temperature"] == 1e-4
    assert "gold/gold" in out and "near_greedy/gold/gold" in out and out["near_greedy/n"] == 4
    assert "kl" in out and "near_greedy/kl" not in out
    code = main(["eval", "--policy", "tiny", "--task", "arithmetic", "--num-prompts", "2", "--max-new-tokens", "4",
                 "--no-near-greedy", "--temperature", "0.7", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["temperature"] == 0.7 and not any(k.startswith("near_greedy/") for k in out)


def test_langrl_eval_refuses_a_zero_temperature(capsys):
    code = main(["eval", "--policy", "tiny", "--task", "arithmetic", "--temperature", "0"])
    assert code == 2 and "temperature" in capsys.readouterr().err


def test_sequence_kl_is_k3_summed_over_the_response_never_negative():
    import math

    import torch

    from langrl.eval.evaluate import sequence_kl

    logp = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -0.5, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.1], [-0.5, -0.5, -0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])  # row 0's third token is padding
    # row 0: log r = ref − logp = [−0.5, 1.0]; k3 = (e^−0.5 − 1) + 0.5 = 0.106531, (e^1 − 1) − 1 = 0.718282;
    # sum 0.824812 — where k1 = Σ(logp − ref) = 0.5 − 1.0 = −0.5 would report a negative KL. Row 1: π = π_ref → 0
    got = sequence_kl(logp, ref, mask)
    assert got[0] == pytest.approx(math.exp(-0.5) - 1 + 0.5 + math.e - 2, abs=1e-6)
    assert got[0] == pytest.approx(0.824812, abs=1e-5) and got[1] == pytest.approx(0.0, abs=1e-7)
