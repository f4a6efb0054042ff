import csv
import json

import pytest
import torch

from langrl.envs import allowed_tensor, make_batch, rollout_episodes


@pytest.fixture()
def toy_dir(toy_model_dir):
    return str(toy_model_dir)


def test_environment_tokens_get_no_gradient_and_no_kl(toy_lm, toy_tokenizer):
    """The trainer's update step, fed garbage on environment positions, computes the same loss and gradients."""
    from langrl.train.pg.algorithms import TurnPPO
    from langrl.train.pg.kl import KLPenalty
    from langrl.train.pg.update import UpdateSettings, micro_batch_loss

    ro = rollout_episodes(toy_lm, toy_tokenizer, make_batch("builtin", 2, "medium"), [0, 1], max_turns=3,
                          action_space="admissible", seed=0)
    env = (ro.attn_mask == 1) & (ro.response_mask == 0)
    assert env.any()
    allowed = allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], toy_lm.config.vocab_size)
    g = torch.Generator().manual_seed(0)

    def loss_and_grads(ro):
        toy_lm.zero_grad()
        loss = micro_batch_loss(toy_lm, None, ro, allowed, algo=TurnPPO(clip_eps=0.2), normalizer=10.0,
                                kl=KLPenalty(0.5, estimator="k3", placement="loss"),
                                settings=UpdateSettings(epochs=1, micro_batch_size=16, grad_clip=1.0, seed=0))[0]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in toy_lm.parameters()]

    ro.old_logprobs = ro.logprobs - 0.1 * ro.response_mask
    ro.ref_logprobs = ro.logprobs + 0.3 * ro.response_mask
    ro.advantages = torch.randn(ro.response_ids.shape, generator=g)
    base_loss, base_grads = loss_and_grads(ro)
    ro.advantages = torch.where(env, torch.full_like(ro.advantages, 1e3), ro.advantages)
    ro.ref_logprobs = torch.where(env, torch.full_like(ro.ref_logprobs, -50.0), ro.ref_logprobs)  # KL would explode
    ro.old_logprobs = torch.where(env, torch.full_like(ro.old_logprobs, 3.0), ro.old_logprobs)
    loss, grads = loss_and_grads(ro)
    assert torch.equal(loss, base_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, base_grads))
    # the same change on the action tokens does change the gradient (so the check above can fail)
    ro.advantages = ro.advantages + 5.0 * ro.response_mask
    _, moved = loss_and_grads(ro)
    assert not all(torch.equal(a, b) for a, b in zip(moved, base_grads))


def _train_cfg(policy, out, **kw):
    from langrl.train.agent.config import AgentTrainConfig

    base = dict(policy=policy, out=str(out), env="builtin", difficulty="easy", max_turns=3, episodes_per_step=8,
                micro_batch_size=8)
    return AgentTrainConfig(**{**base, **kw})


def test_builtin_trains_to_high_success(toy_dir, tmp_path):
    """A random toy model learns two built-in games with PPO: greedy success 1.0; random-admissible play ~0.5."""
    from langrl.models.specs import load_causal_lm
    from langrl.train.agent.loop import run_agent_train
    from langrl.train.agent.eval import episode_metrics
    from langrl.train.agent.eval import play_policy, play_random

    cfg = _train_cfg(toy_dir, tmp_path / "run", algo="ppo", games=2, max_steps=8, learning_rate=5e-3)
    summary = run_agent_train(cfg, quiet=True)
    assert summary["steps"] == 8
    model, tok = load_causal_lm(cfg.out)
    played = episode_metrics(play_policy(model, tok, "builtin", "easy", [0, 1], batch_size=2, **cfg.rollout_kwargs()))
    rand = episode_metrics(play_random("builtin", "easy", [0, 1], episodes=20, max_turns=3))
    assert played["success_rate"] >= 0.9 > rand["success_rate"] + 0.2
    assert played["steps"] == 2.0  # the shortest path: go <dir>, take <target>


def test_resume_is_exact(toy_dir, tmp_path):
    from langrl.train.agent.loop import VALUE_FILE, run_agent_train

    kw = dict(algo="ppo", games=4, max_steps=3, epochs=2, learning_rate=1e-3)
    run_agent_train(_train_cfg(toy_dir, tmp_path / "a", **kw), quiet=True)
    run_agent_train(_train_cfg(toy_dir, tmp_path / "b", stop_at=2, **kw), quiet=True)
    run_agent_train(_train_cfg(toy_dir, tmp_path / "b", resume=str(tmp_path / "b"), **kw), quiet=True)
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    va, vb = (torch.load(p / VALUE_FILE, weights_only=True) for p in (tmp_path / "a", tmp_path / "b"))
    assert all(torch.equal(va[k], vb[k]) for k in va)
    def metrics(run):  # every logged number but the timings
        with open(tmp_path / run / "metrics.csv") as f:
            return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in csv.DictReader(f)]

    assert metrics("a") == metrics("b") and len(metrics("a")) == 3


