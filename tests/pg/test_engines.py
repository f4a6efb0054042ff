"""Rollout engines: truncated importance weights, and the bounded-staleness schedule's weight versions."""
import math

import pytest
import torch

from langrl.train.pg.engines import RolloutSchedule, tis_weights


def test_tis_weights_are_truncated_ratios_on_the_masked_tokens():
    old = torch.tensor([[math.log(0.5), math.log(0.9), 0.0]])
    behaviour = torch.tensor([[math.log(0.25), math.log(0.9), math.log(0.1)]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    w, stats = tis_weights(old, behaviour, mask, cap=1.5)
    # token 0: 0.5 / 0.25 = 2 → capped at 1.5; token 1: 0.9 / 0.9 = 1; token 2 is padding → 1
    assert w.tolist()[0] == pytest.approx([1.5, 1.0, 1.0])
    assert float(stats["rollout/is_weight"]) == pytest.approx((1.5 + 1.0) / 2)
    assert float(stats["rollout/is_clipfrac"]) == pytest.approx(0.5)
    assert float(stats["rollout/logprob_diff"]) == pytest.approx(math.log(2) / 2)  # |ln 2| and 0 over 2 tokens


class FakeEngine:
    """Returns, as its 'rollout', the weight version it holds; records when it generated relative to training."""

    def __init__(self):
        self.version, self.log = 0, []

    def sync(self, policy):
        self.version = policy["version"]

    def close(self):
        pass


@pytest.mark.parametrize("k", [0, 1, 2])
def test_batch_s_is_sampled_with_the_weights_of_update_max_0_s_minus_k(k):
    engine, trained = FakeEngine(), []

    def make_batch(step):
        engine.log.append((step, engine.version, len(trained)))
        return (step, engine.version), None

    sched = RolloutSchedule(engine, make_batch, max_staleness=k, last_step=6)
    policy = {"version": 0}
    got = []
    for s in range(6):
        (batch_step, version), _, v = sched.next(s, policy)
        assert batch_step == s and version == v
        got.append(v)
        trained.append(s)  # "train" on batch s
        policy["version"] = s + 1
    sched.close()
    assert got == [max(0, s - k) for s in range(6)]  # k=2: [0, 0, 0, 1, 2, 3]
    generated = sorted(step for step, _, _ in engine.log)
    assert generated == list(range(6))  # every batch once, none past last_step
    if k:  # batch s + k is generated with version s while batch s trains (before it is recorded as trained)
        assert all(n_trained <= step - k + 1 for step, _, n_trained in engine.log if step >= k)


def test_saved_queue_is_restored_exactly(tmp_path):
    engine = FakeEngine()
    from langrl.rollout import Rollout

    def make_batch(step):
        ro = Rollout(prompt_ids=torch.tensor([[1, 2]]), prompt_mask=torch.ones(1, 2, dtype=torch.long),
                     response_ids=torch.tensor([[step]]), response_mask=torch.ones(1, 1),
                     logprobs=torch.tensor([[-0.5 * step]]), prompts=["p"], responses=[f"r{step}"],
                     group=torch.tensor([0]), ended=torch.tensor([True]), columns={"topic": [{"a": step}]})
        return ro, None

    sched = RolloutSchedule(engine, make_batch, max_staleness=2, last_step=10)
    sched.next(0, {"version": 0})  # queue now holds batches 1, 2
    files = sched.checkpoint_files(0, 1)
    sched.close()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    again = RolloutSchedule(FakeEngine(), make_batch, max_staleness=2, last_step=10)
    again.load_checkpoint(tmp_path, 0, 1, start=1)
    ro, _, version = again.next(1, {"version": 1})
    assert version == 0 and ro.responses == ["r1"] and ro.columns == {"topic": [{"a": 1}]}
    again.close()
    with pytest.raises(Exception, match="max_staleness"):
        RolloutSchedule(FakeEngine(), make_batch, max_staleness=3, last_step=10).load_checkpoint(tmp_path, 0, 1, 1)
