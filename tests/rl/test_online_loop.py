"""The online loop on the toy model: every algorithm raises an easy reward, β bounds the KL, resume is exact,
micro-batching is invisible, LoRA's reference is the base, dense rewards and the evaluator hook reach the loop."""
import json
import math

import pytest
import torch
from online_helpers import letter_reward, metric, rl_cfg, rows

from langrl.train.rl.loop import run_rl

EASY = dict(max_steps=10, learning_rate=5e-2, prompts_per_step=4, samples_per_prompt=4, max_new_tokens=6)
LOGGED = ["reward", "reward/letter_a", "kl", "kl_max", "entropy", "approx_kl", "response_length", "tokens_per_s",
          "beta", "grad_norm", "policy_loss", "explained_variance", "ended_fraction"]


@pytest.mark.parametrize("algo", ["ppo", "nlpo", "grpo", "rloo", "reinforce"])
def test_each_algorithm_raises_the_reward(algo, toy_model_dir, prompts_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / algo
    # 16 iterations: PPO's seed-0 run reaches 0.2 only after iteration 10 on transformers 5.24 (0.195 at 10, then
    # 0.28, 0.22, 0.23, ...), where it had by 10 on the versions before
    summary = run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo=algo, **{**EASY, "max_steps": 16}), quiet=True,
                     reward=letter_reward())
    r = metric(out, "reward")
    # the share of 'a' characters starts near 0.02 (random toy model) and climbs past 0.2 within 16 iterations
    assert sum(r[-3:]) / 3 > sum(r[:3]) / 3 + 0.15, r
    header = rows(out)[0]
    assert all(k in header for k in LOGGED), sorted(header)
    if algo in ("ppo", "nlpo"):
        assert {"value_loss", "clipfrac", "value_clipfrac"} <= set(header)
        assert not math.isnan(metric(out, "explained_variance")[-1])
    assert summary["final_reward"] == pytest.approx(r[-1], rel=1e-5)
    before = AutoModelForCausalLM.from_pretrained(toy_model_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    assert all(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))  # every weight moved
    saved = (out / "langrl_config.yaml").read_text()
    assert f"algo: {algo}" in saved and "kl_in:" in saved and "kl_estimator: k" in saved  # resolved choices on record
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == list(range(1, 17))


def test_large_beta_keeps_the_kl_bounded(toy_model_dir, prompts_file, tmp_path):
    common = dict(EASY, algo="ppo", learning_rate=2e-2)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "free", kl_coef=0.0, **common), quiet=True,
               reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "tight", kl_coef=2.0, **common), quiet=True,
               reward=letter_reward())
    free, tight = metric(tmp_path / "free", "kl"), metric(tmp_path / "tight", "kl")
    assert max(free) > 5.0  # without the penalty the policy drifts several nats per response from the reference
    assert max(tight) < 2.5  # with β = 2 it stays within 2.5 nats per response (the stated bound)


def test_adaptive_beta_moves_toward_the_target(toy_model_dir, prompts_file, tmp_path):
    out = tmp_path / "adaptive"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="ppo", kl_controller="adaptive", kl_target=0.5,
                      kl_horizon=20, max_steps=4, **{k: v for k, v in EASY.items() if k != "max_steps"}),
               quiet=True, reward=letter_reward())
    beta, kl = metric(out, "beta"), metric(out, "kl")
    assert beta[0] == pytest.approx(0.01)
    for i in range(1, 4):  # β_{i} = β_{i-1} (1 + clip(KL/target - 1, ±0.2) · batch / horizon), batch = 16
        e = min(max(kl[i - 1] / 0.5 - 1, -0.2), 0.2)
        assert beta[i] == pytest.approx(beta[i - 1] * (1 + e * 16 / 20), rel=1e-4)


IGNORED = {"step", "tokens_per_s", "time/sample", "time/score", "time/logprobs", "time/update", "time/step"}


def _same_metrics(a, b, rel=1e-5):
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for k in x:
            if k not in IGNORED and x[k] != "":
                assert float(y[k]) == pytest.approx(float(x[k]), rel=rel, abs=1e-6), (k, x["step"])


@pytest.mark.parametrize("algo,extra", [("ppo", {}), ("nlpo", {"mask_sync_every": 2, "value_model": "separate"}),
                                        ("reinforce", {})])
def test_resume_is_exact(algo, extra, toy_model_dir, prompts_file, tmp_path):
    kw = dict(algo=algo, max_steps=5, prompts_per_step=4, samples_per_prompt=2, max_new_tokens=6, **extra)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "straight", **kw), quiet=True, reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "half", stop_at=3, **kw), quiet=True,
               reward=letter_reward())
    assert len(rows(tmp_path / "half")) == 3
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "half", resume=str(tmp_path / "half"), **kw),
               quiet=True, reward=letter_reward())
    _same_metrics(tmp_path / "straight", tmp_path / "half")
    lines = (tmp_path / "half" / "samples.jsonl").read_text().splitlines()
    assert [json.loads(s)["step"] for s in lines] == [1, 2, 3, 4, 5]  # the sample log is not duplicated


