import pytest
import torch

from langrl.envs.games import Difficulty, parse_difficulty
from langrl.envs.textworld_env import clean_observation
from langrl.errors import InputError

FEEDBACK = ("\n\n\n                    ________  ________\n                   |        \\|        \\\n"
            "                    \\$$$$$$$$| $$$$$$$$\n\nWelcome to TextWorld! Close the box.\n\n-= Studio =-\n"
            "You are in a studio.\n\nThere is an exit to the north.\n\n>        -= Studio =-0/1")
END = ("\nYou close the box.\n\n\nYour score has just gone up by one point.\n\n\n      *** The End ***\n\n"
       "You scored 1 out of a possible 1, in 2 turns.\n\n\nWould you like to RESTART, RESTORE a saved game, QUIT or "
       "UNDO the last command?\n>        -= Studio =-0/1")


def test_clean_observation_keeps_the_game_text_only():
    assert clean_observation(FEEDBACK) == ("Welcome to TextWorld! Close the box. You are in a studio. "
                                           "There is an exit to the north.")
    assert clean_observation(END) == "You close the box. Your score has just gone up by one point."


def test_difficulty_presets_and_overrides():
    assert parse_difficulty("easy") == Difficulty(1, 2, 1, "house")
    assert parse_difficulty("medium,theme=basic") == Difficulty(2, 4, 2, "basic")
    assert parse_difficulty("rooms=3,objects=5,quest=2").key == "r3-o5-q2-house"
    for bad, msg in [("huge", "expected"), ("rooms=0", "positive"), ("theme=castle", "theme"),
                     ("objects=1,quest=2", "at least the quest length")]:
        with pytest.raises(InputError, match=msg):
            parse_difficulty(bad)


@pytest.fixture()
def tw_home(tmp_path, monkeypatch):
    pytest.importorskip("textworld")
    monkeypatch.setenv("LANGRL_HOME", str(tmp_path))
    return tmp_path


def test_games_generate_offline_are_cached_and_the_walkthrough_wins(tw_home):
    from langrl.envs.games import game_path, game_set
    from langrl.envs.textworld_env import TextWorldEnv

    d = parse_difficulty("rooms=2,objects=3,quest=2,theme=basic")
    path = game_path(d, 5)
    assert path.is_file() and path.parent == tw_home / "textworld" / d.key
    mtime = path.stat().st_mtime_ns
    assert game_set(d, 5, 1) == [path] and path.stat().st_mtime_ns == mtime  # cached, not regenerated
    env = TextWorldEnv(d)
    obs, info = env.reset(5)
    assert "$$" not in obs and ">" not in obs and info["max_score"] >= 1 and not info["won"]
    walk = env.walkthrough()
    assert len(walk) == 2
    total = 0.0
    for a in walk:
        assert a in env.admissible_actions()
        obs, r, done, info = env.step(a)
        total += r
    assert done and info["won"] and total == info["max_score"] == info["score"]
    env.close()


def test_policy_plays_textworld_games_with_exact_logprobs(tw_home, toy_lm, toy_tokenizer):
    from langrl.envs import EnvBatch, allowed_tensor, rollout_episodes
    from langrl.envs.textworld_env import TextWorldEnv
    from langrl.rollout import response_logprobs
    from langrl.train.agent.eval import play_random

    spec = "rooms=1,objects=2,quest=1,theme=basic"
    batch = EnvBatch([TextWorldEnv(parse_difficulty(spec)) for _ in range(2)])
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 1], max_turns=3, action_space="admissible", seed=0)
    for ep in batch.episodes:
        assert 1 <= ep.steps <= 3 and ep.max_score >= 1
    allowed = allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], toy_lm.config.vocab_size)
    again = response_logprobs(toy_lm, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                              attn_mask=ro.attn_mask, allowed=allowed).logprobs
    torch.testing.assert_close(again, ro.logprobs, atol=1e-4, rtol=0)
    batch.close()
    rand = play_random("textworld", spec, [0, 1], episodes=2, max_turns=3)
    assert len(rand) == 4 and all(e.steps >= 1 for e in rand)


def test_walkthrough_sft_records_from_textworld(tw_home, toy_tokenizer):
    from langrl.train.agent.sft import walkthrough_records

    records, failed = walkthrough_records("textworld", "rooms=2,objects=3,quest=2,theme=basic", [5, 6],
                                          toy_tokenizer, window=256)
    assert failed == 0 and len(records) == 4
    assert all(r["prompt"].endswith("\n>") and r["completion"].endswith("\n") for r in records)
    assert records[1]["prompt"].startswith(records[0]["prompt"])  # the second action sees the first turn
