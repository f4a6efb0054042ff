"""`langrl loop --annotator app`: a round's questions go into the app's database, people judge them, the loop waits,
exports and continues. The browser test enters the judgements through the app's pages in headless Chromium."""
from __future__ import annotations

import json
import threading
import time

import pytest

from langrl.annotate.server import create_app
from langrl.annotate.store import Storage
from langrl.config import parse_config
from langrl.loop import app as loop_app
from langrl.loop.config import LoopConfig
from langrl.loop.runner import run_loop


def loop_cfg(out, db, *extra):
    cfg, _ = parse_config(LoopConfig, [
        "--out", str(out), "--policy", "tiny", "--rounds", "1", "--prompts-per-round", "2", "--labels-per-round",
        "2", "--features", "bow", "--eval-prompts", "2", "--rm-eval-prompts", "2", "--dpo-steps", "1",
        "--max-new-tokens", "12", "--annotator", "app", "--db", db, "--compare", "none", "--poll-s", "0.1",
        *extra])
    return cfg


def test_wait_for_quota_stops_at_the_deadline_with_what_was_judged():
    class Fake:
        def __init__(self):
            self.calls = 0

        def judgements(self, kind):
            self.calls += 1
            return [{"item_id": "a"}] if self.calls > 2 else []

    t = [0.0]
    lines = []
    js = loop_app.wait_for_quota(Fake(), "comparison", {"a", "b"}, deadline_s=5, poll_s=2, log=lines.append,
                                 clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))
    # polls at t = 0, 2 (nothing), 4 (a), 6 (past the deadline of 5): returns a's judgement
    assert js == [{"item_id": "a"}] and t[0] == 6
    assert lines == ["[loop] waiting for people: 0/2 questions judged, 5s to the deadline",
                     "[loop] waiting for people: 1/2 questions judged, 1s to the deadline"]


def test_people_path_exports_their_judgements_and_continues(tmp_path, sqlite_url):
    storage = Storage(sqlite_url)  # bob's side; the loop opens the database itself
    bob = storage.annotator_for_token(storage.add_annotator("bob"))["id"]
    out = tmp_path / "loop"
    done = {}
    thread = threading.Thread(target=lambda: done.update(m=run_loop(loop_cfg(out, sqlite_url, "--deadline-s", "60"),
                                                                    quiet=True)))
    thread.start()
    deadline = time.time() + 60
    while storage.counts()["items"] < 2:
        assert time.time() < deadline and thread.is_alive(), "the loop never loaded its questions"
        time.sleep(0.1)
    for _ in range(2):  # as the app's POST stores a judgement: bob prefers the second response each time
        item, idx = storage.next_unit(bob, "comparison")
        storage.submit(bob, item, "comparison", f"c-{item['item_id']}", idx, {"chosen": 1, "rejected": 0})
    thread.join(timeout=120)
    assert done["m"]["rounds_done"] == 1
    recs = [json.loads(line) for line in (out / "rounds" / "r01" / "judgements.jsonl").read_text().splitlines()]
    asked = json.loads((out / "rounds" / "r01" / "asked.json").read_text())["main"]
    assert [r["question_id"] for r in recs] == [q["id"] for q in asked]
    assert all(r["annotator"] == "bob" and r["round"] == 1 and "time" in r for r in recs)
    # the second response of every item was preferred, as bob said
    samples = json.loads((out / "rounds" / "r01" / "samples.json").read_text())
    for r, q in zip(recs, asked):
        assert r["chosen"] == samples["responses"][q["prompt"]][q["indices"][1]]
    # resuming loads nothing twice
    assert loop_app.load_questions(storage, asked, samples, "again") == (0, 2)
    storage.close()


@pytest.mark.slow
def test_one_round_judged_in_headless_chromium(browser, tmp_path, sqlite_url, live_server):
    storage = Storage(sqlite_url)
    token = storage.add_annotator("alice")
    out = tmp_path / "loop"
    done = {}
    with live_server(create_app(storage)) as server:
        thread = threading.Thread(target=lambda: done.update(
            m=run_loop(loop_cfg(out, sqlite_url, "--deadline-s", "120"), quiet=True)))
        thread.start()
        deadline = time.time() + 60
        while storage.counts()["items"] < 2:
            assert time.time() < deadline and thread.is_alive(), "the loop never loaded its questions"
            time.sleep(0.1)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(server.url + "/login")
        page.fill("#token", token)
        page.keyboard.press("Enter")
        page.wait_for_url(server.url + "/")
        for n, key in enumerate(("a", "b"), 1):  # A is better on the first question served, B on the second
            page.goto(server.url + "/annotate/comparison")
            page.wait_for_load_state("networkidle")  # the page's script is listening for keys
            assert page.inner_text("#item-id").startswith("loop-r01-q")
            with page.expect_navigation(timeout=30_000):  # the page stores the judgement, then reloads itself
                page.keyboard.press(key)
            assert len(storage.judgements("comparison")) == n
        page.goto(server.url + "/annotate/comparison")
        assert "Nothing left to do" in page.inner_text("body")  # the round's quota is judged
        thread.join(timeout=120)
    assert done["m"]["rounds_done"] == 1 and done["m"]["rounds"][1]["labels"] == 2
    recs = [json.loads(line) for line in (out / "rounds" / "r01" / "judgements.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and {r["annotator"] for r in recs} == {"alice"}
    samples = json.loads((out / "rounds" / "r01" / "samples.json").read_text())
    asked = {q["id"]: q for q in json.loads((out / "rounds" / "r01" / "asked.json").read_text())["main"]}
    picked = []
    for r in recs:
        q = asked[r["question_id"]]
        texts = [samples["responses"][q["prompt"]][j] for j in q["indices"]]
        picked.append(texts.index(r["chosen"]))
    assert sorted(picked) == [0, 1]  # one A, one B, whichever question the app served first
    storage.close()
