"""The storage layer, run on SQLite and on PostgreSQL (the ``db_url`` fixture gives each test both)."""
from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from langrl.annotate import db
from langrl.annotate.export import export_records
from langrl.annotate.store import Storage, hash_token
from langrl.annotate.validate import FeedbackError, check_feedback
from langrl.errors import InputError


def test_migrations_apply_once_and_refuse_a_newer_schema(db_url):
    s = Storage(db_url)
    assert s.version == db.MIGRATIONS[-1][0]
    s.close()
    s = Storage(db_url)  # reopening applies nothing twice
    with s.engine.connect() as conn:
        rows = conn.execute(sa.select(db.schema_version.c.version)).scalars().all()
        assert rows == [v for v, _, _ in db.MIGRATIONS]
        assert set(sa.inspect(conn).get_table_names()) >= {"items", "annotators", "judgements", "assignments",
                                                           "scores", "schema_version"}
    with db.writer(s.engine).begin() as conn:
        conn.execute(db.schema_version.insert().values(version=99, description="from the future", applied_at=0.0))
    s.close()
    with pytest.raises(InputError, match="schema version 99, newer"):
        Storage(db_url)


def test_items_load_idempotently_and_refuse_conflicts(storage, items_data):
    assert storage.add_items(items_data) == (0, 3)  # same content again: skipped
    with pytest.raises(InputError, match="'boil' is already in the database with a different"):
        storage.add_items([{"id": "boil", "prompt": "changed", "responses": ["x"]}])
    item = storage.get_item("gases")
    assert item["responses"][3] == "Air." and storage.get_item("nope") is None


def test_annotator_tokens_are_hashed_and_can_be_disabled(storage):
    token = storage.add_annotator("alice")
    who = storage.annotator_for_token(token)
    assert who["name"] == "alice" and not who["disabled"]
    assert storage.annotator_for_token(token + "x") is None
    with storage.engine.connect() as conn:
        stored = conn.execute(sa.select(db.annotators.c.token_hash)).scalar_one()
    assert stored == hash_token(token) and token not in stored
    with pytest.raises(InputError, match="already exists"):
        storage.add_annotator("alice")
    storage.set_disabled("alice")
    assert storage.annotator_for_token(token)["disabled"]
    with pytest.raises(InputError, match="no annotator named 'bob'"):
        storage.set_disabled("bob")


def _submit(storage, who, item_id, kind, client_id, payload, spent=None):
    item = storage.get_item(item_id)
    indices, fields = check_feedback(kind, payload, item["responses"])
    return storage.submit(who, item, kind, client_id, indices, fields, spent)


def test_submit_is_idempotent_by_client_id(storage):
    storage.add_annotator("alice")
    who = 1  # alice's id
    first = _submit(storage, who, "boil", "comparison", "c1", {"preferred": 1}, 3.5)
    assert first[1] is True
    assert _submit(storage, who, "boil", "comparison", "c1", {"preferred": 1}, 9.0) == (first[0], False)
    with pytest.raises(FeedbackError, match="client_id 'c1' was already used for a different judgement") as e:
        _submit(storage, who, "boil", "comparison", "c1", {"preferred": 0})
    assert e.value.status == 409
    with pytest.raises(FeedbackError, match="already judged item 'boil'") as e:
        _submit(storage, who, "boil", "comparison", "c2", {"preferred": 0})
    assert e.value.status == 409
    [j] = storage.judgements("comparison")
    # preferred 1 = the second shown of the pair (0, 1): chosen 1, rejected 0
    assert j["fields"] == {"chosen": 1, "rejected": 0} and j["time_spent_s"] == 3.5 and j["annotator"] == "alice"


def test_time_spent_defaults_to_time_since_served(storage):
    storage.add_annotator("alice")
    item, indices = storage.next_unit(1, "rating")
    time.sleep(0.05)
    _submit(storage, 1, item["item_id"], "rating", "r1", {"rating": -1, "indices": list(indices)})
    [j] = storage.judgements("rating")
    assert 0.05 <= j["time_spent_s"] < 5


