"""The HTTP API and the pages through FastAPI's TestClient (SQLite): auth, every kind, bad input, escaping."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from langrl.annotate.server import MAX_BODY, create_app
from langrl.annotate.store import Storage


@pytest.fixture()
def app_env(sqlite_url, items_data):
    storage = Storage(sqlite_url)
    storage.add_items(items_data)
    tokens = {name: storage.add_annotator(name, admin=name == "alice") for name in ("alice", "bob", "carol")}
    storage.set_disabled("carol")
    client = TestClient(create_app(storage), headers={"Origin": "http://testserver"})  # as a browser sends it
    yield client, storage, tokens
    storage.close()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_auth_401_without_or_with_a_bad_token_and_403_when_disabled(app_env):
    client, _, tokens = app_env
    for path in ("/api/next?kind=rating", "/api/items/boil", "/api/export?kind=rating", "/api/me"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer TOKEN" in r.json()["error"]
        assert client.get(path, headers=auth("nope")).status_code == 401
        assert client.get(path, headers={"Authorization": tokens["alice"]}).status_code == 401  # no scheme
        r = client.get(path, headers=auth(tokens["carol"]))
        assert r.status_code == 403 and "disabled" in r.json()["error"]
    r = client.post("/api/feedback", json={"item_id": "boil", "kind": "rating", "client_id": "x", "rating": 1,
                                           "indices": [0]})
    assert r.status_code == 401
    assert client.get("/api/me", headers=auth(tokens["alice"])).json()["name"] == "alice"


def test_next_then_feedback_for_every_kind(app_env):
    client, storage, tokens = app_env
    h = auth(tokens["alice"])
    answers = {"comparison": {"preferred": 0}, "ranking": None, "rating": {"rating": -1},
               "spans": {"spans": [{"start": 0, "end": 3, "category": "irrelevant"}], "missing": ["argon"]},
               "critique": {"critique": "Too short.", "refinement": "Nitrogen, oxygen and argon."}}
    for kind, fields in answers.items():
        r = client.get(f"/api/next?kind={kind}", headers=h)
        assert r.status_code == 200
        nxt = r.json()
        assert set(nxt) == {"kind", "item_id", "prompt", "responses", "indices"} and nxt["kind"] == kind
        if kind == "ranking":
            fields = {"ranking": [[1], [2, 3], [0]]}  # B > C = D > A
        body = {"item_id": nxt["item_id"], "kind": kind, "client_id": f"{kind}-1", "indices": nxt["indices"],
                **fields}
        r = client.post("/api/feedback", json=body, headers=h)
        assert r.status_code == 201, r.text
        first = r.json()["id"]
        r = client.post("/api/feedback", json=body, headers=h)  # a retry: same id, nothing new stored
        assert (r.status_code, r.json()) == (200, {"id": first, "created": False})
    assert sum(len(storage.judgements(k)) for k in answers) == 5
    [ranking] = storage.judgements("ranking")
    assert ranking["fields"] == {"ranking": [[1], [2, 3], [0]]}


def test_next_is_204_when_nothing_is_left(app_env):
    client, _, tokens = app_env
    h = auth(tokens["bob"])
    for step in range(2):  # two items have a ranking unit ("one" has a single response)
        nxt = client.get("/api/next?kind=ranking", headers=h).json()
        n = len(nxt["responses"])
        r = client.post("/api/feedback", headers=h, json={"item_id": nxt["item_id"], "kind": "ranking",
                                                          "client_id": f"r{step}", "ranking": [list(range(n))]})
        assert r.status_code == 201
    r = client.get("/api/next?kind=ranking", headers=h)
    assert r.status_code == 204 and r.content == b""


@pytest.mark.parametrize("body, status, message", [
    ({"item_id": "nope", "kind": "rating", "client_id": "c", "rating": 1}, 404, "unknown item 'nope'"),
    ({"item_id": "one", "kind": "vibes", "client_id": "c"}, 422, "field 'kind': expected one of"),
    ({"item_id": "one", "kind": "rating", "client_id": "c", "rating": 1, "preferred": 0}, 422,
     "unknown field(s) ['preferred']"),
    ({"item_id": "one", "kind": "rating", "rating": 1}, 422, "field 'client_id'"),
    ({"item_id": "one", "kind": "rating", "client_id": "c", "rating": 0}, 422, "field 'rating': expected 1 or -1"),
    ({"item_id": "boil", "kind": "rating", "client_id": "c", "rating": 1}, 422,
     "field 'indices': expected 1 response indices (the item has 2 responses"),
    ({"item_id": "boil", "kind": "comparison", "client_id": "c", "preferred": 2}, 422, "field 'preferred'"),
    ({"item_id": "gases", "kind": "comparison", "client_id": "c", "preferred": 0, "indices": [1, 1]}, 422,
     "expected distinct indices in 0..3"),
    ({"item_id": "boil", "kind": "ranking", "client_id": "c", "ranking": [[0], [0]]}, 422,
     "expected every index 0..1 exactly once"),
    ({"item_id": "one", "kind": "spans", "client_id": "c", "spans": [{"start": 0, "end": 999,
                                                                       "category": "irrelevant"}]}, 422,
     "field 'spans[0]': expected 0 <= start < end <= 41"),
    ({"item_id": "one", "kind": "spans", "client_id": "c", "spans": [{"start": 0, "end": 2,
                                                                       "category": "rude"}]}, 422,
     "expected a category in ['irrelevant', 'untruthful']"),
    ({"item_id": "one", "kind": "critique", "client_id": "c", "critique": "   "}, 422,
     "field 'critique': expected a non-empty string"),
    ({"item_id": "one", "kind": "critique", "client_id": "c", "critique": "x" * 20_001}, 413,
     "field 'critique': expected at most 20000 characters"),
    ({"item_id": "one", "kind": "rating", "client_id": "c", "rating": 1, "time_spent_s": -1}, 422,
     "field 'time_spent_s'"),
    (["not", "an", "object"], 422, "expected a JSON object"),
])
def test_bad_feedback_gets_a_clear_4xx(app_env, body, status, message):
    client, storage, tokens = app_env
    r = client.post("/api/feedback", json=body, headers=auth(tokens["alice"]))
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert storage.judgements() == []


def test_invalid_json_and_oversized_bodies(app_env):
    client, _, tokens = app_env
    h = {**auth(tokens["alice"]), "Content-Type": "application/json"}
    r = client.post("/api/feedback", content=b"{not json", headers=h)
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]
    r = client.post("/api/feedback", content=b"x" * (MAX_BODY + 1), headers=h)
    assert r.status_code == 413 and "over 1048576 bytes" in r.json()["error"]
    assert client.get("/api/next?kind=nope", headers=h).status_code == 422
    assert client.get("/api/next", headers=h).status_code == 422


def test_item_and_export_endpoints(app_env):
    client, _, tokens = app_env
    h = auth(tokens["alice"])
    r = client.post("/api/feedback", headers=h, json={"item_id": "boil", "kind": "comparison", "client_id": "1",
                                                      "preferred": "tie", "time_spent_s": 2.25})
    assert r.status_code == 201
    item = client.get("/api/items/boil", headers=h).json()
    assert item["judgements"] == {"comparison": 1} and len(item["responses"]) == 2
    assert client.get("/api/items/nope", headers=h).status_code == 404
    assert client.get("/api/nothing-here", headers=h).json()["error"] == "Not Found"
    r = client.get("/api/export?kind=comparison", headers=h)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    [rec] = [json.loads(line) for line in r.text.splitlines()]
    assert rec["tie"] is True and rec["responses"] == item["responses"]
    assert (rec["annotator"], rec["item_id"], rec["time_spent_s"]) == ("alice", "boil", 2.25)
    assert client.get("/api/export?kind=rating", headers=h).text == ""
    stats = client.get("/api/stats", headers=h).json()
    assert stats["kinds"]["comparison"]["judgements"] == 1 and stats["items"] == 3


def test_pages_need_login_and_escape_stored_text(app_env):
    client, _, tokens = app_env
    r = client.get("/annotate/rating", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.post("/login", data={"token": "wrong"})
    assert r.status_code == 401 and "not valid" in r.text
    r = client.post("/login", data={"token": tokens["carol"]})
    assert r.status_code == 403
    r = client.post("/login", data={"token": tokens["alice"]}, follow_redirects=False)
    assert r.status_code == 303 and "samesite=strict" in r.headers["set-cookie"].lower()
    for kind in ("comparison", "ranking", "rating", "spans", "critique"):
        assert client.get(f"/annotate/{kind}").status_code == 200
    # "one" has the script tag; it is the third rating unit in round-robin order: answer the first two
    h = auth(tokens["alice"])
    for cid in ("a", "b"):
        nxt = client.get("/api/next?kind=rating", headers=h).json()
        client.post("/api/feedback", headers=h, json={"item_id": nxt["item_id"], "kind": "rating", "client_id": cid,
                                                      "rating": 1, "indices": nxt["indices"]})
    page = client.get("/annotate/rating")
    assert 'id="item-id">one<' in page.text
    assert "<script>window.__pwned" not in page.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text          # escaped in the HTML
    assert "\\u003cscript\\u003ewindow.__pwned = 1\\u003c/script\\u003e" in page.text  # and in the embedded JSON
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/annotate/nope").status_code == 404
    assert client.get("/export/rating.jsonl").text.count("\n") == 2
    assert client.get("/").status_code == 200 and client.get("/export").status_code == 200
    r = client.get("/logout", follow_redirects=False)
    assert r.status_code == 303
