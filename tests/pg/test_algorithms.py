"""The algorithm table, reward shaping and config resolution: hand-worked numbers and invariants."""
import pytest
import torch

from langrl.config import from_dict
from langrl.errors import InputError
from langrl.losses import grpo_loss, kl_k3, token_mean
from langrl.train.pg.advantages import group_advantages, loo_advantages, moving_baseline_advantages, sequence_returns
from langrl.train.pg.algorithms import ALGORITHMS, GRPO
from langrl.train.pg.collect import chunk_seed, shape_rewards
from langrl.train.pg.kl import KLPenalty
from langrl.train.pg.update import stratified_minibatches
from langrl.train.rl.config import RLConfig, resolve_config


def test_sequence_return_sums_policy_tokens_only():
    rewards = torch.tensor([[0.5, -0.1, 2.0], [1.0, 3.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    # 0.5 - 0.1 + 2.0 = 2.4;  1.0 + 3.0 = 4.0 (the 9.0 sits on padding)
    torch.testing.assert_close(sequence_returns(rewards, mask), torch.tensor([2.4, 4.0]))


def test_group_and_leave_one_out_use_sequence_returns():
    # 2 prompts × 2 samples, rewards on the last token: returns [1, 3, 2, 2]
    rewards = torch.tensor([[0.0, 1.0], [0.0, 3.0], [2.0, 0.0], [0.0, 2.0]])
    mask = torch.ones(4, 2)
    loo = loo_advantages(rewards, mask, n=2).advantages
    torch.testing.assert_close(loo, torch.tensor([-2.0, 2.0, 0.0, 0.0]))  # 1 - 3, 3 - 1, 2 - 2, 2 - 2
    grp = group_advantages(rewards, mask, n=2).advantages
    # group 1: mean 2, std (unbiased) sqrt(2) -> (1-2)/1.4142 = -0.7071; group 2: std 0 -> 0
    torch.testing.assert_close(grp, torch.tensor([-0.70711, 0.70711, 0.0, 0.0]), atol=1e-4, rtol=0)


def test_moving_baseline_first_batch_then_ema():
    rewards = torch.tensor([[1.0], [3.0]])
    mask = torch.ones(2, 1)
    first = moving_baseline_advantages(rewards, mask, baseline=None, decay=0.9, return_mean=2.0)
    torch.testing.assert_close(first.advantages, torch.tensor([-1.0, 1.0]))  # baseline = this batch's mean 2
    assert first.baseline == pytest.approx(2.0)
    second = moving_baseline_advantages(rewards + 2, mask, baseline=first.baseline, decay=0.9, return_mean=4.0)
    torch.testing.assert_close(second.advantages, torch.tensor([1.0, 3.0]))  # 3 - 2, 5 - 2: the old baseline
    assert second.baseline == pytest.approx(0.9 * 2.0 + 0.1 * 4.0)  # 2.2


def test_grpo_surrogate_plus_generic_kl_term_equals_grpo_loss():
    torch.manual_seed(0)
    logp, old, ref = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    adv, mask = torch.randn(3), torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    surrogate, _ = GRPO(clip_eps=0.2, n=3).policy_loss(logp, old, adv, mask, 9.0)
    ours = surrogate + 0.04 * token_mean(kl_k3(logp, ref), mask, 9.0)  # the KL penalty's loss term
    term, _ = KLPenalty(0.04, estimator="k3", placement="loss").loss_term(logp, ref, mask, 9.0)
    torch.testing.assert_close(surrogate + term, ours)
    theirs, _ = grpo_loss(logp, old, ref, adv, mask, 0.2, 0.04, 9.0)
    torch.testing.assert_close(ours, theirs)


def test_shape_rewards_penalty_clip_and_kl():
    score = torch.tensor([2.0, 0.5])
    ended = torch.tensor([True, False])
    kl = torch.tensor([[0.1, 0.2, 0.0], [0.4, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    rewards, final = shape_rewards(score, ended, kl, mask, penalty=KLPenalty(0.5, estimator="k1", placement="reward"),
                                   missing_eos_penalty=1.0, reward_clip=1.5)
    # row 0: ended, 2.0 clipped to 1.5; row 1: no EOS, 0.5 - 1.0 = -0.5
    torch.testing.assert_close(final, torch.tensor([1.5, -0.5]))
    # rewards: -0.5·kl on each policy token, the score on the last one: [-0.05, 1.5 - 0.1, 0], [-0.5 - 0.2, 0, 0]
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 1.4, 0.0], [-0.7, 0.0, 0.0]]))


def test_shape_rewards_group_baseline_subtracts_the_other_samples_mean():
    # 2 prompts × 3 samples; scores [1, 2, 6] and [0, 0, 3]; one policy token each except row 2 (two tokens)
    score = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])
    ended = torch.ones(6, dtype=torch.bool)
    kl = torch.tensor([[0.2, 0.0], [0.0, 0.0], [0.4, 0.2], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    rewards, final = shape_rewards(score, ended, kl, mask, penalty=KLPenalty(0.5, estimator="k1", placement="reward"),
                                   group_baseline=3)
    # leave-one-out: 1 - (2+6)/2 = -3, 2 - (1+6)/2 = -1.5, 6 - (1+2)/2 = 4.5; 0 - 1.5 = -1.5 (twice), 3 - 0 = 3
    # then -0.5·kl per token: row 0 -3 - 0.1 = -3.1; row 2 [-0.2, 4.5 - 0.1 = 4.4]
    torch.testing.assert_close(rewards, torch.tensor([[-3.1, 0.0], [-1.5, 0.0], [-0.2, 4.4], [-1.5, 0.0],
                                                      [-1.5, 0.0], [3.0, 0.0]]))
    torch.testing.assert_close(final, score)  # the logged score is the one before the baseline


def test_reward_baseline_loo_needs_several_samples_per_prompt():
    with pytest.raises(InputError, match="samples_per_prompt"):
        from_dict(RLConfig, {"algo": "ppo", "reward_baseline": "loo"}).validate()  # PPO's default: 1 sample
    from_dict(RLConfig, {"algo": "ppo", "reward_baseline": "loo", "samples_per_prompt": 2}).validate()


def test_resolve_config_records_algorithm_defaults_and_keeps_user_values():
    grpo = resolve_config(from_dict(RLConfig, {"algo": "grpo"}))
    assert (grpo.kl_in, grpo.kl_estimator, grpo.samples_per_prompt, grpo.epochs) == ("loss", "k3", 4, 1)
    assert grpo.whiten_advantages is False
    ppo = resolve_config(from_dict(RLConfig, {"algo": "ppo"}))
    assert (ppo.kl_in, ppo.kl_estimator, ppo.epochs, ppo.whiten_advantages) == ("reward", "k1", 4, True)
    mine = resolve_config(from_dict(RLConfig, {"algo": "ppo", "kl_in": "loss", "epochs": 2}))
    assert (mine.kl_in, mine.kl_estimator, mine.epochs) == ("loss", "k3", 2)  # estimator follows the placement
    given = resolve_config(from_dict(RLConfig, {"algo": "grpo", "kl_estimator": "k2"}))
    assert given.kl_estimator == "k2"


@pytest.mark.parametrize("bad,expected", [
    ({"algo": "grpo", "samples_per_prompt": 1}, "samples_per_prompt' must be >= 2"),
    ({"algo": "rloo", "samples_per_prompt": 1}, "samples_per_prompt' must be >= 2"),
    ({"prompts_per_step": 6, "samples_per_prompt": 1, "minibatch_size": 4}, "multiple of minibatch_size 4"),
    ({"temperature": 0}, "field 'temperature': expected > 0"),
    ({"kl_controller": "adaptive", "kl_coef": 0}, "adaptive KL controller needs kl_coef > 0"),
    ({"watch": "length"}, "field 'watch': expected to be used with eval_every > 0"),
    ({"hacking_window": 0}, "field 'hacking_window': expected >= 1"),
])
def test_validate_refuses_bad_combinations(bad, expected):
    cfg = from_dict(RLConfig, bad)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        cfg.validate()


def test_every_algorithm_is_a_table_entry():
    assert set(ALGORITHMS) == {"ppo", "nlpo", "grpo", "rloo", "reinforce"}
    assert [a for a in ALGORITHMS if ALGORITHMS[a].uses_value] == ["ppo", "nlpo"]
    assert [a for a in ALGORITHMS if ALGORITHMS[a].uses_mask] == ["nlpo"]


def test_stratified_minibatches_do_not_depend_on_the_rank_split():
    # 4 sampling calls of 6 rows, 3 minibatches: one process owns all calls, or two ranks own calls {0,2} and {1,3}
    one = stratified_minibatches(6, [0, 1, 2, 3], 3, seed=1, step=5, epoch=0)
    r0 = stratified_minibatches(6, [0, 2], 3, seed=1, step=5, epoch=0)
    r1 = stratified_minibatches(6, [1, 3], 3, seed=1, step=5, epoch=0)
    to_global = {0: {0: 0, 1: 2}, 1: {0: 1, 1: 3}}  # local call slot -> global call index

    def glob(rows, rank):
        return sorted(to_global[rank][r // 6] * 6 + r % 6 for r in rows)

    for k in range(3):
        assert sorted(one[k]) == sorted(glob(r0[k], 0) + glob(r1[k], 1))
        assert len(r0[k]) == len(r1[k]) == 4  # balanced: 2 rows from each owned call
    assert sorted(sum(one, [])) == list(range(24))  # every row once per epoch
    assert chunk_seed(0, 1, 2) != chunk_seed(0, 2, 1)