def test_every_kind_round_trips_to_feedback_records(storage):
    storage.add_annotator("alice")
    _submit(storage, 1, "gases", "comparison", "a", {"indices": [3, 2], "preferred": 1})
    _submit(storage, 1, "boil", "comparison", "b", {"preferred": "tie"})
    _submit(storage, 1, "gases", "ranking", "c", {"ranking": [[2], [1, 0], [3]]})
    _submit(storage, 1, "one", "rating", "d", {"rating": 1})
    g = storage.get_item("gases")["responses"]
    co2 = g[0].index("carbon dioxide")  # 60 + len("The third most is ") = 78
    _submit(storage, 1, "gases", "spans", "e", {"indices": [0], "spans": [
        {"start": co2, "end": co2 + 14, "category": "untruthful"}, {"start": 0, "end": 32, "category": "irrelevant"}],
        "missing": ["The third most is argon."], "corrected": "Nitrogen, oxygen, argon."})
    _submit(storage, 1, "one", "critique", "f", {"critique": "Drop the <script>.", "refinement": ""})
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("judgement_id", "time")} for r in recs]  # noqa: E731
    assert strip(export_records(storage, "comparison")) == [
        {"prompt": "What are the 3 most common gases in earth's atmosphere?", "chosen": g[2], "rejected": g[3],
         "annotator": "alice", "item_id": "gases"},
        {"prompt": "Does water boil quicker at high altitudes?", "tie": True,
         "responses": ["It takes longer. Water boils at a lower temperature higher up.",
                       "Yes, it boils sooner because the boiling point drops."],
         "annotator": "alice", "item_id": "boil"}]
    [rank] = export_records(storage, "ranking")
    assert rank["responses"] == g and rank["ranking"] == [[2], [0, 1], [3]]
    [rate] = export_records(storage, "rating")
    assert (rate["response"], rate["rating"]) == ("Hi! 👋 <script>window.__pwned = 1</script>", 1)
    [spans] = export_records(storage, "spans")
    assert spans["response"] == g[0] and spans["corrected"] == "Nitrogen, oxygen, argon."
    assert co2 == 78 and spans["spans"] == [{"start": 0, "end": 32, "category": "irrelevant"},
                                            {"start": 78, "end": 92, "category": "untruthful"}]
    assert g[0][0:32] == "The most common gas is nitrogen." and g[0][78:92] == "carbon dioxide"
    [crit] = export_records(storage, "critique")
    assert crit["critique"] == "Drop the <script>." and "refinement" not in crit  # empty refinement is omitted
    assert json.loads(json.dumps(crit)) == crit


def test_unit_reservations_and_targets(storage):
    for name in ("a", "b", "c"):
        storage.add_annotator(name)
    # target 1: two annotators asking at once get different ratings units
    first = storage.next_unit(1, "rating", target=1)
    second = storage.next_unit(2, "rating", target=1)
    assert (first[0]["item_id"], first[1]) != (second[0]["item_id"], second[1])
    # asking again (a reloaded page) gives the same unit back
    again = storage.next_unit(1, "rating", target=1)
    assert (again[0]["item_id"], again[1]) == (first[0]["item_id"], first[1])
    # target 2 on every item: the first pair of "gases" goes to two annotators; the third gets the first pair of
    # the next item (round-robin: every item's first pair before any item's second)
    got = [storage.next_unit(a, "comparison", target=2, overlap=1.0) for a in (1, 2, 3)]
    units = [(g[0]["item_id"], g[1]) for g in got]
    assert units[0] == units[1] == ("gases", (0, 1)) and units[2] == ("boil", (0, 1))
    # with overlap 0 every item wants one judgement: the second annotator moves on
    got = [storage.next_unit(a, "critique", target=2, overlap=0.0) for a in (1, 2)]
    assert [(g[0]["item_id"], g[1]) for g in got] == [("gases", (0,)), ("boil", (0,))]
    # an expired reservation frees the unit
    assert storage.open_units(3, "rating", target=1, lease_s=600) == 7 - 2
    assert storage.open_units(3, "rating", target=1, lease_s=1e-9) == 7


def test_nothing_left_returns_none(storage):
    storage.add_annotator("a")
    assert storage.next_unit(1, "ranking")[0]["item_id"] == "gases"
    _submit(storage, 1, "gases", "ranking", "x", {"ranking": [[0, 1, 2, 3]]})
    assert storage.next_unit(1, "ranking")[0]["item_id"] == "boil"
    _submit(storage, 1, "boil", "ranking", "y", {"ranking": [[1], [0]]})
    assert storage.next_unit(1, "ranking") is None  # "one" has a single response: nothing to rank
