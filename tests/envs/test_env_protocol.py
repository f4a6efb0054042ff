import pytest
import torch

from langrl.envs import EnvBatch, PromptEnv, TreasureEnv, builtin_settings, make_env
from langrl.envs.render import fit_context
from langrl.errors import InputError


def test_builtin_is_seeded_and_the_walkthrough_wins():
    env = TreasureEnv(depth=2, n_items=3)
    first, info = env.reset(7)
    again, _ = TreasureEnv(depth=2, n_items=3).reset(7)
    assert first == again and info["max_score"] == 1.0
    assert first.startswith(f"Find the {env.target} and take it.")
    walk = env.walkthrough()
    assert len(walk) == 3 and walk[-1] == f"take {env.target}"
    rewards = []
    for a in walk:
        assert a in env.admissible_actions()
        obs, r, done, info = env.step(a)
        rewards.append(r)
    assert rewards == [0.0, 0.0, 1.0] and done and info["won"] and not info["lost"]


def test_builtin_dead_end_costs_a_turn_and_wrong_item_loses():
    env = TreasureEnv(depth=1, n_items=2)
    env.reset(3)
    obs, r, done, _ = env.step(f"go {env.dead_ends[0]}")
    assert "dead end" in obs and r == 0 and not done and env.room == 0
    assert env.admissible_actions() == sorted(env.admissible_actions())
    env.step(f"go {env.path[0]}")
    wrong = next(i for i in env.items if i != env.target)
    obs, r, done, info = env.step(f"take {wrong}")
    assert done and r == 0 and info["lost"] and not info["won"]


def test_env_batch_skips_finished_rows():
    batch = EnvBatch([TreasureEnv(), TreasureEnv()])
    batch.reset([1, 2])
    walk0 = batch.envs[0].walkthrough()
    batch.step([walk0[0], "look"])
    res = batch.step([walk0[1], None])
    assert res[1] is None and batch.episodes[0].done and batch.episodes[0].won
    assert batch.alive == [False, True] and batch.admissible()[0] is None
    assert batch.episodes[1].actions == ["look"] and batch.episodes[1].rewards == [0.0]
    with pytest.raises(ValueError, match="already done"):
        batch.step(["go north", None])


def test_prompt_env_is_one_step_with_the_reward_function():
    from langrl.rewards import RewardOutput

    def reward(prompts, responses, answer):
        return RewardOutput(torch.tensor([[float(r.strip() == a) for r, a in zip(responses, answer)]]).T, ["exact"])

    reward.name = "exact"
    env = PromptEnv([{"prompt": "Q: 1 + 1 =", "answer": "2"}, {"prompt": "Q: 2 + 2 =", "answer": "4"}], reward)
    assert env.action_prompt == "" and env.action_stop == ()
    obs, _ = env.reset(3)  # row 3 % 2 = 1
    assert obs == "Q: 2 + 2 ="
    _, r, done, _ = env.step(" 4")
    assert r == 1.0 and done


def test_fit_context_keeps_the_objective_and_the_newest_turns():
    first, turns = [1, 2], [[3, 3], [4, 4, 4], [5]]
    # budget 6: first (2) + newest turn [5] (1) + [4, 4, 4] (3) = 6; [3, 3] would make 8 -> dropped
    assert fit_context(first, turns, 6) == ([1, 2, 4, 4, 4, 5], 1)
    assert fit_context(first, turns, 2) == ([1, 2], 3)  # the objective is kept even when nothing else fits


def test_bad_difficulty_and_env_names_are_clear_errors():
    assert builtin_settings("medium") == {"depth": 2, "n_items": 3}
    assert builtin_settings("depth=3,items=2") == {"depth": 3, "n_items": 2}
    with pytest.raises(InputError, match="depth=N,items=M"):
        builtin_settings("deep")
    with pytest.raises(InputError, match="unknown environment"):
        make_env("zork")
    with pytest.raises(InputError, match="depth must be"):
        TreasureEnv(depth=0)