@pytest.mark.parametrize("algo", ["grpo", "rloo", "reinforce"])
def test_every_algorithm_updates_the_policy(toy_dir, tmp_path, algo):
    from safetensors.torch import load_file

    from langrl.train.agent.loop import run_agent_train

    cfg = _train_cfg(toy_dir, tmp_path / algo, algo=algo, games=2, max_steps=1, learning_rate=1e-2, max_turns=2)
    summary = run_agent_train(cfg, quiet=True)
    assert summary["algo"] == algo
    before = load_file(f"{toy_dir}/model.safetensors")
    after = load_file(tmp_path / algo / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_agent_sft_learns_the_walkthroughs(toy_dir, tmp_path):
    from langrl.train.agent.config import AgentSFTConfig
    from langrl.train.agent.sft import run_agent_sft

    cfg = AgentSFTConfig(policy=toy_dir, out=str(tmp_path / "sft"), env="builtin", difficulty="medium", games=4,
                         max_steps=3, batch_size=4, micro_batch_size=4, warmup_steps=1)
    summary = run_agent_sft(cfg, quiet=True)
    assert summary["examples"] == 4 * 3 and summary["games_skipped"] == 0  # depth 2: go, go, take
    rows = [json.loads(line) for line in open(summary["data"])]
    assert rows[0]["prompt"].startswith("Find the") and rows[0]["prompt"].endswith("\n>")
    assert rows[0]["completion"].startswith(" go ") and rows[0]["completion"].endswith("\n")
    assert rows[2]["completion"].startswith(" take ") and rows[2]["prompt"].count("\n>") == 3
    meta = json.loads((tmp_path / "sft" / "langrl_agent.json").read_text())
    assert meta["seed"] == 0 and meta["games"] == 4 and meta["kind"] == "sft"


def test_eval_reports_the_random_baseline_and_held_out(toy_dir, tmp_path, capsys):
    from langrl.cli import main

    (tmp_path / "p").mkdir()
    assert main(["agent", "eval", "--env", "builtin", "--games", "4", "--seed", "100", "--baseline-episodes", "5",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["random_admissible"]["episodes"] == 20 and 0 < out["random_admissible"]["success_rate"] < 1
    assert "policy" not in out


@pytest.mark.parametrize("argv, message", [
    (["agent", "train", "--algo", "rloo", "--group-size", "1"], "group_size"),
    (["agent", "train", "--episodes-per-step", "6", "--group-size", "4"], "multiple of group_size"),
    (["agent", "eval", "--env", "textworld", "--difficulty", "rooms=two"], "rooms must be a positive integer"),
    (["agent", "sft", "--games", "0"], "games"),
    (["agent", "play"], "unknown subcommand"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    from langrl.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_masked_reference_reproduces_the_sampling_distribution_so_the_masked_kl_to_itself_is_zero(toy_lm,
                                                                                                  toy_tokenizer):
    import copy

    from langrl.rollout.nlpo import pack_mask
    from langrl.train.pg.collect import annotate

    batch = make_batch("builtin", 3, "medium")
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 1, 2], max_turns=3, action_space="admissible", seed=0)
    v = toy_lm.config.vocab_size
    allowed = pack_mask(allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], v))
    kw = dict(critic=None, allowed=allowed, temperature=1.0, top_k=0, top_p=1.0, vocab_size=v, mask_reference=True)
    annotate(toy_lm, ro, ref_model=toy_lm, micro_batch_size=2, **kw)
    lp = ro.ref_logprobs.clone()
    m = ro.response_mask.bool()
    torch.testing.assert_close(lp[m], ro.logprobs[m], atol=1e-4, rtol=0)
    # a reference that differs: the masked log-probs differ too, and stay <= 0 (a renormalised distribution)
    ref = copy.deepcopy(toy_lm)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    annotate(toy_lm, ro, ref_model=ref, micro_batch_size=3, **kw)
    ref_lp = ro.ref_logprobs
    assert (ref_lp[m] <= 1e-6).all() and (ref_lp[m] - lp[m]).abs().max() > 1e-3
