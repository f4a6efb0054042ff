"""End to end in headless Chromium (Debian's /usr/bin/chromium via Playwright): log in, judge every kind from the
keyboard, check what was stored, download an export, and check stored text stays inert.

Screenshots of every page go to the test's tmp dir (and to $LANGRL_SCREENSHOT_DIR when set, for people to look at).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from langrl.annotate.server import create_app
from langrl.annotate.store import Storage


@pytest.fixture()
def site(sqlite_url, items_data, live_server):
    storage = Storage(sqlite_url)
    storage.add_items(items_data)
    token = storage.add_annotator("alice", admin=True)  # she downloads an export
    with live_server(create_app(storage)) as server:
        yield server, storage, token
    storage.close()


def shoot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    out = os.environ.get("LANGRL_SCREENSHOT_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        shutil.copy(path, os.path.join(out, f"{name}.png"))
    return path


def saved(page) -> str:
    """Wait for the next page's "Saved…" note (the page reloads after a judgement is stored) and return it."""
    page.wait_for_selector("#status:text-matches('^Saved')", timeout=10_000)  # no eval: the page's CSP forbids it
    return page.inner_text("#status")


def test_every_kind_from_the_keyboard_then_export(browser, site, tmp_path):
    server, storage, token = site
    page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
    page.goto(server.url + "/annotate/rating")
    assert page.url.endswith("/login")                       # not logged in: sent to the login page
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/")
    shoot(page, tmp_path, "index")

    # pairwise: B is better
    page.goto(server.url + "/annotate/comparison")
    assert page.inner_text("#item-id") == "gases"
    shoot(page, tmp_path, "comparison")
    page.keyboard.press("b")
    assert "B is better" in saved(page)
    [j] = storage.judgements("comparison")
    assert j["fields"] == {"chosen": 1, "rejected": 0} and j["time_spent_s"] >= 0

    # ranking: type B C = D A, see it shown back, Enter
    page.goto(server.url + "/annotate/ranking")
    for key in ["b", "c", "=", "d"]:
        page.keyboard.press(key)
    assert page.inner_text("#ranking-text") == "B > C = D"
    page.keyboard.press("Enter")                             # refused: A is not placed yet
    assert "Place every response first (1 left)" in page.inner_text("#status")
    page.keyboard.press("a")
    assert page.inner_text("#ranking-text") == "B > C = D > A"
    shoot(page, tmp_path, "ranking")
    page.keyboard.press("Enter")
    assert "B > C = D > A" in saved(page)
    assert storage.judgements("ranking")[0]["fields"] == {"ranking": [[1], [2, 3], [0]]}

    # rating: +1
    page.goto(server.url + "/annotate/rating")
    shoot(page, tmp_path, "rating")
    page.keyboard.press("g")
    assert "+1" in saved(page)
    assert storage.judgements("rating")[0]["fields"] == {"response": 0, "rating": 1}

    # spans: mark sentence 1 irrelevant and sentence 3 untruthful from the keyboard, add a missing note, correct it
    page.goto(server.url + "/annotate/spans")
    for key in ["j", "1", "j", "j", "2"]:
        page.keyboard.press(key)
    page.keyboard.press("m")
    page.keyboard.type("The third most is argon.")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type("Nitrogen, oxygen and argon.")
    shoot(page, tmp_path, "spans")
    page.keyboard.press("Control+Enter")
    assert "2 spans, 1 missing" in saved(page)
    [s] = storage.judgements("spans")
    text = s["responses"][0]
    assert [(text[x["start"]:x["end"]], x["category"]) for x in s["fields"]["spans"]] == [
        ("The most common gas is nitrogen.", "irrelevant"), ("The third most is carbon dioxide.", "untruthful")]
    assert s["fields"]["missing"] == ["The third most is argon."]
    assert s["fields"]["corrected"] == "Nitrogen, oxygen and argon."

    # critique with a refinement started from the response
    page.goto(server.url + "/annotate/critique")
    page.keyboard.type("Carbon dioxide is wrong <b>here</b>.")  # the critique box has the focus
    page.click("#refinement-fill")
    page.keyboard.press("Control+Enter")
    assert "critique" in saved(page)
    [c] = storage.judgements("critique")
    assert c["fields"]["critique"] == "Carbon dioxide is wrong <b>here</b>."
    assert c["fields"]["refinement"] == c["responses"][0]

    # export: download the ranking file from the export page
    page.goto(server.url + "/export")
    shoot(page, tmp_path, "export")
    with page.expect_download() as dl:
        page.click("#export-ranking")
    path = tmp_path / "ranking.jsonl"
    dl.value.save_as(path)
    [rec] = [json.loads(line) for line in path.read_text().splitlines()]
    assert rec["ranking"] == [[1], [2, 3], [0]] and rec["responses"][1] == "Nitrogen, oxygen and argon."
    assert rec["annotator"] == "alice" and rec["item_id"] == "gases"
    page.close()


def test_stored_markup_is_inert_and_span_offsets_count_code_points(browser, site, tmp_path):
    server, storage, token = site
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    page.goto(server.url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    # spans units in round-robin order: gases/0, boil/0, then "one" (the item with the emoji and the script tag)
    for _ in range(2):
        page.goto(server.url + "/annotate/spans")
        page.keyboard.press("Control+Enter")                 # no problems found: an empty spans judgement
        saved(page)
    page.goto(server.url + "/annotate/spans")
    assert page.inner_text("#item-id") == "one"
    assert page.evaluate("window.__pwned") is None           # the stored <script> did not run
    assert "<script>window.__pwned = 1</script>" in page.inner_text("#span-text")  # it is shown as text
    # select "window" with a DOM range (as a mouse drag would) and mark it untruthful
    page.evaluate("""() => {
        const node = document.querySelector('#span-text .piece').firstChild;
        const i = node.data.indexOf('window');
        const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 6);
        getSelection().removeAllRanges(); getSelection().addRange(r);
    }""")
    page.keyboard.press("2")
    shoot(page, tmp_path, "spans-markup")
    page.keyboard.press("Control+Enter")
    saved(page)
    last = storage.judgements("spans")[-1]
    # "Hi! " (4) + the emoji (1 code point, 2 UTF-16 units) + " " (1) + "<script>" (8) = 14
    assert last["fields"]["spans"] == [{"start": 14, "end": 20, "category": "untruthful"}]
    assert last["responses"][0][14:20] == "window"
    page.close()
