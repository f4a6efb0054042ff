"""The KL penalty (the one owner of β) and algorithm objects that own their settings: hand-worked numbers."""
import pytest
import torch

from langrl.config import from_dict
from langrl.errors import InputError
from langrl.train.agent.config import AgentTrainConfig
from langrl.train.pg.advantages import gae_advantages, group_advantages
from langrl.train.pg.algorithms import ALGORITHMS, GRPO, PPO, REINFORCE, TURN_ALGORITHMS
from langrl.train.pg.kl import KLPenalty
from langrl.train.rl.config import RLConfig, resolve_config

LP = torch.tensor([[0.0, -1.0]])
REF = torch.tensor([[-0.5, -1.0]])
MASK = torch.tensor([[1.0, 1.0]])


def test_kl_in_the_reward_shapes_and_adds_nothing_to_the_loss():
    pen = KLPenalty(0.5, estimator="k1", placement="reward")
    kl = pen.per_token(LP, REF, MASK)  # k1 = log π − log π_ref = [0.5, 0]
    torch.testing.assert_close(kl, torch.tensor([[0.5, 0.0]]))
    # score 2 on the last token, −0.5 · kl on each: [−0.25, 2.0]
    torch.testing.assert_close(pen.shape(torch.tensor([2.0]), kl, MASK), torch.tensor([[-0.25, 2.0]]))
    assert pen.loss_term(LP, REF, MASK, 2.0) is None


def test_kl_in_the_loss_leaves_the_reward_alone_and_adds_beta_times_the_token_mean():
    pen = KLPenalty(0.5, estimator="k3", placement="loss")
    kl = pen.per_token(LP, REF, MASK)
    torch.testing.assert_close(pen.shape(torch.tensor([2.0]), kl, MASK), torch.tensor([[0.0, 2.0]]))
    torch.testing.assert_close(pen.shape_turns(torch.tensor([[0.0, 1.0]]), kl, MASK), torch.tensor([[0.0, 1.0]]))
    term, mean = pen.loss_term(LP, REF, MASK, 2.0)
    # k3 at token 0: e^{-0.5} − 1 + 0.5 = 0.10653; token 1: 0 → mean over 2 tokens 0.053265; β · that = 0.026633
    assert mean.item() == pytest.approx(0.053265, abs=1e-6)
    assert term.item() == pytest.approx(0.026633, abs=1e-6)


def test_adaptive_controller_moves_beta_and_round_trips():
    pen = KLPenalty(0.1, estimator="k1", placement="reward", controller="adaptive", target=6.0, horizon=10000)
    pen.update(12.0, 1000)  # error clip((12 − 6)/6, ±0.2) = 0.2; β · (1 + 0.2 · 1000/10000) = 0.1 · 1.02
    assert pen.beta == pytest.approx(0.102)
    again = KLPenalty(0.1, estimator="k1", placement="reward", controller="adaptive")
    again.load_state_dict(pen.state_dict())
    assert again.beta == pytest.approx(0.102)
    fixed = KLPenalty(0.1, estimator="k1", placement="reward")
    fixed.update(12.0, 1000)
    assert fixed.beta == 0.1


@pytest.mark.parametrize("kw,field", [({"estimator": "k4"}, "kl_estimator"), ({"placement": "advantage"}, "kl_in"),
                                      ({"controller": "pid"}, "kl_controller")])
def test_bad_kl_choices_are_refused(kw, field):
    with pytest.raises(InputError, match=field):
        KLPenalty(0.1, **{"estimator": "k1", "placement": "reward", **kw})


def test_kl_penalty_from_both_configs():
    rl = KLPenalty.from_config(resolve_config(from_dict(RLConfig, {"algo": "grpo", "kl_coef": 0.3})))
    assert (rl.beta, rl.estimator, rl.placement) == (0.3, "k3", "loss")
    agent = KLPenalty.from_config(resolve_config(from_dict(AgentTrainConfig, {"algo": "ppo"}), TURN_ALGORITHMS))
    assert (agent.beta, agent.estimator, agent.placement, agent.controller_name) == (0.02, "k1", "reward", "fixed")


def test_an_algorithm_takes_only_its_own_settings():
    with pytest.raises(TypeError):
        PPO(clip_eps=0.2, gamma=1.0, lam=0.95, n=4)  # n is GRPO/RLOO's
    with pytest.raises(TypeError):  # the estimators no longer swallow unknown keywords (old code: **_)
        gae_advantages(torch.zeros(1, 2), MASK, torch.zeros(1, 2), gamma=1.0, lam=0.9, scale_std=True)
    with pytest.raises(TypeError):
        group_advantages(torch.zeros(2, 2), torch.ones(2, 2), n=2, lam=0.9)


def test_from_config_reads_settings_and_refuses_one_it_would_ignore():
    grpo = GRPO.from_config(resolve_config(from_dict(RLConfig, {"algo": "grpo", "grpo_scale_std": False})))
    assert (grpo.n, grpo.grpo_scale_std, grpo.clip_eps) == (4, False, 0.2)
    ppo = ALGORITHMS["ppo"].from_config(resolve_config(from_dict(RLConfig, {"gamma": 0.9})))
    assert (ppo.gamma, ppo.lam) == (0.9, 0.95)
    with pytest.raises(InputError, match="field 'lam' is not used by --algo grpo"):
        GRPO.from_config(resolve_config(from_dict(RLConfig, {"algo": "grpo", "lam": 0.5})))
    with pytest.raises(InputError, match="field 'grpo_scale_std' is not used by --algo ppo"):
        PPO.from_config(resolve_config(from_dict(RLConfig, {"grpo_scale_std": False})))
    agent = resolve_config(from_dict(AgentTrainConfig, {"algo": "rloo", "gamma": 0.9}), TURN_ALGORITHMS)
    assert TURN_ALGORITHMS["rloo"].from_config(agent).gamma == 0.9  # γ discounts turns: every agent algorithm's
    assert TURN_ALGORITHMS["rloo"].from_config(agent).n == 4  # n from group_size


def test_reinforce_owns_its_baseline():
    algo = REINFORCE(baseline_decay=0.9)
    rewards, mask = torch.tensor([[1.0], [3.0]]), torch.ones(2, 1)
    torch.testing.assert_close(algo.advantages(rewards, mask, None).advantages, torch.tensor([-1.0, 1.0]))
    assert algo.state_dict() == {"baseline": pytest.approx(2.0)}  # the first batch's mean
    torch.testing.assert_close(algo.advantages(rewards + 2, mask, None).advantages, torch.tensor([1.0, 3.0]))
    assert algo.baseline == pytest.approx(0.9 * 2.0 + 0.1 * 4.0)
