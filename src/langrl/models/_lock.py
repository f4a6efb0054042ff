"""A cross-process file lock, so two processes building the same cached model wait for one another.

The holder writes ``LOCK.json`` beside the lock (pid, host, since when, command); a process that has to wait prints
who holds it on stderr, once at first and then every ``report_every`` seconds, so a wait is never silent.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path


def holder_path(path: Path) -> Path:
    """Where the holder of lock ``path`` describes itself."""
    return path.with_name(path.name + ".json")


@contextlib.contextmanager
def file_lock(path: Path, report_every: float = 30.0, poll: float = 0.2):
    """Hold an exclusive ``flock`` on ``path`` for the ``with`` block (the kernel frees it if the holder dies)."""
    from langrl.io import atomic_write_json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = holder_path(path)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait(f, path, report_every, poll)
        try:
            now = time.time()
            atomic_write_json(info, {"pid": os.getpid(), "host": socket.gethostname(), "since": now,
                                     "since_utc": _utc(now), "command": " ".join(sys.argv)[:300]})
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                info.unlink()
            fcntl.flock(f, fcntl.LOCK_UN)


def _wait(f, path: Path, report_every: float, poll: float) -> None:
    """Block until the lock is ours, saying on stderr who holds it (at once, then every ``report_every`` s)."""
    next_report = time.monotonic()
    while True:
        if time.monotonic() >= next_report:
            print(f"langrl: waiting for {path}: {describe_holder(path)}", file=sys.stderr, flush=True)
            next_report = time.monotonic() + report_every
        time.sleep(poll)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            continue


def describe_holder(path: Path) -> str:
    """``held by pid P on HOST since T (N s ago): COMMAND`` from the holder's JSON, or why it is not known."""
    try:
        h = json.loads(holder_path(Path(path)).read_text())
        pid, host, since = int(h["pid"]), str(h["host"]), float(h["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another process (it has not said who it is yet)"
    text = f"held by pid {pid} on {host} since {_utc(since)} ({time.time() - since:.0f} s ago)"
    if h.get("command"):
        text += f": {h['command']}"
    return text


def _utc(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
