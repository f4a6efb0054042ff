"""``rm:path=DIR``: a reward model as a reward function (standardised, uncertainty penalty, dense segments)."""
from __future__ import annotations

import pytest
import torch

import langrl.rewards.learned  # noqa: F401 - registers "rm"
from langrl.rewards import build_reward, place_segment_rewards, weighted_segment_sum
from langrl.rewards.learned import LearnedReward

from .conftest import feedback_rows, train_args


def test_scores_are_standardised_with_the_training_statistics(fb_files, toy_model_dir, tmp_path):
    from langrl.config import parse_config
    from langrl.train.rm.loop import RMConfig, run_rm_train

    out = tmp_path / "rm"
    cfg, _ = parse_config(RMConfig, train_args(fb_files["comparison"], out, toy_model_dir))
    run_rm_train(cfg, quiet=True)
    rows = feedback_rows()["comparison"]
    prompts = [r["prompt"] for r in rows for _ in range(2)]
    responses = [x for r in rows for x in (r["chosen"], r["rejected"])]  # every training sequence once
    reward = build_reward(f"rm:path={out}")
    col = reward(prompts, responses).column("rm")
    # the stored mean/std are those of exactly these 12 sequences: standardised they have mean 0 and std 1
    assert col.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert col.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)
    raw = build_reward(f"rm:path={out},standardize=false")(prompts, responses).column("rm")
    assert torch.allclose((raw - raw.mean()) / raw.std(unbiased=False), col, atol=1e-3)


def test_uncertainty_penalty_and_fine_grained_segments(trained_rm):
    prompts = ["Q: the movie? A:"] * 2
    responses = ["The movie was great and i loved it.", "The cat sat on the mat. The movie was bad and i hated it."]
    plain = LearnedReward(trained_rm)(prompts, responses)
    assert plain.names == ["rm", "rm/irrelevant", "rm/negative"]
    penalised = LearnedReward(trained_rm, uncertainty=2.0, name="rm")(prompts, responses)
    std = torch.tensor(plain.info["std"])
    assert (std > 0).all()
    assert torch.allclose(penalised.column("rm"), plain.column("rm") - 2.0 * std, atol=1e-6)
    # one segment per sentence and category, values in [-1, 1], the column is their sum
    assert [s.end for s in plain.segments[1] if s.objective == "rm/negative"] == [23, 57]
    for k, name in enumerate(plain.names[1:], start=1):
        segs = [[s for s in per if s.objective == name] for per in plain.segments]
        assert all(-1 <= s.value <= 1 for per in segs for s in per)
        assert plain.scores[:, k].tolist() == pytest.approx(weighted_segment_sum(segs), abs=1e-6)
    # the segments land on tokens through the rewards package: one token per 10 characters here
    ends = [list(range(10, len(r) + 10, 10))[:-1] + [len(r)] for r in responses]
    dense = place_segment_rewards(plain.segments, ends, t=6)
    assert dense.sum(1).tolist() == pytest.approx(weighted_segment_sum(plain.segments), abs=1e-5)


def test_segment_value_modes_and_category_weights(trained_rm):
    from langrl.errors import InputError
    from langrl.rewards.learned import parse_category_weights

    prompts = ["Q: the movie? A:"] * 2
    responses = ["The movie was great and i loved it.", "The cat sat on the mat. The movie was bad and i hated it."]
    signed = LearnedReward(trained_rm)(prompts, responses)
    frac = build_reward(f"rm:path={trained_rm},segment_value=fraction,category_weights=negative:0.5")(
        prompts, responses)
    for i in range(2):
        for cat, w in (("irrelevant", 1.0), ("negative", 0.5)):
            v = [s.value for s in signed.segments[i] if s.objective == f"rm/{cat}"]
            f = [s.value for s in frac.segments[i] if s.objective == f"rm/{cat}"]
            # the same P(error) per sentence: signed 1 - 2p, so p = (1 - v) / 2, and fraction -w p / n
            assert f == pytest.approx([-w * (1 - x) / 2 / len(v) for x in v], abs=1e-6)
    assert frac.column("rm/negative").tolist() == pytest.approx(
        [sum(s.value for s in segs if s.objective == "rm/negative") for segs in frac.segments], abs=1e-6)
    assert parse_category_weights("irrelevant:0.3;untruthful:0.5") == {"irrelevant": 0.3, "untruthful": 0.5}
    assert parse_category_weights("") == {}
    with pytest.raises(InputError, match="CATEGORY:WEIGHT"):
        parse_category_weights("irrelevant=0.3")
    with pytest.raises(InputError, match="not among the model's categories"):
        LearnedReward(trained_rm, category_weights="untruthful:0.5")
    with pytest.raises(InputError, match="segment_value"):
        LearnedReward(trained_rm, segment_value="sum")
