"""The storage layer: every read and write of the annotation app, on SQLite or PostgreSQL through SQLAlchemy Core.

A judgement is committed before :meth:`Storage.submit` returns, so a judgement the server acknowledged is never lost.
Retries are idempotent: ``(annotator, client_id)`` is unique, and a repeat returns the first judgement's id (or a 409
when the repeat carries a different judgement). One annotator judges a unit once (also a unique constraint, so two
racing submissions cannot both land).
"""
from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from langrl.annotate.accounts import Accounts, hash_token  # noqa: F401 (re-exported)
from langrl.annotate.db import annotators, assignments, create_engine, items, judgements, migrate, scores, writer
from langrl.annotate.select import PICKERS, Candidate, Scorer, target_for, unit_priority, units_for
from langrl.annotate.validate import FeedbackError, unit_key
from langrl.errors import InputError


def _upsert(conn: sa.Connection, table: sa.Table, values: dict, keys: list[str], update: dict):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=update) if update else \
        stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt)


class Storage(Accounts):
    """All database access of the app. ``Storage(url)`` connects and brings the schema up to date. Annotators, tokens
    and sessions are in :class:`~langrl.annotate.accounts.Accounts`; ``clock`` is the time source for their expiry."""

    def __init__(self, url: str, clock=time.time):
        self.clock = clock
        self.engine = create_engine(url)
        self.version = migrate(self.engine)
        self._w = writer(self.engine)
        # SQLite has one writer at a time; queueing this process's writers on a lock avoids SQLite's sleeping busy
        # handler (other processes still wait through busy_timeout). PostgreSQL writers run concurrently.
        self._lock = threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()

    @contextlib.contextmanager
    def _write(self):
        """A write transaction, committed when the block ends (rolled back if it raises)."""
        with self._lock, self._w.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # ----- items
    def add_items(self, new: list[dict], source: str = "") -> tuple[int, int]:
        """Add items ``{"id", "prompt", "responses"}`` in one transaction. Returns ``(added, already_present)``.

        An id already stored with the same prompt and responses is skipped (loading a file twice is harmless); with
        different content it is refused, naming the id.
        """
        added = same = 0
        now = time.time()
        with self._write() as conn:
            have = {r.ext_id: r for r in conn.execute(
                sa.select(items.c.ext_id, items.c.prompt, items.c.responses)
                .where(items.c.ext_id.in_([it["id"] for it in new])))}
            rows = []
            for it in new:
                old = have.get(it["id"])
                if old is not None:
                    if old.prompt != it["prompt"] or json.loads(old.responses) != it["responses"]:
                        raise InputError(f"item {it['id']!r} is already in the database with a different prompt or "
                                         "responses; give the new one another id", field="id")
                    same += 1
                    continue
                rows.append({"ext_id": it["id"], "prompt": it["prompt"], "n_responses": len(it["responses"]),
                             "responses": json.dumps(it["responses"], ensure_ascii=False), "source": source,
                             "created_at": now})
            if rows:
                conn.execute(items.insert(), rows)
                added = len(rows)
        return added, same

    @staticmethod
    def _item_dict(row) -> dict:
        return {"pk": row.id, "item_id": row.ext_id, "prompt": row.prompt, "responses": json.loads(row.responses)}

    def get_item(self, item_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.ext_id == item_id)).first()
        return None if row is None else self._item_dict(row)

    def judgement_counts(self, item_pk: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(judgements.c.kind, sa.func.count()).where(judgements.c.item_id == item_pk)
                                .group_by(judgements.c.kind)).all()
        return {k: n for k, n in rows}

    # ----- judgements
    def submit(self, annotator_id: int, item: dict, kind: str, client_id: str, indices, fields: dict,
               time_spent_s: float | None = None) -> tuple[int, bool]:
        """Store one judgement, committed before returning. Returns ``(id, created)``; ``created`` is False for a
        repeated ``client_id`` carrying the same judgement. Raises :class:`FeedbackError` (409) for a repeated
        ``client_id`` with a different judgement, or a unit this annotator already judged."""
        unit, payload = unit_key(indices), json.dumps(fields, sort_keys=True, ensure_ascii=False)
        now = time.time()
        try:
            with self._write() as conn:
                found = self._same_client(conn, annotator_id, client_id, item, kind, unit, payload)
                if found is not None:
                    return found, False
                if time_spent_s is None:
                    served = conn.execute(sa.select(assignments.c.served_at).where(
                        assignments.c.annotator_id == annotator_id, assignments.c.item_id == item["pk"],
                        assignments.c.kind == kind, assignments.c.unit == unit)).scalar()
                    time_spent_s = None if served is None else max(0.0, now - served)
                new_id = conn.execute(judgements.insert().values(
                    annotator_id=annotator_id, client_id=client_id, item_id=item["pk"], kind=kind, unit=unit,
                    payload=payload, created_at=now, time_spent_s=time_spent_s).returning(judgements.c.id)).scalar_one()
            return new_id, True
        except IntegrityError:
            # a racing twin committed first: the same client_id (idempotent retry) or the same unit (a real duplicate)
            with self.engine.connect() as conn:
                found = self._same_client(conn, annotator_id, client_id, item, kind, unit, payload)
            if found is not None:
                return found, False
            raise FeedbackError(f"you already judged item {item['item_id']!r} ({kind}, responses {unit})",
                                "item_id", status=409) from None

    @staticmethod
    def _same_client(conn, annotator_id, client_id, item, kind, unit, payload) -> int | None:
        j = judgements.c
        row = conn.execute(sa.select(j.id, j.item_id, j.kind, j.unit, j.payload)
                           .where(j.annotator_id == annotator_id, j.client_id == client_id)).first()
        if row is None:
            return None
        if (row.item_id, row.kind, row.unit, row.payload) != (item["pk"], kind, unit, payload):
            raise FeedbackError(f"client_id {client_id!r} was already used for a different judgement (id {row.id})",
                                "client_id", status=409)
        return row.id
        # (a same-unit duplicate under a new client_id is caught by the unique constraint)

    def judgements(self, kind: str | None = None) -> list[dict]:
        """Stored judgements joined with their item and annotator, oldest first."""
        q = (sa.select(judgements, items.c.ext_id, items.c.prompt, items.c.responses,
                       annotators.c.name.label("annotator"))
             .join(items, items.c.id == judgements.c.item_id)
             .join(annotators, annotators.c.id == judgements.c.annotator_id)
             .order_by(judgements.c.id))
        if kind is not None:
            q = q.where(judgements.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [{"id": r.id, "kind": r.kind, "annotator": r.annotator, "annotator_id": r.annotator_id,
                 "item_pk": r.item_id, "item_id": r.ext_id, "prompt": r.prompt,
                 "responses": json.loads(r.responses), "unit": r.unit, "fields": json.loads(r.payload),
                 "created_at": r.created_at, "time_spent_s": r.time_spent_s} for r in rows]

    def counts(self) -> dict:
        with self.engine.connect() as conn:
            n_items = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
            n_ann = conn.execute(sa.select(sa.func.count()).select_from(annotators)).scalar_one()
            by_kind = conn.execute(sa.select(judgements.c.kind, annotators.c.name, sa.func.count())
                                   .join(annotators, annotators.c.id == judgements.c.annotator_id)
                                   .group_by(judgements.c.kind, annotators.c.name)).all()
        return {"items": n_items, "annotators": n_ann, "by_kind_annotator": [tuple(r) for r in by_kind]}

    # ----- what to ask next
    def _candidates(self, conn, annotator_id: int, kind: str, *, target: int, overlap: float, lease_s: float,
                    now: float) -> tuple[list[Candidate], list[tuple[int, tuple]]]:
        done = Counter()
        judged_by = set()
        for a, i, u in conn.execute(sa.select(judgements.c.annotator_id, judgements.c.item_id, judgements.c.unit)
                                    .where(judgements.c.kind == kind)):
            done[(i, u)] += 1
            judged_by.add((a, i, u))
        held, mine = Counter(), []
        a_ = assignments.c
        for a, i, u, _at in conn.execute(sa.select(a_.annotator_id, a_.item_id, a_.unit, a_.served_at)
                                         .where(a_.kind == kind, a_.served_at > now - lease_s)
                                         .order_by(a_.served_at.desc())):
            if (a, i, u) in judged_by:
                continue
            if a == annotator_id:
                mine.append((i, u))
            else:
                held[(i, u)] += 1
        cands = []
        for pk, ext_id, n in conn.execute(sa.select(items.c.id, items.c.ext_id, items.c.n_responses)
                                          .order_by(items.c.id)):
            want = target_for(ext_id, target, overlap)
            for rank, idx in enumerate(units_for(kind, n)):
                u = unit_key(idx)
                if (annotator_id, pk, u) in judged_by or done[(pk, u)] + held[(pk, u)] >= want:
                    continue
                cands.append(Candidate(pk, ext_id, idx, pk, rank, done[(pk, u)]))
        return cands, mine

    def open_units(self, annotator_id: int, kind: str, *, target: int = 1, overlap: float = 1.0,
                   lease_s: float = 600.0) -> int:
        """How many units this annotator could still be given for ``kind``."""
        with self.engine.connect() as conn:
            return len(self._candidates(conn, annotator_id, kind, target=target, overlap=overlap, lease_s=lease_s,
                                        now=time.time())[0])

    def next_unit(self, annotator_id: int, kind: str, *, select: str = "round-robin", target: int = 1,
                  overlap: float = 1.0, lease_s: float = 600.0, rng: random.Random | None = None,
                  scorer: Scorer | None = None, scorer_name: str = "rm") -> tuple[dict, tuple[int, ...]] | None:
        """Choose the next unit for this annotator and reserve it; ``None`` when nothing is left.

        A unit this annotator was served within ``lease_s`` and has not judged yet comes back first (a reloaded page
        shows the same question).
        """
        priority = self._priorities(kind, scorer, scorer_name) if select == "uncertainty" and scorer else None
        now = time.time()
        with self._write() as conn:
            cands, mine = self._candidates(conn, annotator_id, kind, target=target, overlap=overlap,
                                           lease_s=lease_s, now=now)
            if not cands:
                return None
            by_key = {(c.item_pk, unit_key(c.indices)): c for c in cands}
            again = next((by_key[k] for k in mine if k in by_key), None)
            chosen = again or PICKERS[select](cands, rng=rng or random.Random(), priority=priority)
            _upsert(conn, assignments, {"annotator_id": annotator_id, "item_id": chosen.item_pk, "kind": kind,
                                        "unit": unit_key(chosen.indices), "served_at": now},
                    ["annotator_id", "item_id", "kind", "unit"],
                    {} if again else {"served_at": now})
            row = conn.execute(sa.select(items).where(items.c.id == chosen.item_pk)).one()
        return self._item_dict(row), chosen.indices

    # ----- reward-model scores for --select uncertainty
    def ensure_scores(self, scorer: Scorer, scorer_name: str = "rm", batch: int = 64) -> int:
        """Score every response not yet scored by ``scorer_name``; returns how many were scored."""
        with self.engine.connect() as conn:
            scored = {i for (i,) in conn.execute(sa.select(scores.c.item_id).where(scores.c.scorer == scorer_name)
                                                 .distinct())}
            todo = [r for r in conn.execute(sa.select(items.c.id, items.c.prompt, items.c.responses))
                    if r.id not in scored]
        pairs = [(r.id, k, r.prompt, resp) for r in todo for k, resp in enumerate(json.loads(r.responses))]
        for s in range(0, len(pairs), batch):
            chunk = pairs[s:s + batch]
            mean, std = scorer.score([p[2] for p in chunk], [p[3] for p in chunk])
            rows = [{"item_id": p[0], "response_index": p[1], "scorer": scorer_name, "mean": float(m), "std": float(d)}
                    for p, m, d in zip(chunk, mean, std, strict=True)]
            with self._write() as conn:
                for row in rows:
                    _upsert(conn, scores, row, ["item_id", "response_index", "scorer"], {})
        return len(pairs)

    def _priorities(self, kind: str, scorer: Scorer, scorer_name: str) -> dict:
        self.ensure_scores(scorer, scorer_name)
        per_item: dict[int, dict[int, tuple[float, float]]] = {}
        with self.engine.connect() as conn:
            for i, k, m, s in conn.execute(sa.select(scores.c.item_id, scores.c.response_index, scores.c.mean,
                                                     scores.c.std).where(scores.c.scorer == scorer_name)):
                per_item.setdefault(i, {})[k] = (m, s)
        out = {}
        for i, sc in per_item.items():
            n = max(sc) + 1
            mean = [sc.get(k, (0.0, 0.0))[0] for k in range(n)]
            std = [sc.get(k, (0.0, 0.0))[1] for k in range(n)]
            for idx in units_for(kind, n):
                out[(i, idx)] = unit_priority(idx, mean, std)
        return out
