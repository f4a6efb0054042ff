"""Request bodies that used to crash the server (500, or a reset connection) get a 4xx with a message naming the field:
huge integers, non-finite numbers, and JSON nested 1,000 / 20,000 / 200,000 deep."""
from __future__ import annotations

import json
import random

import httpx
import pytest
from fastapi.testclient import TestClient

from langrl.annotate.body import MAX_DEPTH, MAX_INT_DIGITS, check_depth
from langrl.annotate.server import create_app
from langrl.annotate.store import Storage
from langrl.annotate.validate import FeedbackError


@pytest.fixture()
def api(sqlite_url, items_data):
    storage = Storage(sqlite_url)
    storage.add_items(items_data)
    token = storage.add_annotator("alice")
    client = TestClient(create_app(storage), raise_server_exceptions=False)  # a 500 shows as a 500, not a raise
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    yield client, storage, headers
    storage.close()


RATING = b'{"item_id": "one", "kind": "rating", "client_id": "c", "rating": 1'


@pytest.mark.parametrize("value, field, message", [
    (b"1" * 5001, "time_spent_s", "expected an integer of at most 100 digits, got one of 5001 digits"),  # was 500
    (b"1" * 400, "time_spent_s", "expected an integer of at most 100 digits, got one of 400 digits"),  # was 500 too:
    # float() of a 400-digit integer overflows
    (b"1e999", "time_spent_s", "expected a finite number, got 1e999"),
    (b"NaN", "time_spent_s", "expected a finite number, got NaN"),
    (b"-Infinity", "time_spent_s", "expected a finite number, got -Infinity"),
])
def test_huge_or_non_finite_numbers_are_422_naming_the_field(api, value, field, message):
    client, storage, h = api
    r = client.post("/api/feedback", content=RATING + b', "time_spent_s": ' + value + b"}", headers=h)
    assert r.status_code == 422, r.text
    assert r.json() == {"error": f"field '{field}': {message}", "field": field}
    assert storage.judgements() == []


def test_a_nested_huge_integer_is_named_by_its_path(api):
    client, _, h = api
    body = {"item_id": "one", "kind": "spans", "client_id": "c",
            "spans": [{"start": 0, "end": 2, "category": "irrelevant"}, {"start": "X", "end": 3, "category": "x"}]}
    raw = json.dumps(body).replace('"X"', "9" * (MAX_INT_DIGITS + 1)).encode()
    r = client.post("/api/feedback", content=raw, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "spans[1].start"
    # 100 digits is within the cap: the body parses and the span check refuses it in its own words
    raw = json.dumps(body).replace('"X"', "9" * MAX_INT_DIGITS).encode()
    r = client.post("/api/feedback", content=raw, headers=h)
    assert r.status_code == 422 and "spans[1]" in r.json()["error"] and "digits" not in r.json()["error"]


@pytest.mark.parametrize("depth", [1_000, 20_000, 200_000])
def test_deep_nesting_is_400_not_500(api, depth):
    client, storage, h = api
    for raw in (b"[" * depth + b"]" * depth,                                   # balanced
                b"[" * depth,                                                  # never closed
                RATING + b', "critique": ' + b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2) + b"}"):  # in a field
        r = client.post("/api/feedback", content=raw, headers=h)
        assert r.status_code == 400, (depth, r.status_code, r.text[:200])
        assert r.json() == {"error": f"expected JSON nested at most {MAX_DEPTH} levels deep", "field": None}
    assert storage.judgements() == []


def test_200000_deep_over_a_real_connection_is_answered(sqlite_url, items_data, live_server):
    """Over a socket (uvicorn, as served): the answer arrives; the connection is not reset."""
    storage = Storage(sqlite_url)
    storage.add_items(items_data)
    token = storage.add_annotator("alice")
    with live_server(create_app(storage)) as server:
        r = httpx.post(server.url + "/api/feedback", content=b"[" * 200_000 + b"]" * 200_000, timeout=30,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert r.status_code == 400 and "nested at most 32 levels" in r.json()["error"]
        ok = httpx.get(server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ok.json()["name"] == "alice"                      # and the server still serves
    storage.close()


def test_depth_limit_is_exact_and_ignores_brackets_in_strings(api):
    client, storage, h = api
    # a critique that is 32 nested lists: parsed (depth 1 object + 31 lists = 32), then refused as not a string
    inner = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    r = client.post("/api/feedback", content=RATING.replace(b'"rating", "client_id": "c", "rating": 1',
                                                            b'"critique", "client_id": "c"') +
                    b', "critique": ' + inner + b"}", headers=h)
    assert r.status_code == 422 and r.json()["field"] == "critique"
    r = client.post("/api/feedback", content=b"[" + inner.replace(b"[", b"[[", 1) + b"]]", headers=h)  # 33 deep
    assert r.status_code == 400
    # brackets, quotes and backslashes inside strings are text, not nesting
    text = 'see [[[[' * 200 + ' a \\" quote {{{ and a backslash \\\\'
    body = {"item_id": "one", "kind": "critique", "client_id": "c", "critique": text}
    r = client.post("/api/feedback", content=json.dumps(body).encode(), headers=h)
    assert r.status_code == 201, r.text
    [j] = storage.judgements("critique")
    assert j["fields"]["critique"] == text


def _depth(obj) -> int:
    if isinstance(obj, dict):
        return 1 + max((_depth(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((_depth(v) for v in obj), default=0)
    return 0


def _random_json(rng: random.Random, budget: int):
    if budget == 0 or rng.random() < 0.25:
        return rng.choice([1, -2.5, None, True, "", '"]}', "\\[", "a\\\\\"[{"])
    kids = [_random_json(rng, budget - 1) for _ in range(rng.randint(0, 3))]
    return kids if rng.random() < 0.5 else {f"k{i}{'[' * i}": v for i, v in enumerate(kids)}


def test_check_depth_agrees_with_the_true_depth_of_valid_json():
    rng = random.Random(0)
    seen = set()
    for _ in range(3000):
        obj = _random_json(rng, 9)
        raw, d = json.dumps(obj).encode(), _depth(obj)
        seen.add(d)
        for limit in (1, 3, 6):
            if d <= limit:
                check_depth(raw, limit)
            else:
                with pytest.raises(FeedbackError, match=f"at most {limit} levels"):
                    check_depth(raw, limit)
    assert seen >= set(range(0, 8))  # the cases cover depths 0..7 around every limit
