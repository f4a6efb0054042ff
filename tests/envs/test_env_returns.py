"""Turn-level returns and advantages on a hand-worked 3-turn episode.

Row layout (a = action token, e = environment token):   a a e e a a a e a
                                               position:  0 1 2 3 4 5 6 7 8
Turn rewards r = (0, 0.5, 1) sit on each action's last token (positions 1, 6, 8); gamma = 0.9.
"""
import pytest
import torch

from langrl.envs import episode_returns, turn_gae, turn_index, turn_returns, turn_rewards
from langrl.train.pg.advantages import group_episode_advantages, loo_episode_advantages
from langrl.train.pg.kl import KLPenalty

MASK = torch.tensor([[1, 1, 0, 0, 1, 1, 1, 0, 1]], dtype=torch.float)
REWARDS = torch.tensor([[0, 0, 0, 0, 0, 0, 0.5, 0, 1.0]])
# values at each turn's FIRST token are V(s_k) = 0.2, 0.6, 0.9; the others (99) and env positions (-5) are ignored
VALUES = torch.tensor([[0.2, 99, -5, -5, 0.6, 99, 99, -5, 0.9]])
GAMMA = 0.9


def test_turn_index_marks_each_run_of_action_tokens():
    assert turn_index(MASK).tolist() == [[0, 0, -1, -1, 1, 1, 1, -1, 2]]
    r, m = turn_rewards(REWARDS, MASK)
    assert r.tolist() == [[0.0, 0.5, 1.0]] and m.all()


def test_discounted_returns_across_turns():
    # G_2 = 1;  G_1 = 0.5 + 0.9 * 1 = 1.4;  G_0 = 0 + 0.9 * 1.4 = 1.26 (= 0 + 0.9 * 0.5 + 0.81 * 1)
    g = turn_returns(REWARDS, MASK, GAMMA)
    expect = torch.tensor([[1.26, 1.26, 0, 0, 1.4, 1.4, 1.4, 0, 1.0]])
    torch.testing.assert_close(g, expect)
    ret, order = episode_returns(REWARDS, MASK, GAMMA)
    torch.testing.assert_close(ret, torch.tensor([1.26]))
    assert order == [0]


def test_turn_gae_hand_worked():
    # lam = 0.5:
    # delta_2 = 1   + 0.9 * 0   - 0.9 = 0.1         A_2 = 0.1
    # delta_1 = 0.5 + 0.9 * 0.9 - 0.6 = 0.71        A_1 = 0.71 + 0.9 * 0.5 * 0.1   = 0.755
    # delta_0 = 0   + 0.9 * 0.6 - 0.2 = 0.34        A_0 = 0.34 + 0.9 * 0.5 * 0.755 = 0.67975
    # returns = A + V = 0.87975, 1.355, 1.0
    adv, ret = turn_gae(REWARDS, VALUES, MASK, GAMMA, 0.5)
    a0, a1, a2 = 0.67975, 0.755, 0.1
    torch.testing.assert_close(adv, torch.tensor([[a0, a0, 0, 0, a1, a1, a1, 0, a2]]))
    r0, r1, r2 = 0.87975, 1.355, 1.0
    torch.testing.assert_close(ret, torch.tensor([[r0, r0, 0, 0, r1, r1, r1, 0, r2]]))
    # lam = 1: A_k = G_k - V(s_k) = 1.26 - 0.2, 1.4 - 0.6, 1 - 0.9
    adv1, _ = turn_gae(REWARDS, VALUES, MASK, GAMMA, 1.0)
    torch.testing.assert_close(adv1[0, [0, 4, 8]], torch.tensor([1.06, 0.8, 0.1]))


def test_an_episode_split_over_two_rows_chains_its_turns():
    # the same episode, cut by the context policy after turn 1: row 0 = turns 0, 1; row 1 = turn 2
    mask = torch.tensor([[1, 1, 0, 0, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0]], dtype=torch.float)
    rewards = torch.tensor([[0, 0, 0, 0, 0, 0, 0.5], [1.0, 0, 0, 0, 0, 0, 0]])
    values = torch.tensor([[0.2, 0, 0, 0, 0.6, 0, 0], [0.9, 0, 0, 0, 0, 0, 0]])
    adv, _ = turn_gae(rewards, values, mask, GAMMA, 0.5, episode=[0, 0])
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.67975, 0.1]))
    torch.testing.assert_close(adv[0, 4], torch.tensor(0.755))
    g = turn_returns(rewards, mask, GAMMA, episode=[0, 0])
    torch.testing.assert_close(g[:, 0], torch.tensor([1.26, 1.0]))
    # as two separate episodes, row 0 would not see the reward of row 1
    g_sep = turn_returns(rewards, mask, GAMMA, episode=[0, 1])
    torch.testing.assert_close(g_sep[0, 0], torch.tensor(0.45))


def test_kl_shaped_turn_rewards_and_group_baselines():
    kl = torch.full_like(MASK, 2.0)  # nonzero on environment tokens too: the mask must remove it there
    shaped = KLPenalty(0.1, estimator="k1", placement="reward").shape_turns(REWARDS, kl, MASK)
    assert (shaped[MASK == 0] == 0).all()
    # turn rewards: 0 - 0.1*2*2 = -0.4;  0.5 - 0.1*2*3 = -0.1;  1 - 0.1*2*1 = 0.8
    torch.testing.assert_close(turn_rewards(shaped, MASK)[0], torch.tensor([[-0.4, -0.1, 0.8]]))
    # two groups of two one-turn episodes: returns (1, 0 | 0.5, 0.5)
    mask = torch.ones(4, 1)
    rewards = torch.tensor([[1.0], [0.0], [0.5], [0.5]])
    loo = loo_episode_advantages(rewards, mask, episode=[0, 1, 2, 3], gamma=GAMMA, n=2).advantages
    torch.testing.assert_close(loo, torch.tensor([1.0, -1.0, 0.0, 0.0]))  # r_i - r_other
    grpo = group_episode_advantages(rewards, mask, episode=[0, 1, 2, 3], gamma=GAMMA, n=2).advantages
    # (1 - 0.5) / (std(1, 0) = 0.7071) = 0.7071; a group with no spread gets 0
    torch.testing.assert_close(grpo, torch.tensor([0.7071, -0.7071, 0.0, 0.0]), atol=1e-4, rtol=0)


def test_episode_ids_must_match_rows():
    with pytest.raises(ValueError, match="one per row"):
        turn_returns(REWARDS, MASK, GAMMA, episode=[0, 1])
