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


FRONT = {"p-1-0": [1.0, 0.0], "p-hi": [0.9, 0.5], "p-lo": [0.5, 0.9], "p-0-1": [0.0, 1.0]}


def test_front_questions_go_to_people_one_at_a_time_and_resume(tmp_path, sqlite_url):
    front = tmp_path / "front.json"
    front.write_text(json.dumps({"axes": ["helpful", "harmless"], "points": FRONT}))
    storage = Storage(sqlite_url)
    bob = storage.annotator_for_token(storage.add_annotator("bob"))["id"]
    out = tmp_path / "loop"
    args = ("--deadline-s", "60", "--front", str(front), "--front-questions", "2", "--policy-update", "none",
            "--rounds", "2")
    done = {}
    thread = threading.Thread(target=lambda: done.update(m=run_loop(loop_cfg(out, sqlite_url, *args), quiet=True)))
    thread.start()
    w = (0.2, 0.8)  # bob's trade-off: utilities p-1-0 .2, p-hi .58, p-lo .82, p-0-1 .8
    seen, deadline = [], time.time() + 90
    while thread.is_alive():  # bob judges whatever the app serves: a round's 2 pairs, then each front question
        assert time.time() < deadline, "the loop never finished"
        unit = storage.next_unit(bob, "comparison")
        if unit is None:
            time.sleep(0.05)
            continue
        item, idx = unit
        seen.append(item["item_id"])
        if item["item_id"].startswith("loop-front-"):
            names = [t.split(":")[0] for t in item["responses"]]
            u = [w[0] * FRONT[n][0] + w[1] * FRONT[n][1] for n in names]
            win = int(u[1] > u[0])
        else:
            win = 1
        storage.submit(bob, item, "comparison", f"c-{item['item_id']}", idx, {"chosen": win, "rejected": 1 - win})
    thread.join()
    assert done["m"]["rounds_done"] == 2
    fronts = [s for s in seen if s.startswith("loop-front-")]
    assert [s[:len("loop-front-r01-q0")] for s in fronts] == [f"loop-front-r0{r}-q{n}" for r in (1, 2) for n in (0, 1)]
    w1, w2 = (json.loads((out / "rounds" / f"r0{r}" / "weights.json").read_text()) for r in (1, 2))
    assert (w1["answers"], w2["answers"]) == (2, 4) and [e["item_id"] for e in w1["asked"] + w2["asked"]] == fronts
    assert w2["error"] is None and w2["regret"] is None  # people: their true weights are unknown
    for e in w1["asked"] + w2["asked"]:  # bob's answers, as his weights order the two points
        other = e["b"] if e["preferred"] == e["a"] else e["a"]
        assert sum(x * y for x, y in zip(w, FRONT[e["preferred"]])) > sum(x * y for x, y in zip(w, FRONT[other]))
        assert e["annotator"] == "bob"
    assert len({frozenset((e["a"], e["b"])) for e in w1["asked"] + w2["asked"]}) == 4  # no pair asked twice
    assert done["m"]["rounds"][2]["front_answers"] == 4 and w2["selected"] in ("p-lo", "p-0-1")
    # a loop restarted inside the front step (weights.json lost) replays the same questions from the database:
    # nothing is loaded or asked again, and the record is rebuilt identically
    saved, items = (out / "rounds" / "r02" / "weights.json").read_text(), storage.counts()["items"]
    (out / "rounds" / "r02" / "weights.json").unlink()
    run_loop(loop_cfg(out, sqlite_url, *args, "--resume"), quiet=True)
    assert (out / "rounds" / "r02" / "weights.json").read_text() == saved and storage.counts()["items"] == items
    storage.close()
