"""Fixtures for the annotation app: databases (SQLite, and a throwaway PostgreSQL cluster), a live server, a browser.

PostgreSQL: a cluster is created with initdb and started with pg_ctl on a free 127.0.0.1 port (as the ``postgres``
user when the tests run as root, since PostgreSQL refuses to run as root), once per test session; every test gets its
own database. Without the binaries the PostgreSQL tests are skipped with the reason, except under CI (``CI`` set), where
a missing install is an error: ``.ci/system-deps.sh`` installs them.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: .ci/system-deps.sh)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir() -> str | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found))
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]) if
                  d.split("/")[-2].isdigit() else 0)
    return next((d for d in reversed(dirs) if os.path.exists(f"{d}/initdb")), None)


@pytest.fixture(scope="session")
def pg_server():
    """Base URL (``postgresql+psycopg://postgres@127.0.0.1:PORT``) of a throwaway PostgreSQL cluster."""
    bindir = _pg_bindir()
    if bindir is None:
        _missing("PostgreSQL binaries (initdb, pg_ctl) not found")
    pytest.importorskip("psycopg", reason="psycopg (3) is not installed")
    as_user: list[str] = []
    datadir = tempfile.mkdtemp(prefix="langrl-pg-")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(datadir)
            _missing("running as root and there is no 'postgres' user to run PostgreSQL as")
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    pgdata = os.path.join(datadir, "data")
    try:
        run(f"{bindir}/initdb", "-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
            "--no-sync")
        for _ in range(3):
            port = free_port()
            try:
                run(f"{bindir}/pg_ctl", "-D", pgdata, "-l", os.path.join(datadir, "log"), "-w", "-t", "60",
                    "-o", f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
                          f"-c max_connections=200", "start")
                break
            except subprocess.CalledProcessError:
                continue
        else:
            log = open(os.path.join(datadir, "log")).read()[-2000:]
            pytest.fail(f"could not start PostgreSQL:\n{log}")
    except subprocess.CalledProcessError as e:
        shutil.rmtree(datadir, ignore_errors=True)
        pytest.fail(f"initdb failed: {e.stderr[-2000:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", pgdata, "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture()
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    base = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{pg_server}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/feedback.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/feedback.db"
    return request.getfixturevalue("pg_url")


ITEMS = [
    {"id": "gases", "prompt": "What are the 3 most common gases in earth's atmosphere?",
     "responses": ["The most common gas is nitrogen. The second most is oxygen. The third most is carbon dioxide.",
                   "Nitrogen, oxygen and argon.", "Nitrogen (78%), oxygen (21%) and argon (0.9%).", "Air."]},
    {"id": "boil", "prompt": "Does water boil quicker at high altitudes?",
     "responses": ["It takes longer. Water boils at a lower temperature higher up.",
                   "Yes, it boils sooner because the boiling point drops."]},
    {"id": "one", "prompt": "Say hi.", "responses": ["Hi! 👋 <script>window.__pwned = 1</script>"]},
]


@pytest.fixture()
def items_data():
    """Three items: four responses, two responses, and one response with an emoji and a script tag."""
    return [{**it, "responses": list(it["responses"])} for it in ITEMS]


@pytest.fixture()
def storage(db_url, items_data):
    from langrl.annotate.store import Storage

    s = Storage(db_url)
    s.add_items(items_data, source="test")
    yield s
    s.close()


class LiveServer:
    """A uvicorn server in a background thread on a free 127.0.0.1 port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture()
def live_server():
    """``with live_server(app) as server:`` runs ``app`` on ``server.url`` for the block."""
    return LiveServer


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()
