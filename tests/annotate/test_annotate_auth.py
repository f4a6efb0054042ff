"""Logins, tokens and roles: server-side sessions in an HttpOnly SameSite=Strict cookie, the Origin check on form and
cookie posts, token expiry (an injected clock), revocation and rotation, and admin-only export and stats."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from langrl.annotate import db
from langrl.annotate.cli import main
from langrl.annotate.server import COOKIE, create_app
from langrl.annotate.store import Storage, hash_token

SAME = {"Origin": "http://testserver"}  # what a browser sends from a page of this server (TestClient's host)


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def env(sqlite_url, items_data):
    clock = Clock()
    storage = Storage(sqlite_url, clock=clock)
    storage.add_items(items_data)
    tokens = {"alice": storage.add_annotator("alice", admin=True, token_ttl_s=3600.0),
              "bob": storage.add_annotator("bob", token_ttl_s=None)}
    yield storage, tokens, clock
    storage.close()


def client_for(storage, **kw) -> TestClient:
    return TestClient(create_app(storage, **kw))


def login(client, token, headers=SAME):
    return client.post("/login", data={"token": token}, headers=headers, follow_redirects=False)


def rating(cid="c1"):
    return {"item_id": "one", "kind": "rating", "client_id": cid, "rating": 1}


def test_login_sets_an_httponly_strict_session_cookie_that_is_not_the_token(env):
    storage, tokens, _ = env
    client = client_for(storage)
    r = login(client, tokens["bob"])
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= flags and "secure" not in flags
    assert "samesite=strict" in cookie.lower() and "max-age=43200" in cookie.lower()  # 12 h = 43,200 s
    sid = client.cookies[COOKIE]
    assert sid != tokens["bob"] and tokens["bob"] not in cookie
    with storage.engine.connect() as conn:
        [row] = conn.execute(sa.select(db.sessions)).all()
    assert row.id_hash == hash_token(sid) and sid not in row.id_hash          # only the hash is stored
    assert row.expires_at - row.created_at == 43200
    # the cookie alone authenticates the pages and the API (the pages' script sends no token)
    assert client.get("/annotate/rating").status_code == 200
    assert client.get("/api/me").json()["name"] == "bob"
    # secure_cookies: the cookie is marked Secure, and an https:// origin for this host is accepted
    secure = client_for(storage, secure_cookies=True)
    r = login(secure, tokens["bob"], headers={"Origin": "https://testserver"})
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_logout_deletes_the_session_on_the_server(env):
    storage, tokens, _ = env
    client = client_for(storage)
    login(client, tokens["bob"])
    sid = client.cookies[COOKIE]
    assert client.get("/logout", follow_redirects=False).status_code == 303
    replay = client_for(storage)
    replay.cookies.set(COOKIE, sid)  # the old cookie, kept by someone
    assert replay.get("/api/me").status_code == 401
    assert replay.get("/", follow_redirects=False).headers["location"] == "/login"


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "https://evil.example"}, 403),                     # login CSRF from another site
    ({"Origin": "http://testserver.evil.example"}, 403),
    ({"Origin": "null"}, 403),                                     # an opaque origin, no Referer
    ({}, 403),                                                     # no Origin and no Referer: not from our page
    ({"Referer": "https://evil.example/login"}, 403),
    ({"Origin": "http://testserver"}, 303),                        # our own login page
    ({"Referer": "http://testserver/login"}, 303),                 # a browser that sent only a Referer
])
def test_login_form_needs_this_servers_origin(env, headers, status):
    storage, tokens, _ = env
    client = client_for(storage)
    r = login(client, tokens["bob"], headers=headers)
    assert r.status_code == status
    assert (COOKIE in client.cookies) == (status == 303)
    if status == 403:
        assert "another site" in r.text


def test_extra_origins_are_accepted_for_a_proxy(env):
    storage, tokens, _ = env
    client = client_for(storage, origins=["https://annotate.example.org"])
    assert login(client, tokens["bob"], headers={"Origin": "https://annotate.example.org"}).status_code == 303
    assert login(client, tokens["bob"], headers={"Origin": "https://other.example.org"}).status_code == 403


def test_cookie_posts_need_the_origin_but_bearer_calls_do_not(env):
    storage, tokens, _ = env
    client = client_for(storage)
    login(client, tokens["bob"])
    r = client.post("/api/feedback", json=rating())                          # cookie, no Origin
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = client.post("/api/feedback", json=rating(), headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert storage.judgements() == []
    assert client.post("/api/feedback", json=rating(), headers=SAME).status_code == 201
    # a script with the token: no Origin needed (a browser never attaches an Authorization header by itself)
    bare = client_for(storage)
    r = bare.post("/api/feedback", json=rating("c2"), headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert r.status_code == 201


def test_an_expired_token_is_refused_and_ends_its_sessions(env):
    storage, tokens, clock = env
    client = client_for(storage, session_ttl_s=12 * 3600)
    bearer = {"Authorization": f"Bearer {tokens['alice']}"}
    login(client, tokens["alice"])
    with storage.engine.connect() as conn:
        expires = conn.execute(sa.select(db.sessions.c.expires_at)).scalar_one()
    assert expires == clock.t + 3600  # the session is capped at the token's expiry, not 12 h
    clock.t += 3599
    assert client.get("/api/me", headers=bearer).status_code == 200
    assert client.get("/api/me").status_code == 200
    clock.t += 1                                                       # 3,600 s: the token's last second is over
    r = client.get("/api/me", headers=bearer)
    assert r.status_code == 401 and "has expired" in r.json()["error"]
    assert client.get("/api/me").status_code == 401                    # the session went with it
    r = login(client_for(storage), tokens["alice"])
    assert r.status_code == 401 and "has expired" in r.text
    # bob's token never expires, but his session does, after the server's --session-ttl
    short = client_for(storage, session_ttl_s=60)
    login(short, tokens["bob"])
    clock.t += 60
    assert short.get("/annotate/rating", follow_redirects=False).headers["location"] == "/login"
    assert short.get("/api/me").json()["error"] == "the login session has ended; log in again"


def test_revocation_refuses_the_token_and_its_sessions_and_rotation_issues_a_new_one(env):
    storage, tokens, _ = env
    client = client_for(storage)
    login(client, tokens["bob"])
    storage.revoke_token("bob")
    r = client.get("/api/me", headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert r.status_code == 401 and "was revoked" in r.json()["error"]
    assert client.get("/api/me").status_code == 401                                 # the session
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert login(client_for(storage), tokens["bob"]).status_code == 401
    with storage.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.sessions)).scalar_one() == 0
    new = storage.rotate_token("bob")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).json()["name"] == "bob"
    assert client.get("/api/me", headers={"Authorization": f"Bearer {tokens['bob']}"}).status_code == 401
    # disabling also ends sessions (and the token answers 403)
    login(client, new)
    storage.set_disabled("bob")
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {new}"}).status_code == 403


def test_export_and_stats_need_an_admin(env):
    storage, tokens, _ = env
    client = client_for(storage)
    for path in ("/api/export?kind=rating", "/api/stats"):
        r = client.get(path, headers={"Authorization": f"Bearer {tokens['bob']}"})
        assert r.status_code == 403 and "'bob' is not an admin" in r.json()["error"]
        assert client.get(path, headers={"Authorization": f"Bearer {tokens['alice']}"}).status_code == 200
    login(client, tokens["bob"])
    assert client.get("/export").status_code == 403
    assert client.get("/export/rating.jsonl").status_code == 403
    assert 'href="/export"' not in client.get("/").text                # no Export link for an annotator
    login(client, tokens["alice"])
    assert client.get("/export").status_code == 200 and 'href="/export"' in client.get("/").text
    assert client.get("/export/rating.jsonl").status_code == 200
    storage.set_admin("bob")
    assert client.get("/api/stats", headers={"Authorization": f"Bearer {tokens['bob']}"}).status_code == 200


def test_account_commands(sqlite_url, capsys):
    assert main(["add-annotator", "--db", sqlite_url, "--name", "alice", "--admin", "--token-ttl", "2h"]) == 0
    alice = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["add-annotator", "--db", sqlite_url, "--name", "bob", "--token-ttl", "never"]) == 0
    bob = capsys.readouterr().out.strip().splitlines()[-1]
    s = Storage(sqlite_url)
    a, b = s.annotator_for_token(alice), s.annotator_for_token(bob)
    assert a["admin"] and not b["admin"] and b["expires_at"] is None
    assert 7200 - 60 < a["expires_at"] - s.clock() <= 7200                      # 2 h
    s.close()
    assert main(["revoke-annotator", "--db", sqlite_url, "bob"]) == 0
    assert main(["set-role", "--db", sqlite_url, "--name", "bob", "--role", "admin"]) == 0
    assert main(["annotators", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert "bob                      admin     revoked  token expires never" in out
    assert main(["rotate-token", "--db", sqlite_url, "--name", "bob", "--token-ttl", "1d"]) == 0
    new = capsys.readouterr().out.strip().splitlines()[-1]
    s = Storage(sqlite_url)
    assert s.annotator_for_token(bob) is None and s.annotator_for_token(new)["name"] == "bob"  # old one unknown
    assert not s.annotator_for_token(new)["revoked"]
    s.close()
    assert main(["revoke-annotator", "--db", sqlite_url, "nobody"]) == 2
    assert "no annotator named 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["add-annotator", "--db", sqlite_url, "--name", "c", "--token-ttl", "soon"])
    assert "expected a duration > 0 like 30d" in capsys.readouterr().err


def _v1_database(url):
    """A database as the previous langrl made it: schema version 1 only, an annotator and a judgement."""
    engine = db.create_engine(url)
    with db.writer(engine).begin() as conn:
        db.metadata.create_all(conn, tables=[db.schema_version])
        db._v1(conn)
        conn.execute(db.schema_version.insert().values(version=1, description="v1", applied_at=0.0))
        v1 = db._v1_metadata().tables
        conn.execute(v1["items"].insert().values(id=1, ext_id="one", prompt="Say hi.", responses='["Hi!"]',
                                                 n_responses=1, source="", created_at=0.0))
        conn.execute(v1["annotators"].insert().values(id=1, name="alice", token_hash=hash_token("old-token"),
                                                      disabled=False, created_at=0.0))
        conn.execute(v1["judgements"].insert().values(annotator_id=1, client_id="c", item_id=1, kind="rating",
                                                      unit="0", payload='{"rating": 1, "response": 0}',
                                                      created_at=0.0, time_spent_s=2.5))
    engine.dispose()


def test_migration_from_schema_1_keeps_annotators_and_feedback(db_url):
    from langrl.annotate.export import export_records

    _v1_database(db_url)
    with db.create_engine(db_url).connect() as conn:  # really the old table: none of the new columns
        assert {c["name"] for c in sa.inspect(conn).get_columns("annotators")} == {
            "id", "name", "token_hash", "disabled", "created_at"}
    s = Storage(db_url)
    assert s.version == 2
    who = s.annotator_for_token("old-token")
    # the old token still works, as a plain annotator (nobody is made admin), for 30 days from the upgrade
    assert who["name"] == "alice" and not who["admin"] and not who["expired"] and not who["revoked"]
    assert 30 * 86400 - 600 < who["expires_at"] - s.clock() <= 30 * 86400
    [rec] = export_records(s, "rating")
    assert (rec["annotator"], rec["response"], rec["rating"], rec["time_spent_s"]) == ("alice", "Hi!", 1, 2.5)
    s.set_admin("alice")
    sid, _ = s.create_session(who["id"])
    assert s.annotator_for_session(sid)["admin"]
    s.close()
    assert Storage(db_url).version == 2  # reopening applies nothing twice
