"""Atomic file and directory writes: nothing already written is lost when a run fails half-way.

A file is written to a temporary sibling and renamed over the target (``os.replace`` is atomic on POSIX); a directory is
built as a temporary sibling and swapped in, the old one kept until the new one is complete.

Every temporary names its owner: ``.NAME.PID-HOST.XXXXXXXX.tmp`` (file or directory) and ``.NAME.old-PID-HOST`` (the
replaced directory, until it is deleted). A process killed mid-write leaves them behind; :func:`remove_stale_temps`
deletes those whose process is gone, and never one of a live process (or of another host, which it cannot check).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:40] or "host"


def owner_tag() -> str:
    """``PID-HOST``: the owner of this process's temporaries."""
    return f"{os.getpid()}-{_host()}"


# .NAME.PID-HOST.XXXXXXXX.tmp (mkstemp/mkdtemp's 8 random characters) or .NAME.old-PID[-HOST] (no host: older
# versions, which wrote the PID alone, on this machine)
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]+)\.[A-Za-z0-9_]+\.tmp"
                   r"|old-(?P<old_pid>\d+)(?:-(?P<old_host>[A-Za-z0-9-]+))?)$")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie not yet reaped counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None, ownerless: bool = False) -> list[Path]:
    """Delete the temporaries of killed writers in ``folder`` (only those of ``name`` when given); return them.

    A temporary is stale when it was made on this host by a process that no longer exists; one of a live process, of
    another host, or without an owner in its name is kept. ``ownerless=True`` (with ``name``) also deletes those
    without an owner (``.NAME.XXXXXXXX.tmp``, from versions that did not name it): only for a caller holding the lock
    that every writer of ``name`` takes, so that none of them can be running.
    """
    folder, host, removed = Path(folder), _host(), []
    if not folder.is_dir():
        return removed
    legacy = re.compile(rf"^\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}\.tmp$") if ownerless and name else None
    for entry in folder.iterdir():
        m = _TEMP.match(entry.name)
        if m is not None and (name is None or m["name"] == name):
            pid, owner = (m["pid"], m["host"]) if m["pid"] else (m["old_pid"], m["old_host"] or host)
            if owner != host or pid_alive(int(pid)):
                continue
        elif legacy is None or not legacy.match(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Write ``rows`` as JSON lines to ``path`` atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` (the old contents are removed only afterwards).

    On an exception the temporary directory is deleted and ``path`` is left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{owner_tag()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
