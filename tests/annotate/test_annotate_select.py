"""What to ask next: units, overlap, the three strategies, uncertainty selection with a fake and a real ensemble."""
from __future__ import annotations

import math
import random

import pytest

from langrl.annotate.select import (Candidate, in_overlap, pair_gap, pick_random, pick_round_robin,
                                    pick_uncertainty, target_for, unit_priority, units_for)
from langrl.annotate.store import Storage
from langrl.annotate.validate import check_feedback


def test_units_per_kind():
    assert units_for("comparison", 3) == [(0, 1), (0, 2), (1, 2)]
    assert units_for("comparison", 1) == []
    assert units_for("ranking", 3) == [(0, 1, 2)] and units_for("ranking", 1) == []
    assert units_for("rating", 2) == units_for("spans", 2) == units_for("critique", 2) == [(0,), (1,)]


def test_overlap_share_is_stable_and_about_right():
    ids = [f"item-{i}" for i in range(2000)]
    share = sum(in_overlap(i, 0.25) for i in ids) / len(ids)
    assert abs(share - 0.25) < 0.04                         # a hash, so only about 25 %
    assert [in_overlap(i, 0.25) for i in ids[:50]] == [in_overlap(i, 0.25) for i in ids[:50]]
    assert not any(in_overlap(i, 0.0) for i in ids) and all(in_overlap(i, 1.0) for i in ids)
    assert {target_for(i, 3, 0.25) for i in ids} == {1, 3}


def test_pair_gap_and_priority_by_hand():
    # |1.0 - 0.4| / (sqrt(0.3^2 + 0.4^2) + 1e-6) = 0.6 / 0.5 = 1.2
    assert pair_gap(1.0, 0.3, 0.4, 0.4) == pytest.approx(1.2, rel=1e-5)
    mean, std = [1.0, 0.4, 0.5], [0.3, 0.4, 0.0]
    # one response: minus its std; a ranking: its closest pair, here (1, 2): 0.1 / 0.4 = 0.25
    assert unit_priority((1,), mean, std) == -0.4
    assert unit_priority((0, 1, 2), mean, std) == pytest.approx(0.25, rel=1e-5)


def test_pickers():
    cands = [Candidate(1, "a", (0, 1), 1, 0, 1), Candidate(1, "a", (0, 2), 1, 1, 0),
             Candidate(2, "b", (0, 1), 2, 0, 0)]
    assert pick_round_robin(cands, rng=random.Random(0)).item_id == "b"   # fewest judgements, then first pair
    prio = {(1, (0, 2)): 0.1, (2, (0, 1)): 2.0}
    assert pick_uncertainty(cands, rng=random.Random(0), priority=prio).indices == (0, 2)
    # unscored units go last
    assert pick_uncertainty(cands, rng=random.Random(0), priority={(1, (0, 1)): math.inf})
    seen = {pick_random(cands, rng=random.Random(s)).indices for s in range(20)}
    assert seen == {(0, 1), (0, 2)}


class FakeEnsemble:
    """Scores by a table: (mean, std) per response text; counts calls."""

    def __init__(self, table):
        self.table, self.calls = table, 0

    def score(self, prompts, responses):
        self.calls += 1
        return [self.table[r][0] for r in responses], [self.table[r][1] for r in responses]


@pytest.fixture()
def store(sqlite_url):
    s = Storage(sqlite_url)
    s.add_items([{"id": "far", "prompt": "p", "responses": ["f0", "f1"]},
                 {"id": "close", "prompt": "p", "responses": ["c0", "c1", "c2"]},
                 {"id": "unsure", "prompt": "p", "responses": ["u0", "u1"]}])
    s.add_annotator("a")
    yield s
    s.close()


def test_uncertainty_asks_the_least_separated_pair_first(store):
    ens = FakeEnsemble({"f0": (3.0, 0.1), "f1": (-3.0, 0.1),      # gap 6 / 0.14 = 42: sure
                        "c0": (1.0, 0.1), "c1": (0.9, 0.1), "c2": (-2.0, 0.1),  # (c0, c1): 0.1 / 0.14 = 0.71
                        "u0": (0.5, 2.0), "u1": (-0.5, 2.0)})     # 1.0 / 2.83 = 0.35: the ensemble disagrees
    order = []
    for n in range(5):
        item, idx = store.next_unit(1, "comparison", select="uncertainty", scorer=ens, lease_s=1e-9)
        order.append((item["item_id"], idx))
        indices, fields = check_feedback("comparison", {"indices": list(idx), "preferred": 0}, item["responses"])
        store.submit(1, item, "comparison", f"c{n}", indices, fields)
    assert order == [("unsure", (0, 1)), ("close", (0, 1)), ("close", (1, 2)), ("close", (0, 2)), ("far", (0, 1))]
    assert store.next_unit(1, "comparison", select="uncertainty", scorer=ens) is None
    # each response was scored once and cached in the database
    assert ens.calls == 1
    # single responses: the largest ensemble std first
    item, idx = store.next_unit(1, "rating", select="uncertainty", scorer=ens)
    assert item["item_id"] == "unsure" and idx == (0,)


def test_round_robin_and_random_cover_every_unit_once(store):
    for aid, select in ((2, "round-robin"), (3, "random")):
        seen = set()
        store.add_annotator(f"x-{select}")  # annotator id 2, then 3
        while (got := store.next_unit(aid, "rating", select=select, target=2, rng=random.Random(1))) is not None:
            item, idx = got
            seen.add((item["item_id"], idx))
            indices, fields = check_feedback("rating", {"indices": list(idx), "rating": 1}, item["responses"])
            store.submit(aid, item, "rating", f"{select}-{len(seen)}", indices, fields)
        assert len(seen) == 7


def test_uncertainty_with_a_saved_reward_model_ensemble(tmp_path, sqlite_url, toy_model_dir):
    """The real loader: a 3-head reward model on the toy LM, saved and reloaded by ``--rm DIR``."""
    from langrl.annotate.select import load_scorer
    from langrl.models.rm.model import build_reward_model

    build_reward_model(str(toy_model_dir), n_heads=3, quiet=True).save(tmp_path / "rm")
    scorer = load_scorer(str(tmp_path / "rm"))
    mean, std = scorer.score(["the cat", "the cat"], ["sat on the mat.", "was bad"])
    assert len(mean) == len(std) == 2 and all(s >= 0 for s in std)
    s = Storage(sqlite_url)
    s.add_items([{"id": "a", "prompt": "the cat", "responses": ["sat on the mat.", "was bad", "a b c"]}])
    s.add_annotator("x")
    item, idx = s.next_unit(1, "comparison", select="uncertainty", scorer=scorer)
    scores = [scorer.score(["the cat"], [r]) for r in item["responses"]]
    m = [sc[0][0] for sc in scores]
    sd = [sc[1][0] for sc in scores]
    best = min([(0, 1), (0, 2), (1, 2)], key=lambda p: pair_gap(m[p[0]], sd[p[0]], m[p[1]], sd[p[1]]))
    assert idx == best
    s.close()
