"""The loop's human path: a round's questions go into the annotation app's database, people judge them in the app's
pages (``langrl annotate serve --db ...``), and the loop waits, with a progress line, until every question has a
judgement or ``--deadline-s`` passes; then it exports them as feedback records and continues.

Each question is an app item ``loop-<question id>-<key>`` holding exactly the responses asked about (a pair is an
item of two; a list, one of all), so the app's pages ask what the loop's strategy chose. Loading is idempotent (an
item already stored with the same content is skipped), so a loop restarted while waiting reloads nothing and loses
nothing: the judgements are in the database, committed before the page said "Saved". Every judgement of a question
is used (several people may judge one); a question with none when the deadline passes is left unasked for the loop
(it is never asked again: it stays in the round's asked.json).
"""
from __future__ import annotations

import time


def item_id(question: dict) -> str:
    """The app item id of a loop question."""
    return f"loop-{question['id']}-{question['key']}"


def load_questions(storage, questions: list[dict], samples: dict, source: str) -> tuple[int, int]:
    """Add the questions as items; returns ``(added, already_present)``."""
    new = [{"id": item_id(q), "prompt": _prompt_text(samples["rows"][q["prompt"]]["prompt"]),
            "responses": [samples["responses"][q["prompt"]][j] for j in q["indices"]]} for q in questions]
    return storage.add_items(new, source=source) if new else (0, 0)


def _prompt_text(prompt) -> str:
    from langrl.chat import prompt_text

    return prompt_text(prompt)


def judged(storage, kind: str, ids: set[str]) -> list[dict]:
    """Stored judgements of ``kind`` on the items ``ids``, oldest first."""
    return [j for j in storage.judgements(kind) if j["item_id"] in ids]


def wait_for_quota(storage, kind: str, ids: set[str], *, deadline_s: float, poll_s: float, log,
                   clock=time.monotonic, sleep=time.sleep) -> list[dict]:
    """Poll until every item in ``ids`` has a judgement of ``kind`` or ``deadline_s`` (> 0) passes; returns the
    judgements. ``log`` gets a progress line whenever the count changes (and one at the start)."""
    start, last = clock(), -1
    while True:
        js = judged(storage, kind, ids)
        done = len({j["item_id"] for j in js})
        waited = clock() - start
        if done != last:
            left = f", {max(0.0, deadline_s - waited):.0f}s to the deadline" if deadline_s else ""
            log(f"[loop] waiting for people: {done}/{len(ids)} questions judged{left}")
            last = done
        if done >= len(ids) or (deadline_s and waited >= deadline_s):
            return js
        sleep(poll_s)


def ask_people(loop, questions: list[dict], samples: dict, r: int) -> list[dict]:
    """The human ``collect`` step of round ``r`` of ``loop`` (a :class:`langrl.loop.runner.Loop`)."""
    from langrl.annotate.export import to_record
    from langrl.annotate.store import Storage

    cfg = loop.cfg
    kind = "comparison" if cfg.unit == "pair" else "ranking"
    storage = Storage(cfg.db)
    try:
        added, present = load_questions(storage, questions, samples, source=f"langrl loop {loop.out} round {r}")
        loop.log(f"[loop] round {r}: {added} question(s) loaded into {cfg.db} ({present} already there); judge them "
                 f"at /annotate/{kind}")
        by_item = {item_id(q): q for q in questions}
        js = wait_for_quota(storage, kind, set(by_item), deadline_s=cfg.deadline_s, poll_s=cfg.poll_s, log=loop.log)
    finally:
        storage.close()
    out = []
    for j in js:
        q = by_item[j["item_id"]]
        row = samples["rows"][q["prompt"]]
        rec = to_record(j)
        rec["prompt"] = row["prompt"]  # the loop's own prompt (the app stores its text)
        rec.update(round=r, question_id=q["id"])
        rec.update((c, v) for c, v in row.items() if c not in rec)
        out.append(rec)
    return out