def test_micro_batches_and_minibatches_reproduce_the_big_batch(toy_model_dir, prompts_file, tmp_path):
    kw = dict(algo="ppo", max_steps=3, prompts_per_step=4, samples_per_prompt=2, max_new_tokens=6, minibatch_size=4)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "big", micro_batch_size=4, **kw), quiet=True,
               reward=letter_reward())
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "small", micro_batch_size=1, **kw), quiet=True,
               reward=letter_reward())
    _same_metrics(tmp_path / "big", tmp_path / "small", rel=1e-4)


def test_sampling_calls_do_not_depend_on_how_they_are_grouped(toy_lm, toy_tokenizer):
    from online_helpers import TOY_PROMPTS

    from langrl.train.pg.collect import collect

    rows_ = [{"prompt": p, "i": i} for i, p in enumerate(TOY_PROMPTS)]
    kw = dict(n=2, step=3, seed=0, max_new_tokens=6)
    both, _ = collect(toy_lm, toy_tokenizer, rows_, [0, 1], 4, **kw)
    first, _ = collect(toy_lm, toy_tokenizer, rows_, [0], 4, **kw)
    second, _ = collect(toy_lm, toy_tokenizer, rows_, [1], 4, **kw)
    assert both.responses == first.responses + second.responses  # rank 0 makes call 0, rank 1 call 1: same batch
    assert both.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert both.columns["i"] == [i for i in range(8) for _ in range(2)]


def test_lora_reference_is_the_base_with_adapters_disabled(toy_lm, toy_tokenizer, toy_model_dir, prompts_file,
                                                            tmp_path):
    from langrl.models.lora import apply_lora
    from langrl.rollout import sample
    from langrl.train.pg.collect import policy_forward, reference_logprobs

    ro = sample(toy_lm, toy_tokenizer, ["the cat", "a b c"], n=2, max_new_tokens=6, seed=0)
    base = policy_forward(toy_lm, ro, temperature=0.7).logprobs
    policy = apply_lora(toy_lm, r=4)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_()  # the adapters now change the policy
    ref = reference_logprobs(policy, None, ro, temperature=0.7)
    torch.testing.assert_close(ref, base)  # reference = the base, no second copy of the weights
    assert not torch.allclose(policy_forward(policy, ro, temperature=0.7).logprobs, base)
    out = tmp_path / "lora"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", lora_r=4, max_steps=3, prompts_per_step=4,
                      max_new_tokens=6), quiet=True, reward=letter_reward())
    kl = metric(out, "kl")
    assert kl[0] == pytest.approx(0.0, abs=1e-6) and kl[-1] != 0  # starts at the reference, then moves away
    assert (out / "adapter" / "adapter_config.json").is_file()


class DenseLetters:
    """A reward with segments: +1 at the end of every 'a' (dense), plus a sequence-level length objective."""

    name = "dense_a"

    def __call__(self, prompts, responses, **columns):
        from langrl.rewards.protocol import RewardOutput, Segment

        segs = [[Segment(end=i + 1, value=1.0, objective="dense_a") for i, ch in enumerate(r) if ch == "a"]
                for r in responses]
        scores = torch.tensor([[float(len(s)), float(len(r))] for s, r in zip(segs, responses)])
        return RewardOutput(scores, ["dense_a", "chars"], segs)


def test_dense_segment_rewards_are_placed_on_tokens_and_not_counted_twice(toy_lm, toy_tokenizer):
    from langrl.rewards import CompositeReward, Term
    from langrl.rollout import sample
    from langrl.train.pg.collect import score

    reward = CompositeReward([Term(DenseLetters(), weight=0.5)])
    ro = sample(toy_lm, toy_tokenizer, ["a b c", "the cat"] * 4, n=2, max_new_tokens=10, seed=1)
    s = score(reward, ro, toy_tokenizer)
    n_a = torch.tensor([float(r.count("a")) for r in ro.responses])
    assert n_a.sum() > 0
    torch.testing.assert_close(s.dense.sum(1), 0.5 * n_a)  # each 'a' lands on a token, weighted by 0.5
    lengths = torch.tensor([float(len(r)) for r in ro.responses])
    torch.testing.assert_close(s.score, 0.5 * lengths)  # the last-token score keeps only the non-dense objective
    torch.testing.assert_close(s.objectives["total"], 0.5 * (n_a + lengths))  # logged total: both objectives
    assert (s.dense[ro.response_mask == 0] == 0).all()


