"""The annotation app's database: one SQLAlchemy Core schema, engines for SQLite and PostgreSQL, and migrations.

Storage goes through SQLAlchemy Core only (parameterised statements everywhere; no SQL is built from strings of user
data). SQLite is the default (``sqlite:///feedback.db``) and runs in WAL mode with ``synchronous=FULL`` so a commit that
returned is on disk; write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
PostgreSQL is used by URL (``postgresql://...`` is read as ``postgresql+psycopg://...``, psycopg 3).

Migrations are a versioned list kept here (no alembic): ``schema_version`` holds one row per applied version, and
:func:`migrate` applies the missing ones in order inside one transaction (PostgreSQL also takes an advisory lock, so two
servers starting at once do not race). A database newer than this code is refused. A new schema change is a new entry
in ``MIGRATIONS`` that never edits an older one; the ``Table`` objects below always describe the newest schema.
"""
from __future__ import annotations

import time
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from langrl.errors import InputError

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),                  # internal key; load order
    sa.Column("ext_id", sa.Text, nullable=False, unique=True),      # the user's id (string)
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("responses", sa.Text, nullable=False),                # JSON list of strings
    sa.Column("n_responses", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

annotators = sa.Table(
    "annotators", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),  # sha256 of the login token; the token is not kept
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),  # v2: may export and see stats
    sa.Column("token_expires_at", sa.Float, nullable=True),    # v2: the token stops working then (NULL: never)
    sa.Column("token_revoked_at", sa.Float, nullable=True),    # v2: set by revoke-annotator, cleared by rotate-token
)

sessions = sa.Table(  # v2: browser logins; the cookie holds the session id, the database only its sha256
    "sessions", metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_sessions_annotator", "annotator_id"),
)

judgements = sa.Table(
    "judgements", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id"), nullable=False),
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),        # response indices judged, e.g. "0,2" (see select.unit_key)
    sa.Column("payload", sa.Text, nullable=False),     # JSON of the kind's fields, in item indices
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("time_spent_s", sa.Float, nullable=True),
    sa.UniqueConstraint("annotator_id", "client_id", name="uq_judgement_client"),
    sa.UniqueConstraint("annotator_id", "item_id", "kind", "unit", name="uq_judgement_unit"),
    sa.Index("ix_judgements_kind_item", "kind", "item_id"),
)

assignments = sa.Table(  # what was last served to whom: soft reservations and the start of "time spent"
    "assignments", metadata,
    sa.Column("annotator_id", sa.Integer, sa.ForeignKey("annotators.id"), primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("unit", sa.Text, primary_key=True),
    sa.Column("served_at", sa.Float, nullable=False),
    sa.Index("ix_assignments_kind_served", "kind", "served_at"),
)

scores = sa.Table(  # reward-model scores cached for --select uncertainty
    "scores", metadata,
    sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
    sa.Column("response_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("scorer", sa.Text, primary_key=True),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("std", sa.Float, nullable=False),
)


def _v1_metadata() -> sa.MetaData:
    """The five tables exactly as schema version 1 created them. ``annotators`` is spelled out as it was (version 2
    added columns); the other four are unchanged since, so they are copied: spell one out here before a migration
    changes it."""
    md = sa.MetaData()
    items.to_metadata(md)
    sa.Table("annotators", md,
             sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.Text, nullable=False, unique=True),
             sa.Column("token_hash", sa.Text, nullable=False, unique=True),
             sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
             sa.Column("created_at", sa.Float, nullable=False))
    for table in (judgements, assignments, scores):
        table.to_metadata(md)
    return md


def _v1(conn: sa.Connection) -> None:
    _v1_metadata().create_all(conn)  # with their indexes


V2_TOKEN_TTL_S = 30 * 24 * 3600.0


def _v2(conn: sa.Connection) -> None:
    """Roles, token expiry and revocation, server-side sessions. Existing annotators stay annotators (nobody is made
    admin: grant it with ``langrl annotate set-role``) and their tokens keep working for 30 days from the upgrade."""
    for column in ("is_admin BOOLEAN DEFAULT FALSE NOT NULL", "token_expires_at FLOAT", "token_revoked_at FLOAT"):
        conn.execute(sa.text(f"ALTER TABLE annotators ADD COLUMN {column}"))  # constant DDL, no user data
    conn.execute(annotators.update().values(token_expires_at=time.time() + V2_TOKEN_TTL_S))
    metadata.create_all(conn, tables=[sessions])


# (version, description, function): append only.
MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "items, annotators, judgements, assignments, scores", _v1),
    (2, "roles, token expiry and revocation, sessions", _v2),
]


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` → ``postgresql+psycopg://``; anything but SQLite/PostgreSQL is refused."""
    try:
        u = make_url(url)
    except Exception as e:  # sqlalchemy raises ArgumentError (and others for odd input): report the user's text
        raise InputError(f"expected a database URL like sqlite:///feedback.db or postgresql://user@host/db, "
                         f"got {url!r}", field="db") from e
    backend = u.get_backend_name()
    if backend in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InputError(f"expected a sqlite:/// or postgresql:// URL, got {url!r}", field="db")
    return u.render_as_string(hide_password=False)


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own handling defers it)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")  # a property of the file; a no-op once set
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front; readers use a plain (deferred) BEGIN and never block writers in WAL.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("langrl_write") else "BEGIN")


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (SQLite in WAL mode, or PostgreSQL through psycopg 3)."""
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise InputError("expected a file database (sqlite:///PATH); an in-memory one would vanish", field="db")
        engine = sa.create_engine(url, pool_size=8, max_overflow=24, pool_timeout=60,
                                  connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_size=8, max_overflow=24, pool_timeout=60, pool_pre_ping=True)


def writer(engine: sa.Engine) -> sa.Engine:
    """The same engine, marked so its transactions take the write lock first (``BEGIN IMMEDIATE`` on SQLite)."""
    return engine.execution_options(langrl_write=True)


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema_version.c.version), 0))).scalar_one()


def migrate(engine: sa.Engine) -> int:
    """Apply the missing migrations in order, in one transaction. Returns the schema version now in the database."""
    latest = MIGRATIONS[-1][0]
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": 7_349_301})  # one migrator at a time
        metadata.create_all(conn, tables=[schema_version])
        version = current_version(conn)
        if version > latest:
            raise InputError(f"the database has schema version {version}, newer than this langrl ({latest}); "
                             "upgrade langrl", field="db")
        for v, description, step in MIGRATIONS:
            if v > version:
                step(conn)
                conn.execute(schema_version.insert().values(version=v, description=description,
                                                            applied_at=time.time()))
        return max(version, latest)
