"""Protocol helpers and composition: weights, clipping, running normalisation, NaN policy, faults, timing."""
from __future__ import annotations

import math

import pytest
import torch

from langrl.errors import InputError
from langrl.rewards import CompositeReward, RewardError, RewardOutput, RunningNorm, Segment, Term, from_trl
from langrl.rewards.protocol import single


class Const:
    """A reward returning fixed per-sample values."""

    def __init__(self, name, values, segments=None):
        self.name, self.values, self.segs = name, values, segments

    def __call__(self, prompts, responses, **columns):
        return single(self.name, self.values[: len(responses)], segments=self.segs)


class TwoObjectives:
    name = "pair"

    def __call__(self, prompts, responses, **columns):
        return RewardOutput(torch.tensor([[1.0, 10.0], [2.0, 20.0]]), ["help", "harm"])


def test_reward_output_checks_shapes():
    with pytest.raises(ValueError, match=r"scores must be \(b, k=2\)"):
        RewardOutput(torch.zeros(3, 1), ["a", "b"])
    out = RewardOutput(torch.zeros(2, 1, dtype=torch.float64), ["a"])
    assert out.scores.dtype == torch.float32 and out.column("a").shape == (2,)


def test_weighted_total_hand_worked():
    comp = CompositeReward([Term(Const("a", [1.0, -2.0]), weight=0.5), Term(TwoObjectives(), weight=-1.0)])
    out = comp(["p", "q"], ["x", "y"])
    assert out.names == ["a", "help", "harm", "total"]
    # total_0 = 0.5*1 - 1*(1 + 10) = -10.5 ; total_1 = 0.5*(-2) - 1*(2 + 20) = -23
    assert out.column("total").tolist() == [-10.5, -23.0]
    assert out.scores[:, :3].tolist() == [[1.0, 1.0, 10.0], [-2.0, 2.0, 20.0]]  # raw columns kept
    assert out.info["weights"] == {"a": 0.5, "help": -1.0, "harm": -1.0}
    assert set(out.info["time_s"]) == {"a", "pair"} and all(v >= 0 for v in out.info["time_s"].values())


def test_clip_applies_before_weighting_and_keeps_raw_columns():
    comp = CompositeReward([Term(Const("a", [5.0, -5.0, 0.5]), weight=2.0, clip=(-1.0, 1.0))])
    out = comp(None, ["x", "y", "z"])
    assert out.column("a").tolist() == [5.0, -5.0, 0.5]
    assert out.column("total").tolist() == [2.0, -2.0, 1.0]  # 2 * clip(s, -1, 1)


def test_running_norm_matches_batch_statistics_and_resumes():
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(7, generator=g) * 3 + 1, torch.randn(5, generator=g) - 2
    n = RunningNorm()
    n.update(x1)
    n.update(torch.cat([x2, torch.tensor([float("nan")])]))  # NaN is ignored
    allx = torch.cat([x1, x2]).double()
    assert n.count == 12 and n.mean == pytest.approx(allx.mean().item())
    assert n.std == pytest.approx(allx.std(unbiased=False).item())
    m = RunningNorm()
    m.load_state_dict(n.state_dict())
    torch.testing.assert_close(m.normalize(x1), n.normalize(x1))


def test_composite_normalisation_state_dict_resume():
    def make():
        return CompositeReward([Term(Const("a", [1.0, 2.0, 3.0]), normalize=True)])

    c = make()
    out = c(None, ["x", "y", "z"])
    # mean 2, population std sqrt(2/3): total = (s - 2) / 0.8165
    torch.testing.assert_close(out.column("total"), torch.tensor([-1.2247, 0.0, 1.2247]), atol=1e-4, rtol=0)
    c2 = make()
    c2.load_state_dict(c.state_dict())
    c2.update_norm = c.update_norm = False
    torch.testing.assert_close(c2(None, ["x", "y", "z"]).scores, c(None, ["x", "y", "z"]).scores)


def test_nan_is_an_error_by_default_and_counted_with_skip():
    terms = [Const("a", [1.0, float("nan"), float("inf")]), Const("b", [2.0, 3.0, float("nan")])]
    with pytest.raises(RewardError, match=r"objective 'a' gave a non-finite score \(nan\) for sample 1"):
        CompositeReward(terms)(None, ["x", "y", "z"])
    out = CompositeReward(terms, nan="skip")(None, ["x", "y", "z"])
    assert out.info["nonfinite"] == {"a": 2, "b": 1}
    total = out.column("total").tolist()
    # sample 1: only b scored → 3 ; sample 2: nothing finite → NaN total, flagged invalid
    assert total[:2] == [3.0, 3.0] and math.isnan(total[2])
    assert out.info["valid"].tolist() == [True, True, False]


def test_raising_reward_names_itself():
    class Boom:
        name = "boom"

        def __call__(self, prompts, responses, **columns):
            raise ZeroDivisionError("bad")

    with pytest.raises(RewardError, match=r"reward 'boom' failed: ZeroDivisionError: bad"):
        CompositeReward([Boom()])(None, ["x"])


def test_duplicate_objectives_and_bad_outputs_are_errors():
    with pytest.raises(InputError, match=r"'a' appear twice"):
        CompositeReward([Const("a", [1.0]), Const("a", [2.0])])(None, ["x"])
    with pytest.raises(RewardError, match=r"returned \(2, 2\) for 1 responses"):
        CompositeReward([TwoObjectives()])(None, ["x"])  # 2 rows for 1 response
    with pytest.raises(InputError, match="nan policy"):
        CompositeReward([Const("a", [1.0])], nan="zero")


def test_segments_are_concatenated_per_sample():
    a = Const("a", [1.0, 2.0], segments=[[Segment(3, 1.0, "a")], []])
    b = Const("b", [0.0, 0.0], segments=[[Segment(5, 2.0, "b")], [Segment(1, 3.0, "b")]])
    out = CompositeReward([a, Term(b, weight=0.5), Const("c", [0.0, 0.0])])(None, ["xxxxx", "y"])
    assert out.segments == [[Segment(3, 1.0, "a"), Segment(5, 2.0, "b")], [Segment(1, 3.0, "b")]]
    assert out.info["weights"]["b"] == 0.5


def test_from_trl_adapter():
    def contains_cat(prompts, completions, label, **kwargs):
        return [None if lab is None else float("cat" in c) for c, lab in zip(completions, label)]

    r = from_trl(contains_cat)
    out = r(["p"] * 3, ["a cat", "dog", "cat"], label=[1, 0, None])
    assert r.name == "contains_cat" and out.names == ["contains_cat"]
    assert out.scores[:2, 0].tolist() == [1.0, 0.0] and math.isnan(out.scores[2, 0].item())
    skip = CompositeReward([r], nan="skip")(["p"] * 3, ["a cat", "dog", "cat"], label=[1, 0, None])
    assert skip.info["nonfinite"] == {"contains_cat": 1}
    with pytest.raises(RewardError, match="returned 1 scores for 2 responses"):
        from_trl(lambda prompts, completions, **kw: [1.0], name="short")(None, ["a", "b"])
