"""Annotators, their roles and tokens, and browser sessions: the account half of :class:`~langrl.annotate.store.Storage`.

Tokens and session ids are random (``secrets``) and only their sha256 is stored, so a copy of the database logs nobody
in. A token has an expiry (``token_expires_at``; NULL never expires) and can be revoked (``token_revoked_at``), which
also ends that annotator's sessions; rotating issues a new token and ends the sessions too. A session lasts the
server's ``--session-ttl`` but never past its token's expiry. Times come from ``self.clock`` (``time.time`` unless a
test sets another), so expiry is tested without sleeping.
"""
from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from langrl.annotate.db import annotators, sessions
from langrl.errors import InputError

DEFAULT_TOKEN_TTL_S = 30 * 24 * 3600.0   # add-annotator / rotate-token --token-ttl (30d)
DEFAULT_SESSION_TTL_S = 12 * 3600.0      # serve --session-ttl (12h)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _who(row) -> dict:
    return {"id": row.id, "name": row.name, "disabled": bool(row.disabled), "admin": bool(row.is_admin),
            "expires_at": row.token_expires_at, "revoked": row.token_revoked_at is not None}


_WHO = (annotators.c.id, annotators.c.name, annotators.c.disabled, annotators.c.is_admin,
        annotators.c.token_expires_at, annotators.c.token_revoked_at)


class Accounts:
    """Mixed into ``Storage``: needs ``self.engine``, ``self._write()`` and ``self.clock``."""

    def _expiry(self, token_ttl_s: float | None) -> float | None:
        if token_ttl_s is not None and token_ttl_s <= 0:
            raise InputError(f"expected a token lifetime > 0, got {token_ttl_s} s", field="token-ttl")
        return None if token_ttl_s is None else self.clock() + token_ttl_s

    def add_annotator(self, name: str, *, admin: bool = False,
                      token_ttl_s: float | None = DEFAULT_TOKEN_TTL_S) -> str:
        """Create an annotator and return their login token (only its hash is stored). ``token_ttl_s`` None: the
        token never expires."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("expected a name of 1..100 characters", field="name")
        token, expires = secrets.token_urlsafe(24), self._expiry(token_ttl_s)
        try:
            with self._write() as conn:
                conn.execute(annotators.insert().values(name=name, token_hash=hash_token(token), disabled=False,
                                                        created_at=self.clock(), is_admin=admin,
                                                        token_expires_at=expires))
        except IntegrityError as e:
            raise InputError(f"an annotator named {name!r} already exists", field="name") from e
        return token

    def _update(self, conn, name: str, end_sessions: bool, **values) -> None:
        n = conn.execute(annotators.update().where(annotators.c.name == name).values(**values)).rowcount
        if n == 0:
            raise InputError(f"no annotator named {name!r}", field="name")
        if end_sessions:
            ids = sa.select(annotators.c.id).where(annotators.c.name == name).scalar_subquery()
            conn.execute(sessions.delete().where(sessions.c.annotator_id == ids))

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable (or enable) an annotator; disabling ends their sessions. Their judgements stay."""
        with self._write() as conn:
            self._update(conn, name, disabled, disabled=disabled)

    def set_admin(self, name: str, admin: bool = True) -> None:
        with self._write() as conn:
            self._update(conn, name, False, is_admin=admin)

    def revoke_token(self, name: str) -> None:
        """The annotator's token stops working and their sessions end; ``rotate_token`` gives them a new one."""
        with self._write() as conn:
            self._update(conn, name, True, token_revoked_at=self.clock())

    def rotate_token(self, name: str, token_ttl_s: float | None = DEFAULT_TOKEN_TTL_S) -> str:
        """A new token for ``name`` (the old one stops working, a revocation is lifted, sessions end)."""
        token, expires = secrets.token_urlsafe(24), self._expiry(token_ttl_s)
        with self._write() as conn:
            self._update(conn, name, True, token_hash=hash_token(token), token_expires_at=expires,
                         token_revoked_at=None)
        return token

    def annotators_list(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [_who(r) for r in conn.execute(sa.select(*_WHO).order_by(annotators.c.id))]

    def annotator_for_token(self, token: str) -> dict | None:
        """``{"id", "name", "disabled", "admin", "expires_at", "revoked", "expired"}`` for a known token, else None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_WHO).where(annotators.c.token_hash == hash_token(token))).first()
        if row is None:
            return None
        who = _who(row)
        who["expired"] = who["expires_at"] is not None and who["expires_at"] <= self.clock()
        return who

    # ----- sessions
    def create_session(self, annotator_id: int, ttl_s: float = DEFAULT_SESSION_TTL_S) -> tuple[str, float]:
        """A new session for the annotator: ``(session_id, expires_at)``; it ends with the token at the latest."""
        sid, now = secrets.token_urlsafe(32), self.clock()
        with self._write() as conn:
            token_expires = conn.execute(sa.select(annotators.c.token_expires_at)
                                         .where(annotators.c.id == annotator_id)).scalar_one()
            expires = now + ttl_s if token_expires is None else min(now + ttl_s, token_expires)
            conn.execute(sessions.delete().where(sessions.c.expires_at <= now))  # sweep the stale ones
            conn.execute(sessions.insert().values(id_hash=hash_token(sid), annotator_id=annotator_id,
                                                  created_at=now, expires_at=expires))
        return sid, expires

    def annotator_for_session(self, session_id: str) -> dict | None:
        """The session's annotator (as :meth:`annotator_for_token`) while it lasts and its token holds, else None."""
        j = sessions.join(annotators, annotators.c.id == sessions.c.annotator_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_WHO, sessions.c.expires_at).select_from(j)
                               .where(sessions.c.id_hash == hash_token(session_id))).first()
        now = self.clock()
        if row is None or row.expires_at <= now or row.token_revoked_at is not None or \
                (row.token_expires_at is not None and row.token_expires_at <= now):
            return None
        return {**_who(row), "expired": False}

    def delete_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == hash_token(session_id)))
