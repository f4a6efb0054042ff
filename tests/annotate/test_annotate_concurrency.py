"""200 concurrent submissions from several annotators against a live server (SQLite and PostgreSQL): exactly 200 rows,
retries of the same client_id land once, and the export holds every judgement intact."""
from __future__ import annotations

import asyncio
import json

import httpx

from langrl.annotate.server import create_app
from langrl.annotate.store import Storage


def test_200_concurrent_submissions_land_exactly_once(db_url, live_server):
    storage = Storage(db_url)
    # 50 items x 4 responses = 200 rating units; 4 annotators rate 50 disjoint units each
    storage.add_items([{"id": f"q{i}", "prompt": f"prompt {i}", "responses": [f"r{i}.{k} ünï <&>" for k in range(4)]}
                       for i in range(50)])
    tokens = [storage.add_annotator(f"annotator{a}", admin=a == 0) for a in range(4)]  # annotator0 exports
    jobs = []
    for a, token in enumerate(tokens):
        for n in range(50):
            unit = a * 50 + n
            item, response = f"q{unit // 4}", unit % 4
            body = {"item_id": item, "kind": "rating", "client_id": f"a{a}-{n}", "indices": [response],
                    "rating": 1 if (unit * 7) % 3 else -1, "time_spent_s": n / 10}
            jobs.append((token, body))
    retries = jobs[::5]  # 40 of them are sent twice at the same time (a client retrying after a timeout)

    async def run(url):
        async with httpx.AsyncClient(base_url=url, timeout=60,
                                     limits=httpx.Limits(max_connections=100)) as client:
            async def post(token, body):
                r = await client.post("/api/feedback", json=body, headers={"Authorization": f"Bearer {token}"})
                return body["client_id"], r.status_code, r.json()
            return await asyncio.gather(*(post(t, b) for t, b in jobs + retries))

    with live_server(create_app(storage)) as server:
        results = asyncio.run(run(server.url))
        export = httpx.get(server.url + "/api/export?kind=rating", headers={"Authorization": f"Bearer {tokens[0]}"},
                           timeout=60)

    assert len(results) == 240
    by_client = {}
    for client_id, status, out in results:
        assert status in (200, 201), out
        by_client.setdefault(client_id, []).append((status, out["id"]))
    for client_id, got in by_client.items():
        assert sorted(s for s, _ in got) == ([200, 201] if len(got) == 2 else [201])  # one of a pair stores it
        assert len({i for _, i in got}) == 1                                            # both see the same id
    rows = storage.judgements("rating")
    assert len(rows) == 200 and len({r["id"] for r in rows}) == 200
    records = [json.loads(line) for line in export.text.splitlines()]
    assert len(records) == 200
    sent = {(f"annotator{a}", b["item_id"], b["indices"][0]): b for a, t in enumerate(tokens)
            for tt, b in jobs if tt == t}
    for rec in records:
        item_index = int(rec["item_id"][1:])
        k = int(rec["response"].split(".")[1].split(" ")[0])
        b = sent[(rec["annotator"], rec["item_id"], k)]
        assert rec["prompt"] == f"prompt {item_index}" and rec["response"] == f"r{item_index}.{k} ünï <&>"
        assert rec["rating"] == b["rating"] and rec["time_spent_s"] == b["time_spent_s"]
    storage.close()