def test_evaluator_hook_runs_every_eval_every(toy_model_dir, prompts_file, tmp_path):
    calls = []

    def evaluator(prompt_rows, responses):
        calls.append(len(responses))
        assert all("prompt" in r for r in prompt_rows)
        return {"gold": sum(r.count("a") for r in responses) / len(responses)}

    out = tmp_path / "eval"
    summary = run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", max_steps=4, eval_every=2,
                                eval_prompts=str(prompts_file), eval_num=5, prompts_per_step=4), quiet=True,
                         reward=letter_reward(), evaluator=evaluator)
    assert calls == [5, 5, 5]  # the starting policy (step 0), then steps 2 and 4
    gold = metric(out, "eval/gold")
    assert [int(r["step"]) for r in rows(out)] == [0, 1, 2, 3, 4]
    assert not math.isnan(gold[0]) and math.isnan(gold[1]) and not math.isnan(gold[2]) and not math.isnan(gold[4])
    assert "eval/reward" in rows(out)[0] and summary["eval/gold"] == pytest.approx(gold[4], rel=1e-5)


@pytest.mark.parametrize("kl_in,estimator", [("loss", "k2"), ("reward", "k3")])
def test_kl_placement_and_estimator_are_configurable(kl_in, estimator, toy_model_dir, prompts_file, tmp_path):
    out = tmp_path / f"{kl_in}-{estimator}"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="ppo", kl_in=kl_in, kl_estimator=estimator,
                      kl_coef=0.5, **dict(EASY, max_steps=3)), quiet=True, reward=letter_reward())
    header = rows(out)[0]
    assert ("kl_loss" in header) == (kl_in == "loss")  # the KL term shows up in the loss only when it is there
    assert min(metric(out, "kl")[1:]) > 0  # k2 and k3 are >= 0 per token, and the policy has moved


def test_skipping_the_old_policy_pass_changes_nothing(toy_model_dir, prompts_file, tmp_path, monkeypatch):
    import langrl.train.rl.loop as online

    kw = dict(algo="grpo", max_steps=3, prompts_per_step=4, max_new_tokens=6, learning_rate=1e-2)
    assert not online.needs_policy_pass(1, 1, "loss", False)  # GRPO's default: one step per batch, KL in the loss
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "skip", **kw), quiet=True, reward=letter_reward())
    monkeypatch.setattr(online, "needs_policy_pass", lambda *a: True)
    run_rl(rl_cfg(toy_model_dir, prompts_file, tmp_path / "full", **kw), quiet=True, reward=letter_reward())
    _same_metrics(tmp_path / "full", tmp_path / "skip", rel=1e-4)  # same KL, entropy, losses, gradients, rewards


def test_hacking_watch_warns_in_the_log_and_the_summary(toy_model_dir, prompts_file, tmp_path, capsys):
    def evaluator(prompt_rows, responses):  # a held-out signal that falls exactly as the proxy (letter a) rises
        return {"gold": -sum(r.count("a") for r in responses) / len(responses)}

    out = tmp_path / "hack"
    kw = {**EASY, "max_steps": 8}
    summary = run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", eval_every=1, hacking_window=2,
                                eval_prompts=str(prompts_file), eval_num=5, **kw), quiet=True,
                         reward=letter_reward(), evaluator=evaluator)
    assert any("reward hacking" in w for w in summary["warnings"])
    logged = [json.loads(s) for s in (out / "warnings.jsonl").read_text().splitlines()]
    assert [w["warning"] for w in logged] == summary["warnings"]
    assert "possible reward hacking" in capsys.readouterr().err
    hacking = metric(out, "eval/hacking")
    assert max(hacking) == 1.0 and hacking[0] == 0.0  # raised during training, never at the start
    assert not math.isnan(metric(out, "length_drift")[1])


def test_watch_spec_is_logged_as_eval_watch(toy_model_dir, prompts_file, tmp_path):
    out = tmp_path / "watch"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="grpo", max_steps=2, eval_every=1, watch="length",
                      eval_prompts=str(prompts_file), eval_num=5, prompts_per_step=4), quiet=True,
               reward=letter_reward())
    watched = metric(out, "eval/watch")
    assert len(watched) == 3 and all(not math.isnan(w) and w >= 0 for w in watched)  # mean words per response


def test_reward_baseline_loo_reaches_the_loop(toy_model_dir, prompts_file, tmp_path):
    # with β = 0 the sequence return is the score minus the mean of its prompt's other samples' scores, and those
    # leave-one-out residuals of a group sum to 0: Σ_i (s_i − (S − s_i)/(n − 1)) = S − (n S − S)/(n − 1) = 0, so the
    # logged mean return is 0 while the mean score (the reward before the baseline) is not
    out = tmp_path / "loo"
    run_rl(rl_cfg(toy_model_dir, prompts_file, out, algo="ppo", kl_coef=0.0, reward_baseline="loo",
                      **{**EASY, "max_steps": 2}), quiet=True, reward=letter_reward())
    assert all(abs(r) < 1e-6 for r in metric(out, "return")[1:])
    assert all(s > 0 for s in metric(out, "score")[1:])  # the share of 'a's: positive on a random toy model
