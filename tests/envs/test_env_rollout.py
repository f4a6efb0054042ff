import torch

from langrl.envs import EnvBatch, PromptEnv, TreasureEnv, allowed_tensor, make_batch, rollout_episodes
from langrl.rollout import response_logprobs


def _recompute(model, ro):
    allowed = allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], model.config.vocab_size)
    return response_logprobs(model, ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask,
                             attn_mask=ro.attn_mask, allowed=allowed).logprobs


def test_free_text_rollout_layout_masks_and_exact_logprobs(toy_lm, toy_tokenizer):
    batch = make_batch("builtin", 3, "medium")
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 1, 2], max_turns=3, max_action_tokens=6, seed=0)
    assert ro.batch_size == 3 and ro.columns["episode"] == [0, 1, 2]
    for i, ep in enumerate(batch.episodes):
        assert ro.prompts[i] == ep.observations[0] + "\n>"  # the prompt is the first observation
        n_real = int(ro.attn_mask[i].sum())
        resp = ro.response_ids[i, :n_real]
        env_tokens = resp[ro.response_mask[i, :n_real] == 0]
        # environment tokens: attended to, not the policy's; they decode to the environment's replies
        env_text = toy_tokenizer.decode(env_tokens)
        for obs in ep.observations[1:ep.steps]:  # the reply to the last action is not appended
            assert obs in env_text
        assert (ro.logprobs[i][ro.response_mask[i] == 0] == 0).all()
        assert ep.steps == 3 or ep.done
    assert (ro.response_mask <= ro.attn_mask).all() and (ro.attn_mask.sum() > ro.response_mask.sum())
    torch.testing.assert_close(_recompute(toy_lm, ro), ro.logprobs, atol=1e-4, rtol=0)


def test_admissible_actions_are_admissible_and_logprobs_exact_across_context_splits(toy_lm, toy_tokenizer):
    batch = make_batch("builtin", 3, "hard")
    # a small window forces the context policy to continue episodes in new rows
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [4, 5, 6], max_turns=6, action_space="admissible", seed=1,
                          max_context=160, max_first_tokens=70, max_obs_tokens=50)
    assert ro.batch_size > 3 and max(ro.columns["segment"]) >= 1
    assert ro.columns["episode"] == sorted(ro.columns["episode"])
    for i in range(ro.batch_size):
        assert int(ro.prompt_mask[i].sum()) + int(ro.attn_mask[i].sum()) <= 160
        first = toy_tokenizer.decode(ro.prompt_ids[i][ro.prompt_mask[i].bool()])
        assert first.startswith("Find the")  # every row keeps the objective
    replay = [TreasureEnv(depth=3, n_items=4) for _ in range(3)]
    for ep, env in zip(batch.episodes, replay):
        env.reset(ep.seed)
        for a in ep.actions:
            assert a in env.admissible_actions()
            env.step(a)
    torch.testing.assert_close(_recompute(toy_lm, ro), ro.logprobs, atol=1e-4, rtol=0)


def test_turn_rewards_sit_on_the_last_action_token(toy_lm, toy_tokenizer):
    env = TreasureEnv(depth=1, n_items=2)
    batch = EnvBatch([env])
    # a model-free check: force the walkthrough by making it the only admissible command each turn
    env.admissible_actions = lambda: env.walkthrough()[env.room: env.room + 1]
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [9], max_turns=4, action_space="admissible", seed=0)
    ep = batch.episodes[0]
    assert ep.won and ep.rewards == [0.0, 1.0] and ro.ended.tolist() == [True]
    mask = ro.response_mask[0]
    nz = ro.dense_rewards[0].nonzero().flatten().tolist()
    last = int(mask.nonzero().max())
    assert nz == [last] and ro.dense_rewards[0, last] == 1.0  # the win's reward on the last token of the last action
    assert ro.logprobs[0][mask.bool()].abs().max() < 1e-5  # a single admissible command: every token is forced


def test_prompt_env_is_single_turn_sampling(toy_lm, toy_tokenizer):
    from langrl.rewards import RewardOutput

    def reward(prompts, responses, **_):
        return RewardOutput(torch.tensor([[float(len(r))] for r in responses]), ["length"])

    reward.name = "length"
    batch = EnvBatch([PromptEnv([{"prompt": "the cat"}, {"prompt": "Q: 3 + 4 = ? A:"}], reward) for _ in range(2)])
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 1], max_turns=1, max_action_tokens=8, seed=0)
    assert ro.prompts == ["the cat", "Q: 3 + 4 = ? A:"]
    assert torch.equal(ro.response_mask, ro.attn_mask.float())  # no environment tokens
    for i, ep in enumerate(batch.episodes):
        last = int(ro.response_mask[i].sum()) - 1
        assert ro.dense_rewards[i, last] == ep.rewards[0] == float(len(ep.actions[0]))
    torch.testing.assert_close(_recompute(toy_lm, ro), ro.logprobs, atol=1e-4, rtol=0)


def test_rollouts_are_seeded_and_greedy_is_deterministic(toy_lm, toy_tokenizer):
    def run(**kw):
        batch = make_batch("builtin", 2, "easy")
        return rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 1], max_turns=3, action_space="admissible", **kw)

    a, b = run(seed=5), run(seed=5)
    assert torch.equal(a.response_ids, b.response_ids)
    g1, g2 = run(greedy=True, seed=1), run(greedy=True, seed=2)
    assert torch.equal(g1.response_ids, g2.response_ids)


def test_transcript_tokens_are_the_tokens_of_its_text(toy_lm, toy_tokenizer):
    """The SFT data tokenises transcript text; the sampler concatenates pieces. They must agree."""
    batch = make_batch("builtin", 2, "medium")
    ro = rollout_episodes(toy_lm, toy_tokenizer, batch, [0, 3], max_turns=3, action_space="admissible", seed=0)
    for i in range(ro.batch_size):
        ids = ro.prompt_ids[i][ro.prompt_mask[i].bool()].tolist() + ro.response_ids[i][ro.attn_mask[i].bool()].tolist()
        assert toy_tokenizer(toy_tokenizer.decode(ids), add_special_tokens=False)["input_ids"] == ids
