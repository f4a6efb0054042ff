"""The loop's human path: a round's questions go into the annotation app's database, people judge them in the app's
pages (``langrl annotate serve --db ...``), and the loop waits, with a progress line, until every question has a
judgement or ``--deadline-s`` passes; then it exports them as feedback records and continues.

Each question is an app item ``loop-<question id>-<key>`` holding exactly the responses asked about (a pair is an
item of two; a list, one of all), so the app's pages ask what the loop's strategy chose. Loading is idempotent (an
item already stored with the same content is skipped), so a loop restarted while waiting reloads nothing and loses
nothing: the judgements are in the database, committed before the page said "Saved". Every judgement of a question
is used (several people may judge one); a question with none when the deadline passes is left unasked for the loop
(it is never asked again: it stays in the round's asked.json).

With ``--front`` the round's weight-elicitation questions go the same way (:func:`ask_front`): each is an app
comparison item ``loop-front-rNN-qK-<a>-<b>`` whose two "responses" describe two front points by their scores, asked
one at a time because the next question (by expected information gain) depends on the answer. The questions are a
deterministic function of the answers before them, and the answers are in the database, so a loop restarted in the
middle of a round replays the same questions, reloads nothing and asks no pair twice.
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



def front_item(r: int, n: int, axes: list[str], names: list[str], points, pair: tuple[int, int]) -> dict:
    """The app item of round ``r``'s ``n``-th front question: which of two front points (P, k) a person prefers."""
    def describe(i: int) -> str:
        return f"{names[i]}: " + ", ".join(f"{a} {float(v):.3f}" for a, v in zip(axes, points[i]))

    i, j = pair
    return {"id": f"loop-front-r{r:02d}-q{n}-{names[i]}-{names[j]}",
            "prompt": f"Which trade-off between {', '.join(axes)} do you prefer? Each answer is a point of the pareto "
                      "front, scored on every objective (higher is better).",
            "responses": [describe(i), describe(j)]}


def front_answer(js: list[dict], pair: tuple[int, int]) -> int | None:
    """The preferred point of ``pair`` by the oldest judgement (None: a tie, or no judgement)."""
    if not js or js[0]["fields"].get("preferred") == "tie":
        return None
    return pair[js[0]["fields"]["chosen"]]


def ask_front(loop, r: int, front, earlier: list[dict]) -> list[dict]:
    """Round ``r``'s ``--front-questions`` questions to people through the app, one at a time, each chosen by EIG
    given every answer so far (``earlier``: the previous rounds' ``asked`` entries, ``{"a", "b", "preferred"}``
    names, ``preferred`` None when unanswered or a tie). Returns the round's entries; stops early when
    ``--deadline-s`` passes (the unanswered question is kept, so it is never asked again)."""
    from langrl.annotate import weights_elicit as we
    from langrl.annotate.store import Storage

    cfg = loop.cfg
    ecfg, axes, names, points = front[:4]
    grid = we.simplex_grid(len(axes), ecfg.grid_steps)
    entries = list(earlier)
    out = []
    storage = Storage(cfg.db)
    start = time.monotonic()
    try:
        for n in range(cfg.front_questions):
            answered = [e for e in entries if e["preferred"] is not None]
            diffs = torch_diffs(points, names, answered)
            log_post = we.log_posterior(grid, diffs, ecfg.temperature)
            asked = {tuple(sorted((names.index(e["a"]), names.index(e["b"])))) for e in entries}
            pair = we.choose_question(points, grid, log_post, ecfg.temperature, asked, "eig")
            if pair is None:
                break
            item = front_item(r, n, axes, names, points, pair)
            added, _ = storage.add_items([item], source=f"langrl loop {loop.out} round {r} front")
            loop.log(f"[loop] round {r}: front question {n + 1}/{cfg.front_questions} "
                     f"{'loaded' if added else 'already'} in {cfg.db}: {names[pair[0]]} or {names[pair[1]]}?")
            left = cfg.deadline_s - (time.monotonic() - start) if cfg.deadline_s else 0.0
            js = wait_for_quota(storage, "comparison", {item["id"]}, deadline_s=max(left, 1e-9) if cfg.deadline_s
                                else 0.0, poll_s=cfg.poll_s, log=loop.log)
            win = front_answer(js, pair)
            entry = {"a": names[pair[0]], "b": names[pair[1]], "preferred": None if win is None else names[win],
                     "item_id": item["id"], "answered": bool(js)}
            if js:
                entry.update(annotator=js[0]["annotator"], judgement_id=js[0]["id"])
            entries.append(entry)
            out.append(entry)
            if not js:  # the deadline passed
                break
    finally:
        storage.close()
    return out


def torch_diffs(points, names: list[str], answered: list[dict]):
    """(n, k) winner minus loser scores of the answered entries."""
    import torch

    rows = []
    for e in answered:
        a, b, p = names.index(e["a"]), names.index(e["b"]), names.index(e["preferred"])
        rows.append(points[p] - points[b if p == a else a])
    return torch.stack(rows) if rows else torch.zeros((0, points.shape[1]), dtype=torch.float64)
